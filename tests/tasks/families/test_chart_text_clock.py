"""The chart, text-reading and clock task families: determinism, exact answers, real difficulty ladders."""

from __future__ import annotations

import json
import math
import random
import statistics

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vista_envs.answers import format_answer, score_answer
from vista_envs.tasks import generate_task, get_family
from vista_envs.tasks.drawing import COLORS, add_noise, stamp_text, text_extent
from vista_envs.tasks.families.chart import _GRID_GRAY as GRID_GRAY
from vista_envs.tasks.families.chart import CATEGORY_SETS, ChartConfig
from vista_envs.tasks.families.clock import ClockConfig
from vista_envs.tasks.families.text_reading import (
    CODE_ALPHABET,
    WORD_GROUPS,
    TextReadingConfig,
)

FAMILIES = ("chart", "text_reading", "clock")
DIFFICULTIES = (1, 2, 3, 4, 5)
SEEDS = range(80)
SIZES = ((224, 224), (128, 128), (336, 336), (320, 240))
TINY_SIZES = ((100, 77), (64, 64), (32, 32))  # cramped, but must not crash


def tasks(family: str, difficulty: int, seeds=SEEDS, size=(224, 224), config=None):
    generator = get_family(family, config)
    return [generate_task(generator, seed, difficulty, size=size) for seed in seeds]


@pytest.fixture(scope="module")
def generated():
    """Tasks per (family, difficulty) at 224 x 224, shared by the tests that only read them."""
    return {(family, d): tasks(family, d) for family in FAMILIES for d in DIFFICULTIES}


# --- every family --------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_family_is_registered_and_documents_its_ladder(family):
    generator = get_family(family)
    assert generator.name == family
    doc = type(generator).__doc__
    assert "Difficulty ladder" in doc and "Example" in doc and "Answer type" in doc


@pytest.mark.parametrize("family", FAMILIES)
def test_specs_are_json_serialisable_with_a_rationale_ending_at_the_answer(family, generated):
    for difficulty in DIFFICULTIES:
        for task in generated[family, difficulty]:
            assert json.loads(json.dumps(task.spec.scene)) == task.spec.scene
            assert task.spec.rationale.rstrip(".").lower().endswith(str(task.answer).lower())


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", SIZES + TINY_SIZES)
def test_images_are_rgb_at_the_requested_size(family, size):
    for difficulty in DIFFICULTIES:
        for task in tasks(family, difficulty, seeds=range(6), size=size):
            assert task.image.mode == "RGB" and task.image.size == size


@pytest.mark.parametrize("family", FAMILIES)
def test_the_canonical_answer_scores_one(family, generated):
    for difficulty in DIFFICULTIES:
        for task in generated[family, difficulty]:
            assert score_answer(format_answer(task.spec), task.spec) == 1.0


# --- chart ---------------------------------------------------------------------------------------


def chart_answer(scene: dict):
    """The ground truth recomputed from the chart's data and query."""
    value_of = dict(zip(scene["labels"], scene["values"]))
    query = scene["query"]
    kind = query["type"]
    if kind == "value":
        return value_of[query["labels"][0]]
    if kind == "max":
        return max(value_of, key=value_of.get).lower()
    if kind == "min":
        return min(value_of, key=value_of.get).lower()
    a, b = (value_of[label] for label in query["labels"][:2]) if kind != "count_above" else (0, 0)
    if kind == "difference":
        return a - b
    if kind == "sum":
        return a + b
    return sum(value > query["threshold"] for value in scene["values"])


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_chart_answer_follows_from_the_data(difficulty, generated):
    for task in generated["chart", difficulty]:
        scene = task.spec.scene
        assert task.answer == chart_answer(scene)
        assert task.answer_type == ("text" if scene["query"]["type"] in ("max", "min") else "number")
        assert len(set(scene["values"])) == len(scene["values"]), "values must differ, so max/min never tie"
        assert all(
            f"'{label}'" in task.question
            for label in scene["query"]["labels"]
            if scene["query"]["type"] in ("value", "difference", "sum")
        )


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_chart_values_are_exactly_readable(difficulty, generated):
    for task in generated["chart", difficulty]:
        scene = task.spec.scene
        if scene["chart"] == "pie":
            assert sum(scene["values"]) == 100 and min(scene["values"]) >= 5
            if not scene["value_labels"]:
                ranked = sorted(scene["values"])
                gap = ranked[-1] - ranked[-2] if scene["query"]["type"] == "max" else ranked[1] - ranked[0]
                assert scene["query"]["type"] in ("max", "min") and gap >= 5
            continue
        step, top = scene["axis"]["step"], scene["axis"]["max"]
        assert all(0 < value <= top for value in scene["values"])
        if not scene["value_labels"]:
            # Values sit on gridlines or halfway between two; the tolerance rejects the next grid value.
            value_step = step if difficulty == 3 else step // 2
            assert all(value % value_step == 0 for value in scene["values"])
            assert task.spec.tolerance < value_step / 2
        else:
            assert task.spec.tolerance == 0


