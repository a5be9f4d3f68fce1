"""Procedural visual task families: generators with exact answers, and their registry.

>>> from vista_envs.tasks import family_names, get_family, generate_task
>>> task = generate_task(get_family("counting"), seed=0, difficulty=2)
>>> task.question, task.answer  # doctest: +SKIP
"""

from vista_envs.tasks import families  # noqa: F401  (registers every family)
from vista_envs.tasks.base import (
    ANSWER_TYPES,
    SPLITS,
    FamilyConfig,
    Task,
    TaskFamily,
    TaskSpec,
    ToolStep,
    family_names,
    generate_task,
    get_family,
    register_family,
    split_of,
)

__all__ = [
    "ANSWER_TYPES",
    "SPLITS",
    "FamilyConfig",
    "Task",
    "TaskFamily",
    "TaskSpec",
    "ToolStep",
    "family_names",
    "generate_task",
    "get_family",
    "register_family",
    "split_of",
]
