"""Goals: exact predicates on the app state, the shaped progress they give, and the oracle's plan.

A :class:`Goal` is an ordered list of :class:`Subgoal` s. The task succeeds when every subgoal holds
(the last one is the exact check, e.g. "the saved settings equal the asked ones, and nothing else
changed"); progress is the fraction that hold. The oracle works on the first subgoal that does not
hold, so it re-plans from whatever state it finds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from vista_envs.gui.actions import Action
from vista_envs.gui.app import App
from vista_envs.gui.oracle import click_rect, operate, reach

__all__ = ["Goal", "Press", "Subgoal", "ValueIs"]


class Subgoal:
    """One step of a goal: a predicate on the app, the elements it involves, and how to make it hold."""

    description: str = ""

    def satisfied(self, app: App) -> bool:
        raise NotImplementedError

    def next_action(self, app: App) -> Action | None:
        raise NotImplementedError

    def elements(self, app: App) -> tuple[str, ...]:
        """The labels of the elements an agent must look at or act on for this subgoal."""
        return ()


@dataclass
class ValueIs(Subgoal):
    """The widget ``wid`` holds ``value``."""

    wid: str
    value: Any

    def satisfied(self, app: App) -> bool:
        return app.widget(self.wid).value == self.value

    def next_action(self, app: App) -> Action | None:
        return operate(app, app.widget(self.wid), self.value)

    def elements(self, app: App) -> tuple[str, ...]:
        widget = app.widget(self.wid)
        return (widget.label,) + ((str(self.value),) if widget.role == "combobox" else ())


@dataclass
class Press(Subgoal):
    """Press the button ``wid``; ``done`` is the predicate that pressing it (in the right state) makes true."""

    wid: str
    done: Callable[[App], bool]

    def satisfied(self, app: App) -> bool:
        return self.done(app)

    def next_action(self, app: App) -> Action | None:
        button = app.widget(self.wid)
        return reach(app, button) or click_rect(app.screen_rect(button))

    def elements(self, app: App) -> tuple[str, ...]:
        return (app.widget(self.wid).label,)


@dataclass
class Goal:
    """What the task asks: the instruction, its subgoals, and for question tasks the expected answer.

    ``answer`` and ``answer_type`` follow :class:`vista_envs.tasks.base.TaskSpec` (so the house
    verifiers score it); they are None for tasks that are done by operating the app. With
    ``any_order`` the subgoals before the first :class:`Press` may be done in any order (the values
    of a form, the rows to select); otherwise they are done in turn.
    """

    instruction: str
    subgoals: Sequence[Subgoal]
    answer: Any = None
    answer_type: str | None = None
    tolerance: float = 0.0
    any_order: bool = False

    @property
    def asks_question(self) -> bool:
        return self.answer_type is not None

    def progress(self, app: App) -> float:
        if not self.subgoals:
            return 0.0
        return sum(s.satisfied(app) for s in self.subgoals) / len(self.subgoals)

    def achieved(self, app: App) -> bool:
        """True when the app is in a goal state (question tasks are decided by the answer instead)."""
        return not self.asks_question and all(s.satisfied(app) for s in self.subgoals)

    def pending(self, app: App) -> Subgoal | None:
        return next((s for s in self.subgoals if not s.satisfied(app)), None)

    def next_action(self, app: App) -> Action:
        """The oracle's next action: progress on the first pending subgoal, else the answer."""
        for subgoal in self.subgoals:
            if not subgoal.satisfied(app):
                action = subgoal.next_action(app)
                if action is not None:
                    return action
        if self.asks_question:
            return Action("answer", {"text": format_value(self.answer)})
        return Action("key", {"name": "escape"})  # unreachable for a consistent goal: every pending subgoal acts

    def elements(self, app: App) -> tuple[str, ...]:
        """The labels an agent may name in ``<see>`` now: those of the subgoals it may work on (or the answer)."""
        pending = [s for s in self.subgoals if not s.satisfied(app)]
        if not pending:
            return (format_value(self.answer),) if self.asks_question else ()
        if not self.any_order or isinstance(pending[0], Press):
            return pending[0].elements(app)
        workable = []
        for subgoal in pending:
            if isinstance(subgoal, Press):  # a press waits for everything before it
                break
            workable.extend(subgoal.elements(app))
        return tuple(workable)


def format_value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
