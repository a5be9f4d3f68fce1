"""The text-reading family: answers recomputed from the signs, legible text that stays on its sign, look-alikes that
score zero, a real difficulty ladder."""

import math
import statistics

import pytest

from vista_envs.answers import score_answer
from vista_envs.tasks import TaskSpec
from vista_envs.tasks.drawing import COLORS, text_extent
from vista_envs.tasks.families.text_reading import (
    CODE_ALPHABET,
    WORD_GROUPS,
    TextReadingConfig,
)

from family_checks import DIFFICULTIES, SIZES, tasks
from reading_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)


def text_answer(scene: dict) -> str:
    """The ground truth recomputed from the signs and the query."""
    query, boxes = scene["query"], scene["boxes"]
    if query["type"] == "by_color":
        return next(b["text"] for b in boxes if b["color"] == query["color"])
    if query["type"] == "color_of_text":
        return next(b["color"] for b in boxes if b["text"] == query["text"])
    offsets = {"to the right of": (0, 1), "to the left of": (0, -1), "below": (1, 0), "above": (-1, 0)}
    d_row, d_col = offsets[query["direction"]]
    anchor = next(b for b in boxes if b["color"] == query["color"])
    return next(b["text"] for b in boxes if (b["row"], b["col"]) == (anchor["row"] + d_row, anchor["col"] + d_col))


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_text_reading_answer_follows_from_the_signs(difficulty, generated):
    for task in generated[difficulty]:
        scene = task.spec.scene
        assert task.answer_type == "text"
        assert task.answer == text_answer(scene) and task.answer == task.answer.lower()
        assert len({b["color"] for b in scene["boxes"]}) == len(scene["boxes"])
        assert len({b["text"] for b in scene["boxes"]}) == len(scene["boxes"])
        assert all(b["drawn"].lower() == b["text"] for b in scene["boxes"])


@pytest.mark.parametrize("size", SIZES)
def test_text_reading_text_is_legible_and_stays_on_its_sign(size):
    for difficulty in DIFFICULTIES:
        for task in tasks("text_reading", difficulty, seeds=range(15), size=size):
            scene = task.spec.scene
            assert scene["font_px"] >= 7
            inset = scene["border_px"] + 2
            for box in scene["boxes"]:
                x0, y0, x1, y1 = box["bbox"]
                assert 0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1]
                w, h = text_extent(box["drawn"], scene["font_px"])
                c, s = abs(math.cos(math.radians(box["angle"]))), abs(math.sin(math.radians(box["angle"])))
                assert w * c + h * s <= x1 - x0 - 2 * inset and w * s + h * c <= y1 - y0 - 2 * inset
            boxes = [b["bbox"] for b in scene["boxes"]]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], "signs overlap"


def test_text_reading_signs_are_drawn_in_their_colour(generated):
    for task in generated[3]:
        pixels = task.image.load()
        for box in task.spec.scene["boxes"]:
            x0, y0, _, _ = box["bbox"]
            assert pixels[x0 + 1, y0 + 1] == COLORS[box["color"]]


def test_text_reading_look_alikes_and_other_signs_score_zero(generated):
    for difficulty in DIFFICULTIES:
        for task in generated[difficulty]:
            others = [b for b in task.spec.scene["boxes"] if task.answer not in (b["text"], b["color"])]
            for box in others:
                wrong = box["color"] if task.spec.scene["query"]["type"] == "color_of_text" else box["drawn"]
                assert score_answer(wrong, task.spec) == 0.0


def test_look_alike_words_never_score_as_each_other():
    words = [word for group in WORD_GROUPS for word in group]
    assert len(words) == len(set(words))
    for group in WORD_GROUPS:
        for word in group:
            spec = TaskSpec(question="q", answer=word, answer_type="text", scene={}, rationale="r")
            assert score_answer(word.upper(), spec) == 1.0
            assert all(score_answer(other, spec) == 0.0 for other in group if other != word)


def test_text_reading_difficulty_adds_signs_shrinks_text_and_adds_look_alikes(generated):
    def mean(d, f):
        return statistics.mean(f(t.spec.scene) for t in generated[d])

    signs = [mean(d, lambda s: len(s["boxes"])) for d in DIFFICULTIES]
    fonts = [mean(d, lambda s: s["font_px"]) for d in DIFFICULTIES]
    rotated = [mean(d, lambda s: any(b["angle"] for b in s["boxes"])) for d in DIFFICULTIES]
    gray = [mean(d, lambda s: statistics.mean(b["text_gray"] for b in s["boxes"])) for d in DIFFICULTIES]
    assert signs == sorted(signs) and signs[-1] >= 3 * signs[0]
    assert fonts == sorted(fonts, reverse=True) and fonts[-1] == 7
    assert rotated[:3] == [0, 0, 0] and rotated[4] > 0.5
    assert gray == sorted(gray) and gray[0] == 0
    assert all(t.spec.scene["noise"] > 0 for t in generated[5])


def test_text_reading_codes_avoid_confusable_characters():
    coded = tasks("text_reading", 4, seeds=range(10), config=TextReadingConfig(code_share=1.0))
    for task in coded:
        for box in task.spec.scene["boxes"]:
            assert len(box["drawn"]) == 3 and set(box["drawn"]) <= set(CODE_ALPHABET)
    assert not set("0O1IZ2S5G6B8Q") & set(CODE_ALPHABET)
