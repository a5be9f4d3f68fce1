r"""Rule reward terms shared by the visual envs.

Each term is a plain function of the response (and the task); an env weights them with constructor
kwargs and reports every term in ``info["reward_terms"]``:

.. math::

    R = w_c \cdot \text{correctness} + w_f \cdot \text{format} + w_r \cdot \text{reasoning} + w_l \cdot \text{length}

=============  ===========  ==============================================================================
term           range        definition
=============  ===========  ==============================================================================
correctness    [0, 1]       verifier score of the extracted answer (exact / tolerance / IoU)
format         {0, 1}       1 when the response follows the response format (a malformed one loses it)
reasoning      [0, 1]       1 for a non-degenerate reasoning block of ``min_words..max_words`` words;
                            linear decay to 0 at ``2 * max_words``; 0 when absent, too short or looping
length         [-1, 0]      ``-min(1, max(0, chars - budget) / budget)``: a penalty for rambling
=============  ===========  ==============================================================================
"""

from __future__ import annotations

import math
import numbers
import zlib
from dataclasses import dataclass

__all__ = ["RewardWeights", "checked_weights", "is_degenerate", "length_penalty", "reasoning_score"]


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the reward terms (constructor kwargs of the envs)."""

    correctness: float = 1.0
    format: float = 0.2
    reasoning: float = 0.2
    length: float = 0.1

    def total(self, terms: dict[str, float]) -> float:
        """The weighted sum of ``terms`` (terms without a weight here are added as they are)."""
        weights = {
            "correctness": self.correctness,
            "format": self.format,
            "reasoning": self.reasoning,
            "length": self.length,
        }
        return float(sum(weights.get(name, 1.0) * value for name, value in terms.items()))


def is_degenerate(text: str) -> bool:
    """True for repetition loops: few distinct word trigrams, or text that compresses far too well."""
    words = text.split()
    if len(words) >= 12:
        trigrams = list(zip(words, words[1:], words[2:]))
        if len(set(trigrams)) < 0.5 * len(trigrams):
            return True
    raw = text.encode("utf-8", "surrogatepass")
    # Natural language compresses to ~35-60%; a loop of one phrase to well under 15%.
    return len(raw) >= 200 and len(zlib.compress(raw, 1)) < 0.15 * len(raw)


def reasoning_score(reasoning: str | None, min_words: int = 3, max_words: int = 512) -> float:
    """Score a reasoning block: present, at least ``min_words``, not degenerate, bounded in length."""
    if not reasoning:
        return 0.0
    n_words = len(reasoning.split())
    if n_words < min_words or is_degenerate(reasoning):
        return 0.0
    if n_words <= max_words:
        return 1.0
    return max(0.0, 1.0 - (n_words - max_words) / max_words)


def length_penalty(n_chars: int, budget: int) -> float:
    """``-min(1, excess / budget)`` where ``excess`` is how far ``n_chars`` runs past ``budget``."""
    if budget <= 0:
        raise ValueError(f"length budget must be positive, got {budget}")
    excess = n_chars - budget
    return -min(1.0, excess / budget) if excess > 0 else 0.0


def checked_weights(env_id: str, **weights: float) -> dict[str, float]:
    """Reward weights keyed by their term (``collision_cost_weight`` -> ``collision``), each checked to be a finite
    number >= 0.

    Weights name what they weigh and are never negative (Gymnasium MuJoCo v5's convention): a cost's term is
    -1 when it applies, so a ``*_cost_weight`` is subtracted and ``info["reward_terms"]`` shows its sign.

    Raises:
        ValueError: naming the keyword argument, for a negative, non-finite or non-numeric weight.
    """
    terms = {}
    for name, value in weights.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"{env_id}: {name} must be a finite number >= 0, got {value!r}")
        if value < 0:
            hint = (
                " (a cost is subtracted by the env: give its size, e.g. 10.0 rather than -10.0)"
                if name.endswith("_cost_weight")
                else ""
            )
            raise ValueError(f"{env_id}: {name} must be >= 0, got {value!r}{hint}")
        terms[name.removesuffix("_weight").removesuffix("_cost")] = float(value)
    return terms
