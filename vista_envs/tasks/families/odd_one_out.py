"""Odd one out: a labelled grid of identical shapes but one; which letter is different?

Answer type ``choice``: the odd item's letter ("A", "B", ...); ``spec.choices`` are the letters.
"""

from __future__ import annotations

import colorsys
import functools
import math
import random
import string
from dataclasses import dataclass

from PIL import Image

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, check_difficulty, register_family
from vista_envs.tasks.drawing import COLOR_NAMES, COLORS, SHAPES
from vista_envs.tasks.shape_scene import SceneObject, render_scene, scene_dict

# Turning a shape by its symmetry period leaves it unchanged (a circle by any angle).
SYMMETRY_PERIOD: dict[str, int] = {"square": 90, "triangle": 120, "diamond": 180, "star": 72, "hexagon": 60}
# An item's radius and its label's font size, as shares of its cell; labels are never below 9 px.
ITEM_RADIUS, LABEL_SIZE, MIN_LABEL_SIZE = 0.24, 0.17, 9
# Size and hue differences are at least this large whatever the image size.
MIN_RADIUS_CHANGE_PX = 2.5
MIN_DRAWN_RADIUS_PX = 1.5
MIN_RGB_DISTANCE = 40.0


@dataclass(frozen=True)
class OddOneOutConfig(FamilyConfig):
    """Knobs of the odd-one-out family, one entry per difficulty 1..5.

    Attributes:
        items: number of items in the grid.
        differences: the ways the odd item may differ ("shape", "color", "size", "rotation", "hue").
        size_ratio: the odd item's radius is this many times larger (or smaller) than the others'.
        rotation_change: how many degrees the odd item is turned away from the others.
        hue_shift: how far round the hue circle (a share of 360 degrees) the odd item's colour is moved.
        position_jitter: items are moved up to this share of a cell from its centre.
        noise: standard deviation of the Gaussian pixel noise.
    """

    items: tuple[int, ...] = (4, 6, 9, 12, 16)
    differences: tuple[tuple[str, ...], ...] = (
        ("shape", "color"),
        ("shape", "color"),
        ("color", "size", "rotation"),
        ("hue", "size", "rotation"),
        ("hue", "size", "rotation"),
    )
    size_ratio: tuple[float, ...] = (1.5, 1.45, 1.35, 1.22, 1.14)
    rotation_change: tuple[int, ...] = (45, 45, 35, 24, 16)
    hue_shift: tuple[float, ...] = (0.12, 0.12, 0.1, 0.08, 0.06)
    position_jitter: tuple[float, ...] = (0.0, 0.0, 0.0, 0.04, 0.06)
    noise: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 4.0)


@functools.lru_cache(maxsize=256)
def grid_shape(n_items: int, size: tuple[int, int]) -> tuple[int, int, float]:
    """``(columns, rows, cell side)`` of the square-celled grid that holds ``n_items`` with the largest cells."""
    width, height = size
    layouts = []
    for columns in range(1, n_items + 1):
        rows = math.ceil(n_items / columns)
        # Largest cell first, then fewest empty cells.
        layouts.append((min(width / columns, height / rows), -(columns * rows), columns, rows))
    cell, _, columns, rows = max(layouts)
    return columns, rows, cell


def shift_hue(rgb: tuple[int, int, int], shift: float) -> tuple[int, int, int]:
    """``rgb`` moved ``shift`` of the way round the hue circle, keeping its saturation and value."""
    hue, saturation, value = colorsys.rgb_to_hsv(*(c / 255 for c in rgb))
    return tuple(round(c * 255) for c in colorsys.hsv_to_rgb((hue + shift) % 1.0, saturation, value))  # type: ignore[return-value]


@functools.lru_cache(maxsize=64)
def _visible_hue_shifts(rgb: tuple[int, int, int], shift: float) -> tuple[tuple[int, int, int], ...]:
    """``rgb`` shifted by ``shift`` either way round the hue circle, where that moves it far enough to see."""
    candidates = (shift_hue(rgb, shift), shift_hue(rgb, -shift))
    return tuple(moved for moved in candidates if math.dist(moved, rgb) >= MIN_RGB_DISTANCE)


