"""CLEVR-like 2D shape scenes shared by the counting, attributes, spatial, comparison, grounding and
odd-one-out families.

A scene is a list of :class:`SceneObject` (shape, colour name, size class, centre, radius, rotation,
drawn RGB) plus a background colour and a noise level. Families decide *what* objects a scene holds
(as :class:`Traits`), :func:`place_objects` decides *where* they go under a :class:`SceneLevel`
(object count, radius, allowed occlusion, rotation, colour jitter, noise), :func:`scene_dict` turns
the result into the JSON-serialisable ``TaskSpec.scene``, and :func:`render_scene` draws it.

The scene's object dicts always carry the keys ``"shape"``, ``"color"``, ``"size"``, ``"x"``, ``"y"``
and ``"bbox"`` (plus ``"id"``, ``"radius"``, ``"rotation"`` and ``"rgb"``), so a question can be
answered, or checked, from ``spec.scene`` alone::

    >>> import random
    >>> rng = random.Random(0)
    >>> level = SCENE_LEVELS[0]
    >>> objects = place_objects(rng, [Traits("circle", "red", "large"), Traits("star", "blue", "small")], (224, 224),
    level)
    >>> scene = scene_dict(objects, background=(255, 255, 255), noise=0.0)
    >>> sorted(scene["objects"][0])
    ['bbox', 'color', 'id', 'radius', 'rgb', 'rotation', 'shape', 'size', 'x', 'y']
    >>> len(matching(objects, {"color": "red"}))
    1
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, check_difficulty
from vista_envs.tasks.drawing import COLOR_NAMES, COLORS, SHAPES, Box, blank, draw_shape, font, jitter_color
from vista_envs.tasks.fast_random import below, choice, randint

__all__ = [
    "ANSWER_ALIASES",
    "ATTRIBUTES",
    "OUTLINE",
    "Query",
    "SCENE_LEVELS",
    "SIZES",
    "SceneConfig",
    "SceneFamily",
    "SceneLevel",
    "SceneObject",
    "Traits",
    "add_headroom_noise",
    "clearly_before",
    "describe",
    "draw_label",
    "fits",
    "matching",
    "near_miss",
    "object_radii",
    "place_objects",
    "random_traits",
    "render_scene",
    "sample_background",
    "sample_distractors",
    "scene_dict",
    "separated",
    "shape_extent",
    "unique_referents",
]

RGB = tuple[int, int, int]
Query = Mapping[str, str]

SIZES: tuple[str, ...] = ("small", "large")
_SHAPE_COUNT, _COLOR_COUNT, _SIZE_COUNT = len(SHAPES), len(COLOR_NAMES), len(SIZES)
# The values a query can name, per attribute.
ATTRIBUTES: dict[str, tuple[str, ...]] = {"shape": SHAPES, "color": COLOR_NAMES, "size": SIZES}
# (attribute, value) -> the attribute's other values, in order: what a near miss may change to.
_OTHER_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    (key, value): tuple(other for other in values if other != value)
    for key, values in ATTRIBUTES.items()
    for value in values
}
# Other accepted spellings of attribute values given as text answers.
ANSWER_ALIASES: dict[str, tuple[str, ...]] = {"gray": ("grey",), "large": ("big",), "small": ("little",)}
# A dark outline keeps touching objects of one colour apart, so they can still be counted.
OUTLINE: RGB = (40, 40, 40)
SMALL_TO_LARGE = 0.6
# A square turned far looks like a diamond, and a diamond like a square: both turn little.
ROTATION_LIMITS: dict[str, int] = {"square": 12, "diamond": 12}
# Radii never go below these (pixels), so a star still looks like a star in a 128x128 image.
MIN_LARGE_RADIUS, MIN_SMALL_RADIUS = 9.0, 5.5
_BORDER = 1.0
_TAU = 2 * math.pi
_PLACEMENT_TRIES = 150
_NOISE_PAD = 64
_NOISE_SEED = 20_240_607


@dataclass(frozen=True)
class SceneLevel:
    """How hard a shape scene is to read at one difficulty level.

    Attributes:
        objects: inclusive range of the number of objects.
        large_radius: radius of a large object as a share of the image's shorter side
            (small objects are 0.6 of that).
        overlap: how deep an object may reach into another one, as a share of the smaller one's
            radius. 0 keeps objects apart; at most 0.5, so a disc of half its radius around every
            object's centre stays in view and every object can still be seen and counted.
        max_rotation: largest rotation of a shape, in degrees either way (squares and diamonds: at most 12).
        color_jitter: largest change of each RGB channel away from the named palette colour.
        noise: standard deviation of the Gaussian pixel noise (0-255 scale).
        tinted_background: a light random tint instead of a white background.
    """

    objects: tuple[int, int]
    large_radius: float
    overlap: float = 0.0
    max_rotation: int = 0
    color_jitter: int = 0
    noise: float = 0.0
    tinted_background: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.objects[0] <= self.objects[1]:
            raise ValueError(f"objects must be a range (lo, hi) with 1 <= lo <= hi, got {self.objects}")
        if not 0.0 <= self.overlap <= 0.5:
            raise ValueError(f"overlap must be in [0, 0.5] so no object is hidden, got {self.overlap}")


# The default ladder: more and smaller objects, then rotation and jitter, then occlusion and noise.
SCENE_LEVELS: tuple[SceneLevel, ...] = (
    SceneLevel(objects=(3, 5), large_radius=0.10),
    SceneLevel(objects=(5, 7), large_radius=0.09),
    SceneLevel(objects=(7, 10), large_radius=0.08, max_rotation=15, color_jitter=10, tinted_background=True),
    SceneLevel(
        objects=(9, 12),
        large_radius=0.07,
        overlap=0.3,
        max_rotation=20,
        color_jitter=14,
        noise=6.0,
        tinted_background=True,
    ),
    SceneLevel(
        objects=(12, 15),
        large_radius=0.06,
        overlap=0.45,
        max_rotation=25,
        color_jitter=18,
        noise=10.0,
        tinted_background=True,
    ),
)


@dataclass(frozen=True)
class SceneConfig(FamilyConfig):
    """Knobs shared by the shape-scene families (each may add its own).

    Attributes:
        levels: the scene ladder, one :class:`SceneLevel` per difficulty 1..5.
    """

    levels: tuple[SceneLevel, ...] = SCENE_LEVELS


class SceneFamily(TaskFamily):
    """Base of the families that ask about a shape scene: ``config.levels`` sets the look, ``render`` draws
    ``spec.scene``."""

    config_cls = SceneConfig
    config: SceneConfig

    def level(self, difficulty: int) -> SceneLevel:
        """The scene level of ``difficulty`` (1..5)."""
        return self.config.levels[check_difficulty(difficulty) - 1]

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        return render_scene(spec.scene, size, rng)


class Traits(NamedTuple):
    """What an object is, before it is placed: a shape, a colour name and a size class."""

    shape: str
    color: str
    size: str


class SceneObject(NamedTuple):
    """One drawn shape. ``x``, ``y`` and ``radius`` are in pixels, ``rotation`` in degrees (clockwise).

    A NamedTuple rather than a frozen dataclass: scenes create thousands per second, and a tuple is built
    5x faster (``._replace`` makes a changed copy).
    """

    shape: str
    color: str
    size: str
    x: float
    y: float
    radius: float
    rotation: int
    rgb: RGB

    @property
    def traits(self) -> Traits:
        return Traits(self.shape, self.color, self.size)

    @property
    def bbox(self) -> Box:
        """The tight pixel box ``(x0, y0, x1, y1)`` of the drawn shape, as ``Image.getbbox`` gives it (x1, y1
        exclusive)."""
        x0, y0, x1, y1 = shape_extent(self.shape, self.x, self.y, self.radius, self.rotation)
        # Pillow's fill reaches the pixel that holds each extreme point (a test checks this on rendered pixels).
        return math.floor(x0), math.floor(y0), math.floor(x1) + 1, math.floor(y1) + 1

    def to_dict(self, index: int) -> dict[str, Any]:
        # Every object of every scene passes here, so the box is computed inline (as ``bbox`` computes it).
        shape, color, size, x, y, radius, rotation, rgb = self
        left, top, right, bottom = _unit_extent(shape, rotation)
        floor = math.floor
        return {
            "id": index,
            "shape": shape,
            "color": color,
            "size": size,
            "x": x,
            "y": y,
            "bbox": [
                floor(x + radius * left),
                floor(y + radius * top),
                floor(x + radius * right) + 1,
                floor(y + radius * bottom) + 1,
            ],
            "radius": radius,
            "rotation": rotation,
            "rgb": list(rgb),
        }


def shape_extent(shape: str, x: float, y: float, radius: float, rotation: int) -> tuple[float, float, float, float]:
    """The continuous extent ``(x0, y0, x1, y1)`` of a shape as :func:`drawing.draw_shape` draws it."""
    left, top, right, bottom = _unit_extent(shape, rotation)
    return x + radius * left, y + radius * top, x + radius * right, y + radius * bottom


@functools.lru_cache(maxsize=4096)
def _unit_extent(shape: str, rotation: int) -> tuple[float, float, float, float]:
    """Extent of ``shape`` at radius 1 around the origin; rotations are whole degrees, so this caches well.

    The vertices follow ``draw_shape``'s geometry; a test checks the boxes against rendered pixels.
    """
    if shape == "circle":
        return -1.0, -1.0, 1.0, 1.0
    angle = math.radians(rotation)
    if shape == "diamond":
        c, s = math.cos(angle), math.sin(angle)
        points = [(dx * c - dy * s, dx * s + dy * c) for dx, dy in ((0.0, -1.0), (0.7, 0.0), (0.0, 1.0), (-0.7, 0.0))]
    else:
        # A star's inner vertices lie inside its outer pentagon, so only the outer five matter.
        corners, phase = {"square": (4, math.pi / 4), "triangle": (3, 0.0), "star": (5, 0.0), "hexagon": (6, 0.0)}[
            shape
        ]
        start = angle + phase - math.pi / 2
        points = [
            (math.cos(start + 2 * math.pi * i / corners), math.sin(start + 2 * math.pi * i / corners))
            for i in range(corners)
        ]
    xs = [px for px, _ in points]
    ys = [py for _, py in points]
    return min(xs), min(ys), max(xs), max(ys)


def describe(query: Query, plural: bool = False) -> str:
    """The noun phrase for ``query``: ``{"size": "small", "color": "red", "shape": "circle"}`` -> "small red circle"."""
    words = [query[key] for key in ("size", "color") if key in query]
    noun = query.get("shape", "object")
    return " ".join([*words, noun + "s" if plural else noun])


def fits(item: Traits | SceneObject, query: Query) -> bool:
    """True when ``item`` has every attribute value that ``query`` names."""
    # A plain loop: this runs for every drawn object against every query (about 2x faster than all() over a generator).
    for key, value in query.items():
        if getattr(item, key) != value:
            return False
    return True


def _fits_any(item: Traits, queries: Sequence[Query]) -> bool:
    """True when ``item`` fits one of ``queries`` (:func:`fits` inlined: every sampled object is checked here)."""
    for query in queries:
        for key, value in query.items():
            if getattr(item, key) != value:
                break
        else:
            return True
    return False


def _narrows(query: Query, other: Query) -> bool:
    """True when every object that fits ``query`` also fits ``other`` (``query`` names all of ``other``'s values)."""
    for key, value in other.items():
        if query.get(key) != value:
            return False
    return True


def _narrows_any(query: Query, others: Sequence[Query]) -> bool:
    """True when ``query`` narrows one of ``others`` (a loop, for the same reason as :func:`fits`)."""
    for other in others:
        if _narrows(query, other):
            return True
    return False


def matching(objects: Iterable[SceneObject], query: Query) -> list[SceneObject]:
    """The objects that have every attribute value ``query`` names."""
    return [obj for obj in objects if fits(obj, query)]


def random_traits(rng: random.Random, fixed: Query | None = None, avoid: Sequence[Query] = ()) -> Traits:
    """Random traits with the attribute values in ``fixed``, matching none of the queries in ``avoid``."""
    fixed = fixed or {}
    shape, color, size = fixed.get("shape"), fixed.get("color"), fixed.get("size")
    for _ in range(1000):
        # below() draws what rng.choice would (every object of every scene passes here).
        traits = Traits(
            shape or SHAPES[below(rng, _SHAPE_COUNT)],
            color or COLOR_NAMES[below(rng, _COLOR_COUNT)],
            size or SIZES[below(rng, _SIZE_COUNT)],
        )
        if not _fits_any(traits, avoid):
            return traits
    raise ValueError(f"no traits with {dict(fixed)} avoid all of {list(avoid)}")


def near_miss(rng: random.Random, query: Query, avoid: Sequence[Query] = (), change: str | None = None) -> Traits:
    """Traits that share all but one of ``query``'s attribute values (``change``, or a random one) and match nothing in
    ``avoid``."""
    keys = sorted(query)
    for _ in range(100):
        key = change or choice(rng, keys)
        fixed = {**query, key: choice(rng, _OTHER_VALUES[key, query[key]])}
        if not _narrows_any(fixed, avoid):
            return random_traits(rng, fixed, avoid)
    raise ValueError(f"no near miss of {dict(query)} avoids all of {list(avoid)}")


def sample_distractors(rng: random.Random, count: int, avoid: Sequence[Query], near_share: float = 0.0) -> list[Traits]:
    """``count`` traits matching none of ``avoid``; each is, with probability ``near_share``, a near miss of one of
    them.

    Near misses (a "small red circle" beside the "large red circle" being asked about) are what make
    a referring expression take more than one look; single-attribute queries have none.
    """
    compound = [query for query in avoid if len(query) > 1]
    return [
        near_miss(rng, rng.choice(compound), avoid)
        if compound and rng.random() < near_share
        else random_traits(rng, avoid=avoid)
        for _ in range(count)
    ]


def unique_referents(
    rng: random.Random, descriptions: Sequence[Query], n_others: int, near_share: float = 0.0
) -> tuple[list[Traits], list[Traits]]:
    """Traits of one object per description, each the only object its description fits, and of ``n_others`` more.

    Returns ``(referents, others)``: ``referents[i]`` matches ``descriptions[i]`` and no other
    description; no object in ``others`` matches any description, so "the {description}" names
    exactly one object of the scene.
    """
    referents = [
        random_traits(rng, description, avoid=[other for other in descriptions if other is not description])
        for description in descriptions
    ]
    return referents, sample_distractors(rng, n_others, descriptions, near_share)


def object_radii(size: tuple[int, int], level: SceneLevel) -> tuple[float, float]:
    """Radii ``(small, large)`` in pixels of the objects of a ``size`` image at ``level``."""
    large = max(MIN_LARGE_RADIUS, level.large_radius * min(size))
    small = max(MIN_SMALL_RADIUS, SMALL_TO_LARGE * large)
    return round(small, 1), round(large, 1)


def place_objects(
    rng: random.Random, traits: Sequence[Traits], size: tuple[int, int], level: SceneLevel
) -> list[SceneObject]:
    """Place objects with ``traits`` (in drawing order) inside a ``size`` image, under ``level``'s rules.

    Every object lies entirely inside the image; objects are kept ``gap`` pixels apart unless
    ``level.overlap`` allows them to intrude into each other, in which case about half of them are
    put next to an earlier one on purpose so that occlusion really happens. If a crowded scene does
    not fit, the radii shrink by 5% and placement starts again.
    """
    # The innermost loop of every shape scene, written for speed: rng.uniform(a, b) is spelled out as
    # a + (b - a) * rng.random(), and rng.randint/choice go through fast_random (the same numbers, fewer calls);
    # and each placed disc keeps its squared distance limit to a small and to a large newcomer.
    width, height = size
    small, large = object_radii(size, level)
    gap = max(2.0, 0.01 * min(size))
    overlap = level.overlap
    uniform01 = rng.random
    for _ in range(30):
        placed: list[SceneObject] = []
        discs: list[tuple[float, float, float]] = []  # (x, y, radius) of each placed object
        # Newcomer radius -> (x, y, squared centre distance it must keep) of each placed object.
        limits: dict[float, list[tuple[float, float, float]]] = {small: [], large: []}
        for item in traits:
            r = large if item.size == "large" else small
            # Where the centre may go for the object to lie inside the image.
            low_x, high_x, low_y, high_y = _BORDER + r, width - _BORDER - r, _BORDER + r, height - _BORDER - r
            for _ in range(_PLACEMENT_TRIES):
                if overlap and discs and uniform01() < 0.5:
                    near_x, near_y, near_r = discs[below(rng, len(discs))]
                    distance = r + near_r + gap - (0.2 + (1.0 - 0.2) * uniform01()) * overlap * min(r, near_r)
                    angle = 0.0 + (_TAU - 0.0) * uniform01()
                    x, y = near_x + distance * math.cos(angle), near_y + distance * math.sin(angle)
                else:
                    x, y = low_x + (high_x - low_x) * uniform01(), low_y + (high_y - low_y) * uniform01()
                x, y = (
                    round(x * 10) / 10,
                    round(y * 10) / 10,
                )  # the scene's precision: 0.1 pixel (4x faster than round(x, 1))
                if low_x <= x <= high_x and low_y <= y <= high_y:
                    for other_x, other_y, need_squared in limits[r]:
                        dx, dy = x - other_x, y - other_y
                        if dx * dx + dy * dy < need_squared:
                            break
                    else:
                        break
            else:
                break
            limit = min(level.max_rotation, ROTATION_LIMITS.get(item.shape, level.max_rotation))
            rotation = randint(rng, -limit, limit) if limit else 0
            rgb = (
                jitter_color(rng, COLORS[item.color], level.color_jitter) if level.color_jitter else COLORS[item.color]
            )
            placed.append(SceneObject(item.shape, item.color, item.size, x, y, r, rotation, rgb))
            discs.append((x, y, r))
            for radius, checks in limits.items():
                # Two objects may intrude `overlap` of the smaller radius into each other, no further.
                need = radius + r + gap - overlap * min(radius, r)
                checks.append((x, y, need * need))
        if len(placed) == len(traits):
            return placed
        small, large = round(small * 0.95, 1), round(large * 0.95, 1)
    raise RuntimeError(f"could not place {len(traits)} objects in a {width}x{height} image")


def separated(a: SceneObject, b: SceneObject, axis: str) -> bool:
    """True when ``a`` lies entirely before ``b`` along ``axis`` ("x": left of it, "y": above it)."""
    if axis == "x":
        return a.x + a.radius <= b.x - b.radius
    return a.y + a.radius <= b.y - b.radius


def clearly_before(a: SceneObject, b: SceneObject, axis: str, margin: float) -> bool:
    """True when ``a``'s near edge, centre and far edge all come at least ``margin`` pixels before ``b``'s along
    ``axis``.

    So "a is further left than b" holds however a person judges it (by edge or by centre).
    """
    pa, pb = (a.x, b.x) if axis == "x" else (a.y, b.y)
    return all(
        qb - qa >= margin for qa, qb in ((pa - a.radius, pb - b.radius), (pa, pb), (pa + a.radius, pb + b.radius))
    )


def sample_background(rng: random.Random, level: SceneLevel) -> RGB:
    """White, or a light random tint when ``level.tinted_background``."""
    if not level.tinted_background:
        return (255, 255, 255)
    base = rng.randint(232, 250)
    return tuple(min(255, base + rng.randint(-6, 6)) for _ in range(3))  # type: ignore[return-value]


def scene_dict(
    objects: Sequence[SceneObject], *, background: Sequence[int], noise: float, **extra: Any
) -> dict[str, Any]:
    """The JSON-serialisable scene for ``TaskSpec.scene``: ``{"objects": [...], "background", "noise", **extra}``.

    Each object dict has ``id`` (its index, which is also its drawing order), ``shape``, ``color``,
    ``size``, ``x``, ``y``, ``bbox`` (tight, pixels, x1/y1 exclusive), ``radius``, ``rotation`` and
    ``rgb``. ``extra`` holds what the family needs on top (the query, labels, ...); it must be
    JSON-serialisable too. ``labels`` (a list of ``{"text", "x", "y", "size"}``) are drawn by
    :func:`render_scene`.
    """
    return {
        "objects": [obj.to_dict(i) for i, obj in enumerate(objects)],
        "background": list(background),
        "noise": noise,
        **extra,
    }


def _headroom(noise: float) -> int:
    return math.ceil(3 * noise)


def _squeeze(color: Sequence[int], headroom: int) -> RGB:
    red, green, blue = color
    if not headroom:
        return red, green, blue
    scale = (255 - 2 * headroom) / 255
    return headroom + round(red * scale), headroom + round(green * scale), headroom + round(blue * scale)


@functools.lru_cache(maxsize=16)
def _noise_tile(noise: float, width: int, height: int) -> Image.Image:
    headroom = _headroom(noise)
    values = np.random.default_rng(_NOISE_SEED).normal(0.0, noise, (height + _NOISE_PAD, width + _NOISE_PAD, 3))
    wrapped = np.clip(np.rint(values), -headroom, headroom).astype(np.int16) % 256
    return Image.fromarray(wrapped.astype(np.uint8))


def add_headroom_noise(image: Image.Image, noise: float, rng: random.Random) -> Image.Image:
    """Add Gaussian noise (std ``noise``, cut at 3 std) to an image whose values keep ``3 * noise`` away from 0 and 255.

    The noise is a cached tile shifted by a random offset and added modulo 256 (~10 us at 224x224,
    against ~1.5 ms for fresh numpy noise); :func:`render_scene` draws with colours squeezed into
    ``[3 * noise, 255 - 3 * noise]``, so the addition never wraps.
    """
    width, height = image.size
    dx, dy = rng.randrange(_NOISE_PAD + 1), rng.randrange(_NOISE_PAD + 1)
    tile = _noise_tile(noise, width, height).crop((dx, dy, dx + width, dy + height))
    return ImageChops.add_modulo(image, tile)


@functools.lru_cache(maxsize=512)
def _label_stamp(text: str, size: int) -> tuple[Image.Image, int, int]:
    face = font(size)
    left, top, right, bottom = face.getbbox(text, anchor="mm")
    mask = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(mask).text((-left, -top), text, font=face, fill=255, anchor="mm")
    return mask, left, top


def draw_label(image: Image.Image, xy: tuple[float, float], text: str, size: int, fill: RGB = (0, 0, 0)) -> None:
    """Draw ``text`` centred on ``xy`` from a cached glyph stamp (about 5x faster than ``ImageDraw.text``)."""
    mask, left, top = _label_stamp(text, size)
    image.paste(fill, (round(xy[0]) + left, round(xy[1]) + top), mask)


def render_scene(scene: Mapping[str, Any], size: tuple[int, int], rng: random.Random) -> Image.Image:
    """Draw a scene made by :func:`scene_dict` as an RGB image of ``size``: background, objects in order, labels,
    noise."""
    headroom = _headroom(scene["noise"])
    image, draw = blank(size, _squeeze(scene["background"], headroom))
    outline = _squeeze(OUTLINE, headroom)
    for obj in scene["objects"]:
        fill = _squeeze(obj["rgb"], headroom)
        draw_shape(
            draw,
            obj["shape"],
            (obj["x"], obj["y"]),
            obj["radius"],
            fill,
            outline=outline,
            rotation=math.radians(obj["rotation"]),
        )
    ink = _squeeze((0, 0, 0), headroom)
    for label in scene.get("labels", ()):
        draw_label(image, (label["x"], label["y"]), label["text"], label["size"], ink)
    if scene["noise"]:
        image = add_headroom_noise(image, scene["noise"], rng)
    return image
