"""Financial chart: compute a change, an average or a drawdown from a stock's daily closing prices.

The image shows a fictional stock's daily closes as a line chart (the shape) above a small table of
dates and closing prices (the exact values). Every question needs a calculation on those prices:
a change in dollars or percent, an average, the best or worst day, the maximum drawdown. The
``calculator`` and ``python`` tools make the arithmetic exact. The image is drawn at twice the
requested size (``detail_scale = 2``): the table is legible in the view and crisp after a ``zoom``.
"""

from __future__ import annotations

import datetime
import itertools
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import Image

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, ToolStep, register_family
from vista_envs.tasks.drawing import blank, stamp_text, text_extent
from vista_envs.tasks.families.chart_arithmetic import MONTHS, round_half_up

__all__ = ["FinancialChart", "FinancialChartConfig"]

_TICKER_LETTERS = "ABCDEFGHJKLMNPRSTUVWXZ"
_LINE_COLORS = ((30, 90, 200), (20, 130, 80), (170, 40, 60), (90, 60, 160))

# Tolerances: dollar amounts are exact in cents (half a cent absorbs float noise); percentages and
# averages rounded to a last decimal accept half a unit of it, so the unrounded value passes too.
_TOLERANCE = {
    "change": 0.005,
    "best_day": 0.005,
    "worst_day": 0.005,
    "average": 0.005,
    "pct_change": 0.05,
    "drawdown": 0.05,
}


@dataclass(frozen=True)
class FinancialChartConfig(FamilyConfig):
    """Knobs of the financial-chart family.

    Attributes:
        min_font_px: smallest table font in pixels of the view, whatever the image size.
    """

    min_font_px: int = 6


@dataclass(frozen=True)
class _Level:
    days: tuple[int, int]  # inclusive range of trading days shown
    kinds: tuple[str, ...]
    volatility: float  # standard deviation of a daily return
    font_px: int  # table font size in view pixels at 224 x 224


_LEVELS: dict[int, _Level] = {
    1: _Level((5, 5), ("change",), 0.02, 9),
    2: _Level((6, 8), ("change", "pct_change"), 0.02, 8),
    3: _Level((8, 10), ("average", "best_day", "worst_day"), 0.025, 8),
    4: _Level((10, 14), ("pct_change", "average", "best_day", "worst_day"), 0.025, 7),
    5: _Level((15, 20), ("drawdown", "average", "pct_change"), 0.03, 6),
}


def _trading_days(rng: random.Random, count: int) -> list[str]:
    """``count`` consecutive weekdays of 2023 from a random start, as "Mar 3"."""
    day = datetime.date(2023, 1, 2) + datetime.timedelta(days=rng.randrange(330))
    days: list[str] = []
    while len(days) < count:
        if day.weekday() < 5:
            days.append(f"{MONTHS[day.month - 1]} {day.day}")  # not strftime: that follows the locale
        day += datetime.timedelta(days=1)
    return days


def _closes(rng: random.Random, count: int, volatility: float) -> list[int]:
    """Closing prices in cents: a random walk of daily returns, no two neighbours equal."""
    cents = [rng.randint(2000, 25000)]
    while len(cents) < count:
        step = round(cents[-1] * rng.gauss(0.0, volatility))
        if step != 0 and cents[-1] + step >= 100:
            cents.append(cents[-1] + step)
    return cents