@register_family
class OddOneOut(TaskFamily):
    """Find the one item of a lettered grid that differs from all the others.

    All items share shape, colour, size and rotation except one, which differs in exactly one of them.
    Question: "Which item is the odd one out (A-I)? Answer with its letter."
    Answer: the odd item's letter (``choice``; ``spec.choices`` are the letters).

    Difficulty ladder (all numbers are :class:`OddOneOutConfig` defaults):

    1. 4 items; the odd one has another shape or another named colour.
    2. 6 items; the same kinds of difference.
    3. 9 items; another colour, a 35% size change, or a 35 degree turn.
    4. 12 items, slightly scattered in their cells; a hue shift of 29 degrees (same colour name),
       a 22% size change or a 24 degree turn.
    5. 16 items, more scatter, light noise; a hue shift of 22 degrees, 14% size or 16 degrees turn.

    Differences stay visible at any image size: a size change is at least 2.5 pixels of radius and a
    hue shift at least 40 apart in RGB; turns are only asked of shapes whose symmetry cannot hide them.

    Example: "Which item is the odd one out (A-F)? Answer with its letter." -> "D".
    """

    name = "odd_one_out"
    description = "Which item of a lettered grid differs from all the others?"
    config_cls = OddOneOutConfig
    config: OddOneOutConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = check_difficulty(difficulty) - 1
        config = self.config
        n_items = config.items[level]
        difference = rng.choice(config.differences[level])
        turn = config.rotation_change[level]
        if difference == "rotation":
            shape = rng.choice([name for name, period in SYMMETRY_PERIOD.items() if turn <= period / 2])
            rotation = rng.randrange(SYMMETRY_PERIOD[shape])
        else:
            shape, rotation = rng.choice(SHAPES), 0
        # A hue shift must be visible: colours it barely moves (gray, and brown at the smallest shift) sit it out.
        shifted = {name: _visible_hue_shifts(COLORS[name], config.hue_shift[level]) for name in COLOR_NAMES}
        color = rng.choice([name for name in COLOR_NAMES if shifted[name]] if difference == "hue" else COLOR_NAMES)
        # Each cell is an item area above a label band; the largest item (an odd one grown by
        # `size_ratio`, then moved by the jitter) must still fit in its area. Small images hold
        # fewer items, so that every item stays drawable.
        while True:
            columns, rows, cell = grid_shape(n_items, size)
            label_size = max(MIN_LABEL_SIZE, round(LABEL_SIZE * cell))
            item_height = cell - label_size - 2
            jitter = config.position_jitter[level] * cell
            largest = item_height / 2 - jitter - 1
            radius = round(
                min(ITEM_RADIUS * cell, largest / config.size_ratio[level], largest - MIN_RADIUS_CHANGE_PX), 1
            )
            if radius >= MIN_DRAWN_RADIUS_PX or n_items <= 3:
                break
            n_items -= 1
        odd_index = rng.randrange(n_items)

        base = SceneObject(shape, color, "large", 0.0, 0.0, radius, rotation, COLORS[color])
        if difference == "shape":
            odd = base._replace(shape=rng.choice([name for name in SHAPES if name != shape]))
        elif difference == "color":
            other = rng.choice([name for name in COLOR_NAMES if name != color])
            odd = base._replace(color=other, rgb=COLORS[other])
        elif difference == "size":
            ratio = config.size_ratio[level]
            # Shrink only when the smaller item stays drawable (tiny cells on small images grow instead).
            if rng.random() < 0.5 or radius - MIN_RADIUS_CHANGE_PX < MIN_DRAWN_RADIUS_PX:
                odd = base._replace(radius=round(max(radius * ratio, radius + MIN_RADIUS_CHANGE_PX), 1))
                base = base._replace(size="small")
            else:
                odd = base._replace(radius=round(min(radius / ratio, radius - MIN_RADIUS_CHANGE_PX), 1), size="small")
        elif difference == "rotation":
            odd = base._replace(rotation=rotation + rng.choice((-turn, turn)))
        else:
            odd = base._replace(rgb=rng.choice(shifted[color]))

        width, height = size
        left, top = (width - columns * cell) / 2, (height - rows * cell) / 2
        letters = string.ascii_uppercase[:n_items]
        objects, labels = [], []
        for index, letter in enumerate(letters):
            row, column = divmod(index, columns)
            cell_x, cell_y = left + column * cell, top + row * cell
            x = round(cell_x + cell / 2 + rng.uniform(-jitter, jitter), 1)
            y = round(cell_y + item_height / 2 + rng.uniform(-jitter, jitter), 1)
            item = odd if index == odd_index else base
            objects.append(SceneObject(item.shape, item.color, item.size, x, y, item.radius, item.rotation, item.rgb))
            label_y = round(cell_y + cell - label_size / 2 - 1, 1)
            labels.append({"text": letter, "x": round(cell_x + cell / 2, 1), "y": label_y, "size": label_size})

        answer = letters[odd_index]
        rationale = {
            "shape": f"Every item is a {base.shape} except {answer}, which is a {odd.shape}.",
            "color": f"Every item is {base.color} except {answer}, which is {odd.color}.",
            "size": f"All items are the same size except {answer}, which is "
            f"{'larger' if odd.radius > base.radius else 'smaller'}.",
            "rotation": f"All items are turned the same way except {answer}, which is rotated differently.",
            "hue": f"All items are the same shade of {color} except {answer}, whose shade is slightly different.",
        }[difference]
        return TaskSpec(
            question=f"Which item is the odd one out ({letters[0]}-{letters[-1]})? Answer with its letter.",
            answer=answer,
            answer_type="choice",
            scene=scene_dict(
                objects,
                background=(255, 255, 255) if level < 3 else (246, 244, 238),
                noise=config.noise[level],
                labels=labels,
                difference=difference,
            ),
            rationale=rationale,
            choices=tuple(letters),
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        return render_scene(spec.scene, size, rng)
