r"""VisPlay rewards: the Questioner is paid for the Reasoner's uncertainty, the Reasoner for agreeing with the majority.

With ``m`` sampled Reasoner answers to a question, ỹ the majority answer and :math:`c` its vote
share (see :mod:`vista_envs.visplay.voting`):

==========================  ==================================================================
Questioner (``"paper"``)     :math:`R_Q = \mathrm{valid} \cdot \max(0,\ 1 - |2c - 1| - \lambda_{div} \cdot s)`
Questioner (``"min"``)       :math:`R_Q = \mathrm{valid} \cdot \max(0,\ \min(c, 1 - c) - \lambda_{div} \cdot s)`
Reasoner                     :math:`R_R = 0.9 \cdot [\hat y \equiv \tilde y] + 0.1 \cdot \mathrm{format}`
Admission to Reasoner        :math:`c_{low} \le c \le c_{high}` (default 0.25 .. 0.75)
training
==========================  ==================================================================

- ``valid`` is 1 when the Questioner's output parses (and, in grounded mode, its program runs on the
  scene and refers only to objects that are there), else 0; an invalid question is not clustered, so
  it earns exactly 0.
- The clip at 0 (as in R-Zero, which VisPlay builds on) keeps a valid question from ever earning less
  than an invalid one: without it, once the Reasoner is sure of everything, writing garbage would beat
  asking a repeated but valid question, and the Questioner unlearns the question format.
- :math:`s` is the share of the question's cluster among the recent questions: its cluster's size
  over the window size (BLEU-distance agglomerative clustering, :mod:`vista_envs.visplay.diversity`).
- The ``"paper"`` form (VisPlay) peaks at 1 when the Reasoner is split 50/50; the ``"min"`` form (the
  public code of VisPlay) is the same curve at half the height, so it peaks at 0.5. They give
  the same ranking of questions, but at a given :math:`\lambda_{div}` the ``"min"`` form weighs
  diversity twice as much.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "QUESTIONER_FORMS",
    "ConfidenceBand",
    "questioner_reward",
    "questioner_terms",
    "reasoner_reward",
    "reasoner_terms",
    "uncertainty",
]

QUESTIONER_FORMS: tuple[str, ...] = ("paper", "min")


def _check_confidence(confidence: float) -> float:
    if not 0.0 <= confidence <= 1.0:
        raise ValueError(f"confidence must be in [0, 1], got {confidence}")
    return float(confidence)


def uncertainty(confidence: float, form: str = "paper") -> float:
    """How unsure the Reasoner is: ``1 - |2c - 1|`` (``"paper"``) or ``min(c, 1 - c)`` (``"min"``)."""
    c = _check_confidence(confidence)
    if form == "paper":
        return 1.0 - abs(2.0 * c - 1.0)
    if form == "min":
        return min(c, 1.0 - c)
    raise ValueError(f"unknown questioner reward form {form!r}; expected one of {QUESTIONER_FORMS}")


def questioner_terms(valid: bool, confidence: float, cluster_share: float, form: str = "paper") -> dict[str, float]:
    """The Questioner's reward terms: ``uncertainty`` (gated by validity) and ``diversity`` (``-s``, 0 when invalid).

    Their sum weighted by ``{"uncertainty": 1, "diversity": λ_div}`` is :func:`questioner_reward`.
    """
    if not 0.0 <= cluster_share <= 1.0:
        raise ValueError(f"cluster_share must be in [0, 1], got {cluster_share}")
    if not valid:
        return {"uncertainty": 0.0, "diversity": 0.0}
    return {"uncertainty": uncertainty(confidence, form), "diversity": -float(cluster_share)}


def questioner_reward(
    valid: bool, confidence: float, cluster_share: float, form: str = "paper", diversity_weight: float = 1.0
) -> float:
    """``valid · max(0, U(c) - λ_div · s)`` with ``U`` the chosen form of :func:`uncertainty`.

    The clip makes it differ from the weighted sum of :func:`questioner_terms` when the diversity penalty
    outweighs the uncertainty.
    """
    terms = questioner_terms(valid, confidence, cluster_share, form)
    return max(0.0, terms["uncertainty"] + diversity_weight * terms["diversity"])


def reasoner_terms(agrees: bool, well_formed: bool) -> dict[str, float]:
    """The Reasoner's reward terms: ``agreement`` (its answer is in ỹ's group) and ``format`` (well formed)."""
    return {"agreement": float(agrees), "format": float(well_formed)}


def reasoner_reward(
    agrees: bool, well_formed: bool, agreement_weight: float = 0.9, format_weight: float = 0.1
) -> float:
    """``0.9 · [ŷ ≡ ỹ] + 0.1 · format`` (weights configurable)."""
    terms = reasoner_terms(agrees, well_formed)
    return agreement_weight * terms["agreement"] + format_weight * terms["format"]


@dataclass(frozen=True)
class ConfidenceBand:
    """The band of confidences whose questions are admitted to Reasoner training (inclusive ends).

    Too easy (``c > high``: the Reasoner already agrees with itself) and too hard or ill-posed
    (``c < low``: no answer stands out, so the pseudo-label is likely wrong) are left out.
    """

    low: float = 0.25
    high: float = 0.75

    def __post_init__(self) -> None:
        if not 0.0 <= self.low <= self.high <= 1.0:
            raise ValueError(f"the confidence band must satisfy 0 <= low <= high <= 1, got ({self.low}, {self.high})")

    def admits(self, confidence: float) -> bool:
        """Whether a question of this confidence goes to Reasoner training."""
        return self.low <= _check_confidence(confidence) <= self.high
