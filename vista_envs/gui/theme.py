"""Themes: the colours and type sizes a screen is drawn with, drawn at random per episode."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from vista_envs.tasks.drawing import font

__all__ = ["Theme", "random_theme", "text_width"]

RGB = tuple[int, int, int]

_ACCENTS: tuple[RGB, ...] = (
    (37, 99, 235),
    (22, 163, 74),
    (217, 70, 39),
    (147, 51, 234),
    (8, 145, 178),
    (202, 138, 4),
)


@dataclass(frozen=True)
class Theme:
    """Colours of one screen and its text size in pixels (``font_size``) and row height (``row``)."""

    background: RGB
    panel: RGB
    text: RGB
    muted: RGB
    border: RGB
    accent: RGB
    accent_text: RGB
    header: RGB
    header_text: RGB
    font_size: int
    row: int
    dark: bool
    # Buttons in capitals (CSS text-transform): the screen says "SAVE" where the tree and the task say "Save".
    caps_buttons: bool = False

    def button_text(self, label: str) -> str:
        """A button's label as drawn."""
        return label.upper() if self.caps_buttons else label


def random_theme(rng: random.Random, screen_height: int, scale: float) -> Theme:
    """A light or dark theme with a random accent; sizes follow the screen height times ``scale``.

    ``scale`` < 1 makes every target smaller (the difficulty ladder uses it).
    """
    row = max(13, round(screen_height / 16 * scale))
    font_size = max(9, round(row * rng.uniform(0.52, 0.6)))
    accent = rng.choice(_ACCENTS)
    caps = rng.random() < 0.3
    if rng.random() < 0.3:
        return Theme(
            background=(30, 32, 38),
            panel=(44, 47, 56),
            text=(230, 232, 236),
            muted=(150, 155, 165),
            border=(90, 95, 108),
            accent=accent,
            accent_text=(255, 255, 255),
            header=(20, 22, 27),
            header_text=(235, 235, 240),
            font_size=font_size,
            row=row,
            dark=True,
            caps_buttons=caps,
        )
    grey = rng.randint(236, 250)
    return Theme(
        background=(grey, grey, min(255, grey + 3)),
        panel=(255, 255, 255),
        text=(25, 28, 33),
        muted=(110, 115, 125),
        border=(190, 194, 202),
        accent=accent,
        accent_text=(255, 255, 255),
        header=accent,
        header_text=(255, 255, 255),
        font_size=font_size,
        row=row,
        dark=False,
        caps_buttons=caps,
    )


@functools.lru_cache(maxsize=16384)
def text_width(text: str, size: int) -> float:
    """The advance width of ``text`` at font ``size`` (cached: layouts and carets ask for the same labels again and
    again)."""
    return font(size).getlength(text)
