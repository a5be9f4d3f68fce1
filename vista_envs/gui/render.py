"""Drawing an :class:`~vista_envs.gui.app.App` with Pillow: the screenshot is a pure function of the app."""

from __future__ import annotations

import functools

from PIL import Image, ImageDraw

from vista_envs.gui.app import App, Dialog
from vista_envs.gui.theme import Theme, text_width
from vista_envs.gui.widgets import (
    BarChart,
    Button,
    Dropdown,
    FileList,
    Label,
    Rect,
    Slider,
    Table,
    TextField,
    Toggle,
    Widget,
)
from vista_envs.tasks.drawing import font

__all__ = ["render_app"]


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


def render_app(app: App) -> Image.Image:
    """The screenshot of ``app`` as it is now."""
    theme = app.theme
    image = Image.new("RGB", app.size, theme.background)
    draw = ImageDraw.Draw(image)
    _, top, width, bottom = app.viewport
    for widget in app.widgets:
        if widget.fixed:
            continue
        rect = app.screen_rect(widget)
        if rect[3] < top or rect[1] > bottom:
            continue
        _draw_widget(draw, app, widget, rect, theme)
    dropdown = app.open_dropdown()
    if dropdown is not None:
        _draw_options(draw, app, dropdown, theme)
    # Header and footer are drawn last: they cover content scrolled under them.
    draw.rectangle((0, 0, width, top - 1), fill=theme.header)
    title = app.title if len(app.pages) == 1 else f"{app.title}: {app.page_titles[app.page]}"
    _text(
        draw,
        (theme.row // 2, top // 2),
        title,
        theme,
        fill=theme.header_text,
        size=round(theme.font_size * 1.15),
    )
    draw.rectangle((0, bottom, width, app.size[1]), fill=_mix(theme.background, theme.border, 0.35))
    if app.status:
        _text(
            draw,
            (theme.row // 2, (bottom + app.size[1]) // 2),
            app.status,
            theme,
            size=theme.font_size - 1,
        )
    for widget in app.widgets:
        if widget.fixed:
            _draw_widget(draw, app, widget, widget.rect, theme)
    if app.max_scroll() > 0:
        _draw_scrollbar(draw, app, theme)
    if app.dialog is not None:
        _draw_dialog(draw, app.dialog, theme)
    return image


@functools.lru_cache(maxsize=8192)
def _text_mask(text: str, size: int, anchor: str) -> tuple[Image.Image, int, int]:
    """``text`` rendered once as a mask, with the offset of its box from the anchor point.

    FreeType rendering is most of the cost of a screen (about 0.5 ms a label); labels repeat from step
    to step, so each is rendered once and stamped after. Never draw on the returned mask.
    """
    left, top, right, bottom = font(size).getbbox(text, anchor=anchor)
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(mask).text((-left, -top), text, font=font(size), fill=255, anchor=anchor)
    return mask, left, top


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    theme: Theme,
    fill=None,
    anchor: str = "lm",
    size: int | None = None,
) -> None:
    if not text:
        return
    mask, left, top = _text_mask(text, size or theme.font_size, anchor)
    draw.bitmap((round(xy[0]) + left, round(xy[1]) + top), mask, fill=fill or theme.text)


def _draw_widget(draw: ImageDraw.ImageDraw, app: App | None, widget: Widget, rect: Rect, theme: Theme) -> None:
    x0, y0, x1, y1 = rect
    cy = (y0 + y1) // 2
    focused = app is not None and app.focus == widget.wid
    shift = 0 if widget.fixed or app is None else app.scroll_y
    if isinstance(widget, (TextField, Dropdown, Slider)) and widget.caption_rect is not None:
        cx0, cy0, _, cy1 = widget.caption_rect
        _text(draw, (cx0, (cy0 + cy1) // 2 - shift), widget.label, theme)
    if isinstance(widget, Label):
        size = round(theme.font_size * 1.25) if widget.heading else theme.font_size
        _text(
            draw,
            (x0, cy),
            widget.label,
            theme,
            size=size,
            fill=theme.text if widget.heading else theme.muted,
        )
    elif isinstance(widget, Button):
        fill = theme.accent if widget.primary else theme.panel
        draw.rectangle(rect, fill=fill, outline=theme.accent if widget.primary else theme.border)
        _text(
            draw,
            ((x0 + x1) // 2, cy),
            theme.button_text(widget.label),
            theme,
            fill=theme.accent_text if widget.primary else theme.text,
            anchor="mm",
        )
    elif isinstance(widget, TextField):
        draw.rectangle(
            rect,
            fill=theme.panel,
            outline=theme.accent if focused else theme.border,
            width=2 if focused else 1,
        )
        pad = theme.row // 4
        shown = widget.value_text()
        if shown:
            if widget.all_selected:
                w = text_width(shown, theme.font_size)
                draw.rectangle(
                    (x0 + pad, y0 + 3, x0 + pad + w, y1 - 3),
                    fill=_mix(theme.panel, theme.accent, 0.3),
                )
            _text(draw, (x0 + pad, cy), shown, theme)
        elif widget.placeholder:
            _text(draw, (x0 + pad, cy), widget.placeholder, theme, fill=theme.muted)
        if focused:
            caret = x0 + pad + text_width(shown, theme.font_size) + 1
            draw.line((caret, y0 + 4, caret, y1 - 4), fill=theme.text)
    elif isinstance(widget, Toggle):
        box = y1 - y0 - theme.row // 3
        bx0, by0 = x0, cy - box // 2
        draw.rectangle(
            (bx0, by0, bx0 + box, by0 + box),
            fill=theme.accent if widget.on else theme.panel,
            outline=theme.border,
        )
        if widget.on:
            draw.line(
                (
                    bx0 + box * 0.2,
                    by0 + box * 0.5,
                    bx0 + box * 0.42,
                    by0 + box * 0.75,
                    bx0 + box * 0.8,
                    by0 + box * 0.25,
                ),
                fill=theme.accent_text,
                width=max(1, box // 6),
            )
        _text(draw, (bx0 + box + theme.row // 3, cy), widget.label, theme)
    elif isinstance(widget, Dropdown):
        draw.rectangle(rect, fill=theme.panel, outline=theme.accent if focused else theme.border)
        _text(draw, (x0 + theme.row // 4, cy), widget.value, theme)
        a = theme.row // 5
        draw.polygon(
            (
                (x1 - 3 * a, cy - a // 2),
                (x1 - a, cy - a // 2),
                (x1 - 2 * a, cy + a // 2),
            ),
            fill=theme.muted,
        )
    elif isinstance(widget, Slider):
        draw.line((x0, cy, x1 - 1, cy), fill=theme.border, width=max(2, theme.row // 8))
        knob_x = widget.x_of(widget.position)
        draw.line((x0, cy, knob_x, cy), fill=theme.accent, width=max(2, theme.row // 8))
        r = theme.row // 4
        draw.ellipse(
            (knob_x - r, cy - r, knob_x + r, cy + r),
            fill=theme.accent,
            outline=theme.panel,
        )
        _text(draw, (x1 + theme.row // 2, cy), str(widget.position), theme)
    elif isinstance(widget, Table):
        _draw_table(draw, app, widget, theme)
    elif isinstance(widget, BarChart):
        _draw_chart(draw, widget, rect, theme)
    elif isinstance(widget, FileList):
        _draw_files(draw, app, widget, theme)


def _draw_options(draw: ImageDraw.ImageDraw, app: App, dropdown: Dropdown, theme: Theme) -> None:
    for i, option in enumerate(dropdown.options):
        rect = app.to_screen(dropdown.option_rect(i))
        fill = _mix(theme.panel, theme.accent, 0.25) if i == dropdown.index else theme.panel
        draw.rectangle(rect, fill=fill, outline=theme.border)
        _text(draw, (rect[0] + theme.row // 4, (rect[1] + rect[3]) // 2), option, theme)


def _draw_table(draw: ImageDraw.ImageDraw, app: App, table: Table, theme: Theme) -> None:
    shift = app.scroll_y
    x0, y0, x1, _ = table.rect
    h = table.row_height
    rows = table.shown_rows()
    bottom = y0 + (len(rows) + 1) * h - shift
    draw.rectangle(
        (x0, y0 - shift, x1, max(bottom, y0 + h - shift)),
        fill=theme.panel,
        outline=theme.border,
    )
    header_fill = _mix(theme.panel, theme.border, 0.5)
    draw.rectangle((x0, y0 - shift, x1, y0 + h - shift), fill=header_fill, outline=theme.border)
    pad = theme.row // 4
    for column, name in enumerate(table.columns):
        hx0, hy0, _hx1, hy1 = table.header_rect(column)
        cy = (hy0 + hy1) // 2 - shift
        _text(draw, (hx0 + pad, cy), name, theme)
        if table.sort_column == column:  # a triangle: the bundled font has no arrow glyphs
            a = max(3, h // 5)
            x = hx0 + pad + text_width(name, theme.font_size) + a + 2
            tip, base = (cy + a // 2, cy - a // 2) if table.sort_descending else (cy - a // 2, cy + a // 2)
            draw.polygon(((x - a, base), (x + a, base), (x, tip)), fill=theme.text)
    box = h // 2
    for i, row in enumerate(rows):
        rx0, ry0, rx1, ry1 = table.row_rect(i)
        ry0, ry1 = ry0 - shift, ry1 - shift
        selected = str(row[0]) in table.selected
        if selected:
            draw.rectangle((rx0 + 1, ry0, rx1 - 1, ry1), fill=_mix(theme.panel, theme.accent, 0.25))
        elif i % 2:
            draw.rectangle(
                (rx0 + 1, ry0, rx1 - 1, ry1),
                fill=_mix(theme.panel, theme.background, 0.6),
            )
        cy = (ry0 + ry1) // 2
        draw.rectangle(
            (x0 + pad, cy - box // 2, x0 + pad + box, cy + box // 2),
            fill=theme.accent if selected else theme.panel,
            outline=theme.border,
        )
        for column, cell in enumerate(row):
            left = table.column_x[column] + pad + (box + pad if column == 0 else 0)
            _text(draw, (left, cy), str(cell), theme)


def _draw_chart(draw: ImageDraw.ImageDraw, chart: BarChart, rect: Rect, theme: Theme) -> None:
    dy = rect[1] - chart.rect[1]
    draw.rectangle(rect, fill=theme.panel, outline=theme.border)
    px0, py0, px1, py1 = chart.plot_rect()
    small = max(8, theme.font_size - 2)
    for tick in range(0, chart.y_max + 1, chart.y_max // 4):
        y = py1 - round(tick / chart.y_max * (py1 - py0)) + dy
        draw.line((px0, y, px1, y), fill=_mix(theme.panel, theme.border, 0.5))
        _text(
            draw,
            (px0 - 3, y),
            str(tick),
            theme,
            fill=theme.muted,
            anchor="rm",
            size=small,
        )
    _text(
        draw,
        ((rect[0] + rect[2]) // 2, rect[1] + (py0 - chart.rect[1]) // 2),
        chart.label,
        theme,
        anchor="mm",
    )
    for i, (name, value) in enumerate(zip(chart.labels, chart.values)):
        bx0, by0, bx1, by1 = chart.bar_rect(i)
        draw.rectangle((bx0, by0 + dy, bx1, by1 + dy), fill=theme.accent)
        _text(
            draw,
            ((bx0 + bx1) // 2, by1 + dy + small),
            name,
            theme,
            anchor="mm",
            size=small,
        )
        if chart.show_values:
            _text(
                draw,
                ((bx0 + bx1) // 2, by0 + dy - small // 2 - 1),
                str(value),
                theme,
                anchor="mb",
                size=small,
            )
    if chart.revealed is not None:
        bx0, by0, bx1, _ = chart.bar_rect(chart.revealed)
        tip = f"{chart.labels[chart.revealed]}: {chart.values[chart.revealed]}"
        w = text_width(tip, small) + 8
        tx, ty = min((bx0 + bx1) // 2, rect[2] - w - 2), by0 + dy - small * 2 - 4
        draw.rectangle((tx, ty, tx + w, ty + small + 6), fill=theme.text)
        _text(
            draw,
            (tx + 4, ty + small // 2 + 3),
            tip,
            theme,
            fill=theme.panel,
            size=small,
        )


def _draw_files(draw: ImageDraw.ImageDraw, app: App, files: FileList, theme: Theme) -> None:
    shift = app.scroll_y
    pad = theme.row // 4
    for i, (name, is_folder) in enumerate(files.entries):
        x0, y0, x1, y1 = files.row_rect(i)
        y0, y1 = y0 - shift, y1 - shift
        fill = _mix(theme.panel, theme.accent, 0.25) if files.selected == name else theme.panel
        draw.rectangle((x0, y0, x1, y1), fill=fill, outline=_mix(theme.panel, theme.border, 0.5))
        icon = (y1 - y0) // 2
        ix, iy = x0 + pad, (y0 + y1) // 2 - icon // 2
        if is_folder:
            draw.rectangle((ix, iy, ix + icon * 1.3, iy + icon), fill=(230, 180, 60))
        else:
            draw.rectangle(
                (ix + icon * 0.15, iy - 1, ix + icon, iy + icon + 1),
                fill=theme.panel,
                outline=theme.muted,
            )
        _text(
            draw,
            (ix + icon * 1.3 + pad, (y0 + y1) // 2),
            name + ("/" if is_folder else ""),
            theme,
        )


def _draw_scrollbar(draw: ImageDraw.ImageDraw, app: App, theme: Theme) -> None:
    _, top, width, bottom = app.viewport
    span = bottom - top
    total = span + app.max_scroll()
    w = app.scrollbar_width()
    draw.rectangle(
        (width - w, top, width - 1, bottom - 1),
        fill=_mix(theme.background, theme.border, 0.3),
    )
    thumb_top = top + round(app.scroll_y / total * span)
    draw.rectangle(
        (
            width - w + 1,
            thumb_top,
            width - 2,
            thumb_top + max(w, round(span / total * span)),
        ),
        fill=theme.muted,
    )


def _draw_dialog(draw: ImageDraw.ImageDraw, dialog: Dialog, theme: Theme) -> None:
    x0, y0, x1, y1 = dialog.rect
    draw.rectangle((x0 + 4, y0 + 4, x1 + 4, y1 + 4), fill=_mix(theme.background, (0, 0, 0), 0.35))
    draw.rectangle(dialog.rect, fill=theme.panel, outline=theme.border, width=2)
    draw.rectangle((x0, y0, x1, y0 + theme.row), fill=_mix(theme.panel, theme.border, 0.5))
    _text(draw, (x0 + theme.row // 2, y0 + theme.row // 2), dialog.title, theme)
    _text(draw, (x0 + theme.row // 2, y0 + theme.row * 2), dialog.text, theme)
    for button in dialog.buttons:
        _draw_widget(draw, None, button, button.rect, theme)
