"""Drawing helpers shared by the task families: palette, shapes, fonts, text, noise, placement.

Everything here is deterministic given its arguments (randomness comes in as a ``random.Random``),
so a family that draws only through these helpers renders identically across processes.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "COLORS",
    "COLOR_NAMES",
    "SHAPES",
    "Box",
    "add_noise",
    "blank",
    "draw_shape",
    "draw_text",
    "font",
    "jitter_color",
    "place_circles",
    "shape_bbox",
    "stamp_text",
    "text_extent",
]

Box = tuple[int, int, int, int]
RGB = tuple[int, int, int]

# Named colours that a person (and a model) tells apart at a glance.
COLORS: dict[str, RGB] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 210, 30),
    "purple": (140, 60, 190),
    "orange": (245, 140, 20),
    "cyan": (30, 200, 210),
    "brown": (130, 80, 40),
    "gray": (128, 128, 128),
    "pink": (245, 130, 190),
}
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "star", "hexagon")


def blank(size: tuple[int, int], color: RGB = (255, 255, 255)) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A new RGB canvas of ``size = (width, height)`` and a drawing context on it."""
    image = Image.new("RGB", size, color)
    return image, ImageDraw.Draw(image)


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled scalable font at ``size`` pixels (cached: loading costs ~1 ms)."""
    return ImageFont.load_default(size=max(1, int(size)))


def draw_text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    fill: RGB = (0, 0, 0),
    anchor: str = "mm",
) -> None:
    """Draw ``text`` at ``xy``; ``anchor`` as in Pillow ("mm" = centred, "la" = left/top)."""
    draw.text(xy, text, font=font(size), fill=fill, anchor=anchor)


def _polygon(
    cx: float, cy: float, r: float, n: int, rotation: float, inner: float | None = None
) -> list[tuple[float, float]]:
    return [(cx + r * scale * cos, cy + r * scale * sin) for scale, cos, sin in _unit_polygon(n, rotation, inner)]


@functools.lru_cache(maxsize=1024)
def _unit_polygon(n: int, rotation: float, inner: float | None) -> tuple[tuple[float, float, float], ...]:
    """``(radius scale, cos, sin)`` of each vertex (cached: scenes reuse a few whole-degree rotations)."""
    steps = n * 2 if inner else n
    vertices = []
    for i in range(steps):
        angle = rotation + 2 * math.pi * i / steps - math.pi / 2
        vertices.append((1.0 if (inner is None or i % 2 == 0) else inner, math.cos(angle), math.sin(angle)))
    return tuple(vertices)


def _edge_distance(points: Sequence[tuple[float, float]]) -> float:
    """Distance from the origin to the line through the first two ``points``."""
    (x1, y1), (x2, y2) = points[0], points[1]
    return abs(x1 * y2 - x2 * y1) / math.hypot(x2 - x1, y2 - y1)


# Distance from the centre to every edge of each polygonal shape at radius 1 (edge-transitive shapes).
_EDGE_DISTANCE = {
    "square": math.cos(math.pi / 4),
    "triangle": math.cos(math.pi / 3),
    "hexagon": math.cos(math.pi / 6),
    "star": _edge_distance(_polygon(0.0, 0.0, 1.0, 5, 0.0, inner=0.45)),
    "diamond": _edge_distance([(0.0, -1.0), (0.7, 0.0)]),
}


def draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    center: tuple[float, float],
    radius: float,
    color: RGB,
    outline: RGB | None = None,
    rotation: float = 0.0,
) -> None:
    """Draw a filled ``shape`` (one of :data:`SHAPES`) inscribed in a circle of ``radius`` at ``center``.

    ``rotation`` is in radians; circles ignore it.
    """
    cx, cy = center
    width = max(1, int(radius / 8)) if outline else 0
    if shape == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=color, outline=outline, width=width)
        return
    if shape == "square":
        points = _polygon(cx, cy, radius, 4, rotation + math.pi / 4)
    elif shape == "triangle":
        points = _polygon(cx, cy, radius, 3, rotation)
    elif shape == "diamond":
        points = [(cx, cy - radius), (cx + radius * 0.7, cy), (cx, cy + radius), (cx - radius * 0.7, cy)]
        if rotation:
            points = _rotate(points, center, rotation)
    elif shape == "star":
        points = _polygon(cx, cy, radius, 5, rotation, inner=0.45)
    elif shape == "hexagon":
        points = _polygon(cx, cy, radius, 6, rotation)
    else:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    if width <= 1:
        draw.polygon(points, fill=color, outline=outline, width=width)
        return
    # A wide outline as two fills: the shape in the outline colour, then the shape shrunk about its centre
    # by `width` pixels of edge distance. Every shape here has all its edges at one distance from the centre,
    # so the shrunk copy's edges lie exactly `width` inside. Pillow's own wide outline allocates an
    # image-sized mask per call (3x slower).
    shrink = 1.0 - width / (radius * _EDGE_DISTANCE[shape])
    draw.polygon(points, fill=outline)
    draw.polygon([(cx + (x - cx) * shrink, cy + (y - cy) * shrink) for x, y in points], fill=color)


def _rotate(
    points: Sequence[tuple[float, float]], center: tuple[float, float], angle: float
) -> list[tuple[float, float]]:
    cx, cy = center
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in points]


def shape_bbox(center: tuple[float, float], radius: float, size: tuple[int, int]) -> Box:
    """Integer pixel bbox ``(x0, y0, x1, y1)`` of a shape's enclosing circle, clipped to the image."""
    cx, cy = center
    w, h = size
    return (
        max(0, int(math.floor(cx - radius))),
        max(0, int(math.floor(cy - radius))),
        min(w - 1, int(math.ceil(cx + radius))),
        min(h - 1, int(math.ceil(cy + radius))),
    )


