"""Robot tabletop tasks, one module per task; each registers itself with ``@register_task`` on import.

>>> from vista_envs.robot.tasks import task_names
>>> task_names()
('clear_and_place', 'pick_and_place', 'push_to_region', 'reach', 'sort_by_color', 'stack')
"""

import importlib
import pkgutil

from vista_envs.robot.tasks.base import (
    GRIPPER,
    Goal,
    GripperState,
    Layout,
    Placement,
    SceneObject,
    Task,
    Vocabulary,
    get_task,
    register_task,
    task_names,
    vocabulary,
)

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

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")