def test_chart_numeric_answers_out_of_tolerance_and_other_labels_score_zero(generated):
    for difficulty in DIFFICULTIES:
        for task in generated["chart", difficulty]:
            spec = task.spec
            if spec.answer_type == "number":
                assert score_answer(str(spec.answer + spec.tolerance + 1), spec) == 0.0
                assert score_answer(str(spec.answer + spec.tolerance), spec) == 1.0
            else:
                other = next(label for label in spec.scene["labels"] if label.lower() != spec.answer)
                assert score_answer(other, spec) == 0.0
                assert score_answer(spec.answer.upper(), spec) == 1.0


def test_chart_month_answers_accept_the_full_month_name():
    months = [
        t
        for d in (1, 2)
        for t in tasks("chart", d, seeds=range(60))
        if t.spec.scene["categories"] == "months" and t.answer_type == "text"
    ]
    assert months
    full = {
        label.lower(): name for label, name in zip(CATEGORY_SETS["months"].labels, CATEGORY_SETS["months"].full_names)
    }
    for task in months:
        assert score_answer(full[task.answer], task.spec) == 1.0


def test_chart_difficulty_adds_categories_removes_printed_values_and_adds_steps(generated):
    def mean(d, f):
        return statistics.mean(f(t.spec) for t in generated["chart", d])

    counts = [mean(d, lambda s: len(s.scene["labels"])) for d in DIFFICULTIES]
    printed = [mean(d, lambda s: s.scene["value_labels"]) for d in DIFFICULTIES]
    multi_step = [
        mean(d, lambda s: s.scene["query"]["type"] in ("difference", "sum", "count_above")) for d in DIFFICULTIES
    ]
    assert counts == sorted(counts) and counts[-1] - counts[0] >= 3
    assert printed[0] == printed[1] == 1 and printed[3] == printed[4] == 0
    assert multi_step[0] == multi_step[1] == 0 and multi_step[4] > multi_step[2] > 0
    assert {t.spec.scene["noise"] > 0 for t in generated["chart", 5]} == {True}


