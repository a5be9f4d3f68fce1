"""VistaRobotEE-v0: the tabletop tasks with continuous end-effector actions (end-to-end pixel RL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from vista_envs.envs.base import StepResult
from vista_envs.envs.conversation import Conversation
from vista_envs.envs.robot_base import (
    MAX_TEXT_CHARS,
    PROPRIO_DIM,
    STATE_BOUND,
    RobotTaskEnv,
    sanitize_action,
)
from vista_envs.envs.robot_primitives import PrimitiveError, Subgoal
from vista_envs.rewards import checked_weights
from vista_envs.robot.controller import HOVER_HEIGHT, ScriptedPrimitivePolicy, move_action
from vista_envs.robot.plan import Primitive
from vista_envs.robot.prompts import EE_ACTION_FORMAT, EE_SYSTEM_PROMPT, gripper_line
from vista_envs.robot.randomization import Randomization
from vista_envs.spaces import UnicodeText

__all__ = ["VistaRobotEEEnv"]

OBS_MODES = ("rgb", "state", "both", "pixels", "vlm")
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
    to 8 cm (+1). No action object makes ``step`` raise: NaN/inf entries are replaced by a no-op,
    out-of-range entries are clipped, and anything that is not four real numbers (a string, a wrong
    shape, a torch tensor that requires grad, an object whose ``__array__`` or ``__float__`` raises)
    becomes a no-op; each is penalised and explained in ``info["error"]`` (and, in ``"vlm"`` mode, the
    observation text).

    ## Observation Space
    Array modes, for array learners (Stable-Baselines3's default policies, CleanRL-style code, ``vista_agents.ppo``)
    with no wrapper; they hold no text:

    - ``obs_mode="rgb"``: ``Dict(image=Box(0, 255, (H, W, 3), uint8), state=Box(-10, 10, (8,),
      float32))``, the camera image and proprioception ``(ee_x, ee_y, ee_z, ee_vx, ee_vy, ee_vz,
      finger_width, holding)``. SB3: ``MultiInputPolicy``.
    - ``obs_mode="state"``: ``Dict(state=Box(-10, 10, (36,), float32))``: the proprioception, then for each
      of up to 4 goals (in the task's order) the goal object's position, its target position and 1 (zeros
      for unused slots; reach: the zone's centre twice): privileged state for state-based RL. SB3:
      ``MultiInputPolicy``.
    - ``obs_mode="both"``: ``Dict(image, state)`` with the 36-dimensional state. SB3: ``MultiInputPolicy``.
    - ``obs_mode="pixels"``: the camera image alone, ``Box(0, 255, (H, W, 3), uint8)`` (channel-last; SB3's
      ``CnnPolicy`` transposes it itself).

    For agents that read language, ``obs_mode="vlm"`` (the default: the agent contract of every env in the
    suite): ``Dict(image, text=UnicodeText(2048), state=Box(-10, 10, (8,), float32))``, where ``text`` is
    the complete prompt: the instruction, the gripper's state in words, how to act, and an error line after
    an invalid action. As in every text env, ``info["messages"]``
    holds the chat (a system prompt, then one user turn ``[{"type": "image"}, {"type": "text", "text":
    obs["text"]}]``) and ``info["images"]`` the current camera image, at reset and at every step. The
    actions are not text, so the chat is the current step's prompt rather than a growing history; the
    agent's harness turns its answer into the 4 numbers.

    ## Rewards
    With the terms of ``info["reward_terms"]`` and weights :math:`w \ge 0` (constructor kwargs; a cost's
    term is negative, as in Gymnasium's MuJoCo v5 envs):

    .. math::

        R = w_s\,\mathrm{success} + w_p\,\Delta\mathrm{progress} + w_c\,\mathrm{collision} + w_i\,\mathrm{invalid} +
        w_t\,\mathrm{step}

    - success :math:`\in\{0, 1\}`: the goals hold (pose match) and the gripper is empty.
    - progress (``reward_type="dense"`` only; its weight is 0 when sparse): the change over the step of the
      task's shaped progress :math:`p = \frac{1}{n}\sum_g [\mathrm{met}_g + (1-\mathrm{met}_g)\,0.5\max(0, 1 -
      d_g/0.3)]`,
      :math:`d_g` the horizontal distance (m) of goal :math:`g`'s object to its target (potential-based; reach:
      the 3-D distance of the grasp point to the zone's centre, over 0.75 m instead of 0.3 m).
    - collision :math:`\in\{-1, 0\}`: -1 when the arm touched a body that the instruction does not name (a
      distractor) or the table with more than ``collision_force`` newtons this step.
    - invalid :math:`\in\{-1, 0\}`: -1 when the action was not a valid element of the action space.
    - step :math:`= -1`: a constant per-step cost.

    Defaults: :math:`w_s = 10, w_p = 10, w_c = 10, w_i = 1, w_t = 0.01` (``success_weight``,
    ``progress_weight``, ``collision_cost_weight``, ``invalid_cost_weight``, ``step_cost_weight``).

    ## Starting State
    As ``VistaRobot-v0``: ``reset(seed, options={"task": ..., "split": "train"|"eval"|"test"})``; the arm
    at home (grasp point at (0.307, 0, 0.485)) with the gripper open, the objects at random places.

    ## Episode End
    Terminates on success (or on a collision when ``terminate_on_collision``); truncates after
    ``max_steps`` steps. ``info`` at every step: ``task``, ``split``, ``reward_terms`` (after a step),
    ``is_success``, ``progress``, ``collision_with`` after a collision and ``error`` after an invalid
    action; in ``"vlm"`` mode ``messages`` and ``images``. Ground truth only at the end: ``answer`` (an
    oracle plan from the initial state) and ``scene`` (every object's name, colour, shape and pose);
    ``env.unwrapped.scene()`` is the privileged accessor for it at any time.
    ``env.unwrapped.oracle()`` returns the next action of a scripted expert that follows that plan
    (behaviour-cloning data, and proof that the tasks are solvable through this interface).

    ## Arguments
    - ``tasks``, ``split``, ``image_size`` (default 128), ``randomization``, ``renderer``,
      ``panda_visual``, ``collision_force``: as ``VistaRobot-v0``. One randomisation knob is meant for this
      env's array modes: ``randomization={"zone_colors": "high"}`` draws every zone named with a seen colour in
      a random colour anywhere in the RGB cube (never within RGB distance 60 of the test split's purple or pink;
      ``"low"``/``"medium"`` stay near the named hue), while eval/test zones
      (orange, purple, pink) keep their colour; the instruction still names the zone's original colour, so it is
      not for ``"vlm"`` mode, and no preset sets it (see :mod:`vista_envs.robot.randomization`;
      ``benchmarks/bench_domain_randomization.py`` trains with it). With it, ``"zone_contrast"`` draws a share of
      those colours faint against the episode's table (RGB distance 25-90), so that low-contrast zones are common.
    - ``obs_mode`` (``"vlm"``, default | ``"rgb"`` | ``"state"`` | ``"both"`` | ``"pixels"``); ``reward_type``
      (``"dense"`` | ``"sparse"``).
    - ``max_steps`` (int, default 300); ``terminate_on_collision`` (bool, default False).
    - ``success_weight``, ``progress_weight``, ``collision_cost_weight``, ``invalid_cost_weight``,
      ``step_cost_weight``: each >= 0 (a negative weight raises ``ValueError``).
    - ``render_mode``: ``"rgb_array"`` returns the camera image.

    ## Version History
    - v0: changed before release: the array modes (``"rgb"``, ``"state"``, ``"both"``) lost their ``text``
      key, ``"pixels"`` was added, and the default is ``"vlm"`` (was ``"rgb"`` with a bare instruction); the cost
      kwargs became ``*_cost_weight`` >= 0 (they were ``collision_penalty=-10``, ``invalid_penalty=-1``,
      ``step_penalty=-0.01``) and cost terms are reported negative; ``info["scene"]`` moved from every step to
      the episode's end. The ``zone_colors`` randomisation knob was added (off unless named: every other
      episode is unchanged); it first held out the hues 240-355 as well, now only the neighbourhood of the test
      colours; its ``"high"`` level then drew in HSV (saturation and value >= 0.3), now anywhere in the RGB cube
      (light and pastel colours included). The ``zone_contrast`` knob was added (off unless named, with
      ``zone_colors``).
    """

    env_id = "VistaRobotEE-v0"

    def __init__(
        self,
        tasks: Sequence[str] | None = None,
        split: str = "train",
        image_size: int | tuple[int, int] = 128,
        obs_mode: str = "vlm",
        reward_type: str = "dense",
        max_steps: int = 300,
        terminate_on_collision: bool = False,
        randomization: str | dict[str, str] | Randomization | None = None,
        renderer: str = "tiny",
        panda_visual: str = "simple",
        collision_force: float = 20.0,
        success_weight: float = 10.0,
        progress_weight: float = 10.0,
        collision_cost_weight: float = 10.0,
        invalid_cost_weight: float = 1.0,
        step_cost_weight: float = 0.01,
        render_mode: str | None = None,
    ):
        if obs_mode not in OBS_MODES:
            raise ValueError(f"{self.env_id}: obs_mode must be one of {OBS_MODES}, got {obs_mode!r}")
        if reward_type not in REWARD_TYPES:
            raise ValueError(f"{self.env_id}: reward_type must be one of {REWARD_TYPES}, got {reward_type!r}")
        if not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"{self.env_id}: max_steps must be a positive int, got {max_steps!r}")
        weights = checked_weights(
            self.env_id,
            success_weight=success_weight,
            progress_weight=progress_weight,
            collision_cost_weight=collision_cost_weight,
            invalid_cost_weight=invalid_cost_weight,
            step_cost_weight=step_cost_weight,
        )
        if reward_type == "sparse":
            weights["progress"] = 0.0
        super().__init__(
            tasks=tasks,
            split=split,
            image_size=image_size,
            randomization=randomization,
            renderer=renderer,
            panda_visual=panda_visual,
            collision_force=collision_force,
            reward_weights=weights,
            render_mode=render_mode,
        )
        self.obs_mode = obs_mode
        self.reward_type = reward_type
        self.max_steps = max_steps
        self.terminate_on_collision = terminate_on_collision
        self.observation_space = self._observation_space()
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._expert = ScriptedPrimitivePolicy(self.robot.max_step)
        self._expert_plan: list[Primitive] = []
        self._expert_subgoal: Subgoal | None = None
        self._steps = 0
        self._progress = 0.0
        self._answer = ""

    # ------------------------------------------------------------------ API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self._reset_episode(seed, options)
        self._start_episode()
        self._steps = 0
        self._progress, success = self.evaluate()
        self._expert_plan, self._expert_subgoal = [], None
        self._answer = "; ".join(str(p) for p in self.oracle_primitives())
        observation = self._observation(None)
        return observation, self._with_prompt(self.episode_info(self._progress, success), observation)

    def step(self, action: Any) -> StepResult:
        self._require_running()
        self._steps += 1
        action, error = sanitize_action(action, self.no_op_action)
        hits = self.control_step(action, self._goal_bodies)
        progress, success = self.evaluate()
        terms = {
            "success": float(success),
            "progress": progress - self._progress,
            "collision": -1.0 if hits else 0.0,
            "invalid": -1.0 if error is not None else 0.0,
            "step": -1.0,
        }
        self._progress = progress
        terminated = success or (self.terminate_on_collision and bool(hits))
        truncated = not terminated and self._steps >= self.max_steps
        if terminated or truncated:
            self._end_episode()
        reward = float(sum(self.reward_weights[name] * value for name, value in terms.items()))
        info = {**self.episode_info(progress, success), "reward_terms": terms}
        if hits:
            info["collision_with"] = hits
        if error is not None:
            info["error"] = error
        if self.episode_ended:
            info["answer"] = self._answer
            info["scene"] = self.scene()
        observation = self._observation(error)
        return observation, reward, terminated, truncated, self._with_prompt(info, observation)

    def oracle(self) -> np.ndarray:
        """The next action of a scripted expert: it follows an oracle plan, primitive by primitive, with the
        closed-loop controller of ``VistaRobot-v0`` (re-planning from the current state when a step cannot
        run), and rises and waits once the plan is done."""
        self._require_reset("oracle")
        while self._expert_subgoal is None or self.primitive_done(self._expert_subgoal):
            if not self._expert_plan:
                self._expert_plan = self.oracle_primitives()
                if not self._expert_plan:
                    self._expert_subgoal = None
                    ee = self.robot.ee_position()
                    return move_action(
                        ee, np.array([ee[0], ee[1], HOVER_HEIGHT]), self.no_op_action()[3], self.robot.max_step
                    )
            try:
                self._expert_subgoal = self.resolve(self._expert_plan.pop(0))
            except PrimitiveError:
                self._expert_plan, self._expert_subgoal = [], None
        observation = {"state": self.proprioception(), "text": str(self._expert_subgoal.primitive)}
        return self._expert(self._expert_subgoal.primitive, observation, self.low_level_info(self._expert_subgoal))

    # ---------------------------------------------------------- observation

    def _observation_space(self) -> spaces.Space[Any]:
        image = spaces.Box(0, 255, (self.height, self.width, 3), np.uint8)
        if self.obs_mode == "pixels":
            return image
        entries: dict[str, spaces.Space[Any]] = {}
        if self.obs_mode != "state":
            entries["image"] = image
        if self.obs_mode == "vlm":
            entries["text"] = UnicodeText(MAX_TEXT_CHARS)
        state_dim = STATE_DIM if self.obs_mode in ("state", "both") else PROPRIO_DIM
        entries["state"] = spaces.Box(-STATE_BOUND, STATE_BOUND, (state_dim,), np.float32)
        return spaces.Dict(entries)

    def _observation(self, error: str | None) -> Any:
        assert self.task is not None
        image = self.render_camera() if self.obs_mode != "state" else None
        if self.obs_mode == "pixels":
            return image
        observation: dict[str, Any] = {} if image is None else {"image": image}
        proprio = self.proprioception()
        if self.obs_mode == "vlm":
            lines = [f"Instruction: {self.task.instruction}", gripper_line(proprio), EE_ACTION_FORMAT]
            if error:
                lines.append(f"Error: {error}")
            observation["text"] = "\n".join(lines)[:MAX_TEXT_CHARS]
        observation["state"] = (
            np.concatenate([proprio, self._goal_features()]) if self.obs_mode in ("state", "both") else proprio
        )
        return observation

    def _with_prompt(self, info: dict[str, Any], observation: Any) -> dict[str, Any]:
        """``info`` with the chat of the current step, in ``"vlm"`` mode (see the class docstring)."""
        if self.obs_mode == "vlm":
            chat = Conversation(EE_SYSTEM_PROMPT)
            chat.user(observation["text"], [observation["image"].copy()])
            info.update(chat.info())
        return info

    def _goal_features(self) -> np.ndarray:
        features = np.zeros((MAX_GOALS, GOAL_FEATURES), dtype=np.float32)
        for slot, (subject, target) in enumerate(self.goal_targets()[:MAX_GOALS]):
            features[slot, :3] = self.sim.position(self.objects[subject].body)
            features[slot, 3:6] = target
            features[slot, 6] = 1.0
        return np.clip(features.ravel(), -STATE_BOUND, STATE_BOUND)
