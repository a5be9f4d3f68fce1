"""VistaRobotEE-v0: the tabletop tasks with continuous end-effector actions (end-to-end pixel RL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vista_envs.robot.controller import HOVER_HEIGHT, ScriptedPrimitivePolicy, move_action
from vista_envs.robot.core import MAX_TEXT_CHARS, PROPRIO_DIM, STATE_BOUND, PrimitiveError, RobotTaskEnv, Subgoal, sanitize_action
from vista_envs.robot.plan import Primitive
from vista_envs.robot.randomization import Randomization
from vista_envs.spaces import UnicodeText

__all__ = ["VistaRobotEEEnv"]

OBS_MODES = ("rgb", "state", "both")
REWARD_TYPES = ("dense", "sparse")
MAX_GOALS = 4
GOAL_FEATURES = 7  # subject position (3), target position (3), slot used (1)
STATE_DIM = PROPRIO_DIM + MAX_GOALS * GOAL_FEATURES


class VistaRobotEEEnv(RobotTaskEnv):
    r"""The ``VistaRobot-v0`` tabletop driven by end-effector deltas and a gripper command (panda-gym style).

    ## Description
    A Franka Panda arm above a table with objects, containers and zones must carry out a language
    instruction ("Stack the red cube on the green cube."). Tasks: ``pick_and_place``, ``stack``,
    ``sort_by_color``, ``push_to_region``, ``clear_and_place``, ``reach`` (bring the grasp point within
    5 cm of a zone's centre). Each step moves the grasp point (between
    the fingertips, gripper pointing down) and sets the fingers' opening; grasping is assisted (an
    object touched by both closing fingertips is held until they open; see
    :mod:`vista_envs.robot.panda`). One step is 10 physics steps of 1/240 s (24 Hz control).

    ## Action Space
    ``Box(-1, 1, (4,), float32)``: ``(dx, dy, dz, gripper)``. The grasp point's target moves by
    ``0.05 * (dx, dy, dz)`` metres from where it is, clipped to the workspace (x in [0.25, 0.8],
    y in [-0.4, 0.4], z in [0.01, 0.45]); ``gripper`` sets the target opening linearly from closed (-1)
    to 8 cm (+1). NaN/inf entries are replaced by a no-op, out-of-range entries are clipped, anything
    that is not four numbers becomes a no-op; each is penalised and explained in ``info["error"]`` and
    the observation text.

    ## Observation Space
    ``obs_mode="rgb"`` (default): ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(2048),
    state=Box(-10, 10, (8,), float32))`` with the camera image, the instruction (plus an error line
    after an invalid action), and proprioception ``(ee_x, ee_y, ee_z, ee_vx, ee_vy, ee_vz,
    finger_width, holding)``.
    ``obs_mode="state"``: ``Dict(text, state=Box(-10, 10, (36,), float32))`` where ``state`` appends to the
    proprioception, for each of up to 4 goals (in the task's order), the goal object's position, its
    target position and 1 (zeros for unused slots; reach: the zone's centre twice): privileged state for
    state-based RL.
    ``obs_mode="both"``: the image and the 36-dimensional state.

    ## Rewards
    With the terms of ``info["reward_terms"]`` and weights :math:`w` (constructor kwargs):

    .. math::

        R = w_s\,\mathrm{success} + w_p\,\Delta\mathrm{progress} + w_c\,\mathrm{collision} + w_i\,\mathrm{invalid} + w_t

    - success :math:`\in\{0, 1\}`: the goals hold (pose match) and the gripper is empty.
    - progress (``reward_type="dense"`` only; 0 when sparse): the change over the step of the task's
      shaped progress :math:`p = \frac{1}{n}\sum_g [\mathrm{met}_g + (1-\mathrm{met}_g)\,0.5\max(0, 1 - d_g/0.3)]`,
      :math:`d_g` the horizontal distance (m) of goal :math:`g`'s object to its target (potential-based; reach:
      the 3-D distance of the grasp point to the zone's centre, over 0.75 m instead of 0.3 m).
    - collision :math:`\in\{0, 1\}`: the arm touched a body that the instruction does not name (a
      distractor) or the table with more than ``collision_force`` newtons this step.
    - invalid :math:`\in\{0, 1\}`: the action was not a valid element of the action space.
    - :math:`w_t`: a constant per-step cost.

    Defaults: :math:`w_s = 10, w_p = 10, w_c = -10, w_i = -1, w_t = -0.01`.

    ## Starting State
    As ``VistaRobot-v0``: ``reset(seed, options={"task": ..., "split": "train"|"eval"|"test"})``; the arm
    at home (grasp point at (0.307, 0, 0.485)) with the gripper open, the objects at random places.

    ## Episode End
    Terminates on success (or on a collision when ``terminate_on_collision``); truncates after
    ``max_steps`` steps. ``info`` at every step: ``task``, ``split``, ``reward_terms``, ``is_success``,
    ``progress``, ``scene`` (ground truth, never in the observation) and ``error`` after an invalid
    action; ``answer`` (an oracle plan from the initial state) at the end.
    ``env.unwrapped.oracle()`` returns the next action of a scripted expert that follows that plan
    (behaviour-cloning data, and proof that the tasks are solvable through this interface).

    ## Arguments
    - ``tasks``, ``split``, ``image_size`` (default 128), ``randomization``, ``renderer``,
      ``panda_visual``, ``collision_force``: as ``VistaRobot-v0``.
    - ``obs_mode`` (``"rgb"`` | ``"state"`` | ``"both"``); ``reward_type`` (``"dense"`` | ``"sparse"``).
    - ``max_steps`` (int, default 300); ``terminate_on_collision`` (bool, default False).
    - ``success_weight``, ``progress_weight``, ``collision_penalty``, ``invalid_penalty``, ``step_penalty``.
    - ``render_mode``: ``"rgb_array"`` returns the camera image.

    ## Version History
    - v0: initial release.
    """

    env_id = "VistaRobotEE-v0"

    def __init__(
        self,
        tasks: Sequence[str] | None = None,
        split: str = "train",
        image_size: int | tuple[int, int] = 128,
        obs_mode: str = "rgb",
        reward_type: str = "dense",
        max_steps: int = 300,
        terminate_on_collision: bool = False,
        randomization: str | dict[str, str] | Randomization | None = None,
        renderer: str = "tiny",
        panda_visual: str = "simple",
        collision_force: float = 20.0,
        success_weight: float = 10.0,
        progress_weight: float = 10.0,
        collision_penalty: float = -10.0,
        invalid_penalty: float = -1.0,
        step_penalty: float = -0.01,
        render_mode: str | None = None,
    ):
        if obs_mode not in OBS_MODES:
            raise ValueError(f"{self.env_id}: obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        if reward_type not in REWARD_TYPES:
            raise ValueError(f"{self.env_id}: reward_type must be one of {REWARD_TYPES}, got {reward_type!r}")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"{self.env_id}: max_steps must be a positive int, got {max_steps!r}")
        super().__init__(
            tasks=tasks,
            split=split,
            image_size=image_size,
            randomization=randomization,
            renderer=renderer,
            panda_visual=panda_visual,
            collision_force=collision_force,
            reward_weights={
                "success": success_weight,
                "progress": progress_weight if reward_type == "dense" else 0.0,
                "collision": collision_penalty,
                "invalid": invalid_penalty,
                "step": step_penalty,
            },
            render_mode=render_mode,
        )
        self.obs_mode = obs_mode
        self.reward_type = reward_type
        self.max_steps = max_steps
        self.terminate_on_collision = terminate_on_collision
        observation = {"text": UnicodeText(MAX_TEXT_CHARS)}
        if obs_mode != "state":
            observation["image"] = spaces.Box(0, 255, (self.height, self.width, 3), np.uint8)
        observation["state"] = spaces.Box(-STATE_BOUND, STATE_BOUND, (PROPRIO_DIM if obs_mode == "rgb" else STATE_DIM,), np.float32)
        self.observation_space = spaces.Dict(observation)
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._expert = ScriptedPrimitivePolicy(self.robot.max_step)
        self._expert_plan: list[Primitive] = []
        self._expert_subgoal: Subgoal | None = None
        self._steps = 0
        self._progress = 0.0
        self._done = False
        self._answer = ""

    # ------------------------------------------------------------------ API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        self._reset_episode(seed, options)
        self._steps = 0
        self._done = False
        self._progress, success = self.evaluate()
        self._expert_plan, self._expert_subgoal = [], None
        self._answer = "; ".join(str(p) for p in self.oracle_primitives())
        return self._observation(None), self.episode_info(self._progress, success)

    def step(self, action: np.ndarray) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.task is None:
            raise gym.error.ResetNeeded(f"{self.env_id}: call reset() before step().")
        if self._done:
            raise gym.error.ResetNeeded(f"{self.env_id}: the episode has ended; call reset().")
        self._steps += 1
        action, error = sanitize_action(action, self.no_op_action)
        hits = self.control_step(action, self._goal_bodies)
        progress, success = self.evaluate()
        terms = {
            "success": float(success),
            "progress": progress - self._progress,
            "collision": float(bool(hits)),
            "invalid": float(error is not None),
            "step": 1.0,
        }
        self._progress = progress
        terminated = success or (self.terminate_on_collision and bool(hits))
        truncated = not terminated and self._steps >= self.max_steps
        self._done = terminated or truncated
        reward = float(sum(self.reward_weights[name] * value for name, value in terms.items()))
        info = {**self.episode_info(progress, success), "reward_terms": terms}
        if hits:
            info["collision_with"] = hits
        if error is not None:
            info["error"] = error
        if self._done:
            info["answer"] = self._answer
        return self._observation(error), reward, terminated, truncated, info

    def oracle(self) -> np.ndarray:
        """The next action of a scripted expert: it follows an oracle plan, primitive by primitive, with the
        closed-loop controller of ``VistaRobot-v0`` (re-planning from the current state when a step cannot
        run), and rises and waits once the plan is done."""
        if self.task is None:
            raise gym.error.ResetNeeded(f"{self.env_id}: call reset() before oracle().")
        while self._expert_subgoal is None or self.primitive_done(self._expert_subgoal):
            if not self._expert_plan:
                self._expert_plan = self.oracle_primitives()
                if not self._expert_plan:
                    self._expert_subgoal = None
                    ee = self.robot.ee_position()
                    return move_action(ee, np.array([ee[0], ee[1], HOVER_HEIGHT]), self.no_op_action()[3], self.robot.max_step)
            try:
                self._expert_subgoal = self.resolve(self._expert_plan.pop(0))
            except PrimitiveError:
                self._expert_plan, self._expert_subgoal = [], None
        observation = {"state": self.proprioception(), "text": str(self._expert_subgoal.primitive)}
        return self._expert(self._expert_subgoal.primitive, observation, self.low_level_info(self._expert_subgoal))

    # ---------------------------------------------------------- observation

    def _observation(self, error: str | None) -> dict[str, Any]:
        assert self.task is not None
        text = f"Instruction: {self.task.instruction}" + (f"\nError: {error}" if error else "")
        observation: dict[str, Any] = {"text": text[:MAX_TEXT_CHARS]}
        if self.obs_mode != "state":
            observation["image"] = self.render_camera()
        proprio = self.proprioception()
        observation["state"] = proprio if self.obs_mode == "rgb" else np.concatenate([proprio, self._goal_features()])
        return observation

    def _goal_features(self) -> np.ndarray:
        features = np.zeros((MAX_GOALS, GOAL_FEATURES), dtype=np.float32)
        for slot, (subject, target) in enumerate(self.goal_targets()[:MAX_GOALS]):
            features[slot, :3] = self.sim.position(self.objects[subject].body)
            features[slot, 3:6] = target
            features[slot, 6] = 1.0
        return np.clip(features.ravel(), -STATE_BOUND, STATE_BOUND)

