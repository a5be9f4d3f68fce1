"""What the robot envs tell a language-reading agent: the system prompts, the action formats and the chat turns.

Both envs follow the agent contract of the text envs: the prompt is ``obs["text"]`` and says how to act, and
``info["messages"]`` holds the conversation in chat format (a system prompt, user turns of
``[{"type": "image"}, {"type": "text", "text": ...}]``) with ``info["images"]`` the images of the
placeholders, in order. The plan format itself lives with its parser in :mod:`vista_envs.robot.plan`.
"""

from __future__ import annotations

import numpy as np

from vista_envs.robot.plan import PLAN_FORMAT

__all__ = ["EE_ACTION_FORMAT", "EE_SYSTEM_PROMPT", "PLAN_SYSTEM_PROMPT", "gripper_line"]

_SETTING = (
    "You control a Franka Panda robot arm above a table with objects, containers and flat coloured zones, seen by a "
    "camera "
    "that faces the robot. Distances are metres in the robot's frame: x points away from the robot's base, y to its "
    "left, "
    "z up from the table."
)

EE_ACTION_FORMAT = (
    "Act with 4 numbers in [-1, 1], (dx, dy, dz, gripper): each step moves the gripper by 0.05 m times (dx, dy, dz) "
    "and sets its opening from closed (-1) to fully open, 8 cm (+1); closing both fingers on an object holds it. "
    "Anything else does nothing and costs reward."
)
EE_SYSTEM_PROMPT = (
    f"{_SETTING} Each step you see the camera image, the instruction and the gripper's state. {EE_ACTION_FORMAT}"
)
PLAN_SYSTEM_PROMPT = (
    f"{_SETTING} You see the camera image and an instruction, and answer with a plan that a controller carries out; "
    f"then you see the result and may answer again. {PLAN_FORMAT}"
)


def gripper_line(proprioception: np.ndarray) -> str:
    """The gripper's state in words, from ``(ee_x, ee_y, ee_z, ee_vx, ee_vy, ee_vz, finger_width, holding)``."""
    x, y, z = (float(v) for v in proprioception[:3])
    holding = "holding an object" if proprioception[7] > 0.5 else "holding nothing"
    return (
        f"Gripper at x={x:.3f}, y={y:.3f}, z={z:.3f} m, fingers {100 * float(proprioception[6]):.1f} cm apart, "
        f"{holding}."
    )
