"""The tabletop env core shared by ``VistaRobot-v0`` and ``VistaRobotEE-v0``: simulator + Panda + task.

:class:`RobotTaskEnv` builds an episode (table, arm, the task's objects, distractors, randomised looks),
drives the arm one control step at a time, detects collisions and renders the camera; plan primitives are
resolved against the scene by :mod:`vista_envs.envs.robot_primitives`. The two envs add their action
interfaces on top (panda-gym's ``RobotTaskEnv`` composition: the robot and the task know nothing of each other).

Frames and units: metres and radians; the robot base is at the origin, the table top at ``z = 0``,
``+x`` points away from the robot, and the camera looks back at the robot from the far side.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from vista_envs.envs.base import VistaEnv
from vista_envs.envs.robot_primitives import PLACEMENT_HIGH, PLACEMENT_LOW, PrimitiveResolver, Subgoal
from vista_envs.pixels import normalize_image_size
from vista_envs.robot.objects import ObjectSpec, build_object
from vista_envs.robot.panda import MAX_FINGER_WIDTH, Panda
from vista_envs.robot.plan import Primitive
from vista_envs.robot.randomization import Randomization, SceneStyle, texture_files
from vista_envs.robot.sim import PyBullet, Shape
from vista_envs.robot.tasks import (
    Goal,
    GripperState,
    Layout,
    Placement,
    SceneObject,
    Task,
    get_task,
    task_names,
    vocabulary,
)
from vista_envs.robot.tasks.base import TOUCH_TOLERANCE
from vista_envs.tasks.drawing import add_noise

__all__ = ["PROPRIO_DIM", "STATE_BOUND", "RobotTaskEnv", "sanitize_action"]

TABLE_HALF_EXTENTS = (0.7, 0.8, 0.02)
TABLE_CENTER = (0.35, 0.0, -0.02)
# A floor under the table catches whatever falls off (out of reach, but it stays in the state bounds).
FLOOR_HALF_EXTENTS = (5.0, 5.0, 0.05)
FLOOR_CENTER = (0.35, 0.0, -0.8)
# Bounds of every state-vector entry (metres, m/s); observations are clipped to them.
STATE_BOUND = 10.0
# Where objects start (x, y ranges their footprints stay in) and how far apart (m) footprints stay.
PLACEMENT_MARGIN = 0.035
# Where the arm can work: targets outside are "out of reach".
CONTROL_SUBSTEPS = 10  # physics steps of 1/240 s per control step (24 Hz control)
PROPRIO_DIM = 8
MAX_TEXT_CHARS = 2048
MAX_ERROR_CHARS = 200  # an exception's message quoted in an error, at most
_MAX_LAYOUT_ATTEMPTS = 100
_PLACEMENT_TRIES = 200


def sanitize_action(action: Any, no_op: Callable[[], np.ndarray]) -> tuple[np.ndarray, str | None]:
    """A valid ``(dx, dy, dz, gripper)`` float32 action from any object, and what was wrong with it.

    Never raises on the action: whatever reading it raises (a torch tensor that requires grad, an
    ``__array__`` or ``__float__`` that fails, a ragged list) makes it invalid. Not four real numbers ->
    ``no_op()``; NaN/inf entries -> the matching ``no_op()`` entries; entries outside [-1, 1] -> clipped.
    The error text is None for a valid action.
    """
    array, error = _real_array(action)
    if array is None:
        return no_op(), error
    if array.shape != (4,):
        return no_op(), f"the action must have shape (4,) (dx, dy, dz, gripper), got shape {array.shape}"
    problems = []
    finite = np.isfinite(array)
    if not finite.all():
        array = np.where(finite, array, no_op())
        problems.append(f"entries {np.flatnonzero(~finite).tolist()} were NaN or infinite and were replaced by a no-op")
    if np.any(np.abs(array) > 1.0):
        problems.append(f"entries {np.flatnonzero(np.abs(array) > 1.0).tolist()} were outside [-1, 1] and were clipped")
        array = np.clip(array, -1.0, 1.0)
    error = "invalid action: " + "; ".join(problems) if problems else None
    return array.astype(np.float32), error


def _real_array(action: Any) -> tuple[np.ndarray | None, str]:
    """``action`` as a float64 array, or None and why it is not one (any exception reading it counts)."""
    type_name = type(action).__name__
    try:
        raw = np.asarray(action)
    except Exception as error:  # noqa: BLE001 - the action is arbitrary model or user output
        return (
            None,
            f"the action must be 4 numbers (dx, dy, dz, gripper); a {type_name} could not be read as an array "
            f"({_describe(error)})",
        )
    if raw.dtype.kind == "c":  # a float conversion would silently drop the imaginary parts
        return None, "the action must be 4 real numbers (dx, dy, dz, gripper), got complex numbers"
    if raw.dtype.kind in "biuf":
        return raw.astype(np.float64), ""
    if raw.dtype.kind != "O":  # strings, bytes, structured records, dates
        return None, f"the action must be 4 numbers (dx, dy, dz, gripper), got {type_name} of dtype {raw.dtype}"
    try:  # Python objects: ints of any size, Fractions, None...
        return raw.astype(np.float64), ""
    except OverflowError:  # Python ints too large for a float
        return None, "the action holds numbers too large for a float; give 4 numbers in [-1, 1]"
    except Exception as error:  # noqa: BLE001 - e.g. an element whose __float__ raises
        return (
            None,
            f"the action must be 4 numbers (dx, dy, dz, gripper), got {type_name} holding non-numbers "
            f"({_describe(error)})",
        )


def _describe(error: BaseException) -> str:
    """``Type: message`` of an exception, short, even when its ``__str__`` itself fails."""
    try:
        message = str(error)
    except Exception:  # noqa: BLE001
        message = "(unprintable)"
    text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


class RobotTaskEnv(VistaEnv[dict[str, Any], Any]):
    """Base class of the robot envs (not registered itself); see the module docstring.

    Subclasses set :attr:`env_id`, the spaces, ``step`` and the reward weights.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 24}
    env_id: ClassVar[str] = "robot"

    def __init__(
        self,
        *,
        tasks: Sequence[str] | None,
        split: str,
        image_size: int | tuple[int, int],
        randomization: str | dict[str, str] | Randomization | None,
        renderer: str,
        panda_visual: str,
        collision_force: float,
        reward_weights: dict[str, float],
        render_mode: str | None,
    ):
        self._init_render_mode(render_mode)
        vocabulary(split)  # validates the split
        self.split = split
        self.task_names = (tasks,) if isinstance(tasks, str) else tuple(tasks) if tasks is not None else task_names()
        if not self.task_names:
            raise ValueError(f"{self.env_id}: tasks must name at least one task")
        self._tasks: dict[str, Task] = {name: get_task(name) for name in self.task_names}
        self.width, self.height = normalize_image_size(image_size)
        self.randomization = Randomization.from_any(randomization)
        if collision_force <= 0:
            raise ValueError(f"{self.env_id}: collision_force must be positive, got {collision_force}")
        self.collision_force = collision_force
        self.reward_weights = dict(reward_weights)
        self.sim = PyBullet(renderer=renderer)
        self.robot = Panda(self.sim, visual=panda_visual)
        self.task: Task | None = None
        self.task_split = split
        self.objects: dict[str, SceneObject] = {}
        self.table = -1
        self.style: SceneStyle | None = None
        self._names_by_body: dict[int, str] = {}
        self._scene_static: list[tuple[int, dict[str, Any]]] = []
        self._goal_bodies: frozenset[int] = frozenset()
        self._out_targets: dict[str, np.ndarray] = {}
        self._touched: set[str] = set()
        self._image_rng = random.Random(0)
        self._table_pixel = (0, 0, 0)
        self._last_image: np.ndarray | None = None

    # ------------------------------------------------------------- episodes

    def _reset_episode(self, seed: int | None, options: dict[str, Any] | None) -> None:
        """Seed, choose the task and split, and build a new scene (the episode then runs)."""
        super().reset(seed=seed)
        options = dict(options or {})
        unknown = set(options) - {"split", "task"}
        if unknown:
            raise ValueError(f"{self.env_id}: unknown reset options {sorted(unknown)}; known: ['split', 'task']")
        split = options.get("split", self.split)
        vocabulary(split)
        name = options.get("task")
        if name is None:
            name = self.task_names[int(self.np_random.integers(len(self.task_names)))]
        if name not in self._tasks:
            self._tasks[name] = get_task(name)
        self.task = self._tasks[name]
        self.task_split = split
        # Separate streams for the layout, the distractors, the looks and the image noise: the same seed
        # gives the same task layout whatever the randomisation levels.
        layout_rng, distractor_rng, style_rng, self._image_rng = (
            random.Random(int(self.np_random.integers(2**63))) for _ in range(4)
        )
        self._build_scene(self.task, split, layout_rng, distractor_rng, style_rng)
        self._last_image = None

    def _build_scene(
        self, task: Task, split: str, layout_rng: random.Random, distractor_rng: random.Random, style_rng: random.Random
    ) -> None:
        self.sim.reset()
        self.style = self.randomization.style(style_rng)
        self._table_pixel = self._lit_table_color()
        # The table fills every view and looks uniform, so it is drawn as the background colour rather
        # than rasterised (TinyRenderer spends ~80% of a frame on it); the floor is never seen.
        self.table = self.sim.create_body([Shape("box", TABLE_HALF_EXTENTS)], TABLE_CENTER, visual=False)
        self.sim.create_body([Shape("box", FLOOR_HALF_EXTENTS)], FLOOR_CENTER, visual=False)
        self.robot.reset()
        for _ in range(_MAX_LAYOUT_ATTEMPTS):
            layout = task.sample_layout(layout_rng, split)
            positions = _positions(layout_rng, layout.placements, [])
            if positions is not None:
                break
        else:
            raise RuntimeError(
                f"{self.env_id}: task {task.name!r} found no free layout in {_MAX_LAYOUT_ATTEMPTS} attempts"
            )
        placements = list(layout.placements)
        taken = [
            (position, p.spec.radius + p.clearance) for p, position in zip(placements, positions) if p.inside is None
        ]
        for spec in self._distractors(distractor_rng, split, layout):
            spot = _positions(distractor_rng, [Placement(spec)], taken)
            if spot is not None:  # a distractor that does not fit is left out
                placements.append(Placement(spec))
                positions += spot
                taken.append((spot[0], spec.radius))
        textures = texture_files() if self.randomization.textures != "none" else ()
        texture_ids: dict[int, int] = {}
        self.objects = {}
        max_yaw = self.randomization.max_yaw()
        for placement, (x, y) in zip(placements, positions):
            spec = placement.spec
            yaw = style_rng.uniform(-max_yaw, max_yaw)
            rgba = self.randomization.object_rgba(style_rng, spec.color, spec.kind, self.style.table_rgba)
            body = build_object(self.sim, spec, x, y, yaw, rgba)
            if placement.inside is not None:
                container = self.objects[placement.inside]
                self.sim.set_pose(body, (x, y, container.spec.floor_height + spec.height / 2), self.sim.pose(body)[1])
            texture = self.randomization.texture_index(style_rng)
            if texture is not None and spec.kind != "zone":
                if texture not in texture_ids:
                    texture_ids[texture] = self.sim.load_texture(textures[texture])
                self.sim.set_texture(body, texture_ids[texture])
            self.objects[spec.name] = SceneObject(spec, body)
        self._names_by_body = {obj.body: name for name, obj in self.objects.items()}
        self._names_by_body[self.table] = "table"
        self._scene_static = [
            (
                obj.body,
                {
                    "name": name,
                    "color": obj.spec.color,
                    "shape": obj.spec.shape,
                    "kind": obj.spec.kind,
                    "height": obj.spec.height,
                    "radius": round(obj.spec.radius, 4),
                },
            )
            for name, obj in self.objects.items()
        ]
        self._goal_bodies = frozenset(self.objects[name].body for name in task.goal_names())
        resolver = PrimitiveResolver(self.objects, self.sim)
        self._out_targets = {
            goal.subject: resolver.free_table_spot(self.objects[goal.subject])
            for goal in layout.goals
            if goal.relation == "out"
        }
        self._touched = set()
        self.sim.step(CONTROL_SUBSTEPS)  # let contacts settle before the first observation

    def _lit_table_color(self) -> tuple[int, int, int]:
        """The table's colour as the camera sees it under the episode's light: one pixel of a probe render
        of the table alone (a flat surface under a directional light and no shadows is uniform)."""
        assert self.style is not None
        probe = self.sim.create_body(
            [Shape("box", TABLE_HALF_EXTENTS)], TABLE_CENTER, rgba=self.style.table_rgba, collision=False
        )
        pixel = self.sim.render(self.style.camera, self.style.lighting, 3, 3)[1, 1]
        self.sim.remove_body(probe)
        return (int(pixel[0]), int(pixel[1]), int(pixel[2]))

    def _distractors(self, rng: random.Random, split: str, layout: Layout) -> list[ObjectSpec]:
        """Extra movable objects whose names and colours do not clash with the task's."""
        n = self.randomization.n_distractors
        if n == 0:
            return []
        words = vocabulary(split)
        taken = {spec.name for spec in layout.specs}
        candidates = [
            ObjectSpec(color, shape)
            for color in words.colors
            if color not in layout.reserved_colors
            for shape in words.shapes
            if f"{color} {shape}" not in taken
        ]
        return rng.sample(candidates, min(n, len(candidates)))

    # ---------------------------------------------------------------- state

    def held_name(self) -> str | None:
        return None if self.robot.held is None else self._names_by_body.get(self.robot.held)

    def proprioception(self) -> np.ndarray:
        """``(ee_x, ee_y, ee_z, ee_vx, ee_vy, ee_vz, finger_width, holding)`` as float32."""
        state = self.robot.state()
        proprio = np.array(
            [*state.ee_position, *state.ee_velocity, state.finger_width, float(state.held is not None)],
            dtype=np.float32,
        )
        return np.clip(proprio, -STATE_BOUND, STATE_BOUND)

    def scene(self) -> dict[str, Any]:
        """Ground truth, a privileged accessor: every object (name, colour, shape, kind, position, yaw, height,
        footprint radius) and the held object's name. For scoring scene descriptions, scripted controllers and
        tests; never in an observation, and in ``info`` (as ``"scene"``) only once the episode has ended."""
        objects = []
        for body, static in self._scene_static:
            (px, py, pz), (x, y, z, w) = self.sim.raw_pose(body)
            yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
            objects.append({**static, "position": [round(px, 4), round(py, 4), round(pz, 4)], "yaw": round(yaw, 4)})
        return {"objects": objects, "held": self.held_name()}

    def no_op_action(self) -> np.ndarray:
        """The action that keeps the grasp point where it is and the fingers as they are."""
        return np.array([0.0, 0.0, 0.0, self.robot.finger_width() / MAX_FINGER_WIDTH * 2 - 1], dtype=np.float32)

    def episode_info(self, progress: float, success: bool) -> dict[str, Any]:
        """The ``info`` entries both envs report at every step (no ground truth: :meth:`scene` is only added at the
        end)."""
        assert self.task is not None
        return {"task": self.task.name, "split": self.task_split, "is_success": success, "progress": progress}

    def gripper_state(self) -> GripperState:
        """The grasp point and the zones it has touched this episode (what goals on the gripper check)."""
        return GripperState(self.robot.ee_position(), frozenset(self._touched))

    def evaluate(self) -> tuple[float, bool]:
        """The task's shaped progress, and success: its goals hold and the gripper holds nothing."""
        assert self.task is not None
        progress, goals_met = self.task.evaluate(self.objects, self.sim, self.gripper_state())
        return progress, goals_met and self.robot.held is None

    def goal_targets(self) -> list[tuple[str, np.ndarray]]:
        """For each goal: its subject and the point its centre should reach (for state observations); for a
        goal on the gripper, the zone and its centre (the point the grasp point should reach)."""
        assert self.task is not None and self.task.layout is not None
        targets = []
        for goal in self.task.layout.goals:
            if goal.relation == "at":
                targets.append((goal.target, self.sim.position(self.objects[goal.target].body)))
            elif goal.relation == "out":
                targets.append((goal.subject, self._out_targets[goal.subject]))
            else:
                targets.append((goal.subject, self._goal_point(goal, self.objects[goal.subject])))
        return targets

    def _goal_point(self, goal: Goal, subject: SceneObject) -> np.ndarray:
        target = self.objects[goal.target]
        position = self.sim.position(target.body)
        if goal.relation == "on":
            return position + np.array([0.0, 0.0, (target.spec.height + subject.spec.height) / 2])
        return np.array([position[0], position[1], target.spec.floor_height + subject.spec.height / 2])

    # -------------------------------------------------------------- control

    def control_step(self, action: np.ndarray, allowed: frozenset[int] | set[int]) -> list[str]:
        """Apply one ``(dx, dy, dz, gripper)`` action for one control step, record the zones the grasp point
        touches, and return the names of what the arm hit harder than ``collision_force`` among bodies not in
        ``allowed`` (the held object never counts)."""
        self.robot.set_action(action)
        self.sim.step(CONTROL_SUBSTEPS)
        ee = self.robot.ee_position()
        for name, obj in self.objects.items():
            if obj.spec.kind == "zone" and np.linalg.norm(self.sim.position(obj.body) - ee) <= TOUCH_TOLERANCE:
                self._touched.add(name)
        hits = set()
        for contact in self.sim.contacts(self.robot.body):
            other = contact.body_b
            if other == self.robot.body or other == self.robot.held or other in allowed:
                continue
            if contact.normal_force > self.collision_force:
                hits.add(self._names_by_body.get(other, "an unknown body"))
        return sorted(hits)

    # ------------------------------------------------------------ rendering

    def render_camera(self) -> np.ndarray:
        """The camera image (height, width, 3) uint8 of the current scene, with the episode's image noise."""
        assert self.style is not None
        image = self.sim.render(
            self.style.camera, self.style.lighting, self.width, self.height, background=self._table_pixel
        )
        if self.style.noise_sigma > 0:
            image = np.asarray(add_noise(Image.fromarray(image), self.style.noise_sigma, self._image_rng))
        self._last_image = image
        return image

    def render(self) -> np.ndarray | None:
        if not self._render_allowed():
            return None
        return self._last_image if self._last_image is not None else self.render_camera()

    def close(self) -> None:
        if getattr(self, "sim", None) is not None:
            self.sim.close()
            self.sim = None  # type: ignore[assignment]

    # ----------------------------------------------------------- primitives

    def resolve(self, primitive: Primitive) -> Subgoal:
        """``primitive`` checked against the current scene, with its subject and target point.

        Raises:
            PrimitiveError: with a message for the agent (nothing held, absent object, out of reach...).
        """
        return PrimitiveResolver(self.objects, self.sim).resolve(primitive, self.held_name())

    def primitive_done(self, subgoal: Subgoal) -> bool:
        """Whether the primitive has reached its end state (a check on the simulator, whoever drives)."""
        return PrimitiveResolver(self.objects, self.sim).done(subgoal, self.robot, self._touched)

    def low_level_info(self, subgoal: Subgoal) -> dict[str, Any]:
        """The ``info`` a low-level policy gets for one control step of ``subgoal``."""
        return {
            "scene": self.scene(),
            "subject": subgoal.subject,
            "target_position": None if subgoal.target is None else [float(v) for v in subgoal.target],
        }

    def oracle_primitives(self) -> list[Primitive]:
        """A plan that solves the task from the current state: the task's primitives for every unmet goal,
        in goal order, after putting down whatever the gripper holds (unless the first step picks it)."""
        self._require_reset("oracle")
        assert self.task is not None and self.task.layout is not None
        plan: list[Primitive] = []
        gripper = self.gripper_state()
        for goal in self.task.layout.goals:
            if not self.task.goal_met(goal, self.objects, self.sim, gripper):
                plan += self.task.goal_plan(goal)
        held = self.held_name()
        if held is not None:
            if plan and plan[0] == Primitive("pick", (held,)):
                plan = plan[1:]
            else:
                plan.insert(0, Primitive("place", ("table",)))
        return plan


