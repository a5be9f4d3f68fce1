"""Plan primitives resolved against the current tabletop scene: one job, turning ``pick(red cube)`` into a subgoal.

:class:`PrimitiveResolver` finds what a primitive names (exact names, shape synonyms, a bare colour or shape
only one object has), checks that it can run now (something held or not, in the arm's reach, a zone where a
zone is needed) and computes where its subject should end up (on an object, in a free spot of a tray, bowl
or zone, on the clearest spot of the table, at a point); :meth:`PrimitiveResolver.done` says when the
simulator shows the subgoal reached. Any problem is a :class:`PrimitiveError` whose message is written for
the agent. The envs (:mod:`vista_envs.envs.robot_base`) call it; it holds no state of its own.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import numpy as np

from vista_envs.robot.objects import SHAPE_SYNONYMS
from vista_envs.robot.panda import Panda
from vista_envs.robot.plan import Primitive
from vista_envs.robot.sim import PyBullet
from vista_envs.robot.tasks import SceneObject

__all__ = [
    "CLEARANCE_HEIGHT",
    "LIFT_HEIGHT",
    "PLACEMENT_HIGH",
    "PLACEMENT_LOW",
    "PUSH_TOLERANCE",
    "REACH_HIGH",
    "REACH_LOW",
    "PrimitiveError",
    "PrimitiveResolver",
    "Subgoal",
    "in_reach",
]

PLACEMENT_LOW = np.array([0.30, -0.26])  # where objects start, and where "place(table)" looks for room
PLACEMENT_HIGH = np.array([0.72, 0.26])
REACH_LOW = np.array([0.28, -0.38])
REACH_HIGH = np.array([0.78, 0.38])
LIFT_HEIGHT = 0.05  # a pick is done once the object is this much above where it was
CLEARANCE_HEIGHT = 0.06  # a place/push is done once the grasp point is this far above the object
PUSH_TOLERANCE = 0.015


class PrimitiveError(ValueError):
    """A primitive that cannot run in the current scene (absent object, nothing held, out of reach...)."""


@dataclass(frozen=True)
class Subgoal:
    """A primitive resolved against the scene: its subject, where the subject should end up, the body it
    may touch (target container/object), and where the subject was when the primitive started. For
    ``reach`` the subject is the zone and the target its centre, where the grasp point should go."""

    primitive: Primitive
    subject: str
    target: np.ndarray | None
    target_body: int | None
    start: np.ndarray


@dataclass(frozen=True)
class PrimitiveResolver:
    """Resolves primitives against one scene: ``objects`` by name and the simulator they live in."""

    objects: Mapping[str, SceneObject]
    sim: PyBullet

    def lookup(self, reference: str) -> SceneObject:
        """The object a reference names: its exact name, with shape synonyms ("red block" -> "red cube"), or
        a bare shape or colour that only one object has."""
        words = [SHAPE_SYNONYMS.get(word, word) for word in reference.lower().split()]
        name = " ".join(words)
        if name in self.objects:
            return self.objects[name]
        if len(words) == 1:
            matches = [obj for obj in self.objects.values() if words[0] in (obj.spec.shape, obj.spec.color)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise PrimitiveError(
                    f"'{reference}' is ambiguous: there are several; name its colour and shape, e.g. 'red cube'"
                )
        raise PrimitiveError(f"there is no '{reference}' on the table")

    def resolve(self, primitive: Primitive, held: str | None) -> Subgoal:
        """Check ``primitive`` against the scene and find its subject and target point; ``held`` names the
        object in the gripper (None if empty).

        Raises:
            PrimitiveError: with a message for the agent (nothing held, absent object, out of reach...).
        """
        if primitive.verb == "reach":
            zone = self.lookup(str(primitive.args[0]))
            if zone.spec.kind != "zone":
                raise PrimitiveError(
                    f"reach moves the gripper onto a zone; the {zone.name} is not a zone "
                    "(use pick, place or push for it)"
                )
            position = self.sim.position(zone.body)
            if not in_reach(position[:2]):
                raise PrimitiveError(f"the {zone.name} is out of the arm's reach")
            return Subgoal(primitive, zone.name, position, None, position)
        if primitive.verb == "pick":
            if held is not None:
                raise PrimitiveError(f"the gripper already holds the {held}; place it before picking something else")
            subject = self._movable(primitive.args[0], "pick")
            return Subgoal(primitive, subject.name, None, None, self.sim.position(subject.body))
        if primitive.verb == "place":
            if held is None:
                raise PrimitiveError("the gripper holds nothing; pick an object before placing it")
            subject = self.objects[held]
            target, target_body = self._place_target(primitive.args, subject)
            return Subgoal(primitive, held, target, target_body, self.sim.position(subject.body))
        if held is not None:
            raise PrimitiveError(f"push needs an empty gripper, but it holds the {held}; place it first")
        subject = self._movable(primitive.args[0], "push")
        position = self.sim.position(subject.body)
        if len(primitive.args) == 3:
            target = self._reachable_point(primitive.args[1], primitive.args[2], position[2])
            return Subgoal(primitive, subject.name, target, None, position)
        zone = self.lookup(str(primitive.args[1])) if primitive.args[1] != "table" else None
        if zone is None or zone.spec.kind != "zone":
            name = "table" if zone is None else zone.name
            raise PrimitiveError(f"push moves objects into zones or to a point (x, y); the {name} is not a zone")
        zone_position = self.sim.position(zone.body)
        return Subgoal(
            primitive, subject.name, np.array([zone_position[0], zone_position[1], position[2]]), zone.body, position
        )

    def _movable(self, reference: str | float, verb: str) -> SceneObject:
        participle = "picked" if verb == "pick" else "pushed"
        if reference == "table":
            raise PrimitiveError(f"the table cannot be {participle}")
        obj = self.lookup(str(reference))
        if obj.spec.kind != "object":
            raise PrimitiveError(f"the {obj.name} is fixed to the table; only objects can be {participle}")
        position = self.sim.position(obj.body)
        if not in_reach(position[:2]) or position[2] < -0.02:
            raise PrimitiveError(f"the {obj.name} is out of the arm's reach")
        return obj

    def _reachable_point(self, x: str | float, y: str | float, z: float) -> np.ndarray:
        point = np.array([float(x), float(y), z])
        if not in_reach(point[:2]):
            raise PrimitiveError(
                f"({float(x):g}, {float(y):g}) is out of the arm's reach; "
                f"x must lie in [{REACH_LOW[0]:g}, {REACH_HIGH[0]:g}] "
                f"and y in [{REACH_LOW[1]:g}, {REACH_HIGH[1]:g}] metres"
            )
        return point

    def _place_target(self, args: tuple[str | float, ...], held: SceneObject) -> tuple[np.ndarray, int | None]:
        """Where the held object's centre should go, and the body it lands in/on."""
        if len(args) == 2:
            return self._reachable_point(args[0], args[1], held.spec.height / 2), None
        if args[0] == "table":
            return self.free_table_spot(held), None
        target = self.lookup(str(args[0]))
        if target is held:
            raise PrimitiveError(f"cannot place the {held.name} on itself")
        position = self.sim.position(target.body)
        if not in_reach(position[:2]):
            raise PrimitiveError(f"the {target.name} is out of the arm's reach")
        if target.spec.kind == "object":
            return position + np.array([0.0, 0.0, (target.spec.height + held.spec.height) / 2]), target.body
        return self._spot_in(target, held), target.body

    def _spot_in(self, container: SceneObject, held: SceneObject) -> np.ndarray:
        """The free spot of a container or zone: the candidate farthest from the objects already there."""
        position, orientation = self.sim.pose(container.body)
        x, y, z, w = orientation
        yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
        quarter = container.spec.inner_half_width / 2
        # A tray holds several objects: use its corners; a bowl or zone: its centre first.
        corners = [(quarter, quarter), (-quarter, -quarter), (quarter, -quarter), (-quarter, quarter)]
        local = corners if container.spec.shape == "tray" else [(0.0, 0.0), *[(c[0] / 2, c[1] / 2) for c in corners]]
        cos, sin = math.cos(yaw), math.sin(yaw)
        candidates = [position[:2] + np.array([cos * u - sin * v, sin * u + cos * v]) for u, v in local]
        others = [
            self.sim.position(obj.body)[:2]
            for obj in self.objects.values()
            if obj.spec.kind == "object" and obj is not held
        ]
        best = max(candidates, key=lambda c: min((float(np.linalg.norm(c - o)) for o in others), default=1.0))
        return np.array([best[0], best[1], container.spec.floor_height + held.spec.height / 2])

    def free_table_spot(self, held: SceneObject) -> np.ndarray:
        """The grid point of the placement area farthest from every other object's footprint."""
        obstacles = [
            (self.sim.position(obj.body)[:2], obj.spec.radius) for obj in self.objects.values() if obj is not held
        ]
        best, best_clearance = None, -math.inf
        for x in np.linspace(PLACEMENT_LOW[0], PLACEMENT_HIGH[0], 8):
            for y in np.linspace(PLACEMENT_LOW[1], PLACEMENT_HIGH[1], 10):
                point = np.array([x, y])
                clearance = min((float(np.linalg.norm(point - p)) - r for p, r in obstacles), default=1.0)
                if clearance > best_clearance:
                    best, best_clearance = point, clearance
        assert best is not None
        return np.array([best[0], best[1], held.spec.height / 2])

    def done(self, subgoal: Subgoal, robot: Panda, touched: Collection[str]) -> bool:
        """Whether the primitive has reached its end state (a check on the simulator, whoever drives);
        ``touched`` holds the zones the grasp point has touched this episode."""
        if subgoal.primitive.verb == "reach":
            return subgoal.subject in touched
        subject = self.objects[subgoal.subject]
        position = self.sim.position(subject.body)
        ee = robot.ee_position()
        if subgoal.primitive.verb == "pick":
            return robot.held == subject.body and position[2] >= subgoal.start[2] + LIFT_HEIGHT
        if subgoal.primitive.verb == "place":
            return robot.held is None and ee[2] >= position[2] + CLEARANCE_HEIGHT
        assert subgoal.target is not None
        arrived = np.linalg.norm(position[:2] - subgoal.target[:2]) <= PUSH_TOLERANCE
        return bool(arrived and ee[2] >= position[2] + CLEARANCE_HEIGHT)


def in_reach(xy: np.ndarray) -> bool:
    """Whether a table point ``(x, y)`` lies in the arm's reach."""
    return bool(np.all(xy >= REACH_LOW) and np.all(xy <= REACH_HIGH))
