"""The checks every shape-scene family runs: counting, attributes, spatial, comparison and grounding (questions about
shapes placed by ``vista_envs/tasks/shape_scene.py``), and the scene helpers their tests share.

odd_one_out draws the same shapes on a grid, not in a scene: its file imports by name the three checks that hold for it.
"""

import json
import math
import statistics

import pytest
from PIL import Image, ImageDraw

from vista_envs.answers import format_answer, score_answer
from vista_envs.tasks import generate_task, get_family
from vista_envs.tasks.drawing import COLOR_NAMES, SHAPES, draw_shape

from family_checks import DIFFICULTIES, SIZES, specs, wrong_answer

__all__ = [
    "test_answer_type_is_the_familys_and_oracle_scores_one_and_wrong_scores_zero",
    "test_harder_scenes_hold_more_and_smaller_objects_with_noise_at_the_top",
    "test_hardest_scenes_have_partly_overlapping_objects_and_easiest_none",
    "test_images_are_rgb_at_the_requested_size_with_every_object_inside",
    "test_scene_is_json_serialisable_and_has_the_object_keys",
]

ANSWER_TYPES = {
    "counting": {"number"},
    "attributes": {"text"},
    "spatial": {"yes_no", "text"},
    "comparison": {"yes_no", "text"},
    "grounding": {"box"},
    "odd_one_out": {"choice"},
}


def has_values(obj: dict, query: dict) -> bool:
    return all(obj[key] == value for key, value in query.items())


def members(spec, query: dict) -> list[dict]:
    return [obj for obj in spec.scene["objects"] if has_values(obj, query)]


def the_one(spec, query: dict) -> dict:
    found = members(spec, query)
    assert len(found) == 1, f"{query} names {len(found)} objects in {spec.question!r}"
    return found[0]


def solo_pixels(obj: dict, size=(224, 224)) -> Image.Image:
    """``obj`` drawn alone, in white on black (outline included), as rendering draws it."""
    image = Image.new("L", size, 0)
    rotation = math.radians(obj["rotation"])
    draw_shape(
        ImageDraw.Draw(image), obj["shape"], (obj["x"], obj["y"]), obj["radius"], 255, outline=255, rotation=rotation
    )
    return image


@pytest.mark.parametrize("size", SIZES)
def test_images_are_rgb_at_the_requested_size_with_every_object_inside(family, size):
    fam = get_family(family)
    width, height = size
    for difficulty in DIFFICULTIES:
        for seed in range(4):
            task = generate_task(fam, seed, difficulty, size=size)
            assert task.image.mode == "RGB" and task.image.size == size
            for obj in task.spec.scene["objects"]:
                x0, y0, x1, y1 = obj["bbox"]
                assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_scene_is_json_serialisable_and_has_the_object_keys(family, difficulty):
    for spec in specs(family, difficulty, count=10):
        assert json.loads(json.dumps(spec.scene)) == spec.scene
        for obj in spec.scene["objects"]:
            assert {"shape", "color", "size", "x", "y", "bbox"} <= set(obj)
            assert obj["shape"] in SHAPES and obj["color"] in COLOR_NAMES and obj["size"] in ("small", "large")


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answer_type_is_the_familys_and_oracle_scores_one_and_wrong_scores_zero(family, difficulty):
    for spec in specs(family, difficulty):
        assert spec.answer_type in ANSWER_TYPES[family]
        assert score_answer(format_answer(spec), spec) == 1.0, spec.question
        assert score_answer(wrong_answer(spec), spec) == 0.0, spec.question
        assert spec.rationale and len(spec.rationale) < 300


def test_harder_scenes_hold_more_and_smaller_objects_with_noise_at_the_top(family):
    objects = [statistics.mean(len(spec.scene["objects"]) for spec in specs(family, d)) for d in DIFFICULTIES]
    radius = [
        statistics.mean(obj["radius"] for spec in specs(family, d) for obj in spec.scene["objects"])
        for d in DIFFICULTIES
    ]
    noise = [specs(family, d, count=1)[0].scene["noise"] for d in DIFFICULTIES]
    assert objects == sorted(objects) and objects[-1] > 2 * objects[0]
    assert radius == sorted(radius, reverse=True)
    assert noise[:3] == [0, 0, 0] and 0 < noise[3] < noise[4]


def test_hardest_scenes_have_partly_overlapping_objects_and_easiest_none(family):
    def overlapping_pairs(difficulty):
        return sum(
            math.dist((a["x"], a["y"]), (b["x"], b["y"])) < a["radius"] + b["radius"]
            for spec in specs(family, difficulty, count=20)
            for i, a in enumerate(spec.scene["objects"])
            for b in spec.scene["objects"][:i]
        )

    assert overlapping_pairs(1) == 0 and overlapping_pairs(3) == 0
    assert overlapping_pairs(5) > 20


# Run by the families whose questions describe one object by its traits (counting, attributes, grounding).
def test_harder_questions_name_more_attributes(family):
    per_level = [statistics.mean(len(spec.scene["query"]) for spec in specs(family, d)) for d in DIFFICULTIES]
    assert per_level == sorted(per_level) and per_level[0] == 1 and per_level[-1] >= 2
