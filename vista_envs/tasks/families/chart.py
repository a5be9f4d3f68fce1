"""Charts: read values off bar, line and pie charts, compare and combine them.

A titled chart (vertical bars, horizontal bars, a line with markers, or a pie with a legend) shows one
integer value per category. Questions ask for one value, for the category with the largest or
smallest value, or for a difference, a sum or a count over the values.

Values are always exactly readable from the image: printed next to each bar or point at low
difficulty; later read off the value axis, where every value sits on a gridline (difficulty 3) or
exactly halfway between two (difficulty 4-5). Pie charts print percentages in the legend at low
difficulty; unlabelled pies are only asked which slice is largest or smallest, and that slice beats
the runner-up by at least five percentage points. Values are all different, so max/min never ties.

Numeric answers read off the axis accept a ``tolerance`` of just under half the value grid step
(``(step - 1) // 2``), so an answer counts when it is nearer the true value than any other value the
chart could show; printed values are exact (tolerance 0).
"""

from __future__ import annotations

import functools
import itertools
import math
import random
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, register_family
from vista_envs.tasks.drawing import COLOR_NAMES, COLORS, add_noise, blank, stamp_text, text_extent

__all__ = ["CATEGORY_SETS", "CHART_KINDS", "Chart", "ChartConfig"]

CHART_KINDS = ("bar", "hbar", "line", "pie")

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class _Categories:
    labels: tuple[str, ...]
    noun: str  # what one category is, for the question ("month", "player")
    title: str  # axis charts
    pie_title: str | None  # None: never a pie (months and days are not parts of a whole)
    ordered: bool  # labels form a sequence: take a consecutive run, and use it for line charts
    full_names: tuple[str, ...] = ()  # accepted aliases of the label answers


CATEGORY_SETS: dict[str, _Categories] = {
    "months": _Categories(tuple(m[:3] for m in _MONTHS), "month", "Sales per month", None, True, _MONTHS),
    "days": _Categories(tuple(d[:3] for d in _DAYS), "day", "Visitors per day", None, True, _DAYS),
    "players": _Categories(
        ("Ann", "Bob", "Cal", "Dan", "Eve", "Gus", "Ida", "Joe", "Kim", "Liz", "Max", "Ned"),
        "player",
        "Points per player",
        "Share of votes (%)",
        False,
    ),
    "fruits": _Categories(
        ("Apple", "Date", "Fig", "Kiwi", "Lemon", "Lime", "Mango", "Peach", "Pear", "Plum"),
        "fruit",
        "Fruit sold (kg)",
        "Fruit sales (%)",
        False,
    ),
}

_GRID_GRAY = (215, 215, 215)
_AXIS_GRAY = (60, 60, 60)
_TEXT = (20, 20, 20)
_PIE_MIN_SHARE = 5  # percent
_WIDEST_TICK_LABEL = "000"  # axes go up to 800 at most
_MIN_PLOT_PX = 16
_PIE_EXTREME_GAP = 5  # percentage points between an unlabelled pie's queried extreme and the runner-up


@dataclass(frozen=True)
class ChartConfig(FamilyConfig):
    """Knobs of the chart family.

    Attributes:
        chart_kinds: chart kinds to draw from (subset of ``CHART_KINDS``); difficulty 1 draws
            vertical bars when allowed, and horizontal bars appear from difficulty 3.
        noise: standard deviation of the pixel noise at difficulty 5 (0-255 scale).
        min_font_px: smallest font size in pixels, whatever the image size.
    """

    chart_kinds: tuple[str, ...] = CHART_KINDS
    noise: float = 10.0
    min_font_px: int = 7

    def __post_init__(self) -> None:
        unknown = set(self.chart_kinds) - set(CHART_KINDS)
        if not self.chart_kinds or unknown:
            raise ValueError(f"chart_kinds must be a non-empty subset of {CHART_KINDS}, got {self.chart_kinds!r}")