def _positions(
    rng: random.Random, placements: Sequence[Placement], taken: list[tuple[np.ndarray, float]]
) -> list[np.ndarray] | None:
    """Table positions for ``placements`` by rejection sampling, largest footprint first, at least
    ``PLACEMENT_MARGIN`` apart and from the ``taken`` (centre, radius) footprints; None if they do not fit.
    An object that starts inside a container takes the container's centre.
    """
    on_table = sorted(
        (i for i, p in enumerate(placements) if p.inside is None),
        key=lambda i: -(placements[i].spec.radius + placements[i].clearance),
    )
    footprints = list(taken)
    positions: dict[int, np.ndarray] = {}
    for i in on_table:
        radius = placements[i].spec.radius + placements[i].clearance
        for _ in range(_PLACEMENT_TRIES):
            point = np.array(
                [
                    rng.uniform(PLACEMENT_LOW[0] + radius, PLACEMENT_HIGH[0] - radius),
                    rng.uniform(PLACEMENT_LOW[1] + radius, PLACEMENT_HIGH[1] - radius),
                ]
            )
            if all(np.linalg.norm(point - centre) >= radius + other + PLACEMENT_MARGIN for centre, other in footprints):
                positions[i] = point
                footprints.append((point, radius))
                break
        else:
            return None
    names = {p.spec.name: i for i, p in enumerate(placements)}
    for i, placement in enumerate(placements):
        if placement.inside is not None:
            positions[i] = positions[names[placement.inside]]
    return [positions[i] for i in range(len(placements))]
