"""Tabletop objects: named colours, shapes (movable objects, containers, flat zones), their geometry and builders.

Every object is named by its colour and shape ("red cube", "blue bowl", "green zone"); a scene never
holds two objects with the same name, so a name is an unambiguous reference in plans and instructions.

Seen and unseen attributes (CLIPort / VIMA-Bench style generalisation splits): train episodes use only
:data:`SEEN_COLORS` and :data:`SEEN_SHAPES`; every eval/test episode has at least one task object with an
unseen colour or shape, so no train episode can be an eval/test episode.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from vista_envs.robot.sim import RGBA, PyBullet, Shape
from vista_envs.tasks.drawing import COLORS

__all__ = [
    "CONTAINER_SHAPES",
    "ObjectSpec",
    "OBJECT_SHAPES",
    "SEEN_COLORS",
    "SEEN_SHAPES",
    "SHAPE_SYNONYMS",
    "UNSEEN_COLORS",
    "UNSEEN_SHAPES",
    "build_object",
    "rgba_of",
]

SEEN_COLORS: tuple[str, ...] = ("red", "green", "blue", "yellow", "cyan", "brown", "gray")
UNSEEN_COLORS: tuple[str, ...] = ("purple", "orange", "pink")
SEEN_SHAPES: tuple[str, ...] = ("cube", "sphere", "cylinder")
UNSEEN_SHAPES: tuple[str, ...] = ("pyramid", "prism")
OBJECT_SHAPES: tuple[str, ...] = SEEN_SHAPES + UNSEEN_SHAPES
CONTAINER_SHAPES: tuple[str, ...] = ("bowl", "tray")
ZONE = "zone"

# Words a person might use for a shape; plans and scene descriptions accept them.
SHAPE_SYNONYMS: dict[str, str] = {
    "block": "cube",
    "box": "cube",
    "ball": "sphere",
    "can": "cylinder",
    "wedge": "prism",
    "triangle": "prism",
    "dish": "bowl",
    "plate": "tray",
    "region": "zone",
    "area": "zone",
    "square": "zone",
    "pad": "zone",
}

CUBE_HALF = 0.025
SPHERE_RADIUS = 0.025
CYLINDER_RADIUS, CYLINDER_HEIGHT = 0.022, 0.06
PYRAMID_SIDE, PYRAMID_HEIGHT = 0.06, 0.05
PRISM_SIDE, PRISM_HEIGHT = 0.06, 0.045
BOWL_RADIUS, BOWL_WALL_HEIGHT, BOWL_SEGMENTS = 0.08, 0.035, 16
TRAY_HALF, TRAY_WALL_HEIGHT = 0.075, 0.025
WALL_THICKNESS, FLOOR_THICKNESS = 0.008, 0.006
ZONE_HALF = 0.06
OBJECT_MASS = 0.1
# Low enough that a cube pushed near its top slides rather than tips (tipping needs friction > half-width / height).
OBJECT_FRICTION = 0.3


@dataclass(frozen=True)
class ObjectSpec:
    """A tabletop object: its colour name (a key of ``COLORS``) and shape."""

    color: str
    shape: str

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise ValueError(f"unknown colour {self.color!r}; expected one of {tuple(COLORS)}")
        if self.shape not in OBJECT_SHAPES + CONTAINER_SHAPES + (ZONE,):
            raise ValueError(f"unknown shape {self.shape!r}")

    @property
    def name(self) -> str:
        return f"{self.color} {self.shape}"

    @property
    def kind(self) -> str:
        """``"object"`` (movable), ``"container"`` (static, holds objects) or ``"zone"`` (flat, visual only)."""
        if self.shape in CONTAINER_SHAPES:
            return "container"
        return "zone" if self.shape == ZONE else "object"

    @property
    def is_seen(self) -> bool:
        """True when both attributes belong to the train split's vocabulary."""
        shape_seen = self.shape in SEEN_SHAPES or self.kind != "object"
        return self.color in SEEN_COLORS and shape_seen

    @functools.cached_property
    def height(self) -> float:
        """Height in metres when resting on the table (walls included for containers; 0 for zones)."""
        return {
            "cube": 2 * CUBE_HALF,
            "sphere": 2 * SPHERE_RADIUS,
            "cylinder": CYLINDER_HEIGHT,
            "pyramid": PYRAMID_HEIGHT,
            "prism": PRISM_HEIGHT,
            "bowl": BOWL_WALL_HEIGHT,
            "tray": TRAY_WALL_HEIGHT,
            ZONE: 0.0,
        }[self.shape]

    @functools.cached_property
    def radius(self) -> float:
        """Radius of a circle that covers the footprint (for placing objects apart)."""
        return {
            "cube": CUBE_HALF * math.sqrt(2),
            "sphere": SPHERE_RADIUS,
            "cylinder": CYLINDER_RADIUS,
            "pyramid": PYRAMID_SIDE / math.sqrt(2),
            "prism": PRISM_SIDE / math.sqrt(3),
            "bowl": BOWL_RADIUS,
            "tray": TRAY_HALF * math.sqrt(2),
            ZONE: ZONE_HALF * math.sqrt(2),
        }[self.shape]

    @functools.cached_property
    def inner_half_width(self) -> float:
        """For containers and zones: half the width of the area an object must rest in (inscribed square)."""
        return {
            "bowl": (BOWL_RADIUS - WALL_THICKNESS) / math.sqrt(2),
            "tray": TRAY_HALF - WALL_THICKNESS,
            ZONE: ZONE_HALF,
        }.get(self.shape, 0.0)

    @property
    def floor_height(self) -> float:
        """Height of the surface an object placed in/on this rests on (container floor, zone: the table)."""
        return FLOOR_THICKNESS if self.kind == "container" else self.height


