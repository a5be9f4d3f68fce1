"""Geometry measurement: lengths, angles, perimeters and areas read off a drawn figure.

Figures are built from exact quantities so every answer is exact:

- *segment* on a labelled unit grid: "How long is segment AB in grid units?" Endpoints are lattice
  points whose offset is axis-aligned or a Pythagorean triple (3-4-5, 5-12-13, 8-15-17 and
  multiples), so the length is an integer.
- *angle* between two rays drawn at exact directions: "What is the angle ABC in degrees?" At low
  difficulty the question states that the angle is a multiple of 45 or 15 degrees and the answer
  must be exact; at high difficulty angles are finer (multiples of 5, then any whole degree) and
  answers within ``GeometryConfig.fine_angle_tolerance`` degrees count (``TaskSpec.tolerance``).
- *perimeter* / *area* of a polygon shaded on the grid: rectangles, right triangles with
  Pythagorean legs, rectilinear polygons (a rectangle with cut-away corners and notches) and convex
  lattice polygons (shoelace formula; areas may end in .5).

Answer type: ``number``.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, check_difficulty, register_family
from vista_envs.tasks.drawing import add_noise, blank, draw_text, stamp_text, text_extent

Point = tuple[int, int]

# Primitive Pythagorean triples (a, b, c) with a^2 + b^2 = c^2.
_TRIPLES: tuple[tuple[int, int, int], ...] = ((3, 4, 5), (5, 12, 13), (8, 15, 17))
_GRID_LINE = (215, 215, 215)
_AXIS_LINE = (120, 120, 120)
_FIGURE = (40, 80, 220)
_FIGURE_FILL = (185, 205, 245)
_DISTRACTOR = (245, 140, 20)
_INK = (0, 0, 0)
# Rejection-sampling budget for placing distractors; a figure that runs out simply has fewer of them.
_MAX_PLACEMENT_TRIES = 300
# Share of diagonal (Pythagorean) segments where a level allows them; axis-aligned lengths are more numerous.
_DIAGONAL_SHARE = 0.7


@dataclass(frozen=True)
class GeometryConfig(FamilyConfig):
    """Knobs of the geometry family.

    Attributes:
        min_cell_px: smallest grid cell in pixels; the grid has fewer units on small images.
        fine_angle_tolerance: accepted error, in degrees, of angle answers at difficulty 4 and 5.
    """

    min_cell_px: int = 12
    fine_angle_tolerance: float = 5.0


@dataclass(frozen=True)
class _Level:
    kinds: tuple[str, ...]  # drawn uniformly; repeat a kind to weight it
    units: int  # grid units along the shorter side (before capping by the image size)
    triples: bool  # segments may be diagonal (Pythagorean triples)
    triple_multiples: bool  # ... and use triples other than 3-4-5, or multiples of it
    angle_step: int  # angles are multiples of this, in degrees
    ray_step: int  # the direction of ray BA is a multiple of this, in degrees
    distractors: int  # extra labelled segments / rays that the question does not ask about
    corner_cuts: int  # corners cut away from rectilinear polygons
    notch: bool  # rectilinear polygons also get a notch in one side
    noise: float


_LEVELS: dict[int, _Level] = {
    1: _Level(
        kinds=("segment", "angle"),
        units=6,
        triples=False,
        triple_multiples=False,
        angle_step=45,
        ray_step=45,
        distractors=0,
        corner_cuts=0,
        notch=False,
        noise=0.0,
    ),
    2: _Level(
        kinds=("segment", "angle", "rectangle"),
        units=8,
        triples=True,
        triple_multiples=False,
        angle_step=15,
        ray_step=90,
        distractors=0,
        corner_cuts=0,
        notch=False,
        noise=0.0,
    ),
    3: _Level(
        kinds=("segment", "angle", "right_triangle", "rectangle"),
        units=10,
        triples=True,
        triple_multiples=True,
        angle_step=15,
        ray_step=15,
        distractors=0,
        corner_cuts=0,
        notch=False,
        noise=0.0,
    ),
    4: _Level(
        kinds=("segment", "angle", "rectilinear", "lattice_polygon"),
        units=12,
        triples=True,
        triple_multiples=True,
        angle_step=5,
        ray_step=1,
        distractors=1,
        corner_cuts=1,
        notch=False,
        noise=0.0,
    ),
    5: _Level(
        kinds=("segment", "angle", "rectilinear", "lattice_polygon"),
        units=14,
        triples=True,
        triple_multiples=True,
        angle_step=1,
        ray_step=1,
        distractors=2,
        corner_cuts=2,
        notch=True,
        noise=10.0,
    ),
}


def polygon_area(points: list[Point]) -> float:
    """Area of a simple polygon by the shoelace formula."""
    twice = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))
    return abs(twice) / 2


def polygon_perimeter(points: list[Point]) -> float:
    """Sum of the side lengths of a polygon."""
    return sum(math.dist(a, b) for a, b in zip(points, points[1:] + points[:1]))


def _number(value: float) -> int | float:
    """``value`` as an int when it is whole (areas of lattice polygons are multiples of 0.5)."""
    return int(value) if float(value).is_integer() else float(value)


def _fmt(value: float) -> str:
    """``value`` as written in questions and rationales: "12", "12.5"."""
    return str(_number(value))


@dataclass(frozen=True)
class _GridLayout:
    """Pixel layout of a unit grid: lattice point (x, y) is drawn at ``origin + cell * (x, -y)``."""

    units_x: int
    units_y: int
    cell: int
    origin: tuple[int, int]  # pixel of the lattice point (0, 0), the bottom-left corner
    font_px: int
    label_step: int

    def pixel(self, point: tuple[float, float]) -> tuple[float, float]:
        return self.origin[0] + point[0] * self.cell, self.origin[1] - point[1] * self.cell

    @classmethod
    def from_scene(cls, grid: dict[str, Any]) -> _GridLayout:
        (units_x, units_y), origin = grid["units"], tuple(grid["origin"])
        return cls(units_x, units_y, grid["cell_px"], origin, grid["font_px"], grid["label_step"])

    def to_scene(self) -> dict[str, Any]:
        return {
            "units": [self.units_x, self.units_y],
            "cell_px": self.cell,
            "origin": list(self.origin),
            "font_px": self.font_px,
            "label_step": self.label_step,
        }


def _grid_layout(size: tuple[int, int], units: int, min_cell: int) -> _GridLayout:
    """The largest square-celled grid of about ``units`` units (along the shorter side) that fits ``size`` with its
    labels."""
    width, height = size
    font_px = max(8, min(12, min(size) // 20))
    label_w, label_h = text_extent("88", font_px)
    left, bottom, pad = label_w + 6, label_h + 6, 4
    room_x, room_y = width - left - pad, height - bottom - pad
    # Six units at least, so every figure kind fits (cells shrink below min_cell on tiny images).
    units = max(6, min(units, min(room_x, room_y) // min_cell))
    cell = min(room_x, room_y) // units
    units_x, units_y = room_x // cell, room_y // cell
    origin = (left + (room_x - units_x * cell) // 2, pad + units_y * cell + (room_y - units_y * cell) // 2)
    label_step = 1 if cell >= text_extent(str(max(units_x, units_y)), font_px)[0] + 3 else 2
    return _GridLayout(units_x, units_y, cell, origin, font_px, label_step)


@functools.lru_cache(maxsize=32)
def _grid_image(size: tuple[int, int], layout: _GridLayout) -> Image.Image:
    """The labelled grid alone; cached because its dozens of tick labels cost more than the figure."""
    image, draw = blank(size)
    x0, y0 = layout.origin
    x1, y1 = layout.pixel((layout.units_x, layout.units_y))
    for i in range(layout.units_x + 1):
        x = x0 + i * layout.cell
        draw.line((x, y0, x, y1), fill=_AXIS_LINE if i == 0 else _GRID_LINE, width=1)
        if i % layout.label_step == 0:
            draw_text(draw, (x, y0 + 3), str(i), layout.font_px, fill=_AXIS_LINE, anchor="mt")
    for j in range(layout.units_y + 1):
        y = y0 - j * layout.cell
        draw.line((x0, y, x1, y), fill=_AXIS_LINE if j == 0 else _GRID_LINE, width=1)
        if j % layout.label_step == 0:
            draw_text(draw, (x0 - 3, y), str(j), layout.font_px, fill=_AXIS_LINE, anchor="rm")
    return image


def _angle_between(a: float, b: float) -> float:
    """The smaller angle, in degrees, between directions ``a`` and ``b``."""
    return abs((a - b + 180) % 360 - 180)


def _segment_point_distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance from point ``p`` to the segment ``ab``."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    t = max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p[0] - ax - t * dx, p[1] - ay - t * dy)


def _end_label(end: Point, other: Point, offset: float) -> tuple[float, float]:
    """Where to write an endpoint's letter: just beyond ``end``, on the extension of the segment."""
    length = math.dist(end, other)
    return end[0] + (end[0] - other[0]) / length * offset, end[1] + (end[1] - other[1]) / length * offset