@dataclass(frozen=True)
class _Level:
    count: tuple[int, int]  # fewest and most categories
    kinds: tuple[str, ...]  # chart kinds at this level
    questions: tuple[str, ...]  # question kinds (an unlabelled pie is asked only "max" or "min")
    printed: bool  # values printed beside the bars or points of axis charts
    pie_printed: bool  # percentages printed in a pie's legend
    values_per_step: int | None  # 1: values on gridlines; 2: also halfway between; None: any integer
    noisy: bool


_LEVELS: dict[int, _Level] = {
    1: _Level(count=(3, 4), kinds=("bar",), questions=("value", "max", "min"),
              printed=True, pie_printed=True, values_per_step=None, noisy=False),
    2: _Level(count=(4, 5), kinds=("bar", "line", "pie"), questions=("value", "max", "min"),
              printed=True, pie_printed=True, values_per_step=None, noisy=False),
    3: _Level(count=(5, 6), kinds=CHART_KINDS, questions=("value", "max", "min", "difference"),
              printed=False, pie_printed=True, values_per_step=1, noisy=False),
    4: _Level(count=(6, 7), kinds=CHART_KINDS, questions=("value", "difference", "sum", "max", "min"),
              printed=False, pie_printed=False, values_per_step=2, noisy=False),
    5: _Level(count=(7, 8), kinds=CHART_KINDS, questions=("value", "difference", "sum", "count_above"),
              printed=False, pie_printed=False, values_per_step=2, noisy=True),
}  # fmt: skip
# Gridline steps per `values_per_step`: with two values per step the half step must be an integer too.
_TICK_STEPS = {None: (1, 2, 5, 10, 20, 25, 50), 1: (1, 2, 5, 10, 20, 25, 50), 2: (2, 10, 20, 50, 100)}


