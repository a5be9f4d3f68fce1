"""The accessibility tree: the app as text, one on-screen element a line (OSWorld's convention).

Each line is ``role "name" [value] @(x0, y0, x1, y1)`` in screen pixels, so an agent that reads only
the tree can still click: the centre of an element's box is a click on it.
"""

from __future__ import annotations

from vista_envs.gui.app import App
from vista_envs.gui.widgets import BarChart, Dropdown, FileList, Rect, Table, Widget

__all__ = ["accessibility_tree"]


def _box(rect: Rect) -> str:
    return f"@({rect[0]}, {rect[1]}, {rect[2]}, {rect[3]})"


def accessibility_tree(app: App) -> str:
    """The tree of what is on screen now (elements scrolled out of view are left out, as a browser does)."""
    lines = [f'window "{app.title}"' + (f' page "{app.page_titles[app.page]}"' if len(app.pages) > 1 else "")]
    if app.dialog is not None:
        lines.append(f'  dialog "{app.dialog.title}" text "{app.dialog.text}" {_box(app.dialog.rect)}')
        lines += [f'    button "{b.label}" {_box(b.rect)}' for b in app.dialog.buttons]
    for widget in app.widgets:
        lines += _lines(app, widget)
    dropdown = app.open_dropdown()
    if dropdown is not None:
        lines.append(f'  listbox "{dropdown.label}"')
        for i, option in enumerate(dropdown.options):
            rect = app.to_screen(dropdown.option_rect(i))
            if app.on_screen(rect):
                lines.append(f'    option "{option}"{" selected" if i == dropdown.index else ""} {_box(rect)}')
    if app.max_scroll() > 0:
        lines.append(f"  scrollbar: {app.scroll_y} of {app.max_scroll()} pixels scrolled")
    if app.status:
        lines.append(f'  status "{app.status}"')
    return "\n".join(lines)


def _lines(app: App, widget: Widget) -> list[str]:
    rect = app.screen_rect(widget)
    shift = 0 if widget.fixed else app.scroll_y
    if isinstance(widget, Table):
        out = [f'  table "{widget.label}"']
        for c, name in enumerate(widget.columns):
            header = app.to_screen(widget.header_rect(c))
            if app.on_screen(header):
                sort = ""
                if widget.sort_column == c:
                    sort = " sorted descending" if widget.sort_descending else " sorted ascending"
                out.append(f'    columnheader "{name}"{sort} {_box(header)}')
        for i, row in enumerate(widget.shown_rows()):
            r = app.to_screen(widget.row_rect(i))
            if app.on_screen(r):
                selected = " selected" if str(row[0]) in widget.selected else ""
                out.append(f'    row "{row[0]}"{selected} cells {" | ".join(str(v) for v in row)} {_box(r)}')
        return out
    if isinstance(widget, BarChart):
        if not app.on_screen(rect):
            return []
        out = [f'  chart "{widget.label}" {_box(rect)}']
        for i, name in enumerate(widget.labels):
            bar = widget.bar_rect(i)
            bar = (bar[0], bar[1] - shift, bar[2], bar[3] - shift)
            value = f" value {widget.values[i]}" if widget.show_values or widget.revealed == i else ""
            out.append(f'    bar "{name}"{value} {_box(bar)}')
        return out
    if isinstance(widget, FileList):
        out = [f'  list "{widget.label}"']
        for i, (name, is_folder) in enumerate(widget.entries):
            r = app.to_screen(widget.row_rect(i))
            if app.on_screen(r):
                selected = " selected" if widget.selected == name else ""
                out.append(f'    {"folder" if is_folder else "file"} "{name}"{selected} {_box(r)}')
        return out
    if not app.on_screen(rect) and not widget.fixed:
        return []
    value = widget.value_text()
    focus = " focused" if app.focus == widget.wid else ""
    extra = " expanded" if isinstance(widget, Dropdown) and widget.open else ""
    return [
        f'  {widget.role} "{widget.label}"'
        + (f' value "{value}"' if value is not None else "")
        + f"{focus}{extra} {_box(rect)}"
    ]
