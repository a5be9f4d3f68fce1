"""The spatial family: answers follow from object positions with a clear margin, and the questions move from pairs
to groups with difficulty."""

from collections import Counter

import pytest

from family_checks import DIFFICULTIES, specs
from scene_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from scene_checks import members, the_one


def spatial_truth(spec):
    """The answer to a spatial question, recomputed from object centres and edges."""
    query = spec.scene["query"]
    axis_of = {"left": ("x", 1), "right": ("x", -1), "above": ("y", 1), "below": ("y", -1)}

    def before(a, b, axis, sign):  # a wholly before b, in the direction of `sign`
        return sign * (b[axis] - a[axis]) >= a["radius"] + b["radius"]

    if query["form"] == "relation":
        a, b = the_one(spec, query["subject"]), the_one(spec, query["reference"])
        axis, sign = axis_of[query["relation"]]
        assert before(a, b, axis, 1) or before(b, a, axis, 1), "the two objects overlap along the asked axis"
        return "yes" if before(a, b, axis, sign) else "no"
    if query["form"] == "exists":
        b = the_one(spec, query["reference"])
        group = members(spec, query["group"])
        axis, sign = axis_of[query["relation"]]
        assert group and b not in group
        assert all(before(obj, b, axis, 1) or before(b, obj, axis, 1) for obj in group)
        return "yes" if any(before(obj, b, axis, sign) for obj in group) else "no"
    axis, sign = {"leftmost": ("x", 1), "rightmost": ("x", -1), "topmost": ("y", 1), "bottommost": ("y", -1)}[
        query["extreme"]
    ]
    group = sorted(members(spec, query["group"]), key=lambda obj: sign * obj[axis])
    assert len(group) >= 2
    winner, runner_up = group[0], group[1]
    for offset in (-1, 0, 1):  # near edge, centre and far edge all clearly ahead
        assert (
            sign * ((runner_up[axis] + offset * runner_up["radius"]) - (winner[axis] + offset * winner["radius"]))
            >= 0.04 * 224
        )
    return winner[query["asked"]]


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_spatial_answer_follows_from_positions_with_a_clear_margin(difficulty):
    answers = Counter()
    for spec in specs("spatial", difficulty):
        assert spec.answer == spatial_truth(spec), spec.question
        answers[spec.answer if spec.answer_type == "yes_no" else "text"] += 1
    yes_no = answers["yes"] + answers["no"]
    assert yes_no == 0 or min(answers["yes"], answers["no"]) >= 0.2 * yes_no


def test_spatial_moves_from_pairwise_relations_to_group_questions_with_difficulty():
    forms = [{spec.scene["query"]["form"] for spec in specs("spatial", d)} for d in DIFFICULTIES]
    assert forms == [
        {"relation"},
        {"relation"},
        {"relation", "extreme"},
        {"relation", "extreme", "exists"},
        {"extreme", "exists"},
    ]
