"""The robot task protocol: a layout sampler, goals checked on the simulator state, instructions, an oracle plan.

A task knows what objects it needs, where they start, what the instruction says, and when it is
solved; it knows nothing about the robot (panda-gym's composition: robot + task -> env).

Most tabletop tasks are a list of :class:`Goal` relations between objects -- "X rests in container Y",
"X rests on X'", "X is out of Y" -- or on the gripper itself -- "the gripper has touched zone Z" -- so a
task module mostly samples objects and words an instruction; success, shaped progress and the oracle
plan follow from the goals. What a goal on the gripper needs of the robot (where the grasp point is,
which zones it has touched) reaches the task as a :class:`GripperState`, so tasks still know nothing
of the arm.

Adding a task touches one file in ``vista_envs/robot/tasks/``::

    @register_task
    class PickAndPlace(Task):
        name = "pick_and_place"
        templates = ("Put the {object} in the {container}.", ...)

        def sample(self, rng, vocabulary): ...   # -> Layout
"""

from __future__ import annotations

import abc
import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal, TypeVar

import numpy as np

from vista_envs.robot.objects import (
    CONTAINER_SHAPES,
    OBJECT_SHAPES,
    SEEN_COLORS,
    SEEN_SHAPES,
    ZONE,
    ObjectSpec,
)
from vista_envs.robot.plan import Primitive
from vista_envs.robot.sim import PyBullet
from vista_envs.tasks.drawing import COLOR_NAMES

__all__ = [
    "GRIPPER",
    "Goal",
    "GripperState",
    "Layout",
    "Placement",
    "SceneObject",
    "Task",
    "Vocabulary",
    "get_task",
    "register_task",
    "task_names",
    "vocabulary",
]

SPLITS = ("train", "eval", "test")
# Resting tolerances of the goal checks, in metres.
REST_TOLERANCE = 0.02
STACK_XY_TOLERANCE = 0.02
STACK_Z_TOLERANCE = 0.015
# How far (xy, metres) a goal's closeness in the shaped progress reaches.
PROGRESS_RANGE = 0.3
# The subject of a goal on the gripper ("the gripper touches the red zone") rather than on an object.
GRIPPER = "gripper"
# The grasp point touches a zone when it comes this close (metres, 3-D) to the zone's centre.
TOUCH_TOLERANCE = 0.05
# How far (3-D, metres) the closeness of an "at" goal reaches: from the home pose to any zone.
TOUCH_PROGRESS_RANGE = 0.75
_MAX_SAMPLE_ATTEMPTS = 1000


@dataclass(frozen=True)
class Vocabulary:
    """The colours and movable-object shapes a split may draw from."""

    colors: tuple[str, ...]
    shapes: tuple[str, ...]


