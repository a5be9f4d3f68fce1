"""Marks drawn into the views (rings and tags on objects, number labels), view titles, and the mosaic.

Marks are positioned from the ray-tested visibility (:mod:`vista_envs.views.visibility`): a ring sits on
the part of the object its camera really sees, so a mark never points at something hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from vista_envs.tasks.drawing import font

__all__ = ["Mark", "draw_marks", "mosaic", "mosaic_grid"]

RING_RGB = (255, 0, 200)
LABEL_FILL = (255, 255, 255)
LABEL_TEXT = (0, 0, 0)
_EMPTY_TILE = (40, 40, 40)


@dataclass(frozen=True)
class Mark:
    """A mark in one view at ``centre`` (shares of width and height): ``"ring"`` (a ring and a tag above it)
    or ``"label"`` (a tag on the object)."""

    kind: str
    text: str
    centre: tuple[float, float]
    radius: float = 0.05  # share of the image height: the ring's radius


def _tag(draw: ImageDraw.ImageDraw, x: float, y: float, text: str, size: int, outline: tuple[int, int, int]) -> None:
    box = draw.textbbox((x, y), text, font=font(size), anchor="mm")
    pad = max(1, size // 6)
    draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=LABEL_FILL, outline=outline)
    draw.text((x, y), text, font=font(size), fill=LABEL_TEXT, anchor="mm")


def draw_marks(image: np.ndarray, title: str, marks: Sequence[Mark]) -> np.ndarray:
    """``image`` with its ``title`` in the top-left corner and ``marks`` drawn on it (a new array)."""
    height, width = image.shape[:2]
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    size = max(9, height // 16)
    for mark in marks:
        x, y = mark.centre[0] * width, mark.centre[1] * height
        if mark.kind == "ring":
            r = max(5.0, mark.radius * height)
            draw.ellipse((x - r, y - r, x + r, y + r), outline=RING_RGB, width=max(2, height // 80))
            _tag(draw, x, max(size / 2 + 1, y - r - size * 0.6), mark.text, size, RING_RGB)
        else:
            _tag(draw, x, y, mark.text, size, LABEL_TEXT)
    title_size = max(9, height // 16)
    box = draw.textbbox((3, 2), title, font=font(title_size))
    draw.rectangle((0, 0, box[2] + 3, box[3] + 3), fill=(255, 255, 255))
    draw.text((3, 2), title, font=font(title_size), fill=(0, 0, 0))
    return np.asarray(canvas)


def mosaic_grid(max_views: int) -> tuple[int, int]:
    """(rows, columns) of the mosaic that holds up to ``max_views`` views: 1x2 for two, 2x2 for three or four."""
    return (1, 2) if max_views <= 2 else (2, 2)


def mosaic(views: Sequence[np.ndarray], grid: tuple[int, int]) -> np.ndarray:
    """The views in row-major tiles of ``grid``; tiles without a view are dark gray."""
    rows, columns = grid
    height, width = views[0].shape[:2]
    out = np.empty((rows * height, columns * width, 3), dtype=np.uint8)
    out[...] = _EMPTY_TILE
    for i, view in enumerate(views):
        r, c = divmod(i, columns)
        out[r * height : (r + 1) * height, c * width : (c + 1) * width] = view
    return out