def _cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """z of the cross product (a - o) x (b - o): positive when o, a, b turn counter-clockwise."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def convex_hull(points: list[Point]) -> list[Point]:
    """Vertices of the convex hull in counter-clockwise order, collinear points dropped (monotone chain)."""
    pts = sorted(set(points))

    def half(seq: list[Point]) -> list[Point]:
        chain: list[Point] = []
        for p in seq:
            while len(chain) >= 2 and _cross(chain[-2], chain[-1], p) <= 0:
                chain.pop()
            chain.append(p)
        return chain

    lower, upper = half(pts), half(pts[::-1])
    return lower[:-1] + upper[:-1]


@register_family
class Geometry(TaskFamily):
    """Measure a segment, an angle, a perimeter or an area on a drawn figure; exact answers.

    Difficulty ladder (grid units are capped so cells keep ``min_cell_px`` pixels):

    ====  ==============================================================================================
    lvl   what is asked
    ====  ==============================================================================================
    1     axis-aligned segment on a 6-unit grid; or an angle that is a multiple of 45 degrees (stated),
          rays in multiples of 45 degrees
    2     segment axis-aligned or 3-4-5; angle a multiple of 15 (stated) with one ray horizontal or
          vertical; rectangle perimeter or area
    3     segments on any triple (5-12-13, 6-8-10, ...); angle a multiple of 15 in any orientation;
          right triangle perimeter or area (areas may end in .5); 10-unit grid
    4     one labelled distractor segment or ray; angle a multiple of 5 degrees, answers within 5
          degrees accepted; L-shaped polygon perimeter or area; convex lattice polygon area; 12 units
    5     two distractors; angles in whole degrees (within 5 accepted); polygons with two cut corners
          and a notch; pixel noise; 14 units
    ====  ==============================================================================================

    Answer type: ``number`` (``tolerance`` 0 except fine angles).

    Example: "On the grid, how long is segment AB in grid units?" -> 10 (A at (1, 2), B at (7, 10)).

    The scene stores ``kind`` and ``measure``, the ``grid`` layout (units, cell, origin pixel),
    figures in lattice coordinates (``segments``, ``polygon``) or, for angles, the vertex and rays
    in pixels with their directions in degrees (counter-clockwise from pointing right).
    """

    name = "geometry"
    description = "Measure a segment length, an angle, a perimeter or an area on a drawn figure."
    config_cls = GeometryConfig
    config: GeometryConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[check_difficulty(difficulty)]
        kind = rng.choice(level.kinds)
        if kind == "angle":
            return self._angle(rng, level, size)
        layout = _grid_layout(size, level.units, self.config.min_cell_px)
        if kind == "segment":
            return self._segment(rng, level, layout)
        return self._polygon(rng, level, layout, kind)

    # Segments ----------------------------------------------------------------------------------

    @staticmethod
    def _offset(rng: random.Random, level: _Level, span: int) -> Point:
        """A lattice offset (dx, dy) of integer length that fits in ``span`` units: one segment's direction."""
        if level.triples and rng.random() < _DIAGONAL_SHARE:
            triples = _TRIPLES if level.triple_multiples else _TRIPLES[:1]
            offsets = [
                (k * a, k * b) for a, b, _ in triples for k in range(1, span // b + 1 if level.triple_multiples else 2)
            ]
        else:
            offsets = [(n, 0) for n in range(2, span + 1)]
        dx, dy = rng.choice(offsets)
        if rng.random() < 0.5:
            dx, dy = dy, dx
        return dx * rng.choice((-1, 1)), dy * rng.choice((-1, 1))

    def _segment(self, rng: random.Random, level: _Level, layout: _GridLayout) -> TaskSpec:
        span = min(layout.units_x, layout.units_y) - 2  # endpoints stay one unit inside the grid
        letters = iter("ABCDEFGH")
        segments: list[dict[str, Any]] = []
        label_gap = 0.9  # label offset from its endpoint, in grid units
        for _ in range(_MAX_PLACEMENT_TRIES):
            if len(segments) == 1 + level.distractors:
                break
            dx, dy = self._offset(rng, level, span)
            x = rng.randint(1 + max(0, -dx), layout.units_x - 1 - max(0, dx))
            y = rng.randint(1 + max(0, -dy), layout.units_y - 1 - max(0, dy))
            a, b = (x, y), (x + dx, y + dy)
            labels = [_end_label(a, b, label_gap), _end_label(b, a, label_gap)]
            if self._collides(a, b, labels, segments, layout):
                continue
            segments.append({"label": next(letters) + next(letters), "points": [a, b], "label_points": labels})
        target = segments[0]
        (ax, ay), (bx, by) = target["points"]
        length = math.isqrt((bx - ax) ** 2 + (by - ay) ** 2)
        if ax == bx or ay == by:
            rationale = (
                f"A is at ({ax}, {ay}) and B at ({bx}, {by}); the segment is straight along the grid, so AB = {length}."
            )
        else:
            rationale = (
                f"A is at ({ax}, {ay}) and B at ({bx}, {by}), so AB = sqrt({abs(bx - ax)}^2 + {abs(by - ay)}^2)"
                f" = sqrt({length * length}) = {length}."
            )
        scene = {
            "kind": "segment",
            "measure": "length",
            "grid": layout.to_scene(),
            "segments": [
                {
                    "label": s["label"],
                    "points": [list(p) for p in s["points"]],
                    "label_points": [[round(x, 3), round(y, 3)] for x, y in s["label_points"]],
                }
                for s in segments
            ],
            "noise": level.noise,
        }
        return TaskSpec(
            question="On the grid, how long is segment AB in grid units?",
            answer=length,
            answer_type="number",
            scene=scene,
            rationale=rationale,
        )

    @staticmethod
    def _collides(
        a: Point, b: Point, labels: list[tuple[float, float]], segments: list[dict[str, Any]], layout: _GridLayout
    ) -> bool:
        """Whether segment ab or its labels would leave the grid, cross, touch or crowd the placed segments."""
        # Labels stay half a unit inside the grid, clear of the axis numbers.
        if not all(0.5 <= x <= layout.units_x - 0.5 and 0.5 <= y <= layout.units_y - 0.5 for x, y in labels):
            return True

        def orient(p: tuple[float, float], q: tuple[float, float], r: tuple[float, float]) -> int:
            value = _cross(p, q, r)
            return (value > 0) - (value < 0)

        for other in segments:
            c, d = other["points"]
            if orient(a, b, c) != orient(a, b, d) and orient(c, d, a) != orient(c, d, b):
                return True
            if any(_segment_point_distance(p, c, d) < 1.0 for p in (a, b, *labels)):
                return True
            if any(_segment_point_distance(q, a, b) < 1.0 for q in (c, d, *other["label_points"])):
                return True
            if any(math.dist(p, q) < 1.4 for p in labels for q in other["label_points"]):
                return True
        return False

    # Angles ------------------------------------------------------------------------------------

    def _angle(self, rng: random.Random, level: _Level, size: tuple[int, int]) -> TaskSpec:
        step = level.angle_step
        # Angles stay within 15 degrees of 0 and 180, so the rays (and their labels) stay apart.
        smallest = max(step, 15)
        angle = rng.randrange(smallest, 180 - smallest + 1, step)
        first = rng.randrange(0, 360, level.ray_step)
        directions = {"A": first, "C": (first + angle) % 360}
        # B is written just outside the vertex, opposite the middle of the marked angle.
        b_label = (first + angle / 2 + 180) % 360
        letters = iter("DE")
        while len(directions) < 2 + level.distractors:
            candidate = rng.randrange(360)
            # A distractor ray must be clearly apart from every other ray and from B's label.
            gaps = [_angle_between(candidate, d) for d in directions.values()]
            if min(gaps) >= 25 and _angle_between(candidate, b_label) >= 40:
                directions[next(letters)] = candidate

        width, height = size
        short = min(width, height)
        vertex = (width / 2, height / 2)
        rays = []
        for label, direction in directions.items():
            length = short * rng.uniform(0.30, 0.38)
            rad = math.radians(direction)
            end = (vertex[0] + length * math.cos(rad), vertex[1] - length * math.sin(rad))
            rays.append({"label": label, "direction_deg": direction, "end": [round(end[0], 2), round(end[1], 2)]})

        tolerance = 0.0
        if step >= 15:
            question = f"What is the angle ABC in degrees? (It is a multiple of {step} degrees.)"
        else:
            tolerance = self.config.fine_angle_tolerance
            question = f"What is the angle ABC in degrees? (Answers within {_fmt(tolerance)} degrees are accepted.)"
        rationale = (
            f"Ray BA points {directions['A']} degrees and ray BC {directions['C']} degrees counter-clockwise from the "
            f"right, so the angle between them is {_angle_between(directions['A'], directions['C'])} degrees."
        )
        scene = {
            "kind": "angle",
            "measure": "angle",
            "vertex": list(vertex),
            "rays": rays,
            "b_label_deg": b_label,
            "arc_px": round(short * 0.1, 2),
            "font_px": max(9, short // 16),
            "noise": level.noise,
        }
        return TaskSpec(
            question=question, answer=angle, answer_type="number", scene=scene, rationale=rationale, tolerance=tolerance
        )

    # Polygons ----------------------------------------------------------------------------------

    def _polygon(self, rng: random.Random, level: _Level, layout: _GridLayout, kind: str) -> TaskSpec:
        max_w, max_h = layout.units_x - 2, layout.units_y - 2
        if kind == "rectangle":
            w, h = rng.randint(2, max_w), rng.randint(2, max_h)
            shape = [(0, 0), (w, 0), (w, h), (0, h)]
            measures = ("perimeter", "area")
        elif kind == "right_triangle":
            shape, measures = self._right_triangle(rng, max_w, max_h)
        elif kind == "rectilinear":
            shape = self._rectilinear(rng, level.corner_cuts, max_w, max_h, notch=level.notch)
            measures = ("perimeter", "area")
        else:
            shape = self._lattice_polygon(rng, max_w, max_h)
            measures = ("area",)
        shape = self._random_symmetry(rng, shape)
        shape_w = max(x for x, _ in shape)
        shape_h = max(y for _, y in shape)
        if shape_w > max_w or shape_h > max_h:  # a symmetry swapped the axes of a non-square grid
            shape = [(y, x) for x, y in shape]
            shape_w, shape_h = shape_h, shape_w
        dx, dy = rng.randint(1, layout.units_x - 1 - shape_w), rng.randint(1, layout.units_y - 1 - shape_h)
        polygon = [(x + dx, y + dy) for x, y in shape]

        measure = rng.choice(measures)
        if measure == "area":
            value = _number(polygon_area(polygon))
            question = "What is the area of the shaded polygon, in square grid units?"
            rationale = self._area_rationale(kind, polygon, value)
        else:
            value = _number(polygon_perimeter(polygon))
            question = "What is the perimeter of the shaded polygon, in grid units?"
            sides = [_fmt(math.dist(a, b)) for a, b in zip(polygon, polygon[1:] + polygon[:1])]
            rationale = (
                f"Going around the polygon, the sides are {', '.join(sides)} units long; they add up to {_fmt(value)}."
            )
        scene = {
            "kind": kind,
            "measure": measure,
            "grid": layout.to_scene(),
            "polygon": [list(p) for p in polygon],
            "noise": level.noise,
        }
        return TaskSpec(question=question, answer=value, answer_type="number", scene=scene, rationale=rationale)

    @staticmethod
    def _right_triangle(rng: random.Random, max_w: int, max_h: int) -> tuple[list[Point], tuple[str, ...]]:
        if rng.random() < 0.5:
            legs = [(k * a, k * b) for a, b, _ in _TRIPLES for k in range(1, 4)]
            legs = [(a, b) for a, b in legs + [(b, a) for a, b in legs] if a <= max_w and b <= max_h]
            a, b = rng.choice(legs)
            return [(0, 0), (a, 0), (0, b)], ("perimeter", "area")
        a, b = rng.randint(2, max_w), rng.randint(2, max_h)
        return [(0, 0), (a, 0), (0, b)], ("area",)

    @staticmethod
    def _rectilinear(rng: random.Random, cuts: int, max_w: int, max_h: int, notch: bool) -> list[Point]:
        """A rectangle with ``cuts`` rectangular corners cut away (and a notch in its bottom side),
        counter-clockwise."""
        while True:
            w, h = rng.randint(4, max_w), rng.randint(4, max_h)
            corners = [(0, 0)] * 4  # cut (width, height) at bottom-left, bottom-right, top-right, top-left
            for index in rng.sample(range(4), cuts):
                corners[index] = (rng.randint(1, w // 2 - 1 if notch else w - 2), rng.randint(1, h - 2))
            (bl_w, bl_h), (br_w, br_h), (tr_w, tr_h), (tl_w, tl_h) = corners
            # Cuts sharing a side must leave part of it.
            if bl_w + br_w >= w or tr_w + tl_w >= w or bl_h + tl_h >= h or br_h + tr_h >= h:
                continue
            points: list[Point] = [(0, bl_h), (bl_w, bl_h), (bl_w, 0)] if bl_w else [(0, 0)]
            if notch:
                left, right = bl_w + 1, w - br_w - 1
                depth_room = h - 1 - max(tl_h, tr_h)
                if right - left < 1 or depth_room < 1:
                    continue
                x = rng.randint(left, right - 1)
                notch_w, depth = rng.randint(1, right - x), rng.randint(1, depth_room)
                points += [(x, 0), (x, depth), (x + notch_w, depth), (x + notch_w, 0)]
            points += [(w - br_w, 0), (w - br_w, br_h), (w, br_h)] if br_w else [(w, 0)]
            points += [(w, h - tr_h), (w - tr_w, h - tr_h), (w - tr_w, h)] if tr_w else [(w, h)]
            points += [(tl_w, h), (tl_w, h - tl_h), (0, h - tl_h)] if tl_w else [(0, h)]
            return points

    @staticmethod
    def _lattice_polygon(rng: random.Random, max_w: int, max_h: int) -> list[Point]:
        """A convex lattice polygon with 3 to 5 vertices, not a sliver: it fills at least 30% of its bounding box."""
        while True:
            count = rng.randint(3, 5)
            hull = convex_hull([(rng.randint(0, max_w), rng.randint(0, max_h)) for _ in range(count + 1)])
            if len(hull) < 3:
                continue
            box = (max(x for x, _ in hull) - min(x for x, _ in hull)) * (
                max(y for _, y in hull) - min(y for _, y in hull)
            )
            if polygon_area(hull) >= max(4.0, 0.3 * box):
                return hull

    @staticmethod
    def _random_symmetry(rng: random.Random, shape: list[Point]) -> list[Point]:
        """``shape`` under a random rotation/reflection of the square, moved back to the first quadrant."""
        swap, flip_x, flip_y = rng.random() < 0.5, rng.random() < 0.5, rng.random() < 0.5
        moved = [((y, x) if swap else (x, y)) for x, y in shape]
        moved = [(-x if flip_x else x, -y if flip_y else y) for x, y in moved]
        min_x, min_y = min(x for x, _ in moved), min(y for _, y in moved)
        return [(x - min_x, y - min_y) for x, y in moved]

    @staticmethod
    def _area_rationale(kind: str, polygon: list[Point], value: float) -> str:
        xs, ys = [x for x, _ in polygon], [y for _, y in polygon]
        box_w, box_h = max(xs) - min(xs), max(ys) - min(ys)
        if kind == "rectangle":
            return f"The rectangle is {box_w} by {box_h} units, so its area is {box_w} x {box_h} = {_fmt(value)}."
        if kind == "right_triangle":
            return (
                f"The right triangle has legs {box_w} and {box_h}, so its area is {box_w} x {box_h} / 2 = "
                f"{_fmt(value)}."
            )
        if kind == "rectilinear":
            return (
                f"The polygon fills a {box_w} by {box_h} box ({box_w * box_h} squares) except for the cut-away parts, "
                f"{_fmt(box_w * box_h - value)} squares, so its area is {_fmt(value)}."
            )
        corners = ", ".join(f"({x}, {y})" for x, y in polygon)
        return f"The vertices are {corners}; by the shoelace formula the area is {_fmt(value)}."

    # Rendering ---------------------------------------------------------------------------------

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        if scene["kind"] == "angle":
            image, draw = blank(size)
            self._draw_angle(draw, scene)
        else:
            layout = _GridLayout.from_scene(scene["grid"])
            image = _grid_image(size, layout).copy()
            draw = ImageDraw.Draw(image)
            if scene["kind"] == "segment":
                self._draw_segments(draw, layout, scene["segments"])
            else:
                points = [layout.pixel(p) for p in scene["polygon"]]
                draw.polygon(points, fill=_FIGURE_FILL, outline=_FIGURE, width=2)
        return add_noise(image, scene["noise"], rng)

    @staticmethod
    def _draw_segments(draw: ImageDraw.ImageDraw, layout: _GridLayout, segments: list[dict[str, Any]]) -> None:
        dot = max(2, layout.cell // 5)
        label_px = max(9, min(16, int(layout.cell * 0.9)))
        for index, segment in enumerate(segments):
            color = _FIGURE if index == 0 else _DISTRACTOR
            ends = [layout.pixel(p) for p in segment["points"]]
            draw.line(ends, fill=color, width=max(2, layout.cell // 6))
            for (x, y), letter, label_at in zip(ends, segment["label"], segment["label_points"]):
                draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=color)
                stamp_text(draw, layout.pixel(label_at), letter, label_px, _INK)

    @staticmethod
    def _draw_angle(draw: ImageDraw.ImageDraw, scene: dict[str, Any]) -> None:
        vx, vy = scene["vertex"]
        font_px = scene["font_px"]
        rays = {ray["label"]: ray for ray in scene["rays"]}
        for label, ray in rays.items():
            color = _DISTRACTOR if label in "DE" else _FIGURE
            ex, ey = ray["end"]
            draw.line((vx, vy, ex, ey), fill=color, width=2)
            length = math.hypot(ex - vx, ey - vy)
            ux, uy = (ex - vx) / length, (ey - vy) / length
            stamp_text(draw, (ex + ux * font_px * 0.8, ey + uy * font_px * 0.8), label, font_px, _INK)
        # The arc marks the angle ABC (the one below 180 degrees), from BA counter-clockwise to BC.
        a, c = rays["A"]["direction_deg"], rays["C"]["direction_deg"]
        r = scene["arc_px"]
        # Pillow measures arc angles clockwise (y points down), so counter-clockwise degrees are negated.
        draw.arc((vx - r, vy - r, vx + r, vy + r), start=-c, end=-a, fill=_INK, width=1)
        b_dir = math.radians(scene["b_label_deg"])
        offset = font_px * 0.9
        stamp_text(draw, (vx + math.cos(b_dir) * offset, vy - math.sin(b_dir) * offset), "B", font_px, _INK)
