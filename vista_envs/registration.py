"""Registration of every vista-envs id with Gymnasium."""

from __future__ import annotations

import gymnasium as gym

# id -> entry point. Ids appear here as their environments land.
_ENTRY_POINTS: dict[str, str] = {
    "VisualQA-v0": "vista_envs.envs.visual_qa:VisualQAEnv",
    "VistaRobot-v0": "vista_envs.envs.robot_plan:VistaRobotEnv",
    "VistaRobotEE-v0": "vista_envs.envs.robot_ee:VistaRobotEEEnv",
    "VistaTool-v0": "vista_envs.envs.vista_tool:VistaToolEnv",
    "VisPlay-v0": "vista_envs.envs.visplay.selfplay:VisPlayEnv",
    "VisPlayQuestioner-v0": "vista_envs.envs.visplay.questioner:VisPlayQuestionerEnv",
    "VisPlayReasoner-v0": "vista_envs.envs.visplay.reasoner:VisPlayReasonerEnv",
    "VistaVideo-v0": "vista_envs.envs.vista_video:VistaVideoEnv",
    "VistaViews-v0": "vista_envs.envs.vista_views:VistaViewsEnv",
    "VistaGUI-v0": "vista_envs.envs.vista_gui:VistaGUIEnv",
}
ENV_IDS: tuple[str, ...] = tuple(_ENTRY_POINTS)
# Not in ENV_IDS: Remote-v0 is no env of its own but a client of a served one (it needs url=...).
_CLIENT_ENTRY_POINTS: dict[str, str] = {"Remote-v0": "vista_envs.envs.remote:RemoteEnv"}


def register_envs() -> None:
    """Register every id (idempotent: ids already registered are left alone)."""
    for env_id, entry_point in {**_ENTRY_POINTS, **_CLIENT_ENTRY_POINTS}.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point)
