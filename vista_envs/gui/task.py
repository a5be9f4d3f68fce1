"""Generating a GUI task: an app and its goal from ``(kind, seed, difficulty, split, size)``.

Splits reuse the task library's content hash (:func:`vista_envs.tasks.base.split_of`): the app's
content (every widget's label and value, the table rows, the chart data, the file tree) and the
instruction decide the split, and the generator re-draws until the hash falls in the asked split.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from vista_envs.gui.app import App
from vista_envs.gui.apps import APP_KINDS
from vista_envs.gui.goals import Goal, format_value
from vista_envs.gui.widgets import BarChart, FileList, Table
from vista_envs.tasks.base import SPLITS, TaskSpec, check_difficulty, split_of

__all__ = ["GuiTask", "generate_gui_task"]

_MAX_ATTEMPTS = 1000


@dataclass
class GuiTask:
    """An app in its starting state, the goal, and where they came from (``seed`` and ``split`` regenerate them)."""

    kind: str
    seed: int
    difficulty: int
    split: str
    app: App
    goal: Goal

    def spec(self) -> TaskSpec:
        """The goal as a task-library spec: the house verifiers score answers against it."""
        answer_type = self.goal.answer_type or "text"
        answer = self.goal.answer if self.goal.asks_question else ""
        return TaskSpec(
            question=self.goal.instruction,
            answer=answer,
            answer_type=answer_type,
            scene=describe(self.app),
            rationale="",
            tolerance=self.goal.tolerance,
        )


def describe(app: App) -> dict[str, Any]:
    """The app's content as plain data (what the split hash reads)."""
    widgets = []
    for page in app.pages:
        for w in page:
            item: list[Any] = [
                w.role,
                w.label,
                format_value(w.value) if w.value is not None else "",
            ]
            if isinstance(w, Table):
                item.append([[str(v) for v in row] for row in w.rows])
            elif isinstance(w, BarChart):
                item.append(list(w.values))
            elif isinstance(w, FileList):
                item.append(repr(getattr(app, "tree", None)))
            widgets.append(item)
    return {
        "kind": app.kind,
        "widgets": widgets,
        "extra": repr(getattr(app, "data", None)),
    }


def generate_gui_task(kind: str, seed: int, difficulty: int, split: str, size: tuple[int, int]) -> GuiTask:
    """The task of ``kind`` for these settings; deterministic across processes (``size`` is ``(width, height)``)."""
    if kind not in APP_KINDS:
        raise ValueError(f"unknown app kind {kind!r}; the kinds are {', '.join(APP_KINDS)}")
    check_difficulty(difficulty)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    for attempt in range(_MAX_ATTEMPTS):
        # A str seed is hashed with SHA-512 by `random`, so it is stable across processes and runs.
        rng = random.Random(f"gui|{kind}|{difficulty}|{size[0]}x{size[1]}|{split}|{seed}|{attempt}")
        app, goal = APP_KINDS[kind](rng, difficulty, size)
        task = GuiTask(kind, seed, difficulty, split, app, goal)
        if split_of(f"gui-{kind}", task.spec()) == split:
            return task
    raise RuntimeError(f"app kind {kind!r} produced no {split} task in {_MAX_ATTEMPTS} attempts")
