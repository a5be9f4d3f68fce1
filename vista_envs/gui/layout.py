"""Laying widgets out in a column, top to bottom, in content coordinates."""

from __future__ import annotations

import random

from vista_envs.gui.theme import Theme, text_width
from vista_envs.gui.widgets import (
    Button,
    Dropdown,
    Label,
    Rect,
    Slider,
    TextField,
    Toggle,
)

__all__ = ["Column"]


class Column:
    """Places rows below each other: a caption on the left and its control on the right.

    The caption column's width is drawn at random, so the same form moves between episodes.
    """

    def __init__(self, size: tuple[int, int], theme: Theme, top: int, rng: random.Random):
        width, _ = size
        self.theme = theme
        self.row = theme.row
        margin = max(8, round(width * rng.uniform(0.03, 0.08)))
        self.x0, self.x1 = margin, width - margin - max(6, theme.row // 3)
        self.y = top + self.row // 2
        self.gap = max(3, round(self.row * rng.uniform(0.3, 0.5)))
        self.split = self.x0 + round((self.x1 - self.x0) * rng.uniform(0.34, 0.42))

    def _take(self, height: int | None = None) -> tuple[int, int]:
        height = height or self.row
        top = self.y
        self.y += height + self.gap
        return top, top + height

    def _caption(self, top: int, bottom: int) -> Rect:
        return self.x0, top, self.split - self.gap, bottom

    def heading(self, wid: str, text: str) -> Label:
        top, bottom = self._take()
        return Label(wid, text, (self.x0, top, self.x1, bottom), heading=True)

    def text(self, wid: str, text: str) -> Label:
        top, bottom = self._take()
        return Label(wid, text, (self.x0, top, self.x1, bottom))

    def field(self, wid: str, label: str, **kwargs) -> TextField:
        top, bottom = self._take()
        return TextField(
            wid,
            label,
            (self.split, top, self.x1, bottom),
            caption_rect=self._caption(top, bottom),
            **kwargs,
        )

    def toggle(self, wid: str, label: str, on: bool) -> Toggle:
        top, bottom = self._take()
        box = self.row - self.row // 3
        width = box + self.row // 3 + round(text_width(label, self.theme.font_size)) + 2
        return Toggle(wid, label, (self.x0, top, min(self.x1, self.x0 + width), bottom), on=on)

    def dropdown(self, wid: str, label: str, options: tuple[str, ...], index: int) -> Dropdown:
        top, bottom = self._take()
        widest = max(text_width(o, self.theme.font_size) for o in options)
        right = min(self.x1, self.split + round(widest) + self.row * 2)
        return Dropdown(
            wid,
            label,
            (self.split, top, right, bottom),
            options=options,
            index=index,
            caption_rect=self._caption(top, bottom),
        )

    def slider(self, wid: str, label: str, lo: int, hi: int, step: int, value: int) -> Slider:
        top, bottom = self._take()
        right = self.x1 - round(text_width("0000", self.theme.font_size)) - self.row // 2
        return Slider(
            wid,
            label,
            (self.split + self.row // 4, top, right, bottom),
            lo=lo,
            hi=hi,
            step=step,
            position=value,
            caption_rect=self._caption(top, bottom),
        )

    def slider_width(self) -> int:
        return self.x1 - round(text_width("0000", self.theme.font_size)) - self.row // 2 - self.split - self.row // 4

    def buttons(self, specs: list[tuple[str, str, str, bool]]) -> list[Button]:
        """A row of buttons ``(wid, label, command, primary)``, right-aligned."""
        top, bottom = self._take(round(self.row * 1.2))
        made, right = [], self.x1
        for wid, label, command, primary in reversed(specs):
            width = round(text_width(self.theme.button_text(label), self.theme.font_size)) + self.row
            made.append(
                Button(
                    wid,
                    label,
                    (right - width, top, right, bottom),
                    command=command,
                    primary=primary,
                )
            )
            right -= width + self.gap
        return made[::-1]

    def block(self, height: int) -> Rect:
        top, bottom = self._take(height)
        return self.x0, top, self.x1, bottom
