"""Tables: find, filter, sort and select rows, and answer questions about them.

Difficulty ladder:

- 1: 7 rows (all on screen); sort by a column, select one row, or read one cell.
- 2: 10 rows; select two rows or count rows that meet a condition.
- 3: 13 rows that scroll; near-duplicate names ("Desk Lamp" and "Desk Lamp XL"); select every item whose
  name contains a phrase (the search box filters the rows).
- 4: 16 rows; select the top three by a column; smaller targets; a distractor dialog may open.
- 5: 19 rows; the smallest targets.

Success (exact): the archived rows are exactly the asked ones, the sort is the asked one, or the
answer matches the table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from vista_envs.gui.actions import Action
from vista_envs.gui.app import App
from vista_envs.gui.apps.common import TARGET_SCALE, maybe_popup
from vista_envs.gui.goals import Goal, Press, Subgoal
from vista_envs.gui.layout import Column
from vista_envs.gui.oracle import click_rect, operate, reach, reach_rect
from vista_envs.gui.theme import random_theme, text_width
from vista_envs.gui.widgets import Table

__all__ = ["TableApp", "make_table"]

_ITEMS = ("Desk Lamp", "Office Chair", "Bookshelf", "Coffee Mug", "Notebook", "Backpack", "Monitor Arm", "Keyboard",
          "Headphones", "Water Bottle", "Plant Pot", "Wall Clock", "Floor Rug", "Pen Holder", "Phone Stand",
          "Laptop Sleeve", "Desk Mat", "Whiteboard", "Paper Tray", "Cable Box", "Footrest", "Table Fan")  # fmt: skip
_CATEGORIES = ("Office", "Home", "Tech", "Garden")
_SUFFIXES = (" XL", " Mini", " Pro", " 2")


class TableApp(App):
    """A searchable, sortable table whose selected rows can be archived."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.archived: set[str] = set()

    @property
    def table(self) -> Table:
        return self.widget("table")  # type: ignore[return-value]

    def command(self, name: str) -> str:
        if name == "archive":
            table = self.table
            if not table.selected:
                return "No rows are selected."
            moved = sorted(table.selected)
            self.archived |= table.selected
            table.rows = tuple(row for row in table.rows if str(row[0]) not in table.selected)
            table.selected = set()
            self.status = f"Archived {len(moved)} row(s)."
            return f"Archived: {', '.join(moved)}."
        return ""

    def _sync_filters(self) -> None:
        self.table.filter_text = self.widget("search").value  # type: ignore[assignment]

    def extra_snapshot(self) -> Any:
        return tuple(sorted(self.archived))


@dataclass
class RowSelected(Subgoal):
    """The row named ``key`` is selected (or already archived)."""

    key: str

    def satisfied(self, app: App) -> bool:
        return self.key in app.table.selected or self.key in app.archived  # type: ignore[attr-defined]

    def next_action(self, app: App) -> Action | None:
        table: Table = app.table  # type: ignore[attr-defined]
        step = reach(app, table)
        if step is not None and step.name != "scroll":
            return step
        names = [str(row[0]) for row in table.shown_rows()]
        if self.key not in names:  # a search hides it: empty the box
            return operate(app, app.widget("search"), "")
        row = table.row_rect(names.index(self.key))
        return reach_rect(app, row) or click_rect(app.to_screen(row))

    def elements(self, app: App) -> tuple[str, ...]:
        return (self.key,)


@dataclass
class SortedBy(Subgoal):
    column: int
    descending: bool

    def satisfied(self, app: App) -> bool:
        table: Table = app.table  # type: ignore[attr-defined]
        return table.sort_column == self.column and table.sort_descending == self.descending

    def next_action(self, app: App) -> Action | None:
        table: Table = app.table  # type: ignore[attr-defined]
        step = reach(app, table)
        if step is not None and step.name != "scroll":  # a dialog or an open list is in the way
            return step
        header = table.header_rect(self.column)
        return reach_rect(app, header) or click_rect(app.to_screen(header))

    def elements(self, app: App) -> tuple[str, ...]:
        return (app.table.columns[self.column],)  # type: ignore[attr-defined]


