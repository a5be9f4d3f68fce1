"""VistaRobot-v0: look at a tabletop, describe it, and act with a text plan of manipulation primitives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from vista_envs.envs.base import StepResult
from vista_envs.envs.conversation import Conversation
from vista_envs.envs.robot_base import (
    CONTROL_SUBSTEPS,
    MAX_TEXT_CHARS,
    PROPRIO_DIM,
    STATE_BOUND,
    RobotTaskEnv,
    sanitize_action,
)
from vista_envs.envs.robot_primitives import PrimitiveError, Subgoal
from vista_envs.rewards import checked_weights
from vista_envs.robot.controller import HOVER_HEIGHT, LowLevelPolicy, ScriptedPrimitivePolicy, move_action
from vista_envs.robot.panda import HOME_POSITION
from vista_envs.robot.plan import PLAN_FORMAT, PlanParseError, Primitive, extract_plan_text, parse_plan
from vista_envs.robot.prompts import PLAN_SYSTEM_PROMPT
from vista_envs.robot.randomization import Randomization
from vista_envs.robot.scene import describe_scene, extract_scene, score_scene
from vista_envs.spaces import UnicodeText

__all__ = ["VistaRobotEnv"]

CONTROLS = ("scripted", "hierarchical")
RETREAT_STEPS = 30
ECHOED_ACTION_CHARS = 4096  # an over-long action is cut to this in the conversation


class VistaRobotEnv(RobotTaskEnv):
    r"""A PyBullet tabletop with a Franka Panda arm, driven by text plans (the "robotic VLM-RL" setting).

    ## Description
    The agent sees a camera image of a table with objects (cubes, spheres, cylinders, pyramids,
    prisms), containers (bowls, trays) and flat coloured zones, and an instruction such as "Put the red
    cube in the blue bowl." It answers with a plan of primitives, e.g. ``pick(red cube); place(blue
    bowl)``, optionally preceded by a description of the scene in ``<scene>...</scene>``. A controller
    carries out the plan in the simulator and the agent sees the result. Tasks: ``pick_and_place``,
    ``stack``, ``sort_by_color``, ``push_to_region``, ``reach`` (``reach(green zone)`` touches the zone
    with the gripper), ``clear_and_place`` (the container is occupied
    and must be emptied first). See :mod:`vista_envs.robot.plan` for the grammar (a JSON list is
    accepted too) and :mod:`vista_envs.robot.tasks` for the tasks.

    With ``control="scripted"`` (default) each primitive is executed by a closed-loop scripted
    controller; with ``control="hierarchical"`` by ``low_level_policy``, a callable
    ``(primitive, observation, info) -> action`` that outputs ``VistaRobotEE-v0`` actions once per
    control step (see :class:`vista_envs.robot.controller.LowLevelPolicy`), e.g. a learned policy.

    ## Action Space
    ``UnicodeText(max_action_chars)``: the model's response. The plan is taken from ``<plan>...</plan>``,
    else ``<answer>...</answer>``, else the whole response without ``<think>``/``<scene>`` blocks. A
    non-string or over-long action is invalid (penalised, explained, the episode goes on).

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(2048), state=Box(-10, 10, (8,), float32))``:
    the camera image; the prompt, complete at every turn: the instruction, feedback on the last plan
    (what each step did, errors, collisions) and the action format (how to describe the scene and write
    the plan, :data:`~vista_envs.robot.plan.PLAN_FORMAT`), so an agent that reads only ``obs["text"]`` and
    the image can earn the full reward; and proprioception ``(ee_x, ee_y, ee_z, ee_vx, ee_vy, ee_vz,
    finger_width, holding)`` in metres, m/s and {0, 1}.

    The agent contract of the text envs: ``info["messages"]`` holds the conversation in chat format at
    reset and at every step (a system prompt with the setting and the action format; a user turn
    ``[{"type": "image"}, {"type": "text", "text": obs["text"]}]`` per observation; an assistant turn
    per action, "" for a non-string one), and ``info["images"]`` the camera images of its
    ``{"type": "image"}`` placeholders, in order.

    ## Rewards
    Per step, with the terms of ``info["reward_terms"]`` and weights :math:`w \ge 0` (constructor kwargs;
    a cost's term is negative, as in Gymnasium's MuJoCo v5 envs):

    .. math::

        R = w_s\,\mathrm{success} + w_p\,\Delta\mathrm{progress} + w_c\,\mathrm{collision}
            + w_i\,\mathrm{invalid} + w_d\,\mathrm{scene} + w_t\,\mathrm{step}

    - success :math:`\in\{0, 1\}`: the task's goals hold (pose match) and the gripper is empty.
    - progress: change of the task's shaped progress :math:`p \in [0, 1]` over the step,
      :math:`p = \frac{1}{n}\sum_g [\mathrm{met}_g + (1 - \mathrm{met}_g)\, 0.5 \max(0, 1 - d_g / 0.3)]` with
      :math:`d_g` the horizontal distance (m) of goal :math:`g`'s object to its target.
    - collision :math:`\in\{-1, 0\}`: -1 when a primitive stopped because the arm hit a body other than
      the primitive's object and target harder than ``collision_force`` newtons (a collision ends the plan).
    - invalid :math:`\in\{-1, 0\}`: -1 when the action was not a string, too long, did not parse, or a
      step could not run (absent object, pick while holding, place while holding nothing, out of reach...).
    - scene :math:`\in [0, 1]`: F1 of the first ``<scene>`` description of the episode against the objects
      on the table (:mod:`vista_envs.robot.scene`); later descriptions score 0.
    - step :math:`= -1`: a constant per-step cost.

    Defaults: :math:`w_s = 10, w_p = 5, w_c = 10, w_i = 1, w_d = 2, w_t = 0.1` (``success_weight``,
    ``progress_weight``, ``collision_cost_weight``, ``invalid_cost_weight``, ``scene_weight``,
    ``step_cost_weight``).

    ## Starting State
    ``reset(seed, options)`` picks a task (uniformly from ``tasks`` unless ``options["task"]`` names one)
    and lays out its objects (plus distractors if randomised) at random non-overlapping places, the arm
    at its home pose with the gripper open. ``options["split"]``: ``"train"`` uses seen colours and
    shapes only; ``"eval"`` and ``"test"`` episodes always include an unseen colour (purple, orange,
    pink) or shape (pyramid, prism), and split between them by a hash of the layout, so the three
    splits never share a layout.

    ## Episode End
    Terminates when the task succeeds; truncates after ``max_turns`` plans. After every plan the arm
    returns home. ``info`` at every step: ``task``, ``split``, ``turn``, ``is_success``, ``progress``,
    ``messages``, ``images``; at reset ``plan_format`` (the action format alone); after a step
    ``reward_terms``, ``executed`` (the steps that ran; the last may have failed) and ``error`` when
    the action was invalid. Ground truth only at the end: ``answer`` (an oracle plan from the initial
    state) and ``scene`` (every object's name, colour, shape and pose: what descriptions are scored
    against); ``env.unwrapped.scene()`` is the privileged accessor for it at any time.

    ## Arguments
    - ``tasks`` (sequence of str | None): tasks to draw from; default all.
    - ``split`` (str): default split, ``"train"``.
    - ``image_size`` (int | (height, width)): default 128.
    - ``control`` (str): ``"scripted"`` or ``"hierarchical"``; ``low_level_policy`` (callable): required
      for ``"hierarchical"``; ``low_level_image`` (bool, default True): render an image for it every
      control step.
    - ``max_turns`` (int, default 3), ``max_plan_steps`` (int, default 16), ``max_primitive_steps``
      (control steps per primitive, default 80), ``max_action_chars`` (int, default 4096).
    - ``randomization``: ``None``/``"none"``, ``"low"``, ``"medium"``, ``"high"``, a dict of knobs or a
      :class:`~vista_envs.robot.randomization.Randomization` (a preset leaves the ``zone_colors`` knob off:
      it draws zones off their colour names, for ``VistaRobotEE-v0``'s pixel learners).
    - ``renderer``: ``"tiny"`` (CPU, default) or ``"egl"``; ``panda_visual``: ``"simple"`` (default,
      fast) or ``"detailed"`` meshes.
    - ``collision_force`` (N, default 20); ``success_weight``, ``progress_weight``,
      ``collision_cost_weight``, ``invalid_cost_weight``, ``scene_weight``, ``step_cost_weight``: each
      >= 0 (a negative weight raises ``ValueError``).
    - ``render_mode``: ``"rgb_array"`` returns the last camera image.

    ## Version History
    - v0: changed before release: the prompt (``obs["text"]``) carries the action format at every turn and
      ``info["messages"]``/``info["images"]`` hold the conversation; the cost kwargs became
      ``*_cost_weight`` >= 0 (they were ``collision_penalty=-10``, ``invalid_penalty=-1``,
      ``step_penalty=-0.1``) and cost terms are reported negative; ``info["scene"]`` moved from every step
      to the episode's end.
    """

    env_id = "VistaRobot-v0"

    def __init__(
        self,
        tasks: Sequence[str] | None = None,
        split: str = "train",
        image_size: int | tuple[int, int] = 128,
        control: str = "scripted",
        low_level_policy: LowLevelPolicy | None = None,
        low_level_image: bool = True,
        max_turns: int = 3,
        max_plan_steps: int = 16,
        max_primitive_steps: int = 80,
        max_action_chars: int = 4096,
        randomization: str | dict[str, str] | Randomization | None = None,
        renderer: str = "tiny",
        panda_visual: str = "simple",
        collision_force: float = 20.0,
        success_weight: float = 10.0,
        progress_weight: float = 5.0,
        collision_cost_weight: float = 10.0,
        invalid_cost_weight: float = 1.0,
        scene_weight: float = 2.0,
        step_cost_weight: float = 0.1,
        render_mode: str | None = None,
    ):
        if control not in CONTROLS:
            raise ValueError(f"{self.env_id}: control must be one of {CONTROLS}, got {control!r}")
        if control == "hierarchical" and not callable(low_level_policy):
            raise ValueError(
                f"{self.env_id}: control='hierarchical' needs a callable low_level_policy(primitive, observation, info)"
            )
        if control == "scripted" and low_level_policy is not None:
            raise ValueError(f"{self.env_id}: low_level_policy is only used with control='hierarchical'")
        for name, value in (
            ("max_turns", max_turns),
            ("max_plan_steps", max_plan_steps),
            ("max_primitive_steps", max_primitive_steps),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{self.env_id}: {name} must be a positive int, got {value!r}")
        super().__init__(
            tasks=tasks,
            split=split,
            image_size=image_size,
            randomization=randomization,
            renderer=renderer,
            panda_visual=panda_visual,
            collision_force=collision_force,
            reward_weights=checked_weights(
                self.env_id,
                success_weight=success_weight,
                progress_weight=progress_weight,
                collision_cost_weight=collision_cost_weight,
                invalid_cost_weight=invalid_cost_weight,
                scene_weight=scene_weight,
                step_cost_weight=step_cost_weight,
            ),
            render_mode=render_mode,
        )
        self.control = control
        self.low_level_policy: LowLevelPolicy = low_level_policy or ScriptedPrimitivePolicy(self.robot.max_step)
        self.low_level_image = control == "hierarchical" and low_level_image
        self.max_turns = max_turns
        self.max_plan_steps = max_plan_steps
        self.max_primitive_steps = max_primitive_steps
        self.max_action_chars = max_action_chars
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (self.height, self.width, 3), np.uint8),
                "text": UnicodeText(MAX_TEXT_CHARS),
                "state": spaces.Box(-STATE_BOUND, STATE_BOUND, (PROPRIO_DIM,), np.float32),
            }
        )
        self.action_space = UnicodeText(max_action_chars)
        self._turn = 0
        self._progress = 0.0
        self._success = False
        self._scene_scored = False
        self._text = ""
        self._answer = ""
        self.conversation = Conversation(PLAN_SYSTEM_PROMPT)

    # ------------------------------------------------------------------ API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        self._reset_episode(seed, options)
        self._start_episode()
        assert self.task is not None
        self._turn = 0
        self._scene_scored = False
        self._progress, self._success = self.evaluate()
        self._answer = "; ".join(str(p) for p in self.oracle_primitives())
        self._text = self._prompt([])
        observation = self._observation()
        self.conversation = Conversation(PLAN_SYSTEM_PROMPT)
        self.conversation.user(self._text, [observation["image"].copy()])
        return observation, self._with_conversation({**self._info(), "plan_format": PLAN_FORMAT})

    def step(self, action: str) -> StepResult:
        self._require_running()
        self._turn += 1
        terms = {"success": 0.0, "progress": 0.0, "collision": 0.0, "invalid": 0.0, "scene": 0.0, "step": -1.0}
        feedback: list[str] = []
        executed: list[str] = []
        error = None
        if isinstance(action, str):
            action = str.__str__(action)  # a plain copy: a str subclass's overridden methods never run
        if not isinstance(action, str):
            error = f"the action must be a string (a plan), got {type(action).__name__}"
            self.conversation.assistant("")
        elif len(action) > self.max_action_chars:
            error = f"the action is {len(action)} characters long; at most {self.max_action_chars} are allowed"
            self.conversation.assistant(action[:ECHOED_ACTION_CHARS])
        else:
            self.conversation.assistant(action)
            description = extract_scene(action)
            if description is not None and not self._scene_scored:
                terms["scene"] = score_scene(description, self.scene()["objects"])
                self._scene_scored = True
            try:
                plan = parse_plan(extract_plan_text(action), self.max_plan_steps)
            except PlanParseError as parse_error:
                error = f"the plan does not parse: {parse_error}"
            else:
                error, collided = self._run_plan(plan, feedback, executed)
                terms["collision"] = -1.0 if collided else 0.0
        if error is not None:
            terms["invalid"] = -1.0
            feedback.append(f"Error: {error}")
        self._retreat()
        progress, success = self.evaluate()
        terms["progress"] = progress - self._progress
        self._progress, self._success = progress, success
        terms["success"] = float(success)
        feedback.append("The task is complete." if success else "The task is not complete yet.")
        self._text = self._prompt(feedback)
        terminated = success
        truncated = not terminated and self._turn >= self.max_turns
        if terminated or truncated:
            self._end_episode()
        reward = float(sum(self.reward_weights[name] * value for name, value in terms.items()))
        info = {**self._info(), "reward_terms": terms, "executed": executed}
        if error is not None:
            info["error"] = error
        if self.episode_ended:
            info["answer"] = self._answer
            info["scene"] = self.scene()
        observation = self._observation()
        self.conversation.user(self._text, [observation["image"].copy()])
        return observation, reward, terminated, truncated, self._with_conversation(info)

    def oracle(self) -> str:
        """A correct response for the current state: a scene description and a plan that solves the task."""
        plan = "; ".join(str(p) for p in self.oracle_primitives())
        return f"<scene>{describe_scene(self.scene()['objects'])}</scene>\n<plan>{plan}</plan>"

    # ------------------------------------------------------------ execution

    def _run_plan(self, plan: list[Primitive], feedback: list[str], executed: list[str]) -> tuple[str | None, bool]:
        """Run the plan's steps until one fails; return (error for bad input, whether the arm collided)."""
        for number, primitive in enumerate(plan, 1):
            try:
                subgoal = self.resolve(primitive)
            except PrimitiveError as problem:
                return f"step {number} {primitive}: {problem}", False
            outcome, hits = self._execute(subgoal)
            executed.append(str(primitive))
            if outcome == "done":
                feedback.append(f"{number}. {primitive}: done.")
                continue
            if outcome == "collision":
                feedback.append(
                    f"{number}. {primitive}: stopped, the arm hit the {' and the '.join(hits)} (collision); the rest "
                    "of the plan was skipped."
                )
                return None, True
            feedback.append(
                f"{number}. {primitive}: not finished within {self.max_primitive_steps} control steps; the rest of the "
                "plan was skipped."
            )
            return None, False
        return None, False

    def _execute(self, subgoal: Subgoal) -> tuple[str, list[str]]:
        """Drive one primitive with the low-level policy: ("done" | "collision" | "timeout", bodies hit)."""
        subject = self.objects[subgoal.subject].body
        allowed = {subject} if subgoal.target_body is None else {subject, subgoal.target_body}
        text = str(subgoal.primitive)
        for _ in range(self.max_primitive_steps):
            observation: dict[str, Any] = {"state": self.proprioception(), "text": text}
            if self.low_level_image:
                observation["image"] = self.render_camera()
            action = self.low_level_policy(subgoal.primitive, observation, self.low_level_info(subgoal))
            action, _ = sanitize_action(action, self.no_op_action)
            hits = self.control_step(action, allowed)
            if hits:
                return "collision", hits
            if self.primitive_done(subgoal):
                return "done", []
        return "timeout", []

    def _retreat(self) -> None:
        """Rise, then return to the home position with the fingers as they are (collisions here are not scored)."""
        for _ in range(RETREAT_STEPS):
            ee = self.robot.ee_position()
            if np.linalg.norm(HOME_POSITION - ee) < 0.01:
                break
            target = np.array([ee[0], ee[1], HOVER_HEIGHT]) if ee[2] < HOVER_HEIGHT - 0.03 else HOME_POSITION
            self.robot.set_action(move_action(ee, target, self.no_op_action()[3], self.robot.max_step))
            self.sim.step(CONTROL_SUBSTEPS)

    # ---------------------------------------------------------- observation

    def _prompt(self, feedback: list[str]) -> str:
        """The observation text: the instruction, the feedback (cut if need be) and the action format, which
        is always kept whole so that the prompt stays complete."""
        assert self.task is not None
        head, tail = f"Instruction: {self.task.instruction}", PLAN_FORMAT
        middle = "\n".join(feedback)
        room = MAX_TEXT_CHARS - len(head) - len(tail) - 2
        if len(middle) > room:
            middle = middle[: max(room - 4, 0)] + " ..."
        return "\n".join(part for part in (head, middle, tail) if part)[:MAX_TEXT_CHARS]

    def _observation(self) -> dict[str, Any]:
        return {"image": self.render_camera(), "text": self._text, "state": self.proprioception()}

    def _info(self) -> dict[str, Any]:
        return {**self.episode_info(self._progress, self._success), "turn": self._turn}

    def _with_conversation(self, info: dict[str, Any]) -> dict[str, Any]:
        info.update(self.conversation.info())
        return info
