"""The Franka Emika Panda arm of pybullet_data, driven by end-effector position deltas and a gripper width.

The gripper points straight down; an action sets the grasp point's target (between the fingertips) at
most ``max_step`` metres per axis from where it is, reached through inverse kinematics and the joints'
position control (which covers about 60% of a full step within one 1/24 s control step), and sets the
fingers' target opening.

Grasping is assisted, as in many tabletop benchmarks (CLIPort's suction cup, VIMA): while the fingers
are closing and both fingertips touch the same movable object, the object is welded to the hand; it is
released as soon as the fingers open. Objects of every shape are then held reliably, which keeps the
benchmark about perception and planning rather than about contact friction.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pybullet_data

from vista_envs.robot.sim import PyBullet, generated_file

__all__ = ["HOME_POSITION", "MAX_FINGER_WIDTH", "Panda", "PandaState", "WORKSPACE_HIGH", "WORKSPACE_LOW"]

# Joint and link indices of pybullet_data's franka_panda/panda.urdf.
ARM_JOINTS = (0, 1, 2, 3, 4, 5, 6)
FINGER_JOINTS = (9, 10)
FINGER_LINKS = (9, 10)
GRASP_LINK = 11  # "panda_grasptarget": the point between the fingertips
ARM_FORCES = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
FINGER_FORCE = 20.0
LOWER_LIMITS = (-2.9671, -1.8326, -2.9671, -3.1416, -2.9671, -0.0873, -2.9671)
UPPER_LIMITS = (2.9671, 1.8326, 2.9671, 0.0, 2.9671, 3.8223, 2.9671)
JOINT_RANGES = tuple(high - low for low, high in zip(LOWER_LIMITS, UPPER_LIMITS))
# Joint angles with the gripper pointing down above the back of the workspace; also the IK rest pose.
HOME_JOINTS = (0.0, -0.785, 0.0, -2.356, 0.0, 1.571, 0.785)
HOME_POSITION = np.array([0.307, 0.0, 0.485])  # the grasp point at HOME_JOINTS
DOWN = (1.0, 0.0, 0.0, 0.0)  # quaternion (x, y, z, w): gripper axis along -z
IK_DAMPING = (0.001,) * 9  # one per movable joint (7 arm + 2 fingers)

MAX_FINGER_WIDTH = 0.08
MIN_GRASP_WIDTH = 0.01
# Where the grasp point may be sent (robot base at the origin, table top at z = 0).
WORKSPACE_LOW = np.array([0.25, -0.40, 0.01])
WORKSPACE_HIGH = np.array([0.80, 0.40, 0.45])

VISUALS = ("simple", "detailed")


@dataclass(frozen=True)
class PandaState:
    """Proprioception: grasp-point position and velocity (m, m/s), finger opening (m), held body or None."""

    ee_position: np.ndarray
    ee_velocity: np.ndarray
    finger_width: float
    held: int | None


def _panda_urdf(visual: str) -> str:
    """Path of the Panda URDF; ``"simple"`` swaps the detailed visual meshes for the collision meshes.

    The detailed meshes have ~50x more triangles and make TinyRenderer ~15x slower; the collision
    meshes look much the same at 128-224 px.
    """
    data = pybullet_data.getDataPath()
    original = os.path.join(data, "franka_panda", "panda.urdf")
    if visual == "detailed":
        return original
    if visual != "simple":
        raise ValueError(f"panda visual must be one of {VISUALS}, got {visual!r}")
    with open(original, encoding="utf-8") as f:
        text = f.read()
    # The copy lives elsewhere, so its mesh paths become absolute.
    text = text.replace("meshes/visual/", "meshes/collision/").replace(
        "package://meshes/", os.path.join(data, "franka_panda", "meshes") + "/"
    )
    return generated_file("panda_simple.urdf", text.encode("utf-8"))


class Panda:
    """A Panda arm with an assisted parallel gripper (see the module docstring).

    Args:
        sim: the simulator it lives in.
        max_step: largest grasp-point move per action and axis, in metres (an action of 1 moves this far).
        visual: ``"simple"`` (fast to render, default) or ``"detailed"`` meshes.
    """

    def __init__(self, sim: PyBullet, max_step: float = 0.05, visual: str = "simple"):
        self.sim = sim
        self.max_step = max_step
        self.urdf = _panda_urdf(visual)
        self.body = -1
        self.held: int | None = None
        self._grasp_constraint: int | None = None

    def reset(self) -> None:
        """Load the arm (into a freshly reset simulator) in its home pose with the gripper open."""
        self.body = self.sim.load_urdf(self.urdf, fixed_base=True)
        self.sim.reset_joints(self.body, ARM_JOINTS, HOME_JOINTS)
        self.sim.reset_joints(self.body, FINGER_JOINTS, (MAX_FINGER_WIDTH / 2, MAX_FINGER_WIDTH / 2))
        for link in FINGER_LINKS:
            self.sim.set_friction(self.body, link, 1.5)
        self.held = None
        self._grasp_constraint = None
        self._command(np.array(HOME_JOINTS), MAX_FINGER_WIDTH)

    # ----------------------------------------------------------------- state

    def ee_position(self) -> np.ndarray:
        """Position (3,) of the grasp point."""
        return self.sim.link_position(self.body, GRASP_LINK)

    def state(self) -> PandaState:
        position, velocity = self.sim.link_position_velocity(self.body, GRASP_LINK)
        return PandaState(position, velocity, self.finger_width(), self.held)

    def finger_width(self) -> float:
        """Opening between the fingers (m)."""
        return sum(self.sim.joint_positions(self.body, FINGER_JOINTS))

    # --------------------------------------------------------------- control

    def set_action(self, action: np.ndarray) -> None:
        """Command one action ``(dx, dy, dz, gripper)`` in ``[-1, 1]^4`` (the caller clips and validates).

        The grasp point's target is its current position plus ``max_step * (dx, dy, dz)``, clipped to the
        workspace; ``gripper`` maps linearly to the fingers' target opening, -1 closed and +1 fully open.
        """
        target = np.clip(self.ee_position() + self.max_step * action[:3], WORKSPACE_LOW, WORKSPACE_HIGH)
        width = (float(action[3]) + 1.0) / 2.0 * MAX_FINGER_WIDTH
        current = self.finger_width()
        self._update_grasp(closing=width < current - 1e-3, opening=width > current + 1e-3, width=current)
        self._command(self._inverse_kinematics(target), width)

    def release(self) -> None:
        """Let go of the held object, if any."""
        if self._grasp_constraint is not None:
            self.sim.remove_constraint(self._grasp_constraint)
        self._grasp_constraint = None
        self.held = None

    def _inverse_kinematics(self, position: np.ndarray) -> np.ndarray:
        angles = self.sim.inverse_kinematics(
            self.body,
            GRASP_LINK,
            position,
            DOWN,
            lowerLimits=LOWER_LIMITS,
            upperLimits=UPPER_LIMITS,
            jointRanges=JOINT_RANGES,
            restPoses=HOME_JOINTS,
            # Light damping and a few iterations: sub-millimetre solutions for 5 cm moves in ~20 us
            # (PyBullet's default damping leaves errors of centimetres).
            jointDamping=IK_DAMPING,
            maxNumIterations=10,
            residualThreshold=1e-4,
        )
        return np.array(angles[: len(ARM_JOINTS)])

    def _command(self, arm_angles: np.ndarray, finger_width: float) -> None:
        self.sim.control_joints(self.body, ARM_JOINTS, arm_angles, ARM_FORCES)
        self.sim.control_joints(
            self.body, FINGER_JOINTS, (finger_width / 2, finger_width / 2), (FINGER_FORCE, FINGER_FORCE)
        )

    def _update_grasp(self, closing: bool, opening: bool, width: float) -> None:
        """Weld an object touched by both fingertips while closing; release it when opening."""
        if opening:
            self.release()
            return
        # Closed fingers (a push) touch an object from one side only: nothing to grasp.
        if not closing or self.held is not None or width < MIN_GRASP_WIDTH:
            return
        touching = [
            {
                contact.body_b
                for contact in self.sim.contacts(self.body)
                if contact.link_a == finger and contact.body_b != self.body
            }
            for finger in FINGER_LINKS
        ]
        for body in sorted(touching[0] & touching[1]):
            if self.sim.mass(body) > 0:
                self._grasp_constraint = self.sim.fix_to_link(self.body, GRASP_LINK, body)
                self.held = body
                return
