"""Low-level control of plan primitives through the end-effector action interface.

``VistaRobot-v0`` executes each primitive of a plan by calling a low-level policy once per control
step; the policy returns the same ``(dx, dy, dz, gripper)`` action as ``VistaRobotEE-v0`` takes. With
``control="scripted"`` the policy is :class:`ScriptedPrimitivePolicy`; with ``control="hierarchical"``
it is any callable of the :class:`LowLevelPolicy` signature, e.g. a learned goal-conditioned policy.

:class:`ScriptedPrimitivePolicy` is a closed-loop (stateless) controller: each action is computed
from the current state, so it recovers from disturbances, and it reads privileged ground truth
(the low-level ``info["scene"]``, :meth:`RobotTaskEnv.scene`) rather than pixels.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from vista_envs.robot.panda import MAX_FINGER_WIDTH
from vista_envs.robot.plan import Primitive

__all__ = ["HOVER_HEIGHT", "LowLevelPolicy", "ScriptedPrimitivePolicy", "move_action"]

# Height (m) of the grasp point when travelling between places: clears a three-cube tower.
HOVER_HEIGHT = 0.2
# The grasp point never goes lower than this above the table (fingertips end ~1 cm below it).
MIN_GRASP_HEIGHT = 0.015
ALIGN_TOLERANCE = 0.012
HEIGHT_TOLERANCE = 0.008
RELEASE_DROP = 0.01
PUSH_HEIGHT = 0.02
PUSH_STANDOFF = 0.035
PUSH_STEP = 0.03
OPEN, CLOSED = 1.0, -1.0


class LowLevelPolicy(Protocol):
    """``policy(primitive, observation, info) -> action``: one control step of a primitive.

    ``observation`` is ``{"state": proprioception, "text": str(primitive)}`` plus ``"image"`` when the
    env renders for its low-level policy. ``info`` holds ``"scene"`` (ground-truth objects and the held
    object, as :meth:`~vista_envs.robot.core.RobotTaskEnv.scene` gives them: a low-level policy inside the env
    may be privileged, the agent is not) and ``"target_position"`` (where the primitive's subject should
    end up, or None for pick). The action is ``(dx, dy, dz, gripper)`` in ``[-1, 1]``.
    """

    def __call__(self, primitive: Primitive, observation: dict[str, Any], info: dict[str, Any]) -> np.ndarray: ...


def move_action(
    ee_position: np.ndarray, target: np.ndarray, gripper: float, max_step: float, speed: float = 1.0
) -> np.ndarray:
    """The action that moves the grasp point straight towards ``target`` (at most ``speed * max_step`` per axis)."""
    delta = np.clip((np.asarray(target) - ee_position) / max_step, -speed, speed)
    return np.array([*delta, gripper], dtype=np.float32)


def _tolerance(ee: np.ndarray) -> float:
    """How far (m) from its xy goal the grasp point may be: twice as far once it has started descending,
    so that tracking errors on the way down do not send it back up (hysteresis)."""
    return ALIGN_TOLERANCE * (2.0 if ee[2] < HOVER_HEIGHT - 0.03 else 1.0)


def _gripper_for(width: float) -> float:
    """The gripper action whose target opening is ``width`` metres."""
    return float(np.clip(width / MAX_FINGER_WIDTH * 2 - 1, -1.0, 1.0))


class ScriptedPrimitivePolicy:
    """Scripted pick, place and push (see the module docstring).

    - pick(X): rise, fly above X at hover height with the gripper open, descend to X's centre, close;
      once X is held, lift.
    - place(Y): with the object held, fly above the target point, descend until the object is just above
      it, open a little (the object drops a centimetre), rise.
    - push(X, Y): gripper closed, come down behind X on the far side from the target, push it along the
      line towards the target in short steps, re-approach if it drifts sideways, rise at the end.
    - reach(Z): fly above zone Z at hover height with the fingers as they are, descend onto its centre.

    Args:
        max_step: the env's metres per unit action (``Panda.max_step``).
    """

    def __init__(self, max_step: float = 0.05):
        self.max_step = max_step

    def __call__(self, primitive: Primitive, observation: dict[str, Any], info: dict[str, Any]) -> np.ndarray:
        state = observation["state"]
        ee, width = np.asarray(state[:3], dtype=float), float(state[6])
        scene = info["scene"]
        objects = {entry["name"]: entry for entry in scene["objects"]}
        subject = objects[info["subject"]]
        position = np.asarray(subject["position"], dtype=float)
        target = None if info["target_position"] is None else np.asarray(info["target_position"], dtype=float)
        if primitive.verb == "pick":
            return self._pick(ee, width, position, scene["held"] == subject["name"])
        if primitive.verb == "place":
            return self._place(ee, width, position, target, scene["held"] == subject["name"])
        if primitive.verb == "reach":
            return self._reach(ee, width, position)
        return self._push(ee, position, subject["radius"], target)

    def _travel(self, ee: np.ndarray, goal_xy: np.ndarray, gripper: float) -> np.ndarray:
        """Go to hover height above ``goal_xy``, rising first when low (never sweep across the table)."""
        if ee[2] < HOVER_HEIGHT - 0.03:
            return move_action(ee, np.array([ee[0], ee[1], HOVER_HEIGHT]), gripper, self.max_step)
        return move_action(ee, np.array([goal_xy[0], goal_xy[1], HOVER_HEIGHT]), gripper, self.max_step)

    def _pick(self, ee: np.ndarray, width: float, position: np.ndarray, holding: bool) -> np.ndarray:
        if holding:
            return move_action(ee, np.array([ee[0], ee[1], HOVER_HEIGHT]), CLOSED, self.max_step)
        if np.linalg.norm(position[:2] - ee[:2]) > _tolerance(ee):
            return self._travel(ee, position[:2], OPEN)
        grasp = np.array([position[0], position[1], max(position[2], MIN_GRASP_HEIGHT)])
        if ee[2] > grasp[2] + 0.03 and width < 0.075:
            return move_action(ee, np.array([position[0], position[1], ee[2]]), OPEN, self.max_step)
        gripper = CLOSED if ee[2] <= grasp[2] + HEIGHT_TOLERANCE else OPEN
        return move_action(ee, grasp, gripper, self.max_step)

    def _place(
        self, ee: np.ndarray, width: float, position: np.ndarray, target: np.ndarray, holding: bool
    ) -> np.ndarray:
        if not holding:
            # Rise with the fingers as they are: opening wide could knock neighbours in a tray.
            return move_action(ee, np.array([ee[0], ee[1], HOVER_HEIGHT]), _gripper_for(width), self.max_step)
        offset = position - ee  # where the held object hangs relative to the grasp point
        xy_error = target[:2] - position[:2]
        if np.linalg.norm(xy_error) > _tolerance(ee):
            return self._travel(ee, ee[:2] + xy_error, CLOSED)
        release = np.array([ee[0] + xy_error[0], ee[1] + xy_error[1], target[2] + RELEASE_DROP - offset[2]])
        if ee[2] > release[2] + HEIGHT_TOLERANCE:
            return move_action(ee, release, CLOSED, self.max_step)
        # Open just enough to let go, so the fingers do not sweep into neighbours.
        return move_action(ee, release, _gripper_for(width + 0.02), self.max_step)

    def _reach(self, ee: np.ndarray, width: float, centre: np.ndarray) -> np.ndarray:
        gripper = _gripper_for(width)
        if np.linalg.norm(centre[:2] - ee[:2]) > _tolerance(ee):
            return self._travel(ee, centre[:2], gripper)
        return move_action(
            ee, np.array([centre[0], centre[1], max(centre[2], MIN_GRASP_HEIGHT)]), gripper, self.max_step
        )

    def _push(self, ee: np.ndarray, position: np.ndarray, radius: float, target: np.ndarray) -> np.ndarray:
        to_target = target[:2] - position[:2]
        distance = float(np.linalg.norm(to_target))
        if distance < 0.01:
            return move_action(ee, np.array([ee[0], ee[1], HOVER_HEIGHT]), CLOSED, self.max_step)
        direction = to_target / distance
        behind = position[:2] - direction * (radius + PUSH_STANDOFF)
        relative = ee[:2] - position[:2]
        along = float(relative @ direction)
        sideways = float(abs(relative[0] * direction[1] - relative[1] * direction[0]))
        if ee[2] < PUSH_HEIGHT + 0.015 and sideways < 0.015 and along < -radius:
            # Behind the object and low: advance along the line through its centre (which also corrects
            # sideways drift), at most the remaining distance.
            goal = position[:2] + direction * (along + min(distance, PUSH_STEP))
            return move_action(ee, np.array([goal[0], goal[1], PUSH_HEIGHT]), CLOSED, self.max_step)
        if np.linalg.norm(behind - ee[:2]) > _tolerance(ee):
            return self._travel(ee, behind, CLOSED)
        return move_action(ee, np.array([behind[0], behind[1], PUSH_HEIGHT]), CLOSED, self.max_step)
