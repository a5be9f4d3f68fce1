"""Dashboards: a bar chart and a period picker; the agent answers data questions (the data-agent case).

Difficulty ladder:

- 1: 4 bars with their values printed; "what is the value of X?".
- 2: 6 bars, values printed; which is highest, or the total of two.
- 3: 6 bars, values hidden: clicking a bar shows its value in a tooltip; some questions need the
  other period chosen in the "Period" list first.
- 4: 8 bars; differences between two bars; smaller targets; a distractor dialog may open.
- 5: 10 bars; the smallest targets.

Success (exact): the answer equals the value computed from the chart's data (numbers exactly).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from vista_envs.gui.actions import Action
from vista_envs.gui.app import App
from vista_envs.gui.apps.common import TARGET_SCALE, maybe_popup
from vista_envs.gui.goals import Goal, Subgoal, ValueIs
from vista_envs.gui.layout import Column
from vista_envs.gui.oracle import click_rect, reach, reach_rect
from vista_envs.gui.theme import random_theme
from vista_envs.gui.widgets import BarChart

__all__ = ["DashboardApp", "make_dashboard"]

_SERIES = {
    "Monthly sales": (
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
    ),
    "Visitors by region": (
        "North",
        "South",
        "East",
        "West",
        "Central",
        "Coast",
        "Hills",
        "Lakes",
        "Metro",
        "Plains",
    ),
    "Tickets per team": (
        "Alpha",
        "Beta",
        "Gamma",
        "Delta",
        "Omega",
        "Sigma",
        "Kappa",
        "Theta",
        "Zeta",
        "Lambda",
    ),
}
_PERIODS = ("This year", "Last year")


class DashboardApp(App):
    """A chart whose data follows the "Period" list."""

    def __init__(self, *args: Any, data: dict[str, tuple[int, ...]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.data = data

    @property
    def chart(self) -> BarChart:
        return self.widget("chart")  # type: ignore[return-value]

    def after_input(self) -> None:
        """Show the data of the chosen period (the list changes it at once, as dashboards do)."""
        period = self.widget("period").value if "period" in self._by_id else _PERIODS[0]
        if self.chart.values != self.data[period]:
            self.chart.values = self.data[period]
            self.chart.revealed = None


@dataclass
class Revealed(Subgoal):
    """The tooltip of bar ``index`` is showing (the values are not printed at this level)."""

    index: int

    def satisfied(self, app: App) -> bool:
        return app.chart.revealed == self.index  # type: ignore[attr-defined]

    def next_action(self, app: App) -> Action | None:
        chart: BarChart = app.chart  # type: ignore[attr-defined]
        step = reach(app, chart)
        if step is not None and step.name != "scroll":
            return step
        bar = chart.bar_rect(self.index)
        return reach_rect(app, chart.rect) or click_rect(app.to_screen(bar))

    def elements(self, app: App) -> tuple[str, ...]:
        return (app.chart.labels[self.index],)  # type: ignore[attr-defined]


def make_dashboard(rng: random.Random, difficulty: int, size: tuple[int, int]) -> tuple[DashboardApp, Goal]:
    theme = random_theme(rng, size[1], TARGET_SCALE[difficulty])
    col = Column(size, theme, theme.row + theme.row // 2, rng)
    title = rng.choice(list(_SERIES))
    n_bars = {1: 4, 2: 6, 3: 6, 4: 8, 5: 10}[difficulty]
    labels = _SERIES[title][:n_bars]
    y_max = rng.choice((100, 200, 400))
    # Distinct values at least 4% of the axis apart, so "the highest" can be seen without reading numbers.
    grid = list(range(y_max // 10, y_max - y_max // 20, max(1, y_max // 25)))
    data = {
        period: tuple(v + rng.randint(0, max(0, y_max // 25 - 1)) for v in rng.sample(grid, n_bars))
        for period in _PERIODS
    }
    widgets: list[Any] = [col.heading("heading", rng.choice(("Overview", "Dashboard", "Reports")))]
    period = None
    if difficulty >= 3:
        period = col.dropdown("period", "Period", _PERIODS, 0)
        widgets.append(period)
    height = min(size[1] - 5 * theme.row, max(8 * theme.row, size[1] // 2))
    chart = BarChart(
        "chart",
        title,
        col.block(height),
        labels=labels,
        values=data[_PERIODS[0]],
        show_values=difficulty <= 2,
        y_max=y_max,
    )
    widgets.append(chart)
    app = DashboardApp(
        "dashboard",
        rng.choice(("Analytics", "Insights", "Metrics")),
        size,
        theme,
        [widgets],
        ["Overview"],
        data=data,
    )
    use_last = period is not None and rng.random() < 0.5
    values = data[_PERIODS[1] if use_last else _PERIODS[0]]
    when = " for last year" if use_last else (" for this year" if period is not None else "")
    subgoals: list[Subgoal] = [ValueIs("period", _PERIODS[1])] if use_last else []
    kinds = ["value"] if difficulty == 1 else ["value", "max", "sum"] + (["difference"] if difficulty >= 4 else [])
    kind = rng.choice(kinds)
    a, b = rng.sample(range(n_bars), 2)
    if kind == "value":
        question, answer, answer_type, read = (
            f'What is the value of "{labels[a]}" in "{title}"{when}?',
            values[a],
            "number",
            [a],
        )
    elif kind == "max":
        best = max(range(n_bars), key=lambda i: values[i])
        question, answer, answer_type, read = (
            f'Which bar of "{title}" is the highest{when}?',
            labels[best].lower(),
            "text",
            [],
        )
    elif kind == "sum":
        question, answer, answer_type, read = (
            f'What is the total of "{labels[a]}" and "{labels[b]}" in "{title}"{when}?',
            values[a] + values[b],
            "number",
            [a, b],
        )
    else:
        question, answer, answer_type, read = (
            f'By how much does "{labels[a]}" exceed "{labels[b]}" in "{title}"{when}? (negative if it is lower)',
            values[a] - values[b],
            "number",
            [a, b],
        )
    if not chart.show_values and len(read) == 1:
        subgoals.append(Revealed(read[0]))
    maybe_popup(app, rng, difficulty)
    return app, Goal(
        question + (" Answer with its label, with answer(text)." if kind == "max" else " Answer with answer(text)."),
        subgoals,
        answer=answer,
        answer_type=answer_type,
    )
