"""Temporal order: frames of a short "video", shown shuffled in one montage; recover their order.

The multi-frame family. A scene changes over 3 to 5 frames through one monotone event, and the
frames are laid out in a grid in shuffled order, each headed by a letter (A, B, C, ... in reading
order). The question names the monotone change, so the order follows from the frames alone:

- *ball*: "The red ball only moves to the right." (or left, up, down; it may drift sideways)
- *bar*: "The blue bar only fills up."
- *glass*: "The glass is only being emptied."
- *appear*: "Objects are only added, never removed." One new object shows up in each frame.

Questions: "Put the frames in chronological order, earliest first." (``sequence`` of frame letters,
e.g. ``("C", "A", "B")``) or, for the *appear* event, "In which frame does the green triangle first
appear?" (``choice`` among the frame letters).
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image, ImageDraw

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, check_difficulty, register_family
from vista_envs.tasks.drawing import COLORS, add_noise, blank, draw_shape, stamp_text

Rect = tuple[float, float, float, float]  # (x0, y0, x1, y1) in frame units
Item = dict[str, Any]  # one drawn thing in a frame: a shape, a bar or a glass

_LETTERS = "ABCDEFGH"
_BACKGROUND = (232, 232, 232)
_FRAME_BORDER = (60, 60, 60)
_WATER = (90, 170, 235)
_GLASS = (90, 90, 90)
# Smallest change between consecutive frames, in pixels of the rendered frame: below this, two frames
# could look identical.
_MIN_CHANGE_PX = 3
# Smallest object radius in pixels, so that shapes stay recognisable in small frames.
_MIN_RADIUS_PX = 6
_MAX_RADIUS = 0.16  # as a share of the frame side; caps the rule above in tiny frames
# Hexagons are left out: in a small frame they are hard to tell from circles.
_SHAPES = ("circle", "square", "triangle", "diamond", "star")
_DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 1), "up": (1, -1)}  # (axis, sign) of the motion
_BALL_ORDER = {
    "right": "furthest left to furthest right",
    "left": "furthest right to furthest left",
    "down": "highest to lowest",
    "up": "lowest to highest",
}


@dataclass(frozen=True)
class TemporalOrderConfig(FamilyConfig):
    """Knobs of the temporal-order family.

    Attributes:
        first_appearance_share: probability that an *appear* event asks "in which frame does X first
            appear?" (a ``choice``) instead of the full order (a ``sequence``).
    """

    first_appearance_share: float = 0.4


@dataclass(frozen=True)
class _Level:
    frames: int
    min_change: float  # smallest monotone change between consecutive frames, as a share of the frame
    object_radius: float  # radius of moving/appearing objects, as a share of the frame side
    clutter: int  # static objects that are the same in every frame
    distractor: bool  # another object (or bar) that changes at random
    noise: float


_LEVELS: dict[int, _Level] = {
    1: _Level(frames=3, min_change=0.22, object_radius=0.10, clutter=0, distractor=False, noise=0.0),
    2: _Level(frames=4, min_change=0.15, object_radius=0.09, clutter=1, distractor=False, noise=0.0),
    3: _Level(frames=4, min_change=0.10, object_radius=0.08, clutter=2, distractor=False, noise=0.0),
    4: _Level(frames=5, min_change=0.07, object_radius=0.07, clutter=2, distractor=True, noise=0.0),
    5: _Level(frames=5, min_change=0.05, object_radius=0.06, clutter=3, distractor=True, noise=12.0),
}
_EVENTS = ("ball", "bar", "glass", "appear")


@dataclass(frozen=True)
class _Event:
    timeline: list[list[Item]]  # the items drawn in each frame, in time order
    statement: str  # the monotone change, as the question states it
    rationale: str  # how that change orders the frames; the order itself follows it
    first_seen: dict[tuple[str, str], int] = field(default_factory=dict)  # (shape, colour) -> time


@functools.lru_cache(maxsize=64)
def _layout(size: tuple[int, int], count: int) -> tuple[int, tuple[tuple[int, int, int, int], ...], int]:
    """Square frames for ``count`` tiles: (frame side, frame boxes in reading order, label font size)."""
    width, height = size
    font_px = max(9, min(width, height) // 16)
    strip, gap = font_px + 4, max(3, min(width, height) // 40)

    def frame_side(cols: int) -> int:
        return int(min(width / cols - gap, height / math.ceil(count / cols) - gap - strip))

    cols = max(range(1, count + 1), key=frame_side)
    side = frame_side(cols)
    tile_w, tile_h = width / cols, height / math.ceil(count / cols)
    boxes = []
    for index in range(count):
        row, col = divmod(index, cols)
        x0 = int(col * tile_w + (tile_w - side) / 2)
        y0 = int(row * tile_h + strip + (tile_h - strip - side) / 2)
        boxes.append((x0, y0, x0 + side, y0 + side))
    return side, tuple(boxes), font_px


def _monotone(rng: random.Random, count: int, low: float, high: float, gap: float) -> list[float]:
    """``count`` increasing values in [low, high], consecutive ones ``gap`` apart or more (evenly spread if they cannot
    be)."""
    gap = min(gap, (high - low) / (count - 1))
    slack = high - low - gap * (count - 1)
    base = sorted(rng.uniform(0, slack) for _ in range(count))
    return [round(low + b + i * gap, 4) for i, b in enumerate(base)]


def _spread(rng: random.Random, radii: list[float], avoid: list[Rect]) -> list[tuple[float, float]] | None:
    """Centres in the unit frame for circles of ``radii``, clear of each other and of the ``avoid`` rectangles."""
    margin = 0.03
    placed: list[tuple[float, float, float]] = []
    for r in radii:
        for _ in range(100):
            x, y = rng.uniform(r + margin, 1 - r - margin), rng.uniform(r + margin, 1 - r - margin)
            if all(math.hypot(x - px, y - py) >= r + pr + margin for px, py, pr in placed) and all(
                math.hypot(max(x0 - x, 0, x - x1), max(y0 - y, 0, y - y1)) >= r + margin for x0, y0, x1, y1 in avoid
            ):
                placed.append((x, y, r))
                break
        else:
            return None
    return [(round(x, 4), round(y, 4)) for x, y, _ in placed]


def _random_centre(rng: random.Random, radius: float, bottom: float) -> tuple[float, float]:
    """A random centre for a circle of ``radius`` inside the frame, above ``bottom`` where it fits (distractor
    motion)."""
    x = rng.uniform(radius, 1 - radius)
    y = rng.uniform(radius, max(radius, bottom - radius))
    return round(x, 4), round(y, 4)


def _shape_item(shape: str, color: str, center: tuple[float, float], radius: float) -> Item:
    """A scene item for a filled shape (centre and radius in frame units)."""
    return {"type": "shape", "shape": shape, "color": color, "center": list(center), "radius": round(radius, 4)}


@register_family
class TemporalOrder(TaskFamily):
    """Order the shuffled frames of a short event, or find the frame where an object first appears.

    Difficulty ladder:

    ====  ======  ===================  =====================================================================
    lvl   frames  smallest change      extras
    ====  ======  ===================  =====================================================================
    1     3       22% of the frame     big objects, plain scene
    2     4       15%                  one static clutter object
    3     4       10%                  two clutter objects, smaller objects
    4     5       7%                   distractor motion (a ball or bar that changes at random; not in the
                                       *appear* event), two clutter objects
    5     5       5%                   distractor motion, three clutter objects, pixel noise
    ====  ======  ===================  =====================================================================

    The smallest change never drops below 3 pixels of the rendered frame, and objects keep a radius of
    at least 6 pixels, as long as the frames are big enough: use images of 128 x 128 pixels or more
    (on smaller ones the frames are tiny and changes may become hard to see).

    Answer types: ``sequence`` (frame letters in chronological order) or ``choice`` (a frame letter,
    for "first appears" questions about the *appear* event; share ``first_appearance_share``).

    Example: "These frames from a short video are shown out of order. The red ball only moves to the
    right. Put the frames in chronological order, earliest first." -> ("C", "A", "B").

    The scene stores the ``event``, the ``order`` (frame letters, earliest first) and each ``frame``
    with its ``label``, ``time`` (0 = earliest), pixel ``box`` and drawn ``items`` in coordinates
    relative to the frame (0..1, y down): shapes (``center``, ``radius``), bars (``fill``) and glasses
    (``level``).
    """

    name = "temporal_order"
    description = "Put shuffled video frames of a monotone event in order, or find when an object appears."
    config_cls = TemporalOrderConfig
    config: TemporalOrderConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[check_difficulty(difficulty)]
        count = level.frames
        side, boxes, font_px = _layout(size, count)
        gap = max(level.min_change, _MIN_CHANGE_PX / side)
        level = replace(level, object_radius=min(_MAX_RADIUS, max(level.object_radius, _MIN_RADIUS_PX / side)))
        event = rng.choice(_EVENTS)
        colors = rng.sample(list(COLORS), len(COLORS))
        make_event = {"ball": self._ball, "bar": self._bar, "glass": self._glass, "appear": self._appear}[event]
        story = make_event(rng, level, count, gap, colors)

        times = list(range(count))
        while times == sorted(times):  # the frames are always shown out of order
            rng.shuffle(times)
        frames = [
            {"label": _LETTERS[position], "time": time, "box": list(boxes[position]), "items": story.timeline[time]}
            for position, time in enumerate(times)
        ]
        order = tuple(_LETTERS[times.index(time)] for time in range(count))
        letters = ", ".join(_LETTERS[:count])
        intro = f"These {count} frames ({letters}) from a short video are shown out of order. {story.statement}"
        scene = {"event": event, "order": list(order), "frames": frames, "font_px": font_px, "noise": level.noise}

        if event == "appear" and rng.random() < self.config.first_appearance_share:
            (shape, color), time = rng.choice([(obj, t) for obj, t in story.first_seen.items() if t > 0])
            answer = order[time]
            missing = ", ".join(order[:time])
            return TaskSpec(
                question=f"{intro} In which frame does the {color} {shape} first appear? Answer with the frame letter.",
                answer=answer,
                answer_type="choice",
                scene=scene,
                rationale=(
                    f"{story.rationale} {', '.join(order)}. "
                    f"The {color} {shape} is missing from {missing} and first shows in {answer}."
                ),
                choices=tuple(_LETTERS[:count]),
            )
        return TaskSpec(
            question=f"{intro} Put the frames in chronological order, earliest first.",
            answer=order,
            answer_type="sequence",
            scene=scene,
            rationale=f"{story.rationale} {', '.join(order)}.",
        )

    # Events: each builds what every frame shows, in time order; `gap` is the smallest change ----

    @staticmethod
    def _clutter(rng: random.Random, level: _Level, colors: list[str], keep_clear: list[Rect]) -> list[Item]:
        """Static objects (the same in every frame) outside the ``keep_clear`` rectangles; fewer if they do not fit."""
        radii = [level.object_radius * 0.9] * level.clutter
        centres = _spread(rng, radii, keep_clear) or []
        # Moving objects are circles, static ones are not.
        return [
            _shape_item(rng.choice(_SHAPES[1:]), colors[-1 - i], c, r) for i, (c, r) in enumerate(zip(centres, radii))
        ]

    def _ball(self, rng: random.Random, level: _Level, count: int, gap: float, colors: list[str]) -> _Event:
        direction = rng.choice(list(_DIRECTIONS))
        axis, sign = _DIRECTIONS[direction]
        r = level.object_radius
        along = _monotone(rng, count, r + 0.04, 1 - r - 0.04, gap)
        if sign < 0:
            along = along[::-1]
        lane = rng.uniform(0.3, 0.7)
        # The ball may drift across its direction of motion; only the named direction is monotone.
        across = [round(min(1 - r - 0.04, max(r + 0.04, lane + rng.uniform(-0.12, 0.12))), 4) for _ in range(count)]
        path = [(a, b) if axis == 0 else (b, a) for a, b in zip(along, across)]
        color = colors[0]
        # Clutter stays clear of the ball in every frame.
        clutter = self._clutter(rng, level, colors, [(x - r, y - r, x + r, y + r) for x, y in path])
        timeline = []
        for x, y in path:
            items = list(clutter)
            if level.distractor:
                items.append(_shape_item("circle", colors[1], _random_centre(rng, r, 1.0), r))
            items.append(_shape_item("circle", color, (x, y), r))
            timeline.append(items)
        statement = f"The {color} ball only moves {direction}"
        statement += f"; the {colors[1]} ball moves at random." if level.distractor else "."
        rationale = f"The {color} ball only moves {direction}, so the frames go from the ball {_BALL_ORDER[direction]}:"
        return _Event(timeline, statement, rationale)

    def _bar(self, rng: random.Random, level: _Level, count: int, gap: float, colors: list[str]) -> _Event:
        color = colors[0]
        bar_len = 0.8  # share of the frame width, so a change of `gap` of the frame is gap / bar_len of the bar
        fills = _monotone(rng, count, 0.05, 0.95, gap / bar_len)
        main = {"type": "bar", "color": color, "box": [0.1, 0.3, 0.9, 0.45]}
        other = {"type": "bar", "color": colors[1], "box": [0.1, 0.6, 0.9, 0.75]}
        clutter = self._clutter(rng, level, colors, [(0.1, 0.3, 0.9, 0.75)])
        timeline = []
        for fill in fills:
            items = list(clutter) + [{**main, "fill": fill}]
            if level.distractor:
                items.append({**other, "fill": round(rng.uniform(0.05, 0.95), 4)})
            timeline.append(items)
        statement = f"The {color} bar only fills up"
        statement += f"; the {colors[1]} bar changes at random." if level.distractor else "."
        return _Event(
            timeline,
            statement,
            f"The {color} bar only fills up, so the frames go from the emptiest to the fullest bar:",
        )

    def _glass(self, rng: random.Random, level: _Level, count: int, gap: float, colors: list[str]) -> _Event:
        glass_h = 0.6  # share of the frame height
        levels = _monotone(rng, count, 0.08, 0.95, gap / glass_h)[::-1]
        glass = {"type": "glass", "box": [0.3, 0.3, 0.7, 0.9]}
        r = level.object_radius
        # Clutter keeps clear of the glass and of the strip above it where the distractor ball moves.
        clutter = self._clutter(rng, level, colors, [(0.3, 0.3, 0.7, 0.9), (0.0, 0.0, 1.0, 0.3)])
        timeline = []
        for water in levels:
            items = list(clutter)
            if level.distractor:
                # A ball bouncing at random above the glass; drawn first so it never hides the water line.
                items.append(_shape_item("circle", colors[0], _random_centre(rng, r, 0.3), r))
            timeline.append(items + [{**glass, "level": water}])
        statement = "The glass is only being emptied"
        statement += f"; the {colors[0]} ball moves at random." if level.distractor else "."
        return _Event(
            timeline, statement, "The glass only empties, so the frames go from the fullest to the emptiest glass:"
        )

    def _appear(self, rng: random.Random, level: _Level, count: int, gap: float, colors: list[str]) -> _Event:
        # One object per frame: the change is always a whole object, so `gap` plays no part.
        initial = 1 + level.clutter  # objects already there in the first frame
        total = initial + count - 1
        r = level.object_radius
        while (centres := _spread(rng, [r] * total, [])) is None:
            r *= 0.9
        # Distinct colours, so every object is named by its colour and shape alone.
        objects = [(rng.choice(_SHAPES), color) for color in colors[:total]]
        first_seen = {obj: max(0, i - initial + 1) for i, obj in enumerate(objects)}
        items = [(first_seen[obj], _shape_item(obj[0], obj[1], centre, r)) for obj, centre in zip(objects, centres)]
        timeline = [[item for seen, item in items if seen <= time] for time in range(count)]
        counts = ", ".join(str(initial + t) for t in range(count))
        rationale = f"Objects are only added, so the frames go from the fewest to the most objects ({counts}):"
        return _Event(timeline, "Objects are only added, never removed.", rationale, first_seen)

    # Rendering ---------------------------------------------------------------------------------

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        image, draw = blank(size, _BACKGROUND)
        for frame in scene["frames"]:
            x0, y0, x1, y1 = frame["box"]
            draw.rectangle((x0 - 1, y0 - 1, x1, y1), fill=(255, 255, 255), outline=_FRAME_BORDER)
            stamp_text(draw, ((x0 + x1) / 2, y0 - 2), frame["label"], scene["font_px"], (0, 0, 0), anchor="mb")
            for item in frame["items"]:
                self._draw_item(draw, item, (x0, y0), x1 - x0)
        return add_noise(image, scene["noise"], rng)

    @staticmethod
    def _draw_item(draw: ImageDraw.ImageDraw, item: Item, origin: tuple[int, int], side: int) -> None:
        ox, oy = origin

        def px(u: float, v: float) -> tuple[float, float]:
            return ox + u * side, oy + v * side

        if item["type"] == "shape":
            draw_shape(draw, item["shape"], px(*item["center"]), item["radius"] * side, COLORS[item["color"]])
        elif item["type"] == "bar":
            (bx0, by0), (bx1, by1) = px(*item["box"][:2]), px(*item["box"][2:])
            draw.rectangle((bx0, by0, bx1, by1), outline=(0, 0, 0), width=1)
            if item["fill"] > 0:
                draw.rectangle(
                    (bx0 + 1, by0 + 1, bx0 + 1 + (bx1 - bx0 - 2) * item["fill"], by1 - 1), fill=COLORS[item["color"]]
                )
        else:
            (gx0, gy0), (gx1, gy1) = px(*item["box"][:2]), px(*item["box"][2:])
            inset = (gx1 - gx0) * 0.15  # the glass narrows towards its base
            water_y = gy1 - (gy1 - gy0) * item["level"]
            water_inset = inset * (water_y - gy0) / (gy1 - gy0)
            water = [(gx0 + water_inset, water_y), (gx1 - water_inset, water_y), (gx1 - inset, gy1), (gx0 + inset, gy1)]
            draw.polygon(water, fill=_WATER)
            draw.line([(gx0, gy0), (gx0 + inset, gy1), (gx1 - inset, gy1), (gx1, gy0)], fill=_GLASS, width=2)
