"""How the oracle reaches and operates a widget, read from the widget tree (never from pixels).

Each helper returns the *next* action toward its aim, or None when there is nothing left to do, so
that the oracle re-plans from the app's state after every action (and so recovers from any state an
agent left behind).
"""

from __future__ import annotations

from vista_envs.gui.actions import Action
from vista_envs.gui.app import App
from vista_envs.gui.widgets import (
    Button,
    Dropdown,
    Rect,
    Slider,
    TextField,
    Toggle,
    Widget,
    center,
)

__all__ = ["clear_blockers", "click_rect", "operate", "reach", "reach_rect"]


def click_rect(rect: Rect) -> Action:
    x, y = center(rect)
    return Action("click", {"x": x, "y": y})


def clear_blockers(app: App, keep_open: Dropdown | None = None) -> Action | None:
    """Close what stands in the way: a dialog (by the button the task expects) or an open list."""
    if app.dialog is not None:
        return click_rect(app.dialog.buttons[app.dialog.choice].rect)
    dropdown = app.open_dropdown()
    if dropdown is not None and dropdown is not keep_open:
        return Action("key", {"name": "escape"})
    return None


def reach_rect(app: App, rect: Rect) -> Action | None:
    """Scroll so that the content ``rect`` is on screen, or None when it already is."""
    if app.on_screen(app.to_screen(rect)):
        return None
    _, top, _, bottom = app.viewport
    dy = (rect[1] + rect[3]) // 2 - app.scroll_y - (top + bottom) // 2
    return Action("scroll", {"dx": 0, "dy": dy})


def reach(app: App, widget: Widget) -> Action | None:
    """The next action that brings ``widget`` on screen: clear blockers, change page, scroll."""
    blocker = clear_blockers(app, keep_open=widget if isinstance(widget, Dropdown) else None)
    if blocker is not None:
        return blocker
    if widget.fixed:
        return None
    target_page = app.page_of(widget.wid)
    if target_page != app.page:
        command = "next" if target_page > app.page else "back"
        button = next(w for w in app.widgets if isinstance(w, Button) and w.command == command)
        return reach(app, button) or click_rect(app.screen_rect(button))
    return reach_rect(app, widget.rect)


def operate(app: App, widget: Widget, value: object) -> Action | None:
    """The next action that gives ``widget`` the value ``value`` (None when it has it)."""
    if widget.value == value and not (isinstance(widget, Dropdown) and widget.open):
        return None
    # An open list is operated through its options, which may lie below the box: do not scroll back to the box.
    step = None if isinstance(widget, Dropdown) and widget.open else reach(app, widget)
    if step is not None:
        return step
    if isinstance(widget, Toggle):
        return click_rect(app.screen_rect(widget))
    if isinstance(widget, Dropdown):
        if not widget.open:
            return click_rect(app.screen_rect(widget))
        if widget.value == value:
            return Action("key", {"name": "escape"})
        option = widget.option_rect(widget.options.index(value))
        return reach_rect(app, option) or click_rect(app.to_screen(option))
    if isinstance(widget, Slider):
        x = widget.x_of(value)  # type: ignore[arg-type]
        return Action("click", {"x": x, "y": center(app.screen_rect(widget))[1]})
    if isinstance(widget, TextField):
        if app.focus != widget.wid:
            return click_rect(app.screen_rect(widget))
        text = str(value)
        if widget.text and not widget.all_selected and not text.startswith(widget.text):
            return Action("key", {"name": "ctrl+a"})
        typed = "" if widget.all_selected else widget.text
        if not text:
            return Action("key", {"name": "backspace"})
        return Action("type", {"text": text[len(typed) :]})
    raise ValueError(f"the oracle cannot set a {widget.role}")
