"""The financial_chart family: answers recomputed from the closing prices, more days at higher difficulty."""

import itertools
from decimal import Decimal
from typing import Any

from tool_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from tool_checks import all_tasks, half_up, mean_per_difficulty, strictly_rising


def financial_answer(scene: dict[str, Any]) -> Decimal:
    closes = [Decimal(c) for c in scene["closes"]]
    kind, (a, b) = scene["query"]["kind"], scene["query"]["days"]
    moves = [later - earlier for earlier, later in itertools.pairwise(closes)]
    if kind == "change":
        return closes[b] - closes[a]
    if kind == "pct_change":
        return half_up((closes[b] - closes[a]) / closes[a] * 100, 1)
    if kind == "average":
        return half_up(sum(closes) / len(closes), 2)
    if kind == "best_day":
        return max(moves)
    if kind == "worst_day":
        return -min(moves)
    assert kind == "drawdown"
    worst = max((max(closes[: j + 1]) - closes[j]) / max(closes[: j + 1]) for j in range(len(closes)))
    return half_up(worst * 100, 1)


def test_financial_answers_follow_from_the_closing_prices():
    kinds = set()
    for _, _, generated in all_tasks("financial_chart"):
        scene, spec = generated.spec.scene, generated.spec
        assert len(scene["dates"]) == len(scene["closes"]) == len(set(scene["dates"]))
        assert all(Decimal(c) > 0 and Decimal(c).as_tuple().exponent == -2 for c in scene["closes"])
        assert abs(Decimal(str(spec.answer)) - financial_answer(scene)) < Decimal("1e-9"), spec.question
        if scene["query"]["kind"] in ("best_day", "worst_day", "drawdown"):
            assert spec.answer > 0
        kinds.add(scene["query"]["kind"])
    assert kinds == {"change", "pct_change", "average", "best_day", "worst_day", "drawdown"}


def test_harder_financial_charts_show_more_days():
    assert strictly_rising(mean_per_difficulty("financial_chart", lambda s: len(s["dates"])))
