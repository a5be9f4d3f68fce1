"""The widgets of a synthetic application: their state and the geometry they are clicked by.

A widget's ``rect`` is ``(x0, y0, x1, y1)`` in *content* coordinates: the page scrolls under a fixed
viewport, so the app turns it into screen coordinates (:meth:`vista_envs.gui.app.App.screen_rect`).
Widgets hold state only; what a click or a key does to them is decided by the app, so that the
widget tree stays plain data that the renderer, the accessibility tree, the predicates and the
oracle all read the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "BarChart",
    "Button",
    "Dropdown",
    "FileList",
    "Label",
    "Rect",
    "Slider",
    "Table",
    "TextField",
    "Toggle",
    "Widget",
    "center",
    "contains",
]

Rect = tuple[int, int, int, int]


def contains(rect: Rect, x: float, y: float) -> bool:
    """True when ``(x, y)`` lies in ``rect`` (the right and bottom edges excluded)."""
    return rect[0] <= x < rect[2] and rect[1] <= y < rect[3]


def center(rect: Rect) -> tuple[int, int]:
    return (rect[0] + rect[2]) // 2, (rect[1] + rect[3]) // 2


@dataclass(eq=False)
class Widget:
    """Base of every widget: an id (unique in the app), the visible label, its rectangle."""

    wid: str
    label: str
    rect: Rect
    role: ClassVar[str] = "widget"
    # Header and footer widgets stay put while the page content scrolls.
    fixed: bool = field(default=False, kw_only=True)

    @property
    def value(self) -> Any:
        """The widget's user-settable value (None for widgets without one)."""
        return None

    def value_text(self) -> str | None:
        """The value as the accessibility tree states it."""
        return None


@dataclass(eq=False)
class Label(Widget):
    role: ClassVar[str] = "text"
    heading: bool = False


@dataclass(eq=False)
class Button(Widget):
    """A push button; pressing it runs ``command`` in the app."""

    role: ClassVar[str] = "button"
    command: str = ""
    primary: bool = False


@dataclass(eq=False)
class TextField(Widget):
    """A one-line text box; ``label`` is its caption (drawn beside it), ``value`` what is typed in it."""

    role: ClassVar[str] = "textbox"
    text: str = ""
    max_chars: int = 40
    secret: bool = False
    placeholder: str = ""
    # After ctrl+a the whole text is selected: the next typing or backspace replaces it.
    all_selected: bool = False
    caption_rect: Rect | None = None

    @property
    def value(self) -> str:
        return self.text

    def value_text(self) -> str:
        return "*" * len(self.text) if self.secret else self.text  # the bundled font has no bullet glyph


@dataclass(eq=False)
class Toggle(Widget):
    """An on/off switch (a checkbox); its label is drawn to the right of the box."""

    role: ClassVar[str] = "checkbox"
    on: bool = False

    @property
    def value(self) -> bool:
        return self.on

    def value_text(self) -> str:
        return "checked" if self.on else "unchecked"


@dataclass(eq=False)
class Dropdown(Widget):
    """A closed box showing the chosen option; opened, it lists ``options`` below itself."""

    role: ClassVar[str] = "combobox"
    options: tuple[str, ...] = ()
    index: int = 0
    open: bool = False
    caption_rect: Rect | None = None

    @property
    def value(self) -> str:
        return self.options[self.index]

    def value_text(self) -> str:
        return self.value

    def option_rect(self, i: int) -> Rect:
        """Content rectangle of option ``i`` in the open list (rows as tall as the box, below it)."""
        x0, y0, x1, y1 = self.rect
        h = y1 - y0
        return x0, y1 + i * h, x1, y1 + (i + 1) * h


@dataclass(eq=False)
class Slider(Widget):
    """A horizontal slider over ``lo..hi`` in ``step`` increments; ``rect`` is its track."""

    role: ClassVar[str] = "slider"
    lo: int = 0
    hi: int = 100
    step: int = 10
    position: int = 0
    caption_rect: Rect | None = None

    @property
    def value(self) -> int:
        return self.position

    def value_text(self) -> str:
        return str(self.position)

    def value_at(self, x: float) -> int:
        """The value a click at screen-independent track offset ``x`` (content x) sets, snapped to the step."""
        x0, _, x1, _ = self.rect
        fraction = min(1.0, max(0.0, (x - x0) / max(1, x1 - 1 - x0)))
        steps = round(fraction * (self.hi - self.lo) / self.step)
        return self.lo + steps * self.step

    def x_of(self, value: int) -> int:
        """The content x that :meth:`value_at` maps to ``value``."""
        x0, _, x1, _ = self.rect
        return x0 + round((value - self.lo) / (self.hi - self.lo) * (x1 - 1 - x0))


@dataclass(eq=False)
class Table(Widget):
    """Rows of cells under clickable column headers: a header sorts, a row's check box selects it.

    ``rows`` are tuples of cell values (the first cell names the row); what is shown is filtered by
    ``filter_text`` (a substring of the first cell, case-insensitive) and ordered by ``sort_column``.
    """

    role: ClassVar[str] = "table"
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[Any, ...], ...] = ()
    row_height: int = 20
    sort_column: int | None = None
    sort_descending: bool = False
    selected: set[str] = field(default_factory=set)
    filter_text: str = ""
    column_x: tuple[int, ...] = ()

    def shown_rows(self) -> list[tuple[Any, ...]]:
        needle = self.filter_text.strip().lower()
        rows = [row for row in self.rows if needle in str(row[0]).lower()]
        if self.sort_column is not None:
            # Ties keep their original order (sorted is stable), so the view is a function of the state.
            rows.sort(key=lambda row: row[self.sort_column], reverse=self.sort_descending)
        return rows

    def header_rect(self, column: int) -> Rect:
        _x0, y0, x1, _ = self.rect
        right = self.column_x[column + 1] if column + 1 < len(self.column_x) else x1
        return self.column_x[column], y0, right, y0 + self.row_height

    def row_rect(self, i: int) -> Rect:
        """Content rectangle of the ``i``-th shown row."""
        x0, y0, x1, _ = self.rect
        top = y0 + (i + 1) * self.row_height
        return x0, top, x1, top + self.row_height


@dataclass(eq=False)
class BarChart(Widget):
    """A bar chart; clicking a bar shows its value in a tooltip (``revealed``)."""

    role: ClassVar[str] = "chart"
    labels: tuple[str, ...] = ()
    values: tuple[int, ...] = ()
    show_values: bool = True
    revealed: int | None = None
    y_max: int = 100

    def plot_rect(self) -> Rect:
        x0, y0, x1, y1 = self.rect
        h = y1 - y0
        return x0 + (x1 - x0) // 12, y0 + h // 8, x1 - 4, y1 - h // 7

    def bar_rect(self, i: int) -> Rect:
        px0, py0, px1, py1 = self.plot_rect()
        slot = (px1 - px0) / len(self.values)
        top = py1 - round(self.values[i] / self.y_max * (py1 - py0))
        return (
            round(px0 + slot * (i + 0.2)),
            min(top, py1 - 2),
            round(px0 + slot * (i + 0.8)),
            py1,
        )


@dataclass(eq=False)
class FileList(Widget):
    """The entries of the open folder, one per row: a folder opens on click, a file is selected."""

    role: ClassVar[str] = "list"
    entries: tuple[tuple[str, bool], ...] = ()  # (name, is_folder)
    row_height: int = 20
    selected: str | None = None

    def row_rect(self, i: int) -> Rect:
        x0, y0, x1, _ = self.rect
        return x0, y0 + i * self.row_height, x1, y0 + (i + 1) * self.row_height
