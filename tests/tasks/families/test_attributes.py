"""The attributes family: the answer is the asked attribute of the only object the question describes."""

import random
from collections import Counter

import pytest

from vista_envs.answers import score_answer
from vista_envs.tasks import get_family

from family_checks import DIFFICULTIES, specs
from scene_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from scene_checks import test_harder_questions_name_more_attributes, the_one  # noqa: F401


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_attributes_answer_is_the_asked_attribute_of_the_only_described_object(difficulty):
    asked = Counter()
    for spec in specs("attributes", difficulty):
        target = the_one(spec, spec.scene["query"])
        assert spec.answer == target[spec.scene["asked"]]
        assert spec.scene["asked"] not in spec.scene["query"]
        if spec.scene["asked"] == "size":
            assert {obj["size"] for obj in spec.scene["objects"]} == {"small", "large"}
        asked[spec.scene["asked"]] += 1
    assert len(asked) >= 2


def test_attributes_gray_answer_also_accepts_grey():
    fam = get_family("attributes")
    spec = next(
        spec for seed in range(500) if (spec := fam.sample(random.Random(seed), 1, (224, 224))).answer == "gray"
    )
    assert score_answer("grey", spec) == 1.0