def jitter_color(rng: random.Random, color: RGB, amount: int) -> RGB:
    """``color`` with each channel moved by up to ``amount`` (keeps a named colour recognisable)."""
    # This runs for every object of every scene, so it is unrolled and inlines fast_random.below():
    # each channel moves by rng.randint(-amount, amount), drawn exactly as the standard method draws it.
    getrandbits = rng.getrandbits
    width = 2 * amount + 1
    bits = width.bit_length()
    red_step = getrandbits(bits)
    while red_step >= width:
        red_step = getrandbits(bits)
    green_step = getrandbits(bits)
    while green_step >= width:
        green_step = getrandbits(bits)
    blue_step = getrandbits(bits)
    while blue_step >= width:
        blue_step = getrandbits(bits)
    red, green, blue = color
    return (
        min(255, max(0, red - amount + red_step)),
        min(255, max(0, green - amount + green_step)),
        min(255, max(0, blue - amount + blue_step)),
    )


def place_circles(
    rng: random.Random,
    radii: Sequence[float],
    size: tuple[int, int],
    margin: float = 2.0,
    allow_overlap: float = 0.0,
    max_tries: int = 200,
) -> list[tuple[float, float]] | None:
    """Centres for circles of ``radii`` inside ``size`` without overlaps, or None if they do not fit.

    ``allow_overlap`` in [0, 1) lets circles intrude that share of their radius into each other
    (occlusion at higher difficulty).
    """
    w, h = size
    centres: list[tuple[float, float]] = []
    for r in radii:
        for _ in range(max_tries):
            x = rng.uniform(r + margin, w - r - margin)
            y = rng.uniform(r + margin, h - r - margin)
            if all(
                math.hypot(x - px, y - py) >= (r + pr) * (1 - allow_overlap) + margin
                for (px, py), pr in zip(centres, radii)
            ):
                centres.append((x, y))
                break
        else:
            return None
    return centres


@functools.lru_cache(maxsize=8192)
def text_extent(text: str, size: int) -> tuple[int, int]:
    """Width and height in pixels of the ink of ``text`` at font ``size`` (cached)."""
    left, top, right, bottom = font(size).getbbox(text)
    return max(1, right - left), max(1, bottom - top)


@functools.lru_cache(maxsize=8192)
def _text_mask(text: str, size: int, angle: float = 0.0) -> Image.Image:
    # Shared between calls: never draw on the returned mask.
    if angle:
        return _text_mask(text, size).rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    left, top, _, _ = font(size).getbbox(text)
    mask = Image.new("L", text_extent(text, size))
    ImageDraw.Draw(mask).text((-left, -top), text, font=font(size), fill=255)
    return mask


def stamp_text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    size: int,
    fill: tuple[int, int, int],
    anchor: str = "mm",
    angle: float = 0.0,
) -> tuple[int, int, int, int]:
    """Draw ``text`` at font ``size`` from a cached text mask; returns the ink box ``(x0, y0, x1, y1)``.

    ``anchor`` places the ink box (not the font's line box) at ``xy``: its first letter is the
    horizontal side (``l``, ``m``, ``r``), its second the vertical side (``t``, ``m``, ``b``).
    ``angle`` rotates the text counter-clockwise, in degrees, before it is anchored (whole degrees
    keep the cache small).
    """
    mask = _text_mask(text, size, angle)
    width, height = mask.size
    x = round(xy[0] - {"l": 0.0, "m": width / 2, "r": width}[anchor[0]])
    y = round(xy[1] - {"t": 0.0, "m": height / 2, "b": height}[anchor[1]])
    draw.bitmap((x, y), mask, fill=fill)
    return x, y, x + width, y + height


# Shifts of the cached field give this many different noise patterns per image size.
_NOISE_SHIFT = 64
_NOISE_FIELD_SEED = 0x7E57


@functools.lru_cache(maxsize=16)
def _noise_field(amount: float, width: int, height: int) -> np.ndarray:
    generator = np.random.default_rng(_NOISE_FIELD_SEED)
    field = generator.normal(0.0, amount, (height + _NOISE_SHIFT, width + _NOISE_SHIFT, 3))
    return np.rint(field).astype(np.int16)


def add_noise(image: Image.Image, amount: float, rng: random.Random) -> Image.Image:
    """Add Gaussian pixel noise of standard deviation ``amount`` (0-255 scale); 0 returns ``image``.

    The noise is a window, at a shift drawn from ``rng``, of a fixed field cached per (amount, size):
    4096 distinct patterns per size, ~80 us at 224x224 instead of ~1.5 ms for fresh Gaussian samples.
    """
    if amount <= 0:
        return image
    width, height = image.size
    field = _noise_field(float(amount), width, height)
    dx, dy = rng.randrange(_NOISE_SHIFT), rng.randrange(_NOISE_SHIFT)
    pixels = np.asarray(image, dtype=np.int16) + field[dy : dy + height, dx : dx + width]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