def vocabulary(split: str) -> Vocabulary:
    """Train draws from the seen attributes only; eval and test from all of them."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split == "train":
        return Vocabulary(SEEN_COLORS, SEEN_SHAPES)
    return Vocabulary(COLOR_NAMES, OBJECT_SHAPES)


@dataclass(frozen=True)
class Placement:
    """An object of the layout.

    ``inside`` names a container it starts in (else it starts on the table); ``clearance`` (metres) keeps
    other objects that much further away (room for the gripper, e.g. to push from any side).
    """

    spec: ObjectSpec
    inside: str | None = None
    clearance: float = 0.0


@dataclass(frozen=True)
class Goal:
    """A relation that must hold at the end: ``subject`` rests ``in``/``on`` ``target``, or is ``out`` of it;
    or, with ``subject`` :data:`GRIPPER`, the grasp point has been ``at`` zone ``target`` (touched its centre,
    within :data:`TOUCH_TOLERANCE`, at some control step of the episode: a touch stays done)."""

    subject: str
    relation: Literal["in", "on", "out", "at"]
    target: str


@dataclass(frozen=True)
class GripperState:
    """What goals on the gripper need to know of the robot: the grasp point now, and the names of the zones
    it has touched since the episode began (the env records touches after every control step)."""

    position: np.ndarray
    touched: frozenset[str]


@dataclass(frozen=True)
class Layout:
    """What a task needs in the scene: its objects, its goals, the words of its instruction."""

    placements: tuple[Placement, ...]
    goals: tuple[Goal, ...]
    fields: dict[str, str] = field(default_factory=dict)
    # Colours no distractor may have (e.g. the colours an instruction quantifies over).
    reserved_colors: tuple[str, ...] = ()

    @property
    def specs(self) -> tuple[ObjectSpec, ...]:
        return tuple(p.spec for p in self.placements)


@dataclass
class SceneObject:
    """An object in the simulator: its spec, body id and colour as rendered."""

    spec: ObjectSpec
    body: int

    @property
    def name(self) -> str:
        return self.spec.name


class Task(abc.ABC):
    """A tabletop task (see the module docstring). Subclasses set :attr:`name`, :attr:`description`,
    :attr:`templates` (instruction paraphrases with ``{fields}`` from the layout) and :meth:`sample`."""

    name: ClassVar[str]
    description: ClassVar[str]
    templates: ClassVar[tuple[str, ...]]

    def __init__(self) -> None:
        self.layout: Layout | None = None
        self.instruction = ""

    @abc.abstractmethod
    def sample(self, rng: random.Random, vocabulary: Vocabulary) -> Layout:
        """Draw the task's objects and goals from ``vocabulary`` (all randomness from ``rng``)."""

    def goal_plan(self, goal: Goal) -> list[Primitive]:
        """Primitives that achieve ``goal`` with an empty gripper: pick the subject, place it (on the table
        for an "out" goal); reach the zone of an "at" goal. The oracle plan is the concatenation over the
        unmet goals."""
        if goal.relation == "at":
            return [Primitive("reach", (goal.target,))]
        target = "table" if goal.relation == "out" else goal.target
        return [Primitive("pick", (goal.subject,)), Primitive("place", (target,))]

    # ------------------------------------------------------------- sampling

    def sample_layout(self, rng: random.Random, split: str) -> Layout:
        """Sample until the layout belongs to ``split``, then word the instruction.

        Train layouts use seen attributes only. An eval/test layout needs a task object with an unseen
        colour or shape, and eval and test share the rest by a hash of the layout's objects, so the three
        splits never share a layout.
        """
        words = vocabulary(split)
        for _ in range(_MAX_SAMPLE_ATTEMPTS):
            layout = self.sample(rng, words)
            if split == "train" or (
                not all(spec.is_seen for spec in layout.specs) and self._held_out_split(layout) == split
            ):
                break
        else:
            raise RuntimeError(f"task {self.name!r} produced no {split} layout in {_MAX_SAMPLE_ATTEMPTS} samples")
        self.layout = layout
        self.instruction = rng.choice(self.instruction_templates(layout)).format(**layout.fields)
        return layout

    def instruction_templates(self, layout: Layout) -> tuple[str, ...]:
        """The paraphrases that fit ``layout`` (default: :attr:`templates`)."""
        return self.templates

    def _held_out_split(self, layout: Layout) -> str:
        key = "|".join((self.name, *(spec.name for spec in layout.specs)))
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        return "eval" if int.from_bytes(digest, "little") % 2 == 0 else "test"

    # ----------------------------------------------------------- evaluation

    def goal_met(self, goal: Goal, objects: dict[str, SceneObject], sim: PyBullet, gripper: GripperState) -> bool:
        """Whether ``goal`` holds in the simulator now (a pose match), or for an "at" goal, whether the grasp
        point has touched the zone."""
        if goal.relation == "at":
            return goal.target in gripper.touched
        subject, target = objects[goal.subject], objects[goal.target]
        if goal.relation == "on":
            return _rests_on(sim, subject, target)
        inside = _rests_in(sim, subject, target)
        return inside if goal.relation == "in" else not _within_footprint(sim, subject, target)

    def evaluate(self, objects: dict[str, SceneObject], sim: PyBullet, gripper: GripperState) -> tuple[float, bool]:
        r"""Shaped progress in [0, 1] and success (every goal met), in one pass over the goals.

        Progress is :math:`\frac{1}{n}\sum_g [\text{met}_g + (1-\text{met}_g)\,c_g]` over the ``n`` goals,
        with closeness :math:`c_g = 0.5\max(0, 1 - d_g / 0.3\,\text{m})` where :math:`d_g` is the subject's
        horizontal distance to the target ("out" goals: :math:`c_g = 0`); for an "at" goal
        :math:`c_g = 0.5\max(0, 1 - d_g / 0.75\,\text{m})` with :math:`d_g` the 3-D distance of the grasp
        point to the zone's centre.
        """
        assert self.layout is not None
        total, all_met = 0.0, True
        for goal in self.layout.goals:
            if self.goal_met(goal, objects, sim, gripper):
                total += 1.0
                continue
            all_met = False
            if goal.relation == "at":
                distance = float(np.linalg.norm(gripper.position - sim.position(objects[goal.target].body)))
                total += 0.5 * max(0.0, 1.0 - distance / TOUCH_PROGRESS_RANGE)
            elif goal.relation != "out":
                distance = float(
                    np.linalg.norm(
                        sim.position(objects[goal.subject].body)[:2] - sim.position(objects[goal.target].body)[:2]
                    )
                )
                total += 0.5 * max(0.0, 1.0 - distance / PROGRESS_RANGE)
        return total / len(self.layout.goals), all_met

    def goal_names(self) -> tuple[str, ...]:
        """Names of the objects the task is about (subjects and targets of its goals, not the gripper), in goal
        order."""
        assert self.layout is not None
        names: list[str] = []
        for goal in self.layout.goals:
            for name in (goal.subject, goal.target):
                if name != GRIPPER and name not in names:
                    names.append(name)
        return tuple(names)


