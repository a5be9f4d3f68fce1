"""Reward terms: reasoning quality, degeneracy, length penalty and weighting."""

import pytest

from vista_envs.rewards import RewardWeights, is_degenerate, length_penalty, reasoning_score

GOOD = (
    "I count the red circles one by one: there is one at the top left, one in the middle and one at the bottom, so "
    "three."
)


def test_genuine_reasoning_earns_the_full_term():
    assert not is_degenerate(GOOD)
    assert reasoning_score(GOOD) == 1.0


@pytest.mark.parametrize("loop", ["the answer is 3 " * 40, "a" * 500, "hmm " * 100, "wait, let me check again. " * 30])
def test_repetition_loops_are_degenerate_and_earn_nothing(loop):
    assert is_degenerate(loop)
    assert reasoning_score(loop) == 0.0


@pytest.mark.parametrize("reasoning", [None, "", "ok"])
def test_missing_or_too_short_reasoning_earns_nothing(reasoning):
    assert reasoning_score(reasoning, min_words=3) == 0.0


def test_overlong_reasoning_decays_linearly_to_zero_at_twice_the_bound():
    words = " ".join(f"w{i}" for i in range(150))
    assert reasoning_score(words, max_words=100) == pytest.approx(0.5)
    assert reasoning_score(" ".join(f"w{i}" for i in range(250)), max_words=100) == 0.0


def test_length_penalty_starts_after_the_budget_and_saturates_at_minus_one():
    assert length_penalty(100, 200) == 0.0
    assert length_penalty(300, 200) == -0.5
    assert length_penalty(10_000, 200) == -1.0
    with pytest.raises(ValueError):
        length_penalty(1, 0)


def test_weights_combine_terms_linearly():
    weights = RewardWeights(correctness=1.0, format=0.5, reasoning=0.25, length=2.0)
    assert weights.total({"correctness": 1.0, "format": 1.0, "reasoning": 1.0, "length": -0.5}) == pytest.approx(0.75)
