"""Faster stand-ins for ``random.Random.randint`` / ``choice`` that draw exactly the same numbers.

Task generators call these hundreds of times per task. The standard methods go through two or three
Python frames (``randint`` -> ``randrange`` -> ``_randbelow``) and argument checks; these take one.
They consume the generator's bits exactly as CPython's ``_randbelow_with_getrandbits`` does (the
method every ``random.Random`` uses), so a task drawn with them is identical to one drawn with the
standard methods, on every Python version that has ``getrandbits`` (a test compares them).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["below", "choice", "randint"]

T = TypeVar("T")


def below(rng: random.Random, n: int) -> int:
    """A random int in ``[0, n)`` for ``n >= 1``: ``rng._randbelow(n)``."""
    getrandbits = rng.getrandbits
    bits = n.bit_length()  # as CPython: not (n - 1), so that n = 1 also draws one bit
    value = getrandbits(bits)
    while value >= n:
        value = getrandbits(bits)
    return value


def randint(rng: random.Random, low: int, high: int) -> int:
    """A random int in ``[low, high]``, both included: ``rng.randint(low, high)``."""
    if high < low:
        raise ValueError(f"empty range for randint({low}, {high})")
    return low + below(rng, high - low + 1)


def choice(rng: random.Random, items: Sequence[T]) -> T:
    """A random item of the non-empty ``items``: ``rng.choice(items)``."""
    if not items:
        raise IndexError("cannot choose from an empty sequence")
    return items[below(rng, len(items))]
