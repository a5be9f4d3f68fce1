"""The checks every reasoning family runs: maze, geometry and temporal_order (a path search, a measurement or an
ordering, with a rationale that concludes at the answer).
"""

import json
import random
import re

import pytest

from vista_envs.answers import format_answer, score_answer
from vista_envs.tasks import generate_task, get_family

from family_checks import DIFFICULTIES, SIZES, specs, wrong_answer

__all__ = [
    "test_an_invalid_difficulty_is_rejected",
    "test_images_are_rgb_at_the_requested_size_for_every_difficulty",
    "test_oracle_answer_scores_one_and_a_wrong_answer_scores_zero",
    "test_scene_is_json_and_the_rationale_ends_at_the_answer",
    "test_tiny_images_still_render",
]

RENDERED = 6  # rendered images per family, difficulty and size


def rationale_conclusion(spec) -> str:
    """What the rationale concludes: its last number, yes/no, or letters, in the answer's canonical form."""
    if spec.answer_type == "number":
        return re.findall(r"\d+(?:\.\d+)?", spec.rationale)[-1]
    if spec.answer_type == "yes_no":
        return re.findall(r"\b(yes|no)\b", spec.rationale)[-1]
    if spec.answer_type == "choice":
        return re.findall(r"\b[A-H]\b", spec.rationale)[-1]
    return re.search(r"((?:[A-H], )*[A-H])\.$", spec.rationale).group(1)


@pytest.mark.parametrize("size", SIZES)
def test_images_are_rgb_at_the_requested_size_for_every_difficulty(family, size):
    fam = get_family(family)
    for difficulty in DIFFICULTIES:
        for seed in range(RENDERED):
            task = generate_task(fam, seed, difficulty, size=size)
            assert task.image.mode == "RGB" and task.image.size == size


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_oracle_answer_scores_one_and_a_wrong_answer_scores_zero(family, difficulty):
    for spec in specs(family, difficulty):
        assert score_answer(format_answer(spec), spec) == 1.0
        assert score_answer(wrong_answer(spec), spec) == 0.0


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_scene_is_json_and_the_rationale_ends_at_the_answer(family, difficulty):
    for spec in specs(family, difficulty):
        assert json.loads(json.dumps(spec.scene)) == spec.scene
        assert rationale_conclusion(spec) == format_answer(spec)
        assert len(spec.rationale) < 600


@pytest.mark.parametrize("difficulty", [0, 6, 2.5])
def test_an_invalid_difficulty_is_rejected(family, difficulty):
    with pytest.raises(ValueError, match="difficulty"):
        get_family(family).sample(random.Random(0), difficulty, (224, 224))


def test_tiny_images_still_render(family):
    fam = get_family(family)
    for difficulty in DIFFICULTIES:
        assert generate_task(fam, 0, difficulty, size=(64, 64)).image.size == (64, 64)
