"""Chart arithmetic: add up, average, compare and follow the trend of many labelled bars.

A bar chart of 8-20 bars carries each bar's value in small type at the bar's end. Every question needs
arithmetic over many of those numbers (the total of 17 values, a mean, a ratio, how many times the
series rose), which a model gets right far more often with the ``calculator`` or ``python`` tool than
in its head. The chart is drawn at twice the requested size (``detail_scale = 2``): the labels are
legible in the view and crisp after a ``zoom``.

This module also holds :func:`round_half_up`, the exact rounding that the other arithmetic families
(financial charts, receipts, pixel measurements) use for their "rounded to N places" answers.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import Image

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, ToolStep, register_family
from vista_envs.tasks.drawing import COLORS, blank, stamp_text, text_extent

__all__ = ["MONTHS", "ChartArithmetic", "ChartArithmeticConfig", "format_number", "round_half_up"]


def round_half_up(value: Fraction | int, places: int) -> int | float:
    """``value`` rounded to ``places`` decimals, halves away from zero (an int when ``places`` is 0).

    Exact on fractions, so 2.675 given as ``Fraction(2675, 1000)`` rounds to 2.68 (``round`` on the
    float says 2.67).
    """
    scaled = abs(Fraction(value)) * 10**places
    rounded = math.floor(scaled + Fraction(1, 2)) * (1 if value >= 0 else -1)
    return rounded if places == 0 else rounded / 10**places


def format_number(value: Fraction | int, places: int) -> str:
    """``value`` with exactly ``places`` decimals, as it is printed on a chart or receipt."""
    return f"{round_half_up(value, places):.{places}f}"


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MEASURES = ("Units sold", "Orders", "Visitors", "Rainfall (mm)", "Downloads", "Repairs", "Deliveries", "Sign-ups")
_BAR_COLORS = ("blue", "green", "orange", "purple", "red", "cyan", "brown")

# Ascenders, descenders and digits: its ink height bounds that of any label.
_TALLEST_TEXT = "0123456789Agjpy"
# Question kinds that follow the order of the bars need ordered categories (years or months).
_TREND_KINDS = ("rises", "mean_change")


@dataclass(frozen=True)
class ChartArithmeticConfig(FamilyConfig):
    """Knobs of the chart-arithmetic family.

    Attributes:
        min_font_px: smallest value-label font in pixels of the view, whatever the image size.
    """

    min_font_px: int = 6


@dataclass(frozen=True)
class _Level:
    bars: tuple[int, int]  # inclusive range of the number of bars
    decimals: int  # decimals of each value: 0 (integers) or 1
    kinds: tuple[str, ...]  # question kinds
    font_px: int  # value-label font size in view pixels at 224 x 224
    gridlines: bool


_LEVELS: dict[int, _Level] = {
    1: _Level((8, 9), 0, ("sum",), 9, False),
    2: _Level((10, 12), 0, ("sum", "range_sum"), 8, False),
    3: _Level((12, 14), 0, ("mean", "range_sum", "sum_above", "ratio"), 8, True),
    4: _Level((14, 17), 1, ("sum", "mean", "ratio", "sum_above", "rises"), 7, True),
    5: _Level((17, 20), 1, ("mean", "ratio", "sum_above", "rises", "mean_change"), 6, True),
}

# Tolerances: half a unit of the last asked-for decimal (accepts the unrounded value too); 0 = exact.
_TOLERANCE = {
    "sum": 0.0,
    "range_sum": 0.0,
    "sum_above": 0.0,
    "rises": 0.0,
    "mean": 0.05,
    "ratio": 0.005,
    "mean_change": 0.005,
}


@dataclass(frozen=True)
class _Layout:
    """Pixel geometry of a chart in an image of ``size``; derived, never stored in the scene."""

    orientation: str  # "vertical" (columns) or "horizontal" (bars)
    font_px: int  # value and category labels
    title_px: int
    margin: int
    plot: tuple[int, int, int, int]  # x0, y0, x1, y1 of the bars' area
    slot: float  # width (vertical) or height (horizontal) per bar

    @classmethod
    def build(
        cls, size: tuple[int, int], orientation: str, font_px: int, labels: list[str], value_texts: list[str]
    ) -> _Layout:
        width, height = size
        margin = max(3, round(min(size) * 0.03))
        title_px = round(font_px * 1.25)
        value_w = max(text_extent(t, font_px)[0] for t in value_texts)
        label_w = max(text_extent(t, font_px)[0] for t in labels)
        text_h = text_extent(_TALLEST_TEXT, font_px)[1]
        top = margin + title_px + margin
        if orientation == "vertical":
            plot = (margin + 2, top + text_h + 3, width - margin, height - margin - text_h - 4)
            slot = (plot[2] - plot[0]) / len(labels)
        else:
            plot = (margin + label_w + 4, top, width - margin - value_w - 4, height - margin)
            slot = (plot[3] - plot[1]) / len(labels)
        return cls(orientation, font_px, title_px, margin, plot, slot)

    def fits(self, labels: list[str], value_texts: list[str]) -> bool:
        """Whether every label has room in its slot, next to its neighbours, and the bars have length."""
        x0, y0, x1, y1 = self.plot
        if x1 - x0 < 20 or y1 - y0 < 20:
            return False
        if self.orientation == "vertical":
            widest = max(text_extent(t, self.font_px)[0] for t in [*labels, *value_texts])
            return widest * 1.15 + 3 <= self.slot  # a visible gap between neighbouring labels
        return text_extent(_TALLEST_TEXT, self.font_px)[1] + 2 <= self.slot


def _categories(rng: random.Random, n: int, ordered: bool) -> tuple[str, list[str]]:
    """The axis's category kind and ``n`` labels: consecutive years or months, or product letters."""
    kinds = ["year", "month"] if ordered else ["year", "month", "product"]
    kind = rng.choice([k for k in kinds if k != "month" or n <= len(MONTHS)])
    if kind == "year":
        start = rng.randint(1990, 2024 - n)
        return kind, [str(start + i) for i in range(n)]
    if kind == "month":
        start = rng.randint(0, len(MONTHS) - n)
        return kind, list(MONTHS[start : start + n])
    return kind, [chr(ord("A") + i) for i in range(n)]


