"""The chart family: answers recomputed from the chart's data, values readable to the pixel, a real
difficulty ladder."""

import statistics

import numpy as np
import pytest

from vista_envs.answers import score_answer
from vista_envs.tasks.drawing import COLORS
from vista_envs.tasks.families.chart import _GRID_GRAY as GRID_GRAY
from vista_envs.tasks.families.chart import CATEGORY_SETS, ChartConfig

from family_checks import DIFFICULTIES, tasks
from reading_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)


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
    for task in generated[difficulty]:
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
    for task in generated[difficulty]:
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
        for task in generated[difficulty]:
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
        return statistics.mean(f(t.spec) for t in generated[d])

    counts = [mean(d, lambda s: len(s.scene["labels"])) for d in DIFFICULTIES]
    printed = [mean(d, lambda s: s.scene["value_labels"]) for d in DIFFICULTIES]
    multi_step = [
        mean(d, lambda s: s.scene["query"]["type"] in ("difference", "sum", "count_above")) for d in DIFFICULTIES
    ]
    assert counts == sorted(counts) and counts[-1] - counts[0] >= 3
    assert printed[0] == printed[1] == 1 and printed[3] == printed[4] == 0
    assert multi_step[0] == multi_step[1] == 0 and multi_step[4] > multi_step[2] > 0
    assert {t.spec.scene["noise"] > 0 for t in generated[5]} == {True}


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