# --------------------------------------------------------------- pose checks


def _local_xy(sim: PyBullet, subject: SceneObject, frame: SceneObject) -> np.ndarray:
    """Subject's position in the horizontal frame of ``frame`` (rotated by its yaw)."""
    position, orientation = sim.pose(frame.body)
    x, y, z, w = orientation
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    offset = sim.position(subject.body)[:2] - position[:2]
    cos, sin = math.cos(yaw), math.sin(yaw)
    return np.array([cos * offset[0] + sin * offset[1], -sin * offset[0] + cos * offset[1]])


def _within_footprint(sim: PyBullet, subject: SceneObject, container: SceneObject) -> bool:
    local = _local_xy(sim, subject, container)
    return bool(np.all(np.abs(local) <= container.spec.inner_half_width))


def _rests_in(sim: PyBullet, subject: SceneObject, container: SceneObject) -> bool:
    """Subject's centre is over the container's inner area and low enough to rest on its floor."""
    resting_z = container.spec.floor_height + subject.spec.height / 2
    return _within_footprint(sim, subject, container) and sim.position(subject.body)[2] <= resting_z + REST_TOLERANCE


def _rests_on(sim: PyBullet, subject: SceneObject, base: SceneObject) -> bool:
    """Subject sits centred on top of ``base``."""
    top, bottom = sim.position(subject.body), sim.position(base.body)
    centred = np.linalg.norm(top[:2] - bottom[:2]) <= STACK_XY_TOLERANCE
    expected_gap = (subject.spec.height + base.spec.height) / 2
    return bool(centred and abs(top[2] - bottom[2] - expected_gap) <= STACK_Z_TOLERANCE)


# ------------------------------------------------------------------ registry

_TASKS: dict[str, type[Task]] = {}
TaskT = TypeVar("TaskT", bound=type[Task])


def register_task(cls: TaskT) -> TaskT:
    """Class decorator that makes a task available by its ``name``."""
    if cls.name in _TASKS and _TASKS[cls.name] is not cls:
        raise ValueError(f"robot task {cls.name!r} is already registered by {_TASKS[cls.name].__name__}")
    _TASKS[cls.name] = cls
    return cls


def task_names() -> tuple[str, ...]:
    """Names of every registered task, sorted."""
    return tuple(sorted(_TASKS))


def get_task(name: str) -> Task:
    """A new instance of the task registered as ``name``."""
    try:
        return _TASKS[name]()
    except KeyError:
        raise ValueError(f"unknown robot task {name!r}; available: {', '.join(task_names())}") from None


# -------------------------------------------------------------- sampling aids


def distinct_colors(rng: random.Random, words: Vocabulary, n: int) -> list[str]:
    """``n`` different colours of the vocabulary."""
    return rng.sample(list(words.colors), n)


def object_spec(rng: random.Random, words: Vocabulary, color: str, shapes: Sequence[str] | None = None) -> ObjectSpec:
    """A movable object of ``color`` with a shape from ``shapes`` (default: the vocabulary's)."""
    return ObjectSpec(color, rng.choice(list(shapes if shapes is not None else words.shapes)))


def container_spec(rng: random.Random, color: str) -> ObjectSpec:
    return ObjectSpec(color, rng.choice(CONTAINER_SHAPES))


def zone_spec(color: str) -> ObjectSpec:
    return ObjectSpec(color, ZONE)