def rgba_of(color: str, alpha: float = 1.0) -> RGBA:
    """The palette colour ``color`` as PyBullet's RGBA in [0, 1]."""
    r, g, b = COLORS[color]
    return (r / 255.0, g / 255.0, b / 255.0, alpha)


def _prism_mesh() -> Shape:
    """An upright triangular prism centred on its centre of mass."""
    half = PRISM_HEIGHT / 2
    corners = [
        (PRISM_SIDE / math.sqrt(3) * math.cos(a), PRISM_SIDE / math.sqrt(3) * math.sin(a))
        for a in (0.0, 2 * math.pi / 3, 4 * math.pi / 3)
    ]
    vertices = tuple((x, y, z) for z in (-half, half) for x, y in corners)
    # Bottom, top, then two triangles per side, all wound counter-clockwise seen from outside.
    indices = (0, 2, 1, 3, 4, 5, 0, 1, 4, 0, 4, 3, 1, 2, 5, 1, 5, 4, 2, 0, 3, 2, 3, 5)
    return Shape("mesh", vertices=vertices, indices=indices)


def _pyramid_mesh() -> Shape:
    """A square pyramid centred on the middle of its bounding box."""
    half, top = PYRAMID_SIDE / 2, PYRAMID_HEIGHT / 2
    vertices = ((half, half, -top), (-half, half, -top), (-half, -half, -top), (half, -half, -top), (0.0, 0.0, top))
    # Base (two triangles, facing down), then the four sides, counter-clockwise seen from outside.
    indices = (0, 2, 1, 0, 3, 2, 0, 1, 4, 1, 2, 4, 2, 3, 4, 3, 0, 4)
    return Shape("mesh", vertices=vertices, indices=indices)


def _shapes(spec: ObjectSpec) -> list[Shape]:
    """The primitives of ``spec``, in a frame whose origin is the centre of a movable object, or the
    middle of the bottom face of a container or zone."""
    if spec.shape == "cube":
        return [Shape("box", (CUBE_HALF,) * 3)]
    if spec.shape == "sphere":
        return [Shape("sphere", (SPHERE_RADIUS,))]
    if spec.shape == "cylinder":
        return [Shape("cylinder", (CYLINDER_RADIUS, CYLINDER_HEIGHT))]
    if spec.shape == "pyramid":
        return [_pyramid_mesh()]
    if spec.shape == "prism":
        return [_prism_mesh()]
    if spec.shape == "bowl":
        floor = Shape("cylinder", (BOWL_RADIUS, FLOOR_THICKNESS), (0.0, 0.0, FLOOR_THICKNESS / 2))
        # A ring of wall panels; each a bit wider than its arc so that neighbours overlap.
        panel_half = BOWL_RADIUS * math.tan(math.pi / BOWL_SEGMENTS) + WALL_THICKNESS / 2
        walls = []
        for i in range(BOWL_SEGMENTS):
            angle = 2 * math.pi * i / BOWL_SEGMENTS
            centre = BOWL_RADIUS - WALL_THICKNESS / 2
            walls.append(
                Shape(
                    "box",
                    (WALL_THICKNESS / 2, panel_half, BOWL_WALL_HEIGHT / 2),
                    (centre * math.cos(angle), centre * math.sin(angle), BOWL_WALL_HEIGHT / 2),
                    (0.0, 0.0, math.sin(angle / 2), math.cos(angle / 2)),
                )
            )
        return [floor, *walls]
    if spec.shape == "tray":
        floor = Shape("box", (TRAY_HALF, TRAY_HALF, FLOOR_THICKNESS / 2), (0.0, 0.0, FLOOR_THICKNESS / 2))
        offset = TRAY_HALF - WALL_THICKNESS / 2
        half_height = TRAY_WALL_HEIGHT / 2
        return [
            floor,
            Shape("box", (WALL_THICKNESS / 2, TRAY_HALF, half_height), (offset, 0.0, half_height)),
            Shape("box", (WALL_THICKNESS / 2, TRAY_HALF, half_height), (-offset, 0.0, half_height)),
            Shape("box", (TRAY_HALF, WALL_THICKNESS / 2, half_height), (0.0, offset, half_height)),
            Shape("box", (TRAY_HALF, WALL_THICKNESS / 2, half_height), (0.0, -offset, half_height)),
        ]
    return [Shape("box", (ZONE_HALF, ZONE_HALF, 0.0005), (0.0, 0.0, 0.0005))]


def build_object(sim: PyBullet, spec: ObjectSpec, x: float, y: float, yaw: float, rgba: RGBA) -> int:
    """Create ``spec`` resting on the table (top at z = 0) at ``(x, y)`` turned by ``yaw``; returns its body id.

    Movable objects weigh 0.1 kg; containers are static; zones have no collision shape.
    """
    orientation = (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2))
    if spec.kind == "object":
        return sim.create_body(
            _shapes(spec),
            (x, y, spec.height / 2),
            orientation,
            rgba,
            mass=OBJECT_MASS,
            lateral_friction=OBJECT_FRICTION,
        )
    return sim.create_body(_shapes(spec), (x, y, 0.0), orientation, rgba, mass=0.0, collision=spec.kind == "container")
