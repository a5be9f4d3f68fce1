r"""The composite reward with staged verification: did the agent see right, act right, and succeed?

Errors of a multimodal agent come from seeing or from acting, so the reward scores both, and checks
them in order: first what the agent says it sees, then its tool calls, then the outcome.

**The seeing tag.** An agent states what it sees in ``<see>...</see>`` (:data:`SEE_OPEN`): the element it
is about to act on (``<see>Save</see>``), or the value it read (``<see>42</see>``). The env knows the
ground truth of that turn (the labels of the elements the task needs next, or the value to read)
and scores the tag with :func:`seen_score`. A turn without the tag scores 0 on the visual term.

**Per turn** the env hands a :class:`TurnCheck` to :meth:`CompositeReward.add_turn`:

- ``visual`` :math:`v_t \in [0, 1]`: the tag against the ground truth, or None on a turn where the env
  has no visual ground truth to check (it is then left out of the mean and of the stage check);
- ``tool`` :math:`a_t \in [0, 1]`: the right tool on the right element with valid arguments, and not
  a useless call (1), else 0;
- ``outcome`` :math:`o \in \{0, 1\}`: on the episode's last turn, whether the task succeeded.

The turn's **stage label** (``info["stage_failed"]``) is the first stage that failed: ``"seeing"`` when
:math:`v_t < \tau`, else ``"acting"`` when :math:`a_t < \tau`, else ``"outcome"`` on a failed last turn,
else None (:math:`\tau` is ``pass_threshold``, default 0.5). The turn's **process reward** is
:math:`p_t = (w_v v_t + w_a a_t) / (w_v + w_a)` (:math:`a_t` alone when :math:`v_t` is None), reported
beside the outcome so that a learner can credit the turn where an error started.

**The episode reward** (paid on the last turn; earlier turns pay 0):

.. math::

    R = w_v\,\bar v + w_a\,\bar a + w_o\,o, \qquad \bar a = \tfrac1T \textstyle\sum_t a_t,\ \bar v = \text{the mean of
    the checked } v_t \ (0 \text{ if none})

with the seed's weights :math:`w_v = 0.2, w_a = 0.3, w_o = 0.5` by default (so :math:`R \in [0, 1]`).

**The hook.** An env that offers this reward computes a :class:`TurnCheck` per turn (its own notion of
the visual ground truth and of a good call) and calls :meth:`CompositeReward.add_turn`, which returns
the turn's terms, reward, stage label and process reward; nothing else is needed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from vista_envs.answers.extract import tag_contents

__all__ = [
    "SEE_CLOSE",
    "SEE_OPEN",
    "STAGES",
    "CompositeReward",
    "TurnCheck",
    "TurnScore",
    "extract_seen",
    "seen_score",
]

SEE_OPEN, SEE_CLOSE = "<see>", "</see>"
STAGES = ("seeing", "acting", "outcome")
# Words a model adds around an element's name ("the Save button"): they do not change what it saw.
_EDGE = " \t\"'`.,:;!?“”‘’"
_FILLER = re.compile(
    r"^(the|a|an)\s+|\s+(button|toggle|checkbox|switch|field|box|text "
    r"box|dropdown|list|menu|slider|link|tab|row|column|header|bar|file|folder)$"
)

# A sighting names one element, and no label is near this long. Normalising strips one filler word a pass, so its
# time grows with the square of the length: 16,000 characters of "a a a ..." took 5 s, a turn of a model's output.
_MAX_SEEN_CHARS = 1000


def extract_seen(text: str) -> str | None:
    """The last ``<see>...</see>`` content of a turn (None when there is none)."""
    if not isinstance(text, str):
        return None
    found = tag_contents(text, SEE_OPEN, SEE_CLOSE, ignore_case=True)
    return found[-1].strip() if found else None


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().strip()
    text = re.sub(r"\s+", " ", text)
    previous = None
    while previous != text:
        previous, text = text, _FILLER.sub("", text.strip(_EDGE)).strip(_EDGE)
    return text


def seen_score(seen: str | None, truths: Iterable[str]) -> float:
    """1.0 when the stated sighting names one of ``truths`` (after normalisation), else 0.0.

    Normalisation: Unicode NFKC, case, spaces, surrounding quotes and punctuation, and a leading
    article or trailing kind word ("the Save button" names "Save"). It is exact otherwise, so a
    near-duplicate label ("Email newsletters" for "Email notifications") does not count. Numbers
    match by value ("42.0" names "42"). A sighting over 1,000 characters names nothing.
    """
    if seen is None or len(seen) > _MAX_SEEN_CHARS:
        return 0.0
    stated = _normalize(seen)
    for truth in truths:
        expected = _normalize(str(truth))
        if stated == expected:
            return 1.0
        try:
            if float(stated) == float(expected):
                return 1.0
        except ValueError:
            pass
    return 0.0


@dataclass(frozen=True)
class TurnCheck:
    """What an env measured at one turn (see the module docstring for each field)."""

    visual: float | None
    tool: float
    final: bool = False
    outcome: float = 0.0


@dataclass(frozen=True)
class TurnScore:
    """A turn's reward terms (their weighted sum is ``reward``), stage label and process reward."""

    terms: dict[str, float]
    reward: float
    stage_failed: str | None
    process_reward: float


@dataclass
class CompositeReward:
    """The staged composite reward of one episode at a time (call :meth:`reset` at each episode)."""

    visual_weight: float = 0.2
    tool_weight: float = 0.3
    outcome_weight: float = 0.5
    pass_threshold: float = 0.5
    visual: list[float | None] = field(default_factory=list)
    tool: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("visual_weight", "tool_weight", "outcome_weight"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.visual_weight + self.tool_weight <= 0:
            raise ValueError("visual_weight + tool_weight must be > 0 (the process reward divides by it)")
        if not 0 < self.pass_threshold <= 1:
            raise ValueError(f"pass_threshold must be in (0, 1], got {self.pass_threshold!r}")

    def reset(self) -> None:
        self.visual, self.tool = [], []

    def stage(self, check: TurnCheck) -> str | None:
        """The first stage that failed at this turn, or None."""
        if check.visual is not None and check.visual < self.pass_threshold:
            return "seeing"
        if check.tool < self.pass_threshold:
            return "acting"
        if check.final and check.outcome < self.pass_threshold:
            return "outcome"
        return None

    def add_turn(self, check: TurnCheck) -> TurnScore:
        """Record a turn; on the last turn the terms are the episode's means and the outcome."""
        self.visual.append(None if check.visual is None else float(check.visual))
        self.tool.append(float(check.tool))
        if check.final:
            seen = [v for v in self.visual if v is not None]
            terms = {
                "visual": sum(seen) / len(seen) if seen else 0.0,
                "tool": sum(self.tool) / len(self.tool),
                "outcome": float(check.outcome),
            }
        else:
            terms = {"visual": 0.0, "tool": 0.0, "outcome": 0.0}
        reward = (
            self.visual_weight * terms["visual"]
            + self.tool_weight * terms["tool"]
            + self.outcome_weight * terms["outcome"]
        )
        return TurnScore(terms, reward, self.stage(check), self._process(self.visual[-1], self.tool[-1]))

    @property
    def process_rewards(self) -> list[float]:
        """Every recorded turn's process reward, in order."""
        return [self._process(v, a) for v, a in zip(self.visual, self.tool)]

    def _process(self, visual: float | None, tool: float) -> float:
        if visual is None:  # nothing to see at this turn: the turn is judged by its acting alone
            return tool
        return (self.visual_weight * visual + self.tool_weight * tool) / (self.visual_weight + self.tool_weight)