def _values(rng: random.Random, n: int, decimals: int) -> list[Fraction]:
    """``n`` values in 1..99 (with ``decimals``), no two neighbours equal (so a rise is never a tie)."""
    unit = 10**decimals
    values: list[int] = []
    while len(values) < n:
        value = rng.randint(unit * 2, unit * 99)
        if not values or value != values[-1]:
            values.append(value)
    return [Fraction(v, unit) for v in values]


@register_family
class ChartArithmetic(TaskFamily):
    """Arithmetic over the value labels of a bar chart with many bars.

    Bars are labelled by consecutive years, consecutive months or product letters, and each carries its
    value (1-99) at its end. Up to 12 bars stand as columns; more lie as horizontal bars.

    Difficulty ladder (label fonts at 224 x 224, never below ``min_font_px``):

    1. 8-9 bars, integer values, 9 px labels: the total of all values.
    2. 10-12 bars, 8 px: the total, or the total of a named run of bars ("from 2003 to 2009").
    3. 12-14 bars, gridlines: the mean (one decimal), a run's total, the total of the values above a
       threshold, or a ratio of two bars (two decimals).
    4. 14-17 bars, values with one decimal, 7 px: also how many times the series rose.
    5. 17-20 bars, 6 px: the mean, ratio, thresholded total, rises, or the mean change per step.

    Answer type ``number``. Totals and counts are exact; a mean allows 0.05 and a ratio or a mean change
    0.005 (half a unit of the asked-for last decimal, so the unrounded value is accepted as well).

    Example: "What is the total of all 9 values shown in the chart?" -> ``312``
    """

    name = "chart_arithmetic"
    description = "Add up, average or compare the value labels of a bar chart with many bars."
    config_cls = ChartArithmeticConfig
    detail_scale = 2
    tools_help = True

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: ChartArithmeticConfig = self.config  # type: ignore[assignment]
        kind = rng.choice(level.kinds)
        n = rng.randint(*level.bars)
        font_px = max(config.min_font_px * self.detail_scale, round(level.font_px * min(size) / 224))
        while True:
            category_kind, labels = _categories(rng, n, ordered=kind in _TREND_KINDS)
            values = _values(rng, n, level.decimals)
            value_texts = [format_number(v, level.decimals) for v in values]
            orientation = _orientation(size, font_px, labels, value_texts)
            # A very small image holds fewer bars: drop bars until the labels fit (never below 5).
            if orientation is None and n > 5:
                n -= 1
                continue
            query = _query(rng, kind, values)
            if query is not None:
                break
        scene: dict[str, Any] = {
            "title": f"{rng.choice(_MEASURES)} by {category_kind}",
            "categories": labels,
            "category_kind": category_kind,
            "values": [float(v) for v in values],
            "value_labels": value_texts,
            "decimals": level.decimals,
            "orientation": orientation or "horizontal",
            "font_px": font_px,
            "bar_color": rng.choice(_BAR_COLORS),
            "gridlines": level.gridlines,
            "query": query,
        }
        answer, rationale = _solve(scene, values)
        return TaskSpec(
            question=_QUESTIONS[kind].format(**_wording(scene)),
            answer=answer,
            answer_type="number",
            scene=scene,
            rationale=rationale,
            tolerance=_TOLERANCE[kind],
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        labels, value_texts = scene["categories"], scene["value_labels"]
        layout = _Layout.build(size, scene["orientation"], scene["font_px"], labels, value_texts)
        image, draw = blank(size, (255, 255, 255))
        ink, grey = (30, 30, 30), (90, 90, 90)
        stamp_text(draw, (size[0] / 2, layout.margin), scene["title"], layout.title_px, ink, anchor="mt")
        x0, y0, x1, y1 = layout.plot
        top = _axis_top(max(scene["values"]))
        vertical = layout.orientation == "vertical"
        length = (y1 - y0) if vertical else (x1 - x0)
        if scene["gridlines"]:
            for tick in range(10, int(top) + 1, 10 if top <= 60 else 20):
                offset = length * tick / top
                line = (x0, y1 - offset, x1, y1 - offset) if vertical else (x0 + offset, y0, x0 + offset, y1)
                draw.line(line, fill=(215, 215, 215), width=1)
        color = COLORS[scene["bar_color"]]
        font_px, slot = layout.font_px, layout.slot
        for index, (value, label, text) in enumerate(zip(scene["values"], labels, value_texts)):
            extent = length * value / top
            start = (x0 if vertical else y0) + index * slot
            bar_lo, bar_hi = start + slot * 0.17, start + slot * 0.83
            if vertical:
                draw.rectangle((bar_lo, y1 - extent, bar_hi, y1), fill=color)
                stamp_text(draw, (start + slot / 2, y1 - extent - 2), text, font_px, ink, anchor="mb")
                stamp_text(draw, (start + slot / 2, y1 + 3), label, font_px, grey, anchor="mt")
            else:
                draw.rectangle((x0, bar_lo, x0 + extent, bar_hi), fill=color)
                stamp_text(draw, (x0 + extent + 3, start + slot / 2), text, font_px, ink, anchor="lm")
                stamp_text(draw, (x0 - 4, start + slot / 2), label, font_px, grey, anchor="rm")
        axis = (x0, y1, x1, y1) if vertical else (x0, y0, x0, y1)
        draw.line(axis, fill=ink, width=max(1, round(min(size) / 224)))
        return image

    def tool_plan(self, spec: TaskSpec) -> list[ToolStep]:
        scene = spec.scene
        query, labels, texts = scene["query"], scene["categories"], scene["value_labels"]
        kind, bars = query["kind"], query["bars"]
        read = "I read the value labels I need: " + ", ".join(f"{labels[i]} {texts[i]}" for i in bars) + "."
        if kind == "rises":
            code = f"values = [{', '.join(texts)}]\nprint(sum(b > a for a, b in zip(values, values[1:])))"
            return [
                ToolStep(f"{read} I count the rises with Python.", ({"name": "python", "arguments": {"code": code}},))
            ]
        picked = [texts[i] for i in bars]
        if kind == "mean":
            expression, action = f"({' + '.join(picked)}) / {len(picked)}", "average them"
        elif kind == "ratio":
            expression, action = f"{picked[0]} / {picked[1]}", "divide the first by the second"
        elif kind == "mean_change":
            expression, action = (
                f"({picked[1]} - {picked[0]}) / {bars[1] - bars[0]}",
                f"divide the change by the {bars[1] - bars[0]} steps",
            )
        else:
            expression, action = " + ".join(picked), "add them"
        return [
            ToolStep(
                f"{read} I {action} with the calculator.",
                ({"name": "calculator", "arguments": {"expression": expression}},),
            )
        ]


def _orientation(size: tuple[int, int], font_px: int, labels: list[str], value_texts: list[str]) -> str | None:
    """Columns for up to 12 bars when their labels fit side by side, else horizontal bars; None if neither fits."""
    for orientation in ("vertical", "horizontal") if len(labels) <= 12 else ("horizontal",):
        if _Layout.build(size, orientation, font_px, labels, value_texts).fits(labels, value_texts):
            return orientation
    return None


def _query(rng: random.Random, kind: str, values: list[Fraction]) -> dict[str, Any] | None:
    """Which bars a question of ``kind`` is about; None when these values cannot pose it well."""
    n = len(values)
    if kind in ("sum", "mean", "rises"):
        return {"kind": kind, "bars": list(range(n))}
    if kind == "range_sum":
        run = rng.randint(min(4, n - 1), max(4, n - 2))
        first = rng.randint(0, n - run)
        return {"kind": kind, "bars": list(range(first, first + run))}
    if kind == "ratio":
        return {"kind": kind, "bars": rng.sample(range(n), 2)}
    if kind == "mean_change":
        return {"kind": kind, "bars": [0, n - 1]}
    # sum_above: a whole-number threshold that no value equals, with 3 or more values on each side.
    ordered = sorted(float(v) for v in values)  # exact enough: values have at most one decimal
    thresholds = [t for t in range(1, 100) if 3 <= n - bisect.bisect_right(ordered, t) <= n - 3 and t not in ordered]
    if not thresholds:
        return None
    threshold = rng.choice(thresholds)
    return {"kind": kind, "bars": [i for i, v in enumerate(values) if v > threshold], "threshold": threshold}


_QUESTIONS = {
    "sum": "What is the total of all {n} values shown in the chart?",
    "range_sum": "What is the total of the values from {first} to {last}, inclusive?",
    "sum_above": "What is the total of the values that are greater than {threshold}?",
    "mean": "What is the mean of all {n} values shown in the chart, rounded to one decimal place?",
    "ratio": "What is the value for {first} divided by the value for {last}, rounded to two decimal places?",
    "rises": "In how many {step}s was the value higher than in the {step} before?",
    "mean_change": (
        "What was the average change per {step} from {first} to {last}, "
        "rounded to two decimal places (negative if it fell)?"
    ),
}


def _wording(scene: dict[str, Any]) -> dict[str, Any]:
    """The fields that the question templates fill in."""
    query, labels = scene["query"], scene["categories"]
    return {
        "n": len(labels),
        "first": labels[query["bars"][0]],
        "last": labels[query["bars"][-1]],
        "threshold": query.get("threshold"),
        "step": scene["category_kind"],
    }


def _solve(scene: dict[str, Any], values: list[Fraction]) -> tuple[int | float, str]:
    """The answer to the scene's question and a one-sentence rationale that reaches it."""
    query, texts, labels = scene["query"], scene["value_labels"], scene["categories"]
    kind, bars, decimals = query["kind"], query["bars"], scene["decimals"]
    picked = [values[i] for i in bars]
    shown = ", ".join(texts[i] for i in bars)
    if kind in ("sum", "range_sum", "sum_above"):
        total = sum(picked, Fraction(0))
        which = {"sum": "all the values", "range_sum": f"the values from {labels[bars[0]]} to {labels[bars[-1]]}"}.get(
            kind, f"the {len(bars)} values greater than {query.get('threshold')}"
        )
        return round_half_up(total, decimals), f"Adding {which} ({shown}) gives {format_number(total, decimals)}."
    if kind == "mean":
        total = sum(picked, Fraction(0))
        mean = round_half_up(total / len(picked), 1)
        return (
            mean,
            f"The {len(picked)} values add up to {format_number(total, decimals)}; "
            f"divided by {len(picked)} that is {mean:.1f}.",
        )
    if kind == "ratio":
        ratio = round_half_up(picked[0] / picked[1], 2)
        first, second = texts[bars[0]], texts[bars[1]]
        return (
            ratio,
            f"{labels[bars[0]]} is {first} and {labels[bars[1]]} is {second}; {first} / {second} = {ratio:.2f}.",
        )
    step = scene["category_kind"]
    if kind == "rises":
        rises = sum(later > earlier for earlier, later in itertools.pairwise(values))
        return (
            rises,
            f"Comparing each {step} with the one before, the value rose {rises} times out of {len(values) - 1}.",
        )
    steps = bars[1] - bars[0]
    change = round_half_up((picked[1] - picked[0]) / steps, 2)
    first, last = texts[bars[0]], texts[bars[1]]
    return (
        change,
        f"The value went from {first} to {last} over {steps} {step}s: ({last} - {first}) / {steps} = {change:.2f}.",
    )


def _axis_top(largest: float) -> float:
    """The value at the far end of the axis: the largest value rounded up to a multiple of 10, with headroom."""
    return 10 * math.ceil(largest / 10 + 0.05)
