"""The multi-view scene: a layout of tabletop objects and screens, its split, and building it in PyBullet.

A :class:`Layout` is pure data drawn from a seeded :class:`random.Random` (no simulator): movable objects
of :mod:`vista_envs.robot.objects` (look-alikes allowed: two red cubes are two objects, told apart only by
where they stand), thin dark *screens* that hide objects from some cameras, the robot's black pedestal
at the origin of the robot frame, and a low black bar between the robot and the objects that shows, in
most views, on which side the robot is.

Splits are disjoint by content, with the task library's content hash
(:func:`vista_envs.tasks.base.split_of`): a scene's split is decided by the colours and the shapes that
appear in it, so an eval or test scene never holds the same colours with the same shapes as a train scene.
A scene draws its palette among the palettes of its split (hashed once per process), so no scene is drawn
twice to land in its split.

Frames: the robot frame of the robot envs (metres; robot base at the origin, table top at ``z = 0``,
``+x`` from the robot across the table, ``+y`` to the robot's left).
"""

from __future__ import annotations

import collections
import functools
import itertools
import math
import random
from dataclasses import dataclass

from vista_envs.robot.objects import ObjectSpec, build_object
from vista_envs.robot.randomization import Randomization, texture_files
from vista_envs.robot.sim import PyBullet, Shape
from vista_envs.tasks.base import TaskSpec, split_of

__all__ = [
    "COLORS",
    "PEDESTAL_HEIGHT",
    "PEDESTAL_POINTS",
    "ROBOT_BAR_CENTER",
    "ROBOT_BAR_POINTS",
    "SCREEN_RGBA",
    "SHAPES",
    "Layout",
    "Placed",
    "SceneBuilder",
    "objects_split",
    "sample_layout",
]

# Gray is left out: the screens are dark gray and must never be mistaken for (or counted as) an object.
COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "brown", "pink")
SHAPES: tuple[str, ...] = ("cube", "sphere", "cylinder", "pyramid", "prism")
AREA_LOW = (0.29, -0.25)
AREA_HIGH = (0.73, 0.25)
SPACING = 0.02  # metres between footprints
SCREEN_HALF = (0.012, 0.055, 0.06)  # a thin upright panel: 11 cm wide, 12 cm tall
SCREEN_RGBA = (0.27, 0.29, 0.33, 1.0)
PEDESTAL_RADIUS, PEDESTAL_HEIGHT = 0.06, 0.10
PEDESTAL_RGBA = (0.08, 0.08, 0.09, 1.0)
# A low black bar on the robot's side of the objects' area: most cameras see it, so most views show where
# the robot is (the pedestal itself is often behind or beside a camera). Too low to hide anything.
ROBOT_BAR_HALF = (0.015, 0.36, 0.018)
ROBOT_BAR_CENTER = (0.25, 0.0, 0.018)
# Points inside the bar, looked up in the views' masks to tell whether a view shows it.
ROBOT_BAR_POINTS = tuple((ROBOT_BAR_CENTER[0], y, ROBOT_BAR_CENTER[2] * 1.5) for y in (-0.3, -0.15, 0.0, 0.15, 0.3))
# Points inside the pedestal, half way up: a view that shows any of them shows where the robot stands.
PEDESTAL_POINTS = tuple(
    (0.7 * PEDESTAL_RADIUS * dx, 0.7 * PEDESTAL_RADIUS * dy, PEDESTAL_HEIGHT / 2)
    for dx, dy in ((1, 0), (0, 1), (0, -1), (-1, 0), (0, 0))
)
_SPLIT_FAMILY = "vista_views"
_MAX_SPLIT_DRAWS = 100
_PLACEMENT_TRIES = 200
_MAX_LOOK_ALIKES = 3
_PLACEMENT_ATTEMPTS = 20


@dataclass(frozen=True)
class Placed:
    """An object of the layout: its look, where it stands (robot frame, metres) and its yaw (radians)."""

    spec: ObjectSpec
    x: float
    y: float
    yaw: float

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class Layout:
    """A scene's content: objects, screens ``(x, y, yaw)``, and the difficulty it was drawn for."""

    objects: tuple[Placed, ...]
    screens: tuple[tuple[float, float, float], ...]
    difficulty: int

    def split(self) -> str:
        """The split that owns this scene: decided by its set of objects (see :func:`objects_split`)."""
        return objects_split(tuple(o.spec for o in self.objects))

    def count(self, name: str) -> int:
        """How many objects look like ``name`` (same colour and shape)."""
        return self._counts.get(name, 0)

    @functools.cached_property
    def _counts(self) -> dict[str, int]:
        return dict(collections.Counter(o.name for o in self.objects))


_SPECS = {(color, shape): ObjectSpec(color, shape) for color in COLORS for shape in SHAPES}
# Per difficulty 1..5: how many colours and shapes a scene uses (few, so that colours repeat for counting and
# look-alikes occur for matching; at least 4 objects, so every one of them appears).
_PALETTE_SIZES = {1: (3, 3), 2: (4, 4), 3: (4, 3), 4: (3, 3), 5: (3, 3)}


