"""Marks drawn into the views (rings and tags on objects, number labels), view titles, and the mosaic.

Marks are positioned from the visibility read off the views' masks (:mod:`vista_envs.views.visibility`): a ring sits on
the part of the object its camera really sees, so a mark never points at something hidden.
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=256)
def _patch(text: str, size: int, outline: tuple[int, int, int] | None) -> np.ndarray:
    """``text`` on a white box (with a one-pixel ``outline``, or none) as an RGB array: drawn once, pasted
    many times (Pillow's text drawing costs more than a whole small view's marks otherwise)."""
    pad = max(1, size // 6)
    left, top, right, bottom = font(size).getbbox(text)
    width, height = right - left + 2 * pad + 2, bottom - top + 2 * pad + 2
    patch = Image.new("RGB", (width, height), LABEL_FILL)
    draw = ImageDraw.Draw(patch)
    if outline is not None:
        draw.rectangle((0, 0, width - 1, height - 1), outline=outline)
    draw.text((pad + 1 - left, pad + 1 - top), text, font=font(size), fill=LABEL_TEXT)
    array = np.asarray(patch)
    array.flags.writeable = False
    return array


def _paste(canvas: np.ndarray, patch: np.ndarray, x: float, y: float, anchor_centre: bool = True) -> None:
    """Paste ``patch`` into ``canvas`` centred on (or, with ``anchor_centre=False``, from) ``(x, y)``, clipped at the borders."""
    height, width = patch.shape[:2]
    x0, y0 = (round(x - width / 2), round(y - height / 2)) if anchor_centre else (int(x), int(y))
    cx0, cy0 = max(0, x0), max(0, y0)
    cx1, cy1 = min(canvas.shape[1], x0 + width), min(canvas.shape[0], y0 + height)
    if cx0 < cx1 and cy0 < cy1:
        canvas[cy0:cy1, cx0:cx1] = patch[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def draw_marks(image: np.ndarray, title: str, marks: Sequence[Mark]) -> np.ndarray:
    """``image`` (RGB, or the renderer's RGBA buffer) with its ``title`` in the top-left corner and ``marks``
    drawn on it: a new RGB array; ``image`` is left alone."""
    height, width, channels = image.shape
    mode = "RGBA" if channels == 4 else "RGB"
    # One copy, in C: Pillow shares an RGBA buffer and drops its alpha as it copies (an RGB buffer is copied);
    # several times faster than NumPy's strided copy of the colour channels.
    canvas = Image.frombuffer(mode, (width, height), np.ascontiguousarray(image), "raw", mode, 0, 1)
    if mode == "RGBA":
        canvas = canvas.convert("RGB")
    size = max(10, height // 13)
    rings = [mark for mark in marks if mark.kind == "ring"]
    if rings:
        draw = ImageDraw.Draw(canvas)
        for mark in rings:
            x, y = mark.centre[0] * width, mark.centre[1] * height
            r = max(5.0, mark.radius * height)
            draw.ellipse((x - r, y - r, x + r, y + r), outline=RING_RGB, width=max(2, height // 80))
    out = np.array(canvas)
    for mark in marks:
        x, y = mark.centre[0] * width, mark.centre[1] * height
        if mark.kind == "ring":
            r = max(5.0, mark.radius * height)
            _paste(out, _patch(mark.text, size, RING_RGB), x, max(size / 2 + 1, y - r - size * 0.6))
        else:
            _paste(out, _patch(mark.text, size, LABEL_TEXT), x, y)
    _paste(out, _patch(title, max(9, height // 14), None), 0, 0, anchor_centre=False)
    return out


def mosaic_grid(max_views: int) -> tuple[int, int]:
    """(rows, columns) of the mosaic that holds up to ``max_views`` views: 1x2 for two, 2x2 for three or four."""
    return (1, 2) if max_views <= 2 else (2, 2)


def mosaic(views: Sequence[np.ndarray], grid: tuple[int, int]) -> np.ndarray:
    """The views in row-major tiles of ``grid``; tiles without a view are dark gray."""
    rows, columns = grid
    height, width = views[0].shape[:2]
    out = np.empty((rows * height, columns * width, 3), dtype=np.uint8)
    for i in range(rows * columns):
        r, c = divmod(i, columns)
        tile = out[r * height : (r + 1) * height, c * width : (c + 1) * width]
        if i < len(views):
            tile[...] = views[i]
        else:
            tile[...] = _EMPTY_TILE
    return out