def test_chart_bars_end_exactly_on_the_gridline_of_their_value():
    checked = 0
    for task in tasks("chart", 3, seeds=range(60)):
        scene = task.spec.scene
        if scene["chart"] != "bar":
            continue
        pixels = np.asarray(task.image)
        grid_rows = np.flatnonzero(np.all(pixels == GRID_GRAY, axis=2).sum(axis=1) >= 5)[::-1]  # bottom first
        assert len(grid_rows) == scene["axis"]["max"] // scene["axis"]["step"]
        is_bar = np.all(pixels == COLORS[scene["colors"][0]], axis=2)
        columns = np.flatnonzero(is_bar.sum(axis=0) > 0)
        bars = [run for run in np.split(columns, np.flatnonzero(np.diff(columns) > 1) + 1) if len(run) >= 3]  # not text
        assert len(bars) == len(scene["values"])
        for bar, value in zip(bars, scene["values"]):
            column = np.concatenate(([0], is_bar[:, bar[len(bar) // 2]].astype(np.int8), [0]))
            starts, ends = np.flatnonzero(np.diff(column) == 1), np.flatnonzero(np.diff(column) == -1)
            bar_top = starts[np.argmax(ends - starts)]  # the longest run: the bar, not a stray text pixel
            assert bar_top == grid_rows[value // scene["axis"]["step"] - 1]
        checked += 1
    assert checked >= 5


def test_chart_config_restricts_the_chart_kinds():
    pies = tasks("chart", 3, seeds=range(10), config=ChartConfig(chart_kinds=("pie",)))
    assert {t.spec.scene["chart"] for t in pies} == {"pie"}
    with pytest.raises(ValueError, match="chart_kinds"):
        ChartConfig(chart_kinds=("radar",))


# --- text reading --------------------------------------------------------------------------------


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
    for task in generated["text_reading", difficulty]:
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
    for task in generated["text_reading", 3]:
        pixels = task.image.load()
        for box in task.spec.scene["boxes"]:
            x0, y0, _, _ = box["bbox"]
            assert pixels[x0 + 1, y0 + 1] == COLORS[box["color"]]


def test_text_reading_look_alikes_and_other_signs_score_zero(generated):
    for difficulty in DIFFICULTIES:
        for task in generated["text_reading", difficulty]:
            others = [b for b in task.spec.scene["boxes"] if task.answer not in (b["text"], b["color"])]
            for box in others:
                wrong = box["color"] if task.spec.scene["query"]["type"] == "color_of_text" else box["drawn"]
                assert score_answer(wrong, task.spec) == 0.0


def test_look_alike_words_never_score_as_each_other():
    from vista_envs.tasks import TaskSpec

    words = [word for group in WORD_GROUPS for word in group]
    assert len(words) == len(set(words))
    for group in WORD_GROUPS:
        for word in group:
            spec = TaskSpec(question="q", answer=word, answer_type="text", scene={}, rationale="r")
            assert score_answer(word.upper(), spec) == 1.0
            assert all(score_answer(other, spec) == 0.0 for other in group if other != word)


def test_text_reading_difficulty_adds_signs_shrinks_text_and_adds_look_alikes(generated):
    def mean(d, f):
        return statistics.mean(f(t.spec.scene) for t in generated["text_reading", d])

    signs = [mean(d, lambda s: len(s["boxes"])) for d in DIFFICULTIES]
    fonts = [mean(d, lambda s: s["font_px"]) for d in DIFFICULTIES]
    rotated = [mean(d, lambda s: any(b["angle"] for b in s["boxes"])) for d in DIFFICULTIES]
    gray = [mean(d, lambda s: statistics.mean(b["text_gray"] for b in s["boxes"])) for d in DIFFICULTIES]
    assert signs == sorted(signs) and signs[-1] >= 3 * signs[0]
    assert fonts == sorted(fonts, reverse=True) and fonts[-1] == 7
    assert rotated[:3] == [0, 0, 0] and rotated[4] > 0.5
    assert gray == sorted(gray) and gray[0] == 0
    assert all(t.spec.scene["noise"] > 0 for t in generated["text_reading", 5])


def test_text_reading_codes_avoid_confusable_characters():
    coded = tasks("text_reading", 4, seeds=range(10), config=TextReadingConfig(code_share=1.0))
    for task in coded:
        for box in task.spec.scene["boxes"]:
            assert len(box["drawn"]) == 3 and set(box["drawn"]) <= set(CODE_ALPHABET)
    assert not set("0O1IZ2S5G6B8Q") & set(CODE_ALPHABET)


# --- clock ---------------------------------------------------------------------------------------


def hand_pixel(task, angle: float, share: float):
    scene = task.spec.scene
    cx, cy = scene["center"]
    r = scene["radius"] * share
    return task.image.getpixel(
        (round(cx + r * math.sin(math.radians(angle))), round(cy - r * math.cos(math.radians(angle))))
    )


def angular_gap(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_clock_answer_and_hands_follow_from_the_time(difficulty, generated):
    for task in generated["clock", difficulty]:
        scene = task.spec.scene
        hour, minute = scene["hour"], scene["minute"]
        assert task.answer_type == "time" and task.answer == f"{hour}:{minute:02d}"
        assert 1 <= hour <= 12 and 0 <= minute <= 59
        assert scene["minute_hand_angle"] == 6 * minute
        assert scene["hour_hand_angle"] == pytest.approx(30 * (hour % 12 + minute / 60), abs=0.01)


def test_clock_hands_are_drawn_at_their_angles():
    checked = 0
    for task in tasks("clock", 4, seeds=range(40)):
        scene = task.spec.scene
        hands = tuple(scene["hands"])
        minute, hour = scene["minute_hand_angle"], scene["hour_hand_angle"]
        if angular_gap(minute, hour) < 40 or angular_gap(minute + 180, hour) < 40:
            continue
        assert hand_pixel(task, minute, 0.4) == hands
        assert hand_pixel(task, hour, 0.3) == hands
        assert hand_pixel(task, minute + 180, 0.4) != hands
        checked += 1
    assert checked >= 10


def test_clock_wrong_readings_score_zero(generated):
    for difficulty in DIFFICULTIES:
        for task in generated["clock", difficulty]:
            hour, minute = task.spec.scene["hour"], task.spec.scene["minute"]
            assert score_answer(f"{hour}:{(minute + 1) % 60:02d}", task.spec) == 0.0
            assert score_answer(f"{hour % 12 + 1}:{minute:02d}", task.spec) == 0.0
            assert score_answer(f"{hour % 12 + 12}:{minute:02d}", task.spec) == 1.0  # the 24-hour form


def test_clock_difficulty_refines_the_minutes_and_removes_numerals(generated):
    def minutes(d):
        return {t.spec.scene["minute"] for t in generated["clock", d]}

    assert minutes(1) == {0}
    assert minutes(2) <= {15, 30, 45}
    assert all(m % 5 == 0 for m in minutes(3)) and len(minutes(3)) > 6
    assert any(m % 5 for m in minutes(4)) and any(m % 5 for m in minutes(5))
    assert all(t.spec.scene["ticks"] == "minutes" for d in (4, 5) for t in generated["clock", d])
    assert all(t.spec.scene["numerals"] for d in (1, 2, 3, 4) for t in generated["clock", d])
    assert not any(t.spec.scene["numerals"] for t in generated["clock", 5])
    assert all(
        t.spec.scene["noise"] > 0 and t.spec.scene["second_hand_angle"] is not None for t in generated["clock", 5]
    )


def test_clock_config_can_drop_the_second_hand():
    for task in tasks("clock", 5, seeds=range(5), config=ClockConfig(second_hand=False)):
        assert task.spec.scene["second_hand_angle"] is None


# --- drawing helpers -----------------------------------------------------------------------------


def test_stamp_text_draws_the_ink_box_at_its_anchor():
    image = Image.new("RGB", (100, 40), (255, 255, 255))
    box = stamp_text(ImageDraw.Draw(image), (50, 20), "K7Q", 12, (0, 0, 0), anchor="mm")
    assert (box[2] - box[0], box[3] - box[1]) == text_extent("K7Q", 12)
    assert abs((box[0] + box[2]) / 2 - 50) <= 0.5 and abs((box[1] + box[3]) / 2 - 20) <= 0.5
    ink = np.argwhere(np.asarray(image.convert("L")) < 128)
    assert (
        ink[:, 1].min() >= box[0]
        and ink[:, 1].max() < box[2]
        and ink[:, 0].min() >= box[1]
        and ink[:, 0].max() < box[3]
    )


def test_noise_is_seeded_and_has_the_requested_spread():
    image = Image.new("RGB", (64, 48), (128, 128, 128))
    first = add_noise(image, 10.0, random.Random(1))
    assert first.tobytes() == add_noise(image, 10.0, random.Random(1)).tobytes()
    assert first.size == image.size and first.mode == "RGB"
    assert 8 < np.asarray(first, dtype=float).std() < 12
    assert add_noise(image, 0.0, random.Random(1)) is image
