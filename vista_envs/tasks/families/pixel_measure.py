"""Pixel measurement: exact lengths, areas and distances in pixels of the image the agent sees.

Flat-coloured bars, rectangles and dots are drawn without anti-aliasing, so every measurement has one
exact value: how many pixels wide a bar is, how many pixels carry one exact RGB colour, how far apart
two dots' centres are. Eyeballing gets close at best; a few lines of numpy on ``image`` with the
``python`` tool get it exactly. Questions give the RGB value of the colour they name, so the pixels
to measure are well defined even beside look-alike shades.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, ToolStep, register_family
from vista_envs.tasks.drawing import COLORS, add_noise, blank

__all__ = ["PixelMeasure", "PixelMeasureConfig"]

Rect = list[int]  # [x0, y0, x1, y1], half-open: the shape covers x0 <= x < x1, y0 <= y < y1

# Target colours keep one channel at 60 or below, so the light, possibly noisy, background can never
# take on their exact value.
_TARGET_COLORS = ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "brown")


@dataclass(frozen=True)
class PixelMeasureConfig(FamilyConfig):
    """Knobs of the pixel-measurement family.

    Attributes:
        noise: standard deviation of the background's pixel noise at difficulty 5 (0-255 scale).
    """

    noise: float = 8.0


@dataclass(frozen=True)
class _Level:
    kinds: tuple[str, ...]
    shapes: tuple[int, int]  # inclusive range of the number of shapes besides the measured ones
    # The others' colours: 0 = other palette colours; n > 0 = a measured colour +- up to n per channel
    # (n < 70, the smallest channel gap between two target colours, so no shade equals another target).
    shade_jitter: int
    noisy: bool


_LEVELS: dict[int, _Level] = {
    1: _Level(("width", "height"), (0, 0), 0, False),
    2: _Level(("width", "height"), (1, 3), 0, False),
    3: _Level(("width", "height", "area", "distance"), (2, 4), 0, False),
    4: _Level(("area", "distance"), (3, 6), 40, False),
    5: _Level(("width", "height", "area", "distance"), (5, 8), 3, True),
}


def _rgb_text(rgb: list[int]) -> str:
    return f"RGB {rgb[0]}, {rgb[1]}, {rgb[2]}"


def _disjoint(box: Rect, placed: list[Rect], gap: int) -> bool:
    return all(
        box[2] + gap <= o[0] or o[2] + gap <= box[0] or box[3] + gap <= o[1] or o[3] + gap <= box[1] for o in placed
    )


def _place(rng: random.Random, size: tuple[int, int], w: int, h: int, placed: list[Rect], gap: int) -> Rect | None:
    """A box of ``w`` x ``h`` inside the image, ``gap`` pixels clear of every ``placed`` box, or None."""
    width, height = size
    if w + 2 * gap > width or h + 2 * gap > height:
        return None
    for _ in range(60):
        x0, y0 = rng.randint(gap, width - w - gap), rng.randint(gap, height - h - gap)
        box = [x0, y0, x0 + w, y0 + h]
        if _disjoint(box, placed, gap):
            return box
    return None


def _shade(rng: random.Random, rgb: tuple[int, ...], jitter: int) -> list[int]:
    """A colour within ``jitter`` of ``rgb`` in each channel, never ``rgb`` itself."""
    while True:
        shade = [min(255, max(0, c + rng.randint(-jitter, jitter))) for c in rgb]
        if tuple(shade) != tuple(rgb):
            return shade


def _measured_shapes(rng: random.Random, kind: str, size: tuple[int, int], color: str) -> list[dict[str, Any]] | None:
    """The shapes the question is about, placed on an empty image; None when they do not fit."""
    short = min(size)
    rgb = list(COLORS[color])
    if kind in ("width", "height"):
        length, thickness = (
            rng.randint(short // 8, short * 3 // 4),
            rng.randint(max(4, short // 28), max(6, short // 10)),
        )
        w, h = (length, thickness) if kind == "width" else (thickness, length)
        box = _place(rng, size, w, h, [], 2)
        return None if box is None else [{"kind": "rect", "color": color, "rgb": rgb, "box": box}]
    if kind == "area":
        shapes: list[dict[str, Any]] = []
        placed: list[Rect] = []
        for _ in range(rng.randint(2, 4)):
            box = _place(
                rng, size, rng.randint(short // 14, short // 4), rng.randint(short // 14, short // 4), placed, 3
            )
            if box is None:
                return None
            placed.append(box)
            shapes.append({"kind": "rect", "color": color, "rgb": rgb, "box": box})
        return shapes
    # distance: two dots of different colours, well apart
    second = rng.choice([c for c in _TARGET_COLORS if c != color])
    radius = max(2, short // 45)
    dots: list[dict[str, Any]] = []
    placed = []
    for name in (color, second):
        box = _place(rng, size, 2 * radius + 1, 2 * radius + 1, placed, radius + 2)
        if box is None:
            return None
        placed.append(box)
        dots.append({"kind": "dot", "color": name, "rgb": list(COLORS[name]), "box": box})
    centres = [_centre(d["box"]) for d in dots]
    return dots if math.dist(*centres) >= short / 6 else None


def _centre(box: Rect) -> tuple[float, float]:
    """The centre pixel of a dot's box (its box is 2r+1 pixels wide, so the centre is a whole pixel)."""
    return (box[0] + box[2] - 1) / 2, (box[1] + box[3] - 1) / 2