@dataclass(frozen=True)
class _Metrics:
    """Sizes in pixels shared by sampling (what fits) and rendering (where it goes)."""

    font_px: int
    pad: int
    text_h: int  # ink height of a label

    @classmethod
    def for_size(cls, size: tuple[int, int], min_font_px: int) -> _Metrics:
        font_px = max(min_font_px, round(9 * min(size) / 224))
        return cls(font_px=font_px, pad=max(3, round(6 * min(size) / 224)), text_h=text_extent("Ag", font_px)[1])

    @property
    def title_px(self) -> int:
        return self.font_px + 1

    @property
    def below_title(self) -> int:
        """The first pixel row under the title and its margin."""
        return self.pad + text_extent("Ag", self.title_px)[1] + self.pad

    def plot_box(self, kind: str, size: tuple[int, int], widest_label: int, printed: bool) -> tuple[int, int, int, int]:
        """The plot area ``(left, top, right, bottom)`` of an axis chart, leaving room for the title,
        tick labels, category labels (``widest_label`` pixels wide) and printed values."""
        width, height = size
        tick_w = text_extent(_WIDEST_TICK_LABEL, self.font_px)[0]
        bottom = height - self.pad - self.text_h - 4
        if kind == "hbar":
            left, top = self.pad + widest_label + 4, self.below_title + self.text_h // 2
            right = width - self.pad - (tick_w + 3 if printed else tick_w // 2 + 1)
        else:
            left, right = self.pad + tick_w + 4, width - self.pad
            top = self.below_title + (self.text_h + 4 if printed else self.text_h // 2)  # room for printed values
        # A tiny image gets a cramped chart, not a crash.
        return left, top, max(right, left + _MIN_PLOT_PX), max(bottom, top + _MIN_PLOT_PX)


@functools.lru_cache(maxsize=256)
def _capacity(categories: _Categories, kind: str, size: tuple[int, int], metrics: _Metrics) -> int:
    """How many categories of ``categories`` fit side by side in a ``kind`` chart (cached: every sample asks it of every
    set)."""
    if kind == "pie":  # legend rows
        return min(len(categories.labels), (size[1] - metrics.below_title - metrics.pad) // _legend_row_height(metrics))
    widest = max(text_extent(label, metrics.font_px)[0] for label in categories.labels)
    left, top, right, bottom = metrics.plot_box(kind, size, widest, True)
    if kind == "hbar":
        slots = (bottom - top) // (metrics.text_h + 4)
    else:
        slots = (right - left) // (widest + 4)
    return min(len(categories.labels), slots)


def _axis_values(rng: random.Random, count: int, level: _Level, max_intervals: int) -> tuple[list[int], int, int, int]:
    """``count`` different values on a value axis: (values, gridline step, number of gridline steps, value step)."""
    per_step = level.values_per_step
    tick = rng.choice(_TICK_STEPS[per_step])
    value_step = 1 if per_step is None else tick // per_step
    # Enough value levels for every category to differ, plus one to spare.
    fewest = max(4, math.ceil((count + 1) / (tick // value_step)))
    intervals = rng.randint(fewest, max(fewest, min(6 if per_step is None else 8, max_intervals)))
    top = tick * intervals
    levels = list(range(value_step, top + 1, value_step))
    # One value lands in the top gridline step, so the axis is no taller than the data needs.
    first = rng.choice([v for v in levels if v > top - tick])
    values = [first, *rng.sample([v for v in levels if v != first], count - 1)]
    rng.shuffle(values)
    return values, tick, intervals, value_step


def _pie_shares(rng: random.Random, count: int, low_gap: int, high_gap: int) -> list[int]:
    """``count`` different integer percentages summing to 100, each at least ``_PIE_MIN_SHARE``.

    In increasing order the two smallest differ by at least ``low_gap`` and the two largest by at
    least ``high_gap``. Built directly, not by rejection: the sorted shares are the smallest share
    plus increasing steps, and the spare percentage points go in random chunks to the smallest
    share (which raises all ``count`` shares) or to a step (which raises the shares above it).
    """
    steps = [1] * (count - 1)
    steps[0] = max(steps[0], low_gap)
    steps[-1] = max(steps[-1], high_gap)
    amounts = [_PIE_MIN_SHARE, *steps]
    costs = [count, *range(count - 1, 0, -1)]  # how much one more unit of each amount adds to the total
    spare = 100 - sum(a * c for a, c in zip(amounts, costs))
    while spare:
        i = rng.randrange(count)
        if costs[i] <= spare:
            units = rng.randint(1, spare // costs[i])
            amounts[i] += units
            spare -= units * costs[i]
    shares = list(itertools.accumulate(amounts))
    rng.shuffle(shares)
    return shares


@register_family
class Chart(TaskFamily):
    """Read, compare and combine values on bar, line and pie charts.

    Difficulty ladder:

    1. Vertical bar chart, 3-4 bars, values printed on the bars; one value, or the largest/smallest.
    2. Bar, line or pie chart, 4-5 categories, values printed (pie: percentages in the legend).
    3. Any chart including horizontal bars, 5-6 categories; no printed values: each value lies on a
       gridline of the value axis; adds differences ("How much larger is 'Mar' than 'Jan'?").
    4. 6-7 categories; values also halfway between gridlines; adds sums; unlabelled pies
       (largest/smallest slice only).
    5. 7-8 categories (as many as fit); difference, sum, value and "How many months have a value
       greater than 40?"; pixel noise.

    Answer types: ``number`` (a value, difference, sum or count; ``tolerance`` as in the module
    docstring) or ``text`` (the category label in lower case; month and day labels also accept the
    full name).

    Example: "What is the value of the bar labelled 'Mar'?" -> ``35``
    """

    name = "chart"
    description = "Read values off bar, line and pie charts; compare and combine them."
    config_cls = ChartConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: ChartConfig = self.config  # type: ignore[assignment]
        metrics = _Metrics.for_size(size, config.min_font_px)
        kinds = [k for k in level.kinds if k in config.chart_kinds] or list(config.chart_kinds)
        kind = rng.choice(kinds)
        wanted = rng.randint(*level.count)
        if kind == "pie":
            sets = [name for name, c in CATEGORY_SETS.items() if c.pie_title is not None]
        elif kind == "line":
            sets = [name for name, c in CATEGORY_SETS.items() if c.ordered]
        else:
            sets = list(CATEGORY_SETS)
        capacities = {name: _capacity(CATEGORY_SETS[name], kind, size, metrics) for name in sets}
        roomy = [name for name in sets if capacities[name] >= wanted]
        set_name = rng.choice(roomy) if roomy else max(sets, key=capacities.__getitem__)
        categories = CATEGORY_SETS[set_name]
        count = max(2, min(wanted, capacities[set_name]))
        if categories.ordered:
            start = rng.randrange(len(categories.labels) - count + 1)
            labels = list(categories.labels[start : start + count])
        else:
            labels = rng.sample(categories.labels, count)

        question_kind = rng.choice(level.questions)
        scene: dict[str, Any] = {"chart": kind, "categories": set_name, "labels": labels}
        if kind == "pie":
            printed = level.pie_printed
            if not printed:
                question_kind = rng.choice(("max", "min"))
            low_gap = _PIE_EXTREME_GAP if question_kind == "min" and not printed else 1
            high_gap = _PIE_EXTREME_GAP if question_kind == "max" and not printed else 1
            values = _pie_shares(rng, count, low_gap, high_gap)
            scene.update(title=categories.pie_title, values=values, axis=None, colors=rng.sample(COLOR_NAMES, count))
            tolerance = 0
        else:
            printed = level.printed
            widest = max(text_extent(label, metrics.font_px)[0] for label in labels)
            left, top, right, bottom = metrics.plot_box(kind, size, widest, printed)
            span = right - left if kind == "hbar" else bottom - top
            # Gridlines at least two label heights apart.
            values, tick, intervals, value_step = _axis_values(
                rng, count, level, max(4, span // (2 * metrics.text_h + 2))
            )
            scene.update(
                title=categories.title,
                values=values,
                axis={"step": tick, "max": tick * intervals},
                colors=[rng.choice(COLOR_NAMES)],
            )
            # Nearer the true value than to the next value the axis could show.
            tolerance = 0 if printed else (value_step - 1) // 2
        scene.update(value_labels=printed, noise=config.noise if level.noisy else 0.0)

        question, answer, rationale, query = _question(rng, question_kind, scene, categories)
        scene["query"] = query
        if isinstance(answer, str):
            aliases = (categories.full_names[categories.labels.index(answer)].lower(),) if categories.full_names else ()
            return TaskSpec(
                question=question,
                answer=answer.lower(),
                answer_type="text",
                scene=scene,
                rationale=rationale,
                aliases=aliases,
            )
        return TaskSpec(
            question=question,
            answer=answer,
            answer_type="number",
            scene=scene,
            rationale=rationale,
            tolerance=0 if query["type"] == "count_above" else tolerance,
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        metrics = _Metrics.for_size(size, self.config.min_font_px)  # type: ignore[attr-defined]
        image, draw = blank(size)
        stamp_text(draw, (size[0] / 2, metrics.pad), scene["title"], metrics.title_px, _TEXT, anchor="mt")
        if scene["chart"] == "pie":
            _draw_pie(draw, scene, size, metrics)
        else:
            _draw_axis_chart(draw, scene, size, metrics)
        return add_noise(image, scene["noise"], rng)


def _question(
    rng: random.Random, kind: str, scene: dict[str, Any], categories: _Categories
) -> tuple[str, int | str, str, dict[str, Any]]:
    """(question, answer, rationale, query) for a question of ``kind`` about the chart in ``scene``.

    A text answer is returned as the label as drawn (the caller lower-cases it).
    """
    labels, values, chart = scene["labels"], scene["values"], scene["chart"]
    value_of = dict(zip(labels, values))
    unit = "%" if chart == "pie" else ""
    listing = ", ".join(f"{label} {value}{unit}" for label, value in zip(labels, values))
    if kind == "value":
        label = rng.choice(labels)
        question = {
            "bar": f"What is the value of the bar labelled '{label}'?",
            "hbar": f"What is the value of the bar labelled '{label}'?",
            "line": f"What is the value of the line at '{label}'?",
            "pie": f"What percentage of the pie is '{label}'?",
        }[chart]
        if chart == "pie":
            sentence = f"The legend gives '{label}' {value_of[label]}%"
        else:
            where = "The line at" if chart == "line" else "The bar labelled"
            sentence = f"{where} '{label}' {'is marked' if scene['value_labels'] else 'reaches'} {value_of[label]}"
        return (
            question,
            value_of[label],
            f"{sentence}, so the answer is {value_of[label]}.",
            {"type": "value", "labels": [label]},
        )
    if kind in ("max", "min"):
        pick = max if kind == "max" else min
        label = pick(labels, key=value_of.__getitem__)
        superlative = "largest" if kind == "max" else "smallest"
        if chart == "pie":
            question = f"Which {categories.noun} has the {superlative} share of the pie?"
        else:
            question = f"Which {categories.noun} has the {superlative} value?"
        if chart == "pie" and not scene["value_labels"]:
            color = scene["colors"][labels.index(label)]
            rationale = (
                f"The {superlative} slice is the {color} one, which the legend names '{label}', "
                f"so the answer is {label.lower()}."
            )
        else:
            rationale = f"Reading the chart: {listing}. The {superlative} is {label}, so the answer is {label.lower()}."
        return question, label, rationale, {"type": kind, "labels": [label]}
    if kind in ("difference", "sum"):
        first, second = rng.sample(labels, 2)
        if value_of[first] < value_of[second]:
            first, second = second, first
        a, b = value_of[first], value_of[second]
        if kind == "difference":
            if chart == "pie":
                question = f"By how many percentage points is the share of '{first}' larger than that of '{second}'?"
            else:
                question = f"How much larger is the value of '{first}' than that of '{second}'?"
            answer, sentence = a - b, f"the difference is {a} - {b} = {a - b}"
        else:
            if chart == "pie":
                question = f"What percentage of the pie do '{first}' and '{second}' make up together?"
            else:
                question = f"What is the sum of the values of '{first}' and '{second}'?"
            answer, sentence = a + b, f"the sum is {a} + {b} = {a + b}"
        rationale = f"'{first}' is {a}{unit} and '{second}' is {b}{unit}, so {sentence}."
        return question, answer, rationale, {"type": kind, "labels": [first, second]}
    # count_above: the threshold is a gridline that no value sits on, with values on both sides if possible.
    step, top = scene["axis"]["step"], scene["axis"]["max"]
    thresholds = [t for t in range(step, top, step) if t not in values]
    if not thresholds:
        return _question(rng, "difference", scene, categories)
    balanced = [t for t in thresholds if 0 < sum(v > t for v in values) < len(values)]
    threshold = rng.choice(balanced or thresholds)
    above = [label for label in labels if value_of[label] > threshold]
    question = f"How many {categories.noun}s have a value greater than {threshold}?"
    rationale = (
        f"Reading the chart: {listing}. {len(above)} of them are above {threshold}, so the answer is {len(above)}."
    )
    return question, len(above), rationale, {"type": "count_above", "labels": above, "threshold": threshold}


def _draw_axis_chart(
    draw: ImageDraw.ImageDraw, scene: dict[str, Any], size: tuple[int, int], metrics: _Metrics
) -> None:
    """Bars (vertical or horizontal) or a line, with gridlines, tick labels and category labels."""
    kind, labels, values = scene["chart"], scene["labels"], scene["values"]
    step, top_value = scene["axis"]["step"], scene["axis"]["max"]
    font_px, printed = metrics.font_px, scene["value_labels"]
    widest = max(text_extent(label, font_px)[0] for label in labels)
    left, top, right, bottom = metrics.plot_box(kind, size, widest, printed)
    color = COLORS[scene["colors"][0]]
    horizontal = kind == "hbar"

    def position(value: int) -> int:
        """Pixel coordinate of ``value`` along the value axis (gridlines and bar ends share it)."""
        if horizontal:
            return round(left + value * (right - left) / top_value)
        return round(bottom - value * (bottom - top) / top_value)

    for tick in range(0, top_value + 1, step):
        p = position(tick)
        if horizontal:
            draw.line((p, top, p, bottom), fill=_GRID_GRAY if tick else _AXIS_GRAY)
            stamp_text(draw, (p, bottom + 3), str(tick), font_px, _TEXT, anchor="mt")
        else:
            draw.line((left, p, right, p), fill=_GRID_GRAY if tick else _AXIS_GRAY)
            stamp_text(draw, (left - 3, p), str(tick), font_px, _TEXT, anchor="rm")

    count = len(labels)
    slot = ((bottom - top) if horizontal else (right - left)) / count
    centres = [(top if horizontal else left) + slot * (i + 0.5) for i in range(count)]
    for label, centre in zip(labels, centres):
        if horizontal:
            stamp_text(draw, (left - 4, centre), label, font_px, _TEXT, anchor="rm")
        else:
            stamp_text(draw, (centre, bottom + 3), label, font_px, _TEXT, anchor="mt")

    if kind == "line":
        points = [(centre, position(value)) for centre, value in zip(centres, values)]
        draw.line(points, fill=color, width=2)
        marker = max(2, round(font_px / 3))
        for x, y in points:
            draw.ellipse((x - marker, y - marker, x + marker, y + marker), fill=color)
        if printed:
            for (x, y), value in zip(points, values):
                stamp_text(draw, (x, y - marker - 2), str(value), font_px, _TEXT, anchor="mb")
        return
    half = slot * 0.3
    for centre, value in zip(centres, values):
        end = position(value)
        if horizontal:
            # At least one pixel long, clear of the axis line, even on a tiny image.
            draw.rectangle((left + 1, round(centre - half), max(end, left + 1), round(centre + half)), fill=color)
            if printed:
                stamp_text(draw, (end + 3, centre), str(value), font_px, _TEXT, anchor="lm")
        else:
            draw.rectangle((round(centre - half), min(end, bottom - 1), round(centre + half), bottom - 1), fill=color)
            if printed:
                stamp_text(draw, (centre, end - 3), str(value), font_px, _TEXT, anchor="mb")


def _legend_row_height(metrics: _Metrics) -> int:
    return metrics.text_h + 5


def _draw_pie(draw: ImageDraw.ImageDraw, scene: dict[str, Any], size: tuple[int, int], metrics: _Metrics) -> None:
    """A pie starting at 12 o'clock, clockwise in label order, with a colour legend on the right."""
    width, height = size
    labels, values, printed = scene["labels"], scene["values"], scene["value_labels"]
    font_px, pad = metrics.font_px, metrics.pad
    swatch = metrics.text_h + 1
    label_w = max(text_extent(label, font_px)[0] for label in labels)
    space = text_extent("0", font_px)[0]
    legend_w = swatch + 4 + label_w + (space + text_extent("00%", font_px)[0] if printed else 0)
    top = metrics.below_title
    diameter = max(4, min(width - legend_w - 3 * pad, height - top - pad))  # a tiny image still gets a pie
    x0, y0 = pad + (width - legend_w - 3 * pad - diameter) / 2, top + (height - top - pad - diameter) / 2
    centre = (x0 + diameter / 2, y0 + diameter / 2)
    start = -90.0  # Pillow measures angles clockwise from 3 o'clock
    boundaries = []
    for value, color in zip(values, scene["colors"]):
        end = start + 3.6 * value
        draw.pieslice((x0, y0, x0 + diameter, y0 + diameter), start, end, fill=COLORS[color])
        boundaries.append(start)
        start = end
    # White spokes between slices (cheaper than outlining every slice).
    for angle in boundaries:
        rim = (
            centre[0] + diameter / 2 * math.cos(math.radians(angle)),
            centre[1] + diameter / 2 * math.sin(math.radians(angle)),
        )
        draw.line((centre, rim), fill=(255, 255, 255), width=1)
    row_h = _legend_row_height(metrics)
    legend_x = width - pad - legend_w
    legend_y = top + (height - top - pad - row_h * len(labels)) / 2
    for i, (label, value, color) in enumerate(zip(labels, values, scene["colors"])):
        y = legend_y + i * row_h + row_h / 2
        draw.rectangle((legend_x, round(y - swatch / 2), legend_x + swatch, round(y + swatch / 2)), fill=COLORS[color])
        stamp_text(draw, (legend_x + swatch + 4, y), label, font_px, _TEXT, anchor="lm")
        if printed:
            # Label and percentage are stamped apart so that both come from the glyph cache.
            stamp_text(draw, (legend_x + swatch + 4 + label_w + space, y), f"{value}%", font_px, _TEXT, anchor="lm")
