"""The comparison family: the answer follows from the two counts it compares, and "which" is never a tie."""

from collections import Counter

import pytest

from family_checks import DIFFICULTIES, specs
from scene_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from scene_checks import members


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_comparison_answer_follows_from_the_two_counts_and_which_is_never_a_tie(difficulty):
    forms = Counter()
    for spec in specs("comparison", difficulty):
        query = spec.scene["query"]
        first, second = (
            len(members(spec, {**query["context"], query["attribute"]: value})) for value in query["values"]
        )
        if query["form"] == "which":
            assert first != second
            assert spec.answer == (query["values"][0] if first > second else query["values"][1])
        else:
            truth = {"more": first > second, "fewer": first < second, "same": first == second}[query["form"]]
            assert spec.answer == ("yes" if truth else "no")
        if difficulty == 1:
            assert abs(first - second) >= 2
        forms[query["form"]] += 1
    assert set(forms) == (
        {"more"} if difficulty == 1 else {"more", "fewer"} if difficulty == 2 else {"more", "fewer", "same", "which"}
    )