def objects_split(specs: tuple[ObjectSpec, ...]) -> str:
    """The split of every scene holding these objects: decided by the set of colours and the set of shapes
    that appear in it (a fixed partition of the content-hash space, 80/10/10). A scene's split thus follows
    from its content, and an eval or test scene never holds the same set of objects as any train scene (nor
    even the same colours with the same shapes)."""
    return _palette_split(tuple(sorted({s.color for s in specs})), tuple(sorted({s.shape for s in specs})))


@functools.lru_cache(maxsize=None)
def _palette_split(colors: tuple[str, ...], shapes: tuple[str, ...]) -> str:
    content = {"colors": list(colors), "shapes": list(shapes)}
    return split_of(_SPLIT_FAMILY, TaskSpec("multi-view scene", len(colors), "number", content, ""))


@functools.lru_cache(maxsize=None)
def _palettes(split: str, n_colors: int, n_shapes: int) -> tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]:
    """Every (colours, shapes) palette of these sizes whose scenes belong to ``split``, hashed once per process:
    a scene lands in its split by drawing one of them, with no rejection sampling."""
    return tuple(
        (colors, shapes)
        for colors in itertools.combinations(COLORS, n_colors)
        for shapes in itertools.combinations(SHAPES, n_shapes)
        if _palette_split(tuple(sorted(colors)), tuple(sorted(shapes))) == split
    )


def _draw_specs(rng: random.Random, difficulty: int, extra: int, split: str) -> tuple[ObjectSpec, ...]:
    """``3 + difficulty + extra`` objects of ``split``: a palette of the split, every colour and every shape of it
    used at least once, at most :data:`_MAX_LOOK_ALIKES` objects of a look."""
    n = 3 + difficulty + extra
    colors, shapes = rng.choice(_palettes(split, *_PALETTE_SIZES[difficulty]))
    while True:
        color_list = [*colors, *(rng.choice(colors) for _ in range(n - len(colors)))]
        shape_list = [*shapes, *(rng.choice(shapes) for _ in range(n - len(shapes)))]
        rng.shuffle(color_list)
        rng.shuffle(shape_list)
        looks = list(zip(color_list, shape_list))
        if max(collections.Counter(looks).values()) <= _MAX_LOOK_ALIKES:
            return tuple(_SPECS[look] for look in looks)


