"""The chart_arithmetic family: answers recomputed from the printed bar values, harder charts with more bars and
smaller labels."""

import itertools
from decimal import Decimal
from typing import Any

from tool_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from tool_checks import all_tasks, half_up, mean_per_difficulty, strictly_rising


def chart_answer(scene: dict[str, Any]) -> Decimal:
    values = [Decimal(text) for text in scene["value_labels"]]
    assert [float(v) for v in values] == scene["values"]
    query = scene["query"]
    bars, kind, n = query["bars"], query["kind"], len(values)
    if kind == "sum":
        assert bars == list(range(n))
        return sum(values)
    if kind == "range_sum":
        assert bars == list(range(bars[0], bars[-1] + 1))
        return sum(values[i] for i in bars)
    if kind == "sum_above":
        assert bars == [i for i, v in enumerate(values) if v > query["threshold"]]
        assert query["threshold"] not in values
        return sum(values[i] for i in bars)
    if kind == "mean":
        return half_up(sum(values) / n, 1)
    if kind == "ratio":
        return half_up(values[bars[0]] / values[bars[1]], 2)
    if kind == "rises":
        return Decimal(sum(1 for a, b in itertools.pairwise(values) if b > a))
    assert kind == "mean_change" and bars == [0, n - 1]
    return half_up((values[-1] - values[0]) / (n - 1), 2)


def test_chart_answers_follow_from_the_bar_values():
    kinds = set()
    for _, _, generated in all_tasks("chart_arithmetic"):
        scene, spec = generated.spec.scene, generated.spec
        assert 5 <= len(scene["categories"]) <= 20
        assert len(set(scene["categories"])) == len(scene["categories"])
        assert Decimal(str(spec.answer)) == chart_answer(scene), spec.question
        query = scene["query"]
        if query["kind"] in ("ratio", "range_sum"):
            first, last = scene["categories"][query["bars"][0]], scene["categories"][query["bars"][-1]]
            assert f"{first} " in spec.question and f"{last}," in spec.question
        if query["kind"] == "sum_above":
            assert f"greater than {query['threshold']}?" in spec.question
        kinds.add(query["kind"])
    assert kinds == {"sum", "range_sum", "sum_above", "mean", "ratio", "rises", "mean_change"}


def test_harder_charts_have_more_bars_and_smaller_labels():
    assert strictly_rising(mean_per_difficulty("chart_arithmetic", lambda s: len(s["categories"])))
    fonts = mean_per_difficulty("chart_arithmetic", lambda s: s["font_px"])
    assert all(a >= b for a, b in itertools.pairwise(fonts)) and fonts[4] < fonts[0]
