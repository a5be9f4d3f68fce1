"""Marks drawn into the views (rings and tags on objects, number labels), view titles, and the mosaic.

Marks are positioned from the visibility read off the views' masks (:mod:`vista_envs.views.visibility`): a ring sits on
the part of the object its camera really sees, so a mark never points at something hidden.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from vista_envs.tasks.drawing import font

__all__ = ["Mark", "ViewBuffer", "draw_marks", "mark_view", "marked_mosaic", "marked_view", "mosaic", "mosaic_grid"]

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
def _patch(text: str, size: int, outline: tuple[int, int, int] | None) -> Image.Image:
    """``text`` on a white box (with a one-pixel ``outline``, or none): drawn once, pasted many times (Pillow's
    text drawing costs more than a whole small view's marks otherwise). Never drawn on: it is shared."""
    pad = max(1, size // 6)
    left, top, right, bottom = font(size).getbbox(text)
    width, height = right - left + 2 * pad + 2, bottom - top + 2 * pad + 2
    patch = Image.new("RGB", (width, height), LABEL_FILL)
    draw = ImageDraw.Draw(patch)
    if outline is not None:
        draw.rectangle((0, 0, width - 1, height - 1), outline=outline)
    draw.text((pad + 1 - left, pad + 1 - top), text, font=font(size), fill=LABEL_TEXT)
    return patch


@functools.lru_cache(maxsize=256)
def _patch_as(text: str, size: int, outline: tuple[int, int, int] | None, mode: str) -> Image.Image:
    """:func:`_patch` in ``mode``: Pillow converts a pasted image of another mode on every paste otherwise."""
    patch = _patch(text, size, outline)
    return patch if mode == "RGB" else patch.convert(mode)


def _paste(canvas: Image.Image, patch: Image.Image, x: float, y: float) -> None:
    """Paste ``patch`` into ``canvas`` centred on ``(x, y)`` (Pillow clips it at the borders)."""
    canvas.paste(patch, (round(x - patch.width / 2), round(y - patch.height / 2)))


class ViewBuffer:
    """A view's RGBA pixels ``(height, width, 4)`` (a writeable C-contiguous array) with the Pillow image that
    shares them, and a drawing context made when first needed. Kept between episodes, it spares Pillow the cost of
    wrapping a fresh array for every view, which is more than that of drawing a view's marks.

    Give ``pixels`` to :func:`~vista_envs.views.rig.render_view` (``out=``), then :func:`mark_view` draws into
    them; what a view shows lives there until the buffer is drawn again, so copy it out (the mosaic does).
    """

    def __init__(self, pixels: np.ndarray):
        self.pixels = pixels
        height, width = pixels.shape[:2]
        self.image = Image.frombuffer("RGBA", (width, height), pixels, "raw", "RGBA", 0, 1)
        self.image.readonly = False  # frombuffer marks shared buffers read-only; this one is ours to draw on
        self._draw: ImageDraw.ImageDraw | None = None

    def __reduce__(self) -> tuple:
        # Copied or pickled as a new buffer over a copy of the pixels: the image must share the copy's memory.
        return ViewBuffer, (self.pixels.copy(),)

    @property
    def draw(self) -> ImageDraw.ImageDraw:
        if self._draw is None:
            self._draw = ImageDraw.Draw(self.image)
        return self._draw


def mark_view(buffer: ViewBuffer, title: str, marks: Sequence[Mark]) -> Image.Image:
    """:func:`marked_view` drawn into ``buffer``'s pixels: its RGBA image, which shares them."""
    pixels = buffer.pixels
    height, width = pixels.shape[:2]
    size = max(10, height // 13)
    rings = [mark for mark in marks if mark.kind == "ring"]
    if rings:
        draw = buffer.draw  # drawing in RGBA writes the same colour bytes as in RGB (no blending: a plain Draw)
        for mark in rings:
            x, y = mark.centre[0] * width, mark.centre[1] * height
            r = max(5.0, mark.radius * height)
            draw.ellipse((x - r, y - r, x + r, y + r), outline=RING_RGB, width=max(2, height // 80))
    # The tags and the title are copied with NumPy: what Image.paste does, clipped the same way, without its
    # per-call checks.
    for mark in marks:
        x, y = mark.centre[0] * width, mark.centre[1] * height
        if mark.kind == "ring":
            r = max(5.0, mark.radius * height)
            _copy_into(pixels, mark.text, size, RING_RGB, x, max(size / 2 + 1, y - r - size * 0.6))
        else:
            _copy_into(pixels, mark.text, size, LABEL_TEXT, x, y)
    _copy_at(pixels, _patch_pixels(title, max(9, height // 14), None), 0, 0)
    return buffer.image


def marked_view(image: np.ndarray, title: str, marks: Sequence[Mark]) -> Image.Image:
    """``image`` (RGB, or the renderer's RGBA buffer) with its ``title`` in the top-left corner and ``marks``
    drawn on it, as a Pillow image: RGB (a copy) for an RGB array; for a writeable C-contiguous RGBA array, an RGBA
    image that shares and draws into its buffer (the alpha channel means nothing: :func:`marked_mosaic` drops
    it as it pastes, so the view's pixels are copied once, into the mosaic). Use :func:`draw_marks` for an array."""
    height, width, channels = image.shape
    if channels == 4 and image.flags.c_contiguous and image.flags.writeable:
        return mark_view(ViewBuffer(image), title, marks)
    mode = "RGBA" if channels == 4 else "RGB"
    canvas = Image.frombuffer(mode, (width, height), np.ascontiguousarray(image), "raw", mode, 0, 1)
    if mode == "RGBA":  # (an RGB buffer is never shared: frombuffer copied it)
        canvas = canvas.convert("RGB")
    size = max(10, height // 13)
    rings = [mark for mark in marks if mark.kind == "ring"]
    if rings:
        draw = ImageDraw.Draw(canvas)
        for mark in rings:
            x, y = mark.centre[0] * width, mark.centre[1] * height
            r = max(5.0, mark.radius * height)
            draw.ellipse((x - r, y - r, x + r, y + r), outline=RING_RGB, width=max(2, height // 80))
    for mark in marks:
        x, y = mark.centre[0] * width, mark.centre[1] * height
        if mark.kind == "ring":
            r = max(5.0, mark.radius * height)
            _paste_patch(canvas, mark.text, size, RING_RGB, x, max(size / 2 + 1, y - r - size * 0.6))
        else:
            _paste_patch(canvas, mark.text, size, LABEL_TEXT, x, y)
    canvas.paste(_patch_as(title, max(9, height // 14), None, canvas.mode), (0, 0))
    return canvas


def _paste_patch(
    canvas: Image.Image, text: str, size: int, outline: tuple[int, int, int] | None, x: float, y: float
) -> None:
    _paste(canvas, _patch_as(text, size, outline, canvas.mode), x, y)


def _copy_into(
    buffer: np.ndarray, text: str, size: int, outline: tuple[int, int, int] | None, x: float, y: float
) -> None:
    """:func:`_paste` of the RGBA patch into an RGBA array: centred on ``(x, y)``, clipped at the borders."""
    pixels = _patch_pixels(text, size, outline)
    height, width = pixels.shape[:2]
    _copy_at(buffer, pixels, round(x - width / 2), round(y - height / 2))


def _copy_at(buffer: np.ndarray, pixels: np.ndarray, left: int, top: int) -> None:
    """``pixels`` copied into ``buffer`` with their top-left corner at ``(left, top)``, clipped at the buffer's
    borders as Pillow clips a paste."""
    height, width = pixels.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + width, buffer.shape[1]), min(top + height, buffer.shape[0])
    if x1 > x0 and y1 > y0:
        buffer[y0:y1, x0:x1] = pixels[y0 - top : y1 - top, x0 - left : x1 - left]


@functools.lru_cache(maxsize=256)
def _patch_pixels(text: str, size: int, outline: tuple[int, int, int] | None) -> np.ndarray:
    """:func:`_patch` in RGBA as a read-only (height, width, 4) array."""
    pixels = np.array(_patch_as(text, size, outline, "RGBA"))
    pixels.flags.writeable = False
    return pixels


def draw_marks(image: np.ndarray, title: str, marks: Sequence[Mark]) -> np.ndarray:
    """:func:`marked_view` as a new RGB array (``image`` is left alone)."""
    return np.array(marked_view(np.array(image) if image.shape[2] == 4 else image, title, marks).convert("RGB"))


def marked_mosaic(views: Sequence[Image.Image], grid: tuple[int, int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """:func:`mosaic` of marked views (:func:`marked_view`, RGB or RGBA), and each view as a (read-only) tile of
    it: the pixels are copied out of Pillow once, for the mosaic and the views together."""
    rows, columns = grid
    width, height = views[0].size
    # Every tile is pasted over, so the canvas needs no fill, and it is kept between calls: the pixels leave it
    # as a copy (a new image would cost Pillow a fresh block of memory, and page faults, every time).
    canvas = _canvas(columns * width, rows * height)
    for i in range(rows * columns):
        r, c = divmod(i, columns)
        if i < len(views):
            _paste_view(canvas, views[i], (c * width, r * height, (c + 1) * width, (r + 1) * height))
        else:
            canvas.paste(_EMPTY_TILE, (c * width, r * height, (c + 1) * width, (r + 1) * height))
    out = _rgb_array(canvas)
    tiles = [
        out[r * height : (r + 1) * height, c * width : (c + 1) * width]
        for r, c in map(lambda i: divmod(i, columns), range(len(views)))
    ]
    return out, tiles


def _paste_view(canvas: Image.Image, view: Image.Image, box: tuple[int, int, int, int]) -> None:
    """``canvas.paste(view, box)`` for an RGB canvas of ours and an RGB or RGBA view of the same size as the box (an
    RGBA view is pasted as is: its alpha is dropped): what Image.paste ends with, the core's paste, without the
    checks that cost more than copying a small view; Image.paste itself where the core lacks it."""
    try:
        view.load()
        canvas.im.paste(view.im, box)
    except AttributeError:  # pragma: no cover - a Pillow without this internal API
        canvas.paste(view, box[:2])


_CANVASES = threading.local()


def _canvas(width: int, height: int) -> Image.Image:
    """An RGB image of this size for this thread, kept between calls; its pixels are whatever was left there."""
    canvases = _CANVASES.__dict__.setdefault("images", {})
    if (width, height) not in canvases:
        canvases[(width, height)] = Image.new("RGB", (width, height), None)
    return canvases[(width, height)]


def _rgb_array(image: Image.Image) -> np.ndarray:
    """An RGB image's pixels as a read-only (height, width, 3) array, as ``np.asarray(image)`` gives them, encoded
    in one piece: ``np.asarray`` encodes 64 KiB pieces and joins them (another copy, and fresh memory: a 2x2 mosaic
    of 224 px views took five times as long). Falls back on ``np.asarray`` should Pillow's encoder change."""
    size = image.width * image.height * 3
    try:
        encoder = Image._getencoder("RGB", "raw", "RGB")
        encoder.setimage(image.im, (0, 0) + image.size)
        _, status, data = encoder.encode(size + 1)  # room for all of it: one piece, status 1 (done)
    except (AttributeError, TypeError, ValueError):  # pragma: no cover - a Pillow without this private API
        return np.asarray(image)
    if status != 1 or len(data) != size:  # pragma: no cover
        return np.asarray(image)
    return np.frombuffer(data, np.uint8).reshape(image.height, image.width, 3)


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