def _price_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class _Layout:
    """Where the title, the line chart and the table go in an image of ``size``.

    The table has up to 5 rows per column; its cells are a little wider than their text and the
    table is centred, so each date sits close to its price.
    """

    font_px: int
    title_px: int
    margin: int
    chart: tuple[int, int, int, int]
    table: tuple[float, float, float, float]
    rows: int
    columns: int
    cell_text_w: int  # ink width of the widest "date  price" cell

    @classmethod
    def build(cls, size: tuple[int, int], font_px: int, days: int) -> _Layout:
        width, height = size
        margin = max(3, round(min(size) * 0.03))
        title_px = round(font_px * 1.25)
        line_h = text_extent("Sep 30 0123456789", font_px)[1] + max(2, font_px // 3)
        rows = min(days, 5)
        columns = -(-days // rows)
        cell_text_w = text_extent("Sep 30", font_px)[0] + text_extent("888.88", font_px)[0] + font_px
        cell_w = min((width - 2 * margin) / columns, cell_text_w * 1.3)
        table_x0 = (width - cell_w * columns) / 2
        table_top = height - margin - rows * line_h
        chart = (margin + 2, margin + title_px + margin, width - margin - 2, table_top - margin)
        table = (table_x0, table_top, table_x0 + cell_w * columns, height - margin)
        return cls(font_px, title_px, margin, chart, table, rows, columns, cell_text_w)

    def fits(self) -> bool:
        """Whether the table's cells hold their text and the chart keeps some height."""
        cell_w = (self.table[2] - self.table[0]) / self.columns
        return self.cell_text_w <= cell_w and self.chart[3] - self.chart[1] >= 3 * self.font_px


@register_family
class FinancialChart(TaskFamily):
    """Calculate with a stock's daily closing prices, read from a chart and its price table.

    Prices are in US dollars with cents; the trading days are consecutive weekdays of 2023.

    Difficulty ladder (table fonts at 224 x 224, never below ``min_font_px``):

    1. 5 days, 9 px: the change in dollars from the first to the last close.
    2. 6-8 days: the change in dollars or in percent (one decimal).
    3. 8-10 days: the average close (to the cent), the largest one-day rise or fall in dollars.
    4. 10-14 days, 7 px: also the percent change between two named days.
    5. 15-20 days, 6 px: the maximum drawdown in percent (one decimal), the average, a percent change.

    Answer type ``number``. Dollar amounts are exact (tolerance half a cent); a percentage allows
    0.05 and an average 0.005 (half a unit of the asked-for last decimal). Falls asked for as a
    change are negative; a largest fall and a drawdown are positive.

    Example: "What was the percentage change in the closing price from Mar 3 to Mar 10, rounded to one
    decimal place (negative for a fall)?" -> ``-4.7``
    """

    name = "financial_chart"
    description = "Compute a change, average, best day or drawdown from a stock's daily closing prices."
    config_cls = FinancialChartConfig
    detail_scale = 2
    tools_help = True

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: FinancialChartConfig = self.config  # type: ignore[assignment]
        kind = rng.choice(level.kinds)
        days = rng.randint(*level.days)
        font_px = max(config.min_font_px * self.detail_scale, round(level.font_px * min(size) / 224))
        # A very small image holds fewer days: drop days until the table fits (never below 5).
        while days > 5 and not _Layout.build(size, font_px, days).fits():
            days -= 1
        dates = _trading_days(rng, days)
        while True:
            cents = _closes(rng, days, level.volatility)
            query = _query(rng, kind, cents)
            if query is not None:
                break
        ticker = "".join(rng.choice(_TICKER_LETTERS) for _ in range(rng.randint(3, 4)))
        scene: dict[str, Any] = {
            "ticker": ticker,
            "dates": dates,
            "closes": [_price_text(c) for c in cents],
            "font_px": font_px,
            "line_color": list(rng.choice(_LINE_COLORS)),
            "query": query,
        }
        question, answer, rationale = _pose(scene)
        return TaskSpec(
            question=question,
            answer=answer,
            answer_type="number",
            scene=scene,
            rationale=rationale,
            tolerance=_TOLERANCE[kind],
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        dates, closes = scene["dates"], scene["closes"]
        layout = _Layout.build(size, scene["font_px"], len(dates))
        image, draw = blank(size, (252, 252, 250))
        ink, grey = (25, 25, 25), (110, 110, 110)
        stamp_text(
            draw,
            (size[0] / 2, layout.margin),
            f"{scene['ticker']} daily close (USD)",
            layout.title_px,
            ink,
            anchor="mt",
        )
        x0, y0, x1, y1 = layout.chart
        draw.rectangle(layout.chart, outline=(200, 200, 200), width=1)
        values = [float(c) for c in closes]
        low, high = min(values), max(values)
        pad = (y1 - y0) * 0.1
        step = (x1 - x0 - 2 * pad) / (len(values) - 1)
        points = [
            (x0 + pad + i * step, y1 - pad - (v - low) / (high - low) * (y1 - y0 - 2 * pad))
            for i, v in enumerate(values)
        ]
        color = tuple(scene["line_color"])
        draw.line(points, fill=color, width=max(1, round(min(size) / 224)))
        dot = max(1.5, min(size) / 160)
        for x, y in points:
            draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=color)
        tx0, ty0, tx1, ty1 = layout.table
        cell_w, cell_h = (tx1 - tx0) / layout.columns, (ty1 - ty0) / layout.rows
        rule = (200, 200, 200)
        draw.line((tx0, ty0 - 1, tx1, ty0 - 1), fill=rule, width=1)
        for column in range(1, layout.columns):
            draw.line((tx0 + column * cell_w, ty0, tx0 + column * cell_w, ty1), fill=rule, width=1)
        for index, (date, close) in enumerate(zip(dates, closes)):
            column, row = divmod(index, layout.rows)
            left, middle = tx0 + column * cell_w, ty0 + (row + 0.5) * cell_h
            stamp_text(draw, (left + layout.font_px * 0.3, middle), date, layout.font_px, grey, anchor="lm")
            stamp_text(draw, (left + cell_w - layout.font_px * 0.5, middle), close, layout.font_px, ink, anchor="rm")
        return image

    def tool_plan(self, spec: TaskSpec) -> list[ToolStep]:
        scene = spec.scene
        query, closes, dates = scene["query"], scene["closes"], scene["dates"]
        kind, (a, b) = query["kind"], query["days"]
        if kind == "change":
            thought = f"The table gives {closes[a]} on {dates[a]} and {closes[b]} on {dates[b]}; I subtract."
            return [_step(thought, "calculator", f"{closes[b]} - {closes[a]}")]
        if kind == "pct_change":
            thought = (
                f"The table gives {closes[a]} on {dates[a]} and {closes[b]} on {dates[b]}; I compute the change in %."
            )
            return [_step(thought, "calculator", f"({closes[b]} - {closes[a]}) / {closes[a]} * 100")]
        listing = ", ".join(closes)
        if kind == "average":
            thought = f"I read all {len(closes)} closes from the table: {listing}. I average them."
            return [_step(thought, "calculator", f"({' + '.join(closes)}) / {len(closes)}")]
        prices = f"closes = [{listing}]\n"
        if kind == "drawdown":
            code = prices + (
                "peak, worst = closes[0], 0.0\n"
                "for close in closes:\n"
                "    peak = max(peak, close)\n"
                "    worst = max(worst, (peak - close) / peak)\n"
                "print(round(worst * 100, 2))"
            )
            thought = f"I read all {len(closes)} closes from the table and track the running peak with Python."
        else:
            pick = "max" if kind == "best_day" else "min"
            code = prices + f"print(round(abs({pick}(b - a for a, b in zip(closes, closes[1:]))), 2))"
            thought = (
                f"I read all {len(closes)} closes from the table and compare each day with the day before in Python."
            )
        return [_step(thought, "python", code)]


def _step(thought: str, tool: str, source: str) -> ToolStep:
    argument = "expression" if tool == "calculator" else "code"
    return ToolStep(thought, ({"name": tool, "arguments": {argument: source}},))


def _query(rng: random.Random, kind: str, cents: list[int]) -> dict[str, Any] | None:
    """The days a question of ``kind`` is about; None when these prices cannot pose it well."""
    n = len(cents)
    moves = [b - a for a, b in itertools.pairwise(cents)]
    if (kind == "best_day" and max(moves) <= 0) or (kind == "worst_day" and min(moves) >= 0):
        return None
    if kind == "drawdown" and _drawdown(cents)[0] < Fraction(1, 100):
        return None  # a fall of at least 1 % keeps the question meaningful
    if kind == "pct_change" and n >= 10:
        first = rng.randrange(n - 3)
        return {"kind": kind, "days": [first, rng.randrange(first + 3, n)]}
    return {"kind": kind, "days": [0, n - 1]}


def _drawdown(cents: list[int]) -> tuple[Fraction, int, int]:
    """The largest fall from a running peak to a later close, as a fraction of that peak; and both days."""
    peak_day, worst = 0, (Fraction(0), 0, 0)
    for day, close in enumerate(cents):
        if close > cents[peak_day]:
            peak_day = day
        fall = Fraction(cents[peak_day] - close, cents[peak_day])
        if fall > worst[0]:
            worst = (fall, peak_day, day)
    return worst


def _pose(scene: dict[str, Any]) -> tuple[str, float, str]:
    """Question, answer and rationale of the scene's query, computed exactly in cents."""
    query, dates, closes = scene["query"], scene["dates"], scene["closes"]
    cents = [round(float(c) * 100) for c in closes]
    kind, (a, b) = query["kind"], query["days"]
    if kind == "change":
        change = cents[b] - cents[a]
        return (
            f"By how many dollars did the closing price change from {dates[a]} to {dates[b]} (negative for a fall)?",
            change / 100,
            f"The close went from {closes[a]} on {dates[a]} to {closes[b]} on {dates[b]}, "
            f"a change of {change / 100:.2f} dollars.",
        )
    if kind == "pct_change":
        percent = round_half_up(Fraction(cents[b] - cents[a], cents[a]) * 100, 1)
        return (
            f"What was the percentage change in the closing price from {dates[a]} to {dates[b]}, "
            "rounded to one decimal place (negative for a fall)?",
            percent,
            f"The close went from {closes[a]} to {closes[b]}: "
            f"({closes[b]} - {closes[a]}) / {closes[a]} x 100 = {percent:.1f}%.",
        )
    if kind == "average":
        total = sum(cents)
        average = round_half_up(Fraction(total, 100 * len(cents)), 2)
        return (
            f"What was the average closing price over the {len(cents)} trading days shown, "
            "rounded to the nearest cent?",
            average,
            f"The {len(cents)} closes add up to {total / 100:.2f}; "
            f"divided by {len(cents)} that is {average:.2f} dollars.",
        )
    if kind in ("best_day", "worst_day"):
        moves = [(cents[i + 1] - cents[i], i + 1) for i in range(len(cents) - 1)]
        move, day = max(moves) if kind == "best_day" else min(moves)
        direction = "rise" if kind == "best_day" else "fall"
        return (
            f"What was the largest one-day {direction} in the closing price, in dollars (as a positive number)?",
            abs(move) / 100,
            f"The largest {direction} from one close to the next came on {dates[day]}: "
            f"from {closes[day - 1]} to {closes[day]}, {abs(move) / 100:.2f} dollars.",
        )
    fall, peak, trough = _drawdown(cents)
    drawdown = round_half_up(fall * 100, 1)
    return (
        "What was the maximum drawdown over the days shown, i.e. the largest fall from a closing high to a later "
        "close as a percentage of that high, rounded to one decimal place?",
        drawdown,
        f"The deepest fall from a high runs from {closes[peak]} on {dates[peak]} "
        f"to {closes[trough]} on {dates[trough]}: "
        f"({closes[peak]} - {closes[trough]}) / {closes[peak]} x 100 = {drawdown:.1f}%.",
    )
