"""fast_random draws exactly the numbers of random.Random's own methods (tasks depend on it)."""

import random

import pytest

from vista_envs.tasks.drawing import jitter_color
from vista_envs.tasks.fast_random import below, choice, randint


@pytest.mark.parametrize("low, high", [(0, 0), (-1, 1), (-12, 12), (0, 7), (0, 8), (3, 1000), (-(2**40), 2**40)])
def test_randint_draws_what_random_randint_draws(low, high):
    ours, theirs = random.Random("seed"), random.Random("seed")
    assert [randint(ours, low, high) for _ in range(500)] == [theirs.randint(low, high) for _ in range(500)]
    # The generators are left in the same state too, so whatever is drawn next agrees.
    assert ours.random() == theirs.random()


@pytest.mark.parametrize("items", [("only",), ("a", "b"), tuple(range(5)), tuple(range(16)), list(range(17))])
def test_choice_draws_what_random_choice_draws(items):
    ours, theirs = random.Random(7), random.Random(7)
    assert [choice(ours, items) for _ in range(500)] == [theirs.choice(items) for _ in range(500)]
    assert ours.getrandbits(32) == theirs.getrandbits(32)


def test_below_is_in_range_and_covers_it():
    rng = random.Random(0)
    draws = {below(rng, 6) for _ in range(600)}
    assert draws == set(range(6))


def test_bad_ranges_raise_like_the_standard_methods():
    rng = random.Random(0)
    with pytest.raises(ValueError):
        randint(rng, 5, 4)
    with pytest.raises(ValueError):
        random.Random(0).randint(5, 4)
    with pytest.raises(IndexError):
        choice(rng, [])


def test_jitter_color_matches_three_standard_randints():
    rng, reference = random.Random("colour"), random.Random("colour")
    for _ in range(200):
        color = (reference.randint(0, 255), reference.randint(0, 255), reference.randint(0, 255))
        rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255)  # keep the two generators in step
        expected = tuple(min(255, max(0, channel + reference.randint(-20, 20))) for channel in color)
        assert jitter_color(rng, color, 20) == expected