def _place(rng: random.Random, specs: tuple[ObjectSpec, ...], difficulty: int, max_yaw: float) -> Layout | None:
    """Positions for the screens and ``specs`` by rejection sampling (footprints ``SPACING`` apart), or None."""
    taken: list[tuple[float, float, float]] = []  # footprints so far: x, y, radius

    def spot(radius: float) -> tuple[float, float] | None:
        # Plain Python: a layout's dozen footprints are too few for NumPy's per-call cost to pay off. The draws
        # are rng.uniform's own arithmetic (a + (b - a) * random()) and the squared gaps are worked out once per
        # footprint rather than once per try: the same numbers, a third of the time.
        random_ = rng.random
        x_low, x_high = AREA_LOW[0] + radius, AREA_HIGH[0] - radius
        y_low, y_high = AREA_LOW[1] + radius, AREA_HIGH[1] - radius
        gaps = [(tx, ty, (radius + tr + SPACING) ** 2) for tx, ty, tr in taken]
        for _ in range(_PLACEMENT_TRIES):
            x = x_low + (x_high - x_low) * random_()
            y = y_low + (y_high - y_low) * random_()
            for tx, ty, gap in gaps:
                if (x - tx) ** 2 + (y - ty) ** 2 < gap:
                    break
            else:
                taken.append((x, y, radius))
                return x, y
        return None

    screens = []
    screen_radius = math.hypot(SCREEN_HALF[0], SCREEN_HALF[1])
    for _ in range(min(3, 1 + (difficulty + 1) // 2)):
        point = spot(screen_radius)
        if point is None:
            return None
        screens.append((point[0], point[1], rng.uniform(-math.pi, math.pi)))
    objects = []
    for spec in specs:
        point = spot(spec.radius)
        if point is None:
            return None
        objects.append(Placed(spec, point[0], point[1], rng.uniform(-max_yaw, max_yaw)))
    return Layout(tuple(objects), tuple(screens), difficulty)


def sample_layout(rng: random.Random, difficulty: int, split: str, randomization: Randomization) -> Layout:
    """A layout of ``split``: objects drawn from a palette of the split, then placed. The ``distractors`` knob
    of ``randomization`` adds 0-3 objects to the 3 + ``difficulty`` of the level."""
    for _ in range(_MAX_SPLIT_DRAWS):
        specs = _draw_specs(rng, difficulty, randomization.n_distractors, split)
        for _ in range(_PLACEMENT_ATTEMPTS):
            layout = _place(rng, specs, difficulty, randomization.max_yaw())
            if layout is not None:
                return layout
    raise RuntimeError(f"no {split} layout placed in {_MAX_SPLIT_DRAWS} draws")  # pragma: no cover


_PARKED = (0.0, 0.0, -50.0)  # beyond every camera's far plane


class SceneBuilder:
    """Puts layouts into one simulator, reusing bodies across episodes.

    Creating PyBullet bodies (and resetting the world) costs far more than drawing them, so the builder
    keeps a pool of bodies per shape: an episode teleports and recolours the ones it needs and parks the
    rest far below the table, out of every view, and fully transparent, so that the renderer
    skips them (a scene costs what its visible bodies cost to draw). No table body is needed: nothing moves (no
    physics step runs), and the views draw the table as their background colour, as the robot envs do.
    """

    def __init__(self, sim: PyBullet):
        self.sim = sim
        self._pool: dict[str, list[int]] = {}
        self._textured: set[int] = set()
        self._parked: set[int] = set()
        self._texture_ids: dict[int, int] = {}
        self._rgba: dict[int, tuple[float, ...]] = {}  # each body's colour as last set
        self.pedestal = sim.create_body(
            [Shape("cylinder", (PEDESTAL_RADIUS, PEDESTAL_HEIGHT))], (0.0, 0.0, PEDESTAL_HEIGHT / 2), rgba=PEDESTAL_RGBA
        )
        self.robot_bar = sim.create_body([Shape("box", ROBOT_BAR_HALF)], ROBOT_BAR_CENTER, rgba=PEDESTAL_RGBA)

    def _bodies(self, kind: str, n: int) -> list[int]:
        pool = self._pool.setdefault(kind, [])
        while len(pool) < n:
            if kind == "screen":
                pool.append(self.sim.create_body([Shape("box", SCREEN_HALF)], _PARKED, rgba=SCREEN_RGBA))
            else:
                pool.append(build_object(self.sim, ObjectSpec("red", kind), *_PARKED[:2], 0.0, (1.0, 0.0, 0.0, 1.0)))
        return pool[:n]

    def build(self, layout: Layout, rng: random.Random, randomization: Randomization) -> tuple[list[int], list[int]]:
        """Show ``layout``: the objects' body ids (layout order) and the screens'. Object colours and
        textures follow ``randomization`` (drawn from ``rng``)."""
        sim = self.sim
        # Poses are set with the bare client call: PyBullet.set_pose also zeroes velocities, which nothing here
        # reads (no physics step ever runs in this world), at the cost of a second call per body.
        move = sim.client.resetBasePositionAndOrientation
        recolor, parked, textured = self._recolor, self._parked, self._textured
        object_rgba, texture_index = randomization.object_rgba, randomization.texture_index
        used: dict[str, int] = {}
        bodies = []
        for placed in layout.objects:
            spec = placed.spec
            shape = spec.shape
            n = used[shape] = used.get(shape, 0) + 1
            pool = self._pool.get(shape)
            body = pool[n - 1] if pool is not None and len(pool) >= n else self._bodies(shape, n)[-1]
            parked.discard(body)
            move(body, (placed.x, placed.y, spec.height / 2), _yaw_quaternion(placed.yaw))
            recolor(body, object_rgba(rng, spec.color))
            texture = texture_index(rng)
            if texture is not None:
                sim.set_texture(body, self._texture(texture))
                textured.add(body)
            elif body in textured:
                sim.set_texture(body, -1)  # PyBullet's "no texture"
                textured.discard(body)
            bodies.append(body)
        screens = self._bodies("screen", len(layout.screens))
        for body, (x, y, yaw) in zip(screens, layout.screens):
            move(body, (x, y, SCREEN_HALF[2]), _yaw_quaternion(yaw))
            recolor(body, SCREEN_RGBA)
            parked.discard(body)
        used["screen"] = len(screens)
        for kind, pool in self._pool.items():
            for body in pool[used.get(kind, 0) :]:
                if body not in parked:
                    move(body, _PARKED, (0.0, 0.0, 0.0, 1.0))
                    # Fully transparent: TinyRenderer skips the body instead of rasterising it off-screen.
                    recolor(body, (0.0, 0.0, 0.0, 0.0))
                    parked.add(body)
        return bodies, screens

    def _recolor(self, body: int, rgba: tuple[float, ...]) -> None:
        # Skipped when unchanged: without colour jitter most bodies keep their colour from one episode to the next.
        if self._rgba.get(body) != rgba:
            self.sim.set_color(body, rgba)
            self._rgba[body] = rgba

    def _texture(self, index: int) -> int:
        if index not in self._texture_ids:
            self._texture_ids[index] = self.sim.load_texture(texture_files()[index])
        return self._texture_ids[index]


def _yaw_quaternion(yaw: float) -> tuple[float, float, float, float]:
    return (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
