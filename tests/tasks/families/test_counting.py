"""The counting family: the answer is the number of objects matching the question, and the config caps it."""

import random
from collections import Counter

import pytest

from vista_envs.tasks import get_family
from vista_envs.tasks.shape_scene import describe

from family_checks import DIFFICULTIES, specs
from scene_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from scene_checks import members, test_harder_questions_name_more_attributes  # noqa: F401


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_counting_answer_is_the_number_of_objects_matching_the_question(difficulty):
    answers = Counter()
    for spec in specs("counting", difficulty):
        query = spec.scene["query"]
        assert spec.answer == len(members(spec, query))
        assert spec.question == f"How many {describe(query, plural=True)} are there?"
        assert len(members(spec, query)) < len(spec.scene["objects"])
        if "size" in query:
            assert {obj["size"] for obj in spec.scene["objects"]} == {"small", "large"}
        answers[spec.answer] += 1
    assert len(answers) >= 3


def test_counting_respects_max_count_from_a_dict_config():
    fam = get_family("counting", {"max_count": 2})
    assert {fam.sample(random.Random(seed), 5, (224, 224)).answer for seed in range(50)} <= {0, 1, 2}
