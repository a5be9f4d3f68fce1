"""One test of "a finite real number" for values read from JSON a model or a user wrote."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["is_finite_number"]


def is_finite_number(value: Any) -> bool:
    """True for an int or float (not a bool) that is finite; False for NaN, infinities and ints no float can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float (JSON allows 4300 digits)
        return False
