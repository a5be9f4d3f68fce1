"""95% confidence intervals for the leaderboard: Wilson for success rates, normal for mean rewards."""

from __future__ import annotations

import math

__all__ = ["Z_95", "mean_interval", "wilson_interval"]

# The two-sided 95% quantile of the standard normal distribution.
Z_95 = 1.959963984540054


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a success rate ``successes / trials``.

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or ``trials``
    successes, which matters for the small per-family counts of a quick suite. No trials: ``(0, 1)``.
    """
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return 0.0, 1.0
    rate = successes / trials
    denominator = 1 + z * z / trials
    centre = (rate + z * z / (2 * trials)) / denominator
    half_width = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / denominator
    # At 0 or `trials` successes the interval touches 0 or 1 exactly; say so rather than leave rounding residue.
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == trials else min(1.0, centre + half_width)
    return low, high


def mean_interval(mean: float, std: float, count: int, z: float = Z_95) -> tuple[float, float] | None:
    """The normal-approximation interval ``mean ± z·std/√count`` (``std``: the sample standard deviation).

    None with fewer than two samples, where the spread is unknown.
    """
    if count < 2:
        return None
    half_width = z * std / math.sqrt(count)
    return mean - half_width, mean + half_width
