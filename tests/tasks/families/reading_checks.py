"""The checks every reading family runs: chart, text_reading and clock (values, words and times read off a
picture)."""

import json

import pytest

from vista_envs.answers import format_answer, score_answer
from vista_envs.tasks import get_family

from family_checks import DIFFICULTIES, SIZES, tasks

__all__ = [
    "test_family_is_registered_and_documents_its_ladder",
    "test_images_are_rgb_at_the_requested_size",
    "test_specs_are_json_serialisable_with_a_rationale_ending_at_the_answer",
    "test_the_canonical_answer_scores_one",
]

TINY_SIZES = ((100, 77), (64, 64), (32, 32))  # cramped, but must not crash


def test_family_is_registered_and_documents_its_ladder(family):
    generator = get_family(family)
    assert generator.name == family
    doc = type(generator).__doc__
    assert "Difficulty ladder" in doc and "Example" in doc and "Answer type" in doc


def test_specs_are_json_serialisable_with_a_rationale_ending_at_the_answer(family, generated):
    for difficulty in DIFFICULTIES:
        for task in generated[difficulty]:
            assert json.loads(json.dumps(task.spec.scene)) == task.spec.scene
            assert task.spec.rationale.rstrip(".").lower().endswith(str(task.answer).lower())


@pytest.mark.parametrize("size", SIZES + TINY_SIZES)
def test_images_are_rgb_at_the_requested_size(family, size):
    for difficulty in DIFFICULTIES:
        for task in tasks(family, difficulty, seeds=range(6), size=size):
            assert task.image.mode == "RGB" and task.image.size == size


def test_the_canonical_answer_scores_one(family, generated):
    for difficulty in DIFFICULTIES:
        for task in generated[difficulty]:
            assert score_answer(format_answer(task.spec), task.spec) == 1.0