def make_table(rng: random.Random, difficulty: int, size: tuple[int, int]) -> tuple[TableApp, Goal]:
    theme = random_theme(rng, size[1], TARGET_SCALE[difficulty])
    col = Column(size, theme, theme.row + theme.row // 2, rng)
    n_rows = 4 + 3 * difficulty
    names = rng.sample(_ITEMS, n_rows)
    if difficulty >= 3:  # near duplicates of rows that stay in the table
        for i in range(min(3, n_rows // 4)):
            names[-1 - i] = names[i] + rng.choice(_SUFFIXES)
    # Distinct prices and stocks: "the three highest" and every sort order name one answer.
    prices, stocks = rng.sample(range(3, 250), n_rows), rng.sample(range(80), n_rows)
    rows = [(name, rng.choice(_CATEGORIES), price, stock) for name, price, stock in zip(names, prices, stocks)]
    columns = ("Item", "Category", "Price", "Stock")
    heading = col.heading("heading", rng.choice(("Inventory", "Products", "Stock list")))
    search = col.field("search", "Search", placeholder="filter by item")
    buttons = col.buttons([("archive", "Archive selected", "archive", True)])
    rect = col.block(theme.row * (n_rows + 1))
    table = Table(
        "table",
        "Products",
        rect,
        columns=columns,
        rows=tuple(rows),
        row_height=theme.row,
        column_x=_column_x(rect, rows, columns, theme.font_size, theme.row),
    )
    app = TableApp(
        "table",
        rng.choice(("Inventory", "Warehouse", "Store admin")),
        size,
        theme,
        [[heading, search, *buttons, table]],
        ["Products"],
    )
    goal = _goal(rng, difficulty, app, table, rows, columns)
    maybe_popup(app, rng, difficulty)
    return app, goal


def _column_x(rect, rows, columns, font_size: int, row: int) -> tuple[int, ...]:
    widths = [
        max(text_width(str(v), font_size) for v in [name] + [r[i] for r in rows]) + row * (2 if i == 0 else 1)
        for i, name in enumerate(columns)
    ]
    spare = max(0, (rect[2] - rect[0]) - sum(widths))
    xs, x = [], rect[0]
    for w in widths:
        xs.append(round(x))
        x += w + spare / len(widths)
    return tuple(xs)


def _goal(
    rng: random.Random,
    difficulty: int,
    app: TableApp,
    table: Table,
    rows: list[tuple],
    columns: tuple[str, ...],
) -> Goal:
    kinds = (
        ["select", "sort", "lookup"]
        if difficulty <= 2
        else ["select", "select_top", "select_matching", "lookup", "count"]
    )
    kind = rng.choice(kinds)
    if kind == "sort":
        column, descending = rng.randrange(len(columns)), rng.random() < 0.5
        order = (
            ("highest first" if descending else "lowest first")
            if column >= 2
            else ("Z to A" if descending else "A to Z")
        )
        return Goal(
            f'Sort the table by "{columns[column]}", {order}.',
            [SortedBy(column, descending)],
        )
    if kind in ("select", "select_top", "select_matching"):
        if kind == "select_matching":  # the search box finds a name and its near duplicates in one go
            needle = rows[0][0] if rng.random() < 0.5 else rows[0][0].split()[0]  # a whole name, or its first word
            keys = sorted(r[0] for r in rows if needle.lower() in r[0].lower())
            instruction = f'Select every item whose name contains "{needle}", then click "Archive selected".'
        elif kind == "select":
            keys = sorted(r[0] for r in rng.sample(rows, 1 if difficulty == 1 else 2))
            what = " and ".join(f'"{k}"' for k in keys)
            instruction = f'Select the row{"s" if len(keys) > 1 else ""} {what}, then click "Archive selected".'
        else:
            column = rng.choice((2, 3))
            keys = sorted(r[0] for r in sorted(rows, key=lambda r: -r[column])[:3])  # prices and stocks are distinct
            instruction = f'Select the three items with the highest "{columns[column]}", then click "Archive selected".'
        target = set(keys)
        subgoals: list[Subgoal] = [RowSelected(k) for k in keys]
        subgoals.append(Press("archive", lambda a: a.archived == target))
        return Goal(instruction, subgoals, any_order=True)
    if kind == "lookup":
        row = rng.choice(rows)
        column = rng.choice((1, 2, 3))
        question = f'What is the "{columns[column]}" of "{row[0]}"? Answer with answer(text).'
        answer_type = "number" if column >= 2 else "text"
        return Goal(
            question,
            [],
            answer=row[column] if column >= 2 else row[column].lower(),
            answer_type=answer_type,
        )
    category = rng.choice(_CATEGORIES)
    threshold = rng.choice((20, 50, 100))
    count = sum(1 for r in rows if r[1] == category and r[2] > threshold)
    question = f'How many items in the category "{category}" cost more than {threshold}? Answer with answer(text).'
    return Goal(question, [], answer=count, answer_type="number")