@register_family
class PixelMeasure(TaskFamily):
    """Measure bars, coloured areas or dot distances in pixels.

    Rectangles are axis-aligned with whole-pixel edges; a dot is a disc whose centre is a whole pixel.
    Every measured shape has a colour that nothing else in the image shares, and measured shapes never
    touch or overlap other shapes.

    Difficulty ladder:

    1. One bar on a plain background: "How many pixels wide (or tall) is the red bar (RGB 220, 40, 40)?"
    2. The bar among 1-3 rectangles or dots of other colours.
    3. Also: how many pixels are exactly a given colour (2-4 rectangles of it); the distance between
       the centres of two dots (rounded to a whole pixel); 2-4 other shapes.
    4. Area or distance; 3-6 other shapes in shades close to the target colour (each channel +-40).
    5. Any question; 5-8 other shapes in shades nearly identical to the target's (+-3 per channel,
       invisible to the eye), on a noisy background.

    Answer type ``number``: exact for widths, heights and areas; a distance is the rounded Euclidean
    distance with tolerance 0.5, so the unrounded value is accepted too (it is never exactly x.5).

    Example: "How many pixels tall is the blue bar (RGB 40, 80, 220)?" -> ``87``
    """

    name = "pixel_measure"
    description = "Measure a bar's length, a colour's area or a distance between dots, in pixels."
    config_cls = PixelMeasureConfig
    tools_help = True

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: PixelMeasureConfig = self.config  # type: ignore[assignment]
        kind = rng.choice(level.kinds)
        color = rng.choice(_TARGET_COLORS)
        measured = None
        while measured is None:
            measured = _measured_shapes(rng, kind, size, color)
        shapes = list(measured)
        placed = [s["box"] for s in shapes]
        used = {s["color"] for s in shapes}
        short = min(size)
        for _ in range(rng.randint(*level.shapes)):
            if level.shade_jitter:
                rgb, name = _shade(rng, COLORS[rng.choice(measured)["color"]], level.shade_jitter), None
            else:
                name = rng.choice([c for c in COLORS if c not in used])
                rgb = list(COLORS[name])
            if rng.random() < 0.5:
                radius = rng.randint(max(2, short // 45), max(3, short // 14))
                w = h = 2 * radius + 1
                shape_kind = "dot"
            else:
                w, h = rng.randint(short // 12, short // 3), rng.randint(short // 20, short // 6)
                shape_kind = "rect"
            box = _place(rng, size, w, h, placed, 3)
            if box is not None:
                placed.append(box)
                shapes.append({"kind": shape_kind, "color": name, "rgb": rgb, "box": box})
        rng.shuffle(shapes)
        scene: dict[str, Any] = {
            "shapes": shapes,
            "query": {"kind": kind, "colors": [s["color"] for s in measured[: 2 if kind == "distance" else 1]]},
            "background": [rng.randint(215, 245) for _ in range(3)],
            "noise": config.noise if level.noisy else 0.0,
        }
        question, answer, rationale = _pose(kind, measured)
        return TaskSpec(
            question=question,
            answer=answer,
            answer_type="number",
            scene=scene,
            rationale=rationale,
            tolerance=0.5 if kind == "distance" else 0.0,
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        image, _ = blank(size, tuple(scene["background"]))
        # Noise only on the background: shapes keep their exact colours.
        image = add_noise(image, scene["noise"], rng)
        draw = ImageDraw.Draw(image)
        for shape in scene["shapes"]:
            x0, y0, x1, y1 = shape["box"]
            fill = tuple(shape["rgb"])
            if shape["kind"] == "rect":
                draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=fill)
            else:
                draw.ellipse((x0, y0, x1 - 1, y1 - 1), fill=fill)
        return image

    def tool_plan(self, spec: TaskSpec) -> list[ToolStep]:
        query = spec.scene["query"]
        kind = query["kind"]
        rgbs = [tuple(COLORS[c]) for c in query["colors"]]
        if kind in ("width", "height"):
            axis = 0 if kind == "width" else 1  # columns that hold the colour (width) or rows (height)
            code = (
                f"mask = np.all(image == {rgbs[0]}, axis=-1)\n"
                f"extent = np.flatnonzero(mask.any(axis={axis}))\n"
                "print(extent[-1] - extent[0] + 1)"
            )
            thought = f"I measure the {query['colors'][0]} bar exactly: the span of the pixels of colour {rgbs[0]}."
        elif kind == "area":
            code = f"print(int(np.all(image == {rgbs[0]}, axis=-1).sum()))"
            thought = f"I count the pixels of exactly colour {rgbs[0]} with numpy."
        else:
            code = (
                "def centre(rgb):\n"
                "    ys, xs = np.nonzero(np.all(image == rgb, axis=-1))\n"
                "    return xs.mean(), ys.mean()\n"
                f"(ax, ay), (bx, by) = centre({rgbs[0]}), centre({rgbs[1]})\n"
                "print(round(float(np.hypot(ax - bx, ay - by)), 2))"
            )
            first, second = query["colors"]
            thought = (
                f"I find the centres of the {first} and {second} dots as the mean of their pixels, then their distance."
            )
        return [ToolStep(thought, ({"name": "python", "arguments": {"code": "import numpy as np\n" + code}},))]


def _pose(kind: str, measured: list[dict[str, Any]]) -> tuple[str, int, str]:
    """Question, answer and rationale for the ``measured`` shapes."""
    first = measured[0]
    name, rgb = first["color"], first["rgb"]
    x0, y0, x1, y1 = first["box"]
    if kind == "width":
        return (
            f"How many pixels wide is the {name} bar ({_rgb_text(rgb)})?",
            x1 - x0,
            f"The {name} bar spans columns {x0} to {x1 - 1}, so it is {x1 - x0} pixels wide.",
        )
    if kind == "height":
        return (
            f"How many pixels tall is the {name} bar ({_rgb_text(rgb)})?",
            y1 - y0,
            f"The {name} bar spans rows {y0} to {y1 - 1}, so it is {y1 - y0} pixels tall.",
        )
    if kind == "area":
        sizes = [(s["box"][2] - s["box"][0], s["box"][3] - s["box"][1]) for s in measured]
        area = sum(w * h for w, h in sizes)
        parts = " + ".join(f"{w} x {h}" for w, h in sizes)
        return (
            f"How many pixels of the image have exactly the colour {_rgb_text(rgb)}?",
            area,
            f"The {len(sizes)} {name} rectangles cover {parts} = {area} pixels; no other pixel has that exact colour.",
        )
    second = measured[1]
    (ax, ay), (bx, by) = _centre(first["box"]), _centre(second["box"])
    distance = math.hypot(ax - bx, ay - by)
    answer = round(distance)  # never a tie: the square root of a whole number is whole or irrational
    return (
        f"What is the distance in pixels between the centre of the {name} dot ({_rgb_text(rgb)}) and the centre of the "
        f"{second['color']} dot ({_rgb_text(second['rgb'])}), rounded to the nearest whole pixel?",
        answer,
        f"The {name} dot is centred at ({ax:g}, {ay:g}) and the {second['color']} dot at ({bx:g}, {by:g}); "
        f"the distance is sqrt({abs(ax - bx):g}^2 + {abs(ay - by):g}^2) = {distance:.2f}, about {answer} pixels.",
    )
