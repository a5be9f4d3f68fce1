"""The application model: pages of widgets under a fixed header, a scrolling viewport, focus, dialogs.

The app is the ground truth of an episode: the screenshot is drawn from it, the accessibility tree
is printed from it, success is a predicate on it and the oracle plans from it. Every input goes
through :meth:`App.click`, :meth:`App.type_text`, :meth:`App.press`, :meth:`App.scroll` and
:meth:`App.drag`; each returns an :class:`Effect` and none raises on any argument the tool layer
lets through (coordinates are checked to be on screen before they get here).

App kinds (``vista_envs.gui.apps``) subclass :class:`App` and give their buttons meaning in
:meth:`App.command`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vista_envs.gui.theme import Theme, text_width
from vista_envs.gui.widgets import (
    BarChart,
    Button,
    Dropdown,
    FileList,
    Rect,
    Slider,
    Table,
    TextField,
    Toggle,
    Widget,
    contains,
)

__all__ = ["KEYS", "App", "Dialog", "Effect"]

# Key names `key(name)` accepts, and the spellings models often use for them.
KEYS = (
    "enter",
    "tab",
    "backspace",
    "delete",
    "escape",
    "space",
    "up",
    "down",
    "left",
    "right",
    "pageup",
    "pagedown",
    "home",
    "end",
    "ctrl+a",
)
KEY_ALIASES = {"return": "enter", "esc": "escape", "arrowup": "up", "arrowdown": "down", "arrowleft": "left",
               "arrowright": "right", "page_up": "pageup", "page_down": "pagedown", "pgup": "pageup",
               "pgdn": "pagedown", "del": "delete", "ctrl-a": "ctrl+a", "control+a": "ctrl+a",
               " ": "space"}  # fmt: skip


@dataclass
class Effect:
    """What an input did: a message for the agent, the widget it reached, and whether it was refused."""

    message: str
    target: Widget | None = None
    refused: bool = False


@dataclass(eq=False)
class Dialog:
    """A modal box: while it is open only its buttons respond."""

    title: str
    text: str
    buttons: list[Button] = field(default_factory=list)
    rect: Rect = (0, 0, 0, 0)
    cancel_command: str = ""
    # The button the task wants pressed (ground truth for the oracle; any button closes the dialog).
    choice: int = 0


class App:
    """A screen of ``size = (width, height)``: a header with the title, pages of widgets, a footer line.

    Args:
        kind: the app kind's name (``"form"``, ``"table"``, ...).
        title: the text in the header bar.
        size: ``(width, height)`` of the screen in pixels.
        theme: colours and sizes.
        pages: the widgets of each page, in content coordinates.
        page_titles: one title per page (shown under the header).
    """

    def __init__(
        self,
        kind: str,
        title: str,
        size: tuple[int, int],
        theme: Theme,
        pages: list[list[Widget]],
        page_titles: list[str],
    ):
        self.kind = kind
        self.title = title
        self.size = size
        self.theme = theme
        self.pages = pages
        self.page_titles = page_titles
        self.page = 0
        self.scroll_y = 0
        self.focus: str | None = None
        self.dialog: Dialog | None = None
        self.status = ""
        self.answer: str | None = None
        self.header_height = theme.row + theme.row // 2
        self.footer_height = theme.row
        self._by_id = {w.wid: w for page in pages for w in page}

    # -- geometry ------------------------------------------------------------------------------------

    @property
    def viewport(self) -> Rect:
        """The screen rectangle the page content scrolls under."""
        width, height = self.size
        return 0, self.header_height, width, height - self.footer_height

    @property
    def widgets(self) -> list[Widget]:
        """The current page's widgets."""
        return self.pages[self.page]

    def widget(self, wid: str) -> Widget:
        return self._by_id[wid]

    def page_of(self, wid: str) -> int:
        return next(i for i, page in enumerate(self.pages) if any(w.wid == wid for w in page))

    def max_scroll(self) -> int:
        bottom = max((w.rect[3] for w in self.widgets if not w.fixed), default=0)
        for w in self.widgets:
            if isinstance(w, Dropdown) and w.open:
                bottom = max(bottom, w.option_rect(len(w.options) - 1)[3])
        return max(0, bottom + self.theme.row // 2 - self.viewport[3])

    def to_screen(self, rect: Rect, fixed: bool = False) -> Rect:
        if fixed:
            return rect
        return rect[0], rect[1] - self.scroll_y, rect[2], rect[3] - self.scroll_y

    def screen_rect(self, widget: Widget) -> Rect:
        return self.to_screen(widget.rect, widget.fixed)

    def on_screen(self, rect: Rect) -> bool:
        """True when ``rect`` (screen coordinates) lies wholly inside the viewport."""
        _, top, _, bottom = self.viewport
        return rect[1] >= top and rect[3] <= bottom

    def open_dropdown(self) -> Dropdown | None:
        return next((w for w in self.widgets if isinstance(w, Dropdown) and w.open), None)

    # -- inputs --------------------------------------------------------------------------------------

    def click(self, x: float, y: float) -> Effect:
        if self.dialog is not None:
            for button in self.dialog.buttons:
                if contains(button.rect, x, y):
                    self.dialog, dialog = None, self.dialog
                    return Effect(
                        f'Clicked "{button.label}" in the "{dialog.title}" dialog. ' + self.command(button.command),
                        button,
                    )
            return Effect(f'The "{self.dialog.title}" dialog is open; only its buttons respond.')
        dropdown = self.open_dropdown()
        if dropdown is not None:
            dropdown.open = False
            for i, option in enumerate(dropdown.options):
                if contains(self.to_screen(dropdown.option_rect(i)), x, y) and self._in_view(y):
                    dropdown.index = i
                    return Effect(f'"{dropdown.label}" is now "{option}".', dropdown)
            return Effect(f'Closed the "{dropdown.label}" list without changing it.', dropdown)
        widget = self.hit(x, y)
        if widget is None:
            self.focus = None
            return Effect("Nothing to click there.")
        return self._click_widget(widget, x, y + (0 if widget.fixed else self.scroll_y))

    def hit(self, x: float, y: float) -> Widget | None:
        """The widget under the screen point, if it responds to clicks."""
        for widget in reversed(self.widgets):
            rects = [self.screen_rect(widget)]
            if isinstance(widget, (TextField, Dropdown, Slider)) and widget.caption_rect is not None:
                rects.append(self.to_screen(widget.caption_rect))
            if any(contains(r, x, y) for r in rects) and (widget.fixed or self._in_view(y)):
                return widget
        return None

    def element_at(self, x: float, y: float) -> str | None:
        """The name of what a click at ``(x, y)`` would reach (an option, a row, a bar, a file, a widget); no side
        effects."""
        if self.dialog is not None:
            return next((b.label for b in self.dialog.buttons if contains(b.rect, x, y)), None)
        dropdown = self.open_dropdown()
        if dropdown is not None:
            hit = [
                o
                for i, o in enumerate(dropdown.options)
                if contains(self.to_screen(dropdown.option_rect(i)), x, y) and self._in_view(y)
            ]
            return hit[0] if hit else None
        widget = self.hit(x, y)
        if widget is None:
            return None
        cx, cy = x, y + (0 if widget.fixed else self.scroll_y)
        if isinstance(widget, Table):
            headers = [name for c, name in enumerate(widget.columns) if contains(widget.header_rect(c), cx, cy)]
            rows = [str(row[0]) for i, row in enumerate(widget.shown_rows()) if contains(widget.row_rect(i), cx, cy)]
            return (headers + rows + [None])[0]
        if isinstance(widget, BarChart):
            return next(
                (widget.labels[i] for i in range(len(widget.values)) if contains(widget.bar_rect(i), cx, cy)),
                None,
            )
        if isinstance(widget, FileList):
            return next(
                (name for i, (name, _) in enumerate(widget.entries) if contains(widget.row_rect(i), cx, cy)),
                None,
            )
        return widget.label

    def _in_view(self, y: float) -> bool:
        return self.viewport[1] <= y < self.viewport[3]

    def _click_widget(self, widget: Widget, x: float, y: float) -> Effect:
        """``x, y`` in content coordinates (screen coordinates for fixed widgets)."""
        self.focus = widget.wid if isinstance(widget, (TextField, Slider, Dropdown)) else None
        if isinstance(widget, Button):
            return Effect(f'Clicked "{widget.label}". ' + self.command(widget.command), widget)
        if isinstance(widget, Toggle):
            widget.on = not widget.on
            return Effect(f'"{widget.label}" is now {"on" if widget.on else "off"}.', widget)
        if isinstance(widget, TextField):
            return Effect(f'The "{widget.label}" box has the focus; type to fill it.', widget)
        if isinstance(widget, Dropdown):
            widget.open = True
            return Effect(f'Opened the "{widget.label}" list.', widget)
        if isinstance(widget, Slider):
            if contains(widget.rect, x, y):
                widget.position = widget.value_at(x)
                return Effect(f'"{widget.label}" is now {widget.position}.', widget)
            return Effect(f'The "{widget.label}" slider has the focus.', widget)
        if isinstance(widget, Table):
            return self._click_table(widget, x, y)
        if isinstance(widget, BarChart):
            for i in range(len(widget.values)):
                if contains(widget.bar_rect(i), x, y):
                    widget.revealed = i
                    return Effect(f'Showing the value of "{widget.labels[i]}".', widget)
            widget.revealed = None
            return Effect("Clicked the chart, not a bar.", widget)
        if isinstance(widget, FileList):
            for i, (name, is_folder) in enumerate(widget.entries):
                if contains(widget.row_rect(i), x, y):
                    if is_folder:
                        return Effect(self.open_folder(name), widget)
                    widget.selected = name
                    return Effect(f'Selected "{name}".', widget)
            widget.selected = None
            return Effect("Clicked an empty part of the list.", widget)
        return Effect(f'Clicked the text "{widget.label}"; it does nothing.', widget)

    def _click_table(self, table: Table, x: float, y: float) -> Effect:
        for column, name in enumerate(table.columns):
            if contains(table.header_rect(column), x, y):
                if table.sort_column == column:
                    table.sort_descending = not table.sort_descending
                else:
                    table.sort_column, table.sort_descending = column, False
                order = "descending" if table.sort_descending else "ascending"
                return Effect(f'Sorted by "{name}", {order}.', table)
        for i, row in enumerate(table.shown_rows()):
            if contains(table.row_rect(i), x, y):
                key = str(row[0])
                table.selected ^= {key}
                return Effect(
                    f'{"Selected" if key in table.selected else "Unselected"} the row "{key}".',
                    table,
                )
        return Effect("Clicked an empty part of the table.", table)

    def type_text(self, text: str) -> Effect:
        field_ = self._by_id.get(self.focus or "")
        if self.dialog is not None or not isinstance(field_, TextField):
            return Effect("No text box has the focus; click one before typing.", refused=True)
        base = "" if field_.all_selected else field_.text
        field_.all_selected = False
        room = field_.max_chars - len(base)
        field_.text = base + text[: max(0, room)]
        self._sync_filters()
        cut = f" (cut: the box holds {field_.max_chars} characters)" if len(text) > room else ""
        return Effect(f'Typed into "{field_.label}"{cut}.', field_)

    def press(self, key: str) -> Effect:
        """``key`` must be one of :data:`KEYS` (the tool layer normalises and checks it)."""
        focused = self._by_id.get(self.focus or "")
        if self.dialog is not None:
            if key == "escape" and self.dialog.cancel_command:
                self.dialog, dialog = None, self.dialog
                return Effect(f'Closed the "{dialog.title}" dialog. ' + self.command(dialog.cancel_command))
            if key == "enter":
                primary = next((b for b in self.dialog.buttons if b.primary), None)
                if primary is not None:
                    self.dialog = None
                    return Effect(
                        f'Pressed "{primary.label}". ' + self.command(primary.command),
                        primary,
                    )
            return Effect(f'The "{self.dialog.title}" dialog is open; use its buttons.')
        dropdown = self.open_dropdown()
        if dropdown is not None and key in ("up", "down", "escape", "enter"):
            if key == "escape" or key == "enter":
                dropdown.open = False
                return Effect(f'Closed the "{dropdown.label}" list.', dropdown)
            dropdown.index = max(
                0,
                min(
                    len(dropdown.options) - 1,
                    dropdown.index + (1 if key == "down" else -1),
                ),
            )
            return Effect(f'"{dropdown.label}" is now "{dropdown.value}".', dropdown)
        if isinstance(focused, TextField) and key in (
            "backspace",
            "delete",
            "ctrl+a",
            "space",
            "enter",
            "tab",
        ):
            if key == "ctrl+a":
                focused.all_selected = True
                return Effect(f'Selected all the text in "{focused.label}".', focused)
            if key in ("backspace", "delete"):
                focused.text = "" if focused.all_selected else focused.text[:-1]
                focused.all_selected = False
                self._sync_filters()
                return Effect(f'Deleted in "{focused.label}".', focused)
            if key == "space":
                return self.type_text(" ")
            if key == "enter":
                primary = next(
                    (w for w in self.widgets if isinstance(w, Button) and w.primary),
                    None,
                )
                if primary is not None:
                    return Effect(
                        f'Pressed "{primary.label}". ' + self.command(primary.command),
                        primary,
                    )
                return Effect("Enter does nothing here.", focused)
        if key == "tab":
            return self._next_focus()
        if isinstance(focused, Slider) and key in ("left", "right"):
            delta = focused.step if key == "right" else -focused.step
            focused.position = max(focused.lo, min(focused.hi, focused.position + delta))
            return Effect(f'"{focused.label}" is now {focused.position}.', focused)
        if key == "escape":
            self.focus = None
            return Effect("Nothing to close.")
        scrolls = {
            "up": -self.theme.row * 2,
            "down": self.theme.row * 2,
            "pageup": -self.page_step(),
            "pagedown": self.page_step(),
            "home": -(10**9),
            "end": 10**9,
        }
        if key in scrolls:
            return self.scroll(0, scrolls[key])
        return self.key_command(key, focused)

    def key_command(self, key: str, focused: Widget | None) -> Effect:
        """Keys an app kind gives a meaning (the file browser deletes with ``delete``); none by default."""
        return Effect(f'The key "{key}" does nothing here.')

    def page_step(self) -> int:
        return (self.viewport[3] - self.viewport[1]) * 3 // 4

    def _next_focus(self) -> Effect:
        fields = [w for w in self.widgets if isinstance(w, (TextField, Slider, Dropdown))]
        if not fields:
            return Effect("Nothing on this page takes the focus.")
        ids = [w.wid for w in fields]
        i = (ids.index(self.focus) + 1) % len(ids) if self.focus in ids else 0
        self.focus = ids[i]
        self.reveal(fields[i])
        return Effect(f'"{fields[i].label}" has the focus.', fields[i])

    def reveal(self, widget: Widget) -> None:
        """Scroll so that ``widget`` is on screen (what a browser does for the focused element)."""
        if widget.fixed:
            return
        _, top, _, bottom = self.viewport
        _x0, y0, _x1, y1 = widget.rect
        if y0 - self.scroll_y < top:
            self.scroll_y = max(0, y0 - top - self.theme.row // 2)
        elif y1 - self.scroll_y > bottom:
            self.scroll_y = min(self.max_scroll(), y1 - bottom + self.theme.row // 2)

    def scroll(self, dx: float, dy: float) -> Effect:
        if self.dialog is not None:
            return Effect(f'The "{self.dialog.title}" dialog is open; the page behind it does not scroll.')
        before = self.scroll_y
        self.scroll_y = int(max(0, min(self.max_scroll(), self.scroll_y + dy)))
        if self.scroll_y == before:
            if self.max_scroll() == 0:
                return Effect("This page fits on the screen; there is nothing to scroll.")
            return Effect(f"Already at the {'bottom' if dy > 0 else 'top'} of the page.")
        return Effect(f"Scrolled to {self.scroll_y} of {self.max_scroll()} pixels.")

    def drag(self, x0: float, y0: float, x1: float, y1: float) -> Effect:
        if self.dialog is not None:
            return Effect(f'The "{self.dialog.title}" dialog is open; only its buttons respond.')
        widget = self.hit(x0, y0)
        if isinstance(widget, Slider):
            self.focus = widget.wid
            widget.position = widget.value_at(x1)
            return Effect(f'"{widget.label}" is now {widget.position}.', widget)
        bar_x = self.size[0] - self.scrollbar_width()
        if self.max_scroll() > 0 and x0 >= bar_x and self._in_view(y0):
            span = self.viewport[3] - self.viewport[1]
            return self.scroll(0, (y1 - y0) * (self.max_scroll() + span) / span)
        return Effect("Nothing to drag there (sliders and the scroll bar can be dragged).")

    def scrollbar_width(self) -> int:
        return max(6, self.theme.row // 3)

    def open_dialog(
        self,
        title: str,
        text: str,
        buttons: list[tuple[str, str, bool]],
        choice: int = 0,
        cancel_command: str = "",
    ) -> None:
        """Show a modal dialog with ``buttons`` ``(label, command, primary)`` in a row, centred on the screen."""
        width, height = self.size
        row = self.theme.row
        widest = max(text_width(t, self.theme.font_size) for t in (title, text))
        w = min(width - 2 * row, max(width // 2, round(widest) + 2 * row))
        h = row * 4 + row // 2
        x0, y0 = (width - w) // 2, (height - h) // 2
        made, right = [], x0 + w - row // 2
        for label, command, primary in reversed(buttons):
            bw = round(text_width(self.theme.button_text(label), self.theme.font_size)) + row
            made.append(
                Button(
                    f"dialog-{command}",
                    label,
                    (right - bw, y0 + h - row - row // 2, right, y0 + h - row // 2),
                    command=command,
                    primary=primary,
                    fixed=True,
                )
            )
            right -= bw + row // 2
        self.dialog = Dialog(title, text, made[::-1], (x0, y0, x0 + w, y0 + h), cancel_command, choice)

    # -- what app kinds define -----------------------------------------------------------------------

    def command(self, name: str) -> str:
        """Run a button's command; returns what happened, for the agent. Subclasses define commands."""
        return ""

    def after_input(self) -> None:
        """Called after every input: app kinds whose views follow other widgets update them here."""

    def open_folder(self, name: str) -> str:
        return f'"{name}" cannot be opened here.'

    def _sync_filters(self) -> None:
        """Tables filtered by a search box follow the box's text."""

    def state(self) -> dict[str, Any]:
        """The app's meaningful state (what predicates read), JSON-like."""
        return {w.wid: w.value for page in self.pages for w in page if w.value is not None}

    def snapshot(self) -> tuple[Any, ...]:
        """Everything an input can change: equal snapshots mean the input had no effect."""
        widgets = []
        for page in self.pages:
            for w in page:
                if isinstance(w, Table):
                    widgets.append(
                        (
                            w.sort_column,
                            w.sort_descending,
                            tuple(sorted(w.selected)),
                            w.filter_text,
                        )
                    )
                elif isinstance(w, BarChart):
                    widgets.append(w.revealed)
                elif isinstance(w, FileList):
                    widgets.append((w.entries, w.selected))
                elif isinstance(w, Dropdown):
                    widgets.append((w.index, w.open))
                elif isinstance(w, TextField):
                    widgets.append((w.text, w.all_selected))
                else:
                    widgets.append(w.value)
        dialog = self.dialog.title if self.dialog else None
        return (
            self.page,
            self.scroll_y,
            self.focus,
            dialog,
            self.answer,
            tuple(widgets),
            self.extra_snapshot(),
        )

    def extra_snapshot(self) -> Any:
        return None
