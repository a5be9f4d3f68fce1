"""What the envs built on the task library share: drawing the episode's task and scoring its answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.base import VistaEnv
from vista_envs.envs.task_sampler import TaskSampler
from vista_envs.pixels import normalize_image_size
from vista_envs.rewards import RewardWeights
from vista_envs.scoring import ResponseScorer
from vista_envs.tasks import Task

__all__ = ["TaskEnv"]


class TaskEnv(VistaEnv[dict[str, Any], str]):
    """Base of the envs whose episode is one generated task answered in text (``VisualQA-v0``, ``VistaTool-v0``).

    It owns the :class:`TaskSampler` (which task, at which size), the :class:`ResponseScorer` (how an
    answer is paid), the task's prompt and the task part of ``info``.
    """

    def _init_task_env(
        self,
        *,
        families: Sequence[str] | None,
        difficulty: int | tuple[int, int],
        split: str,
        image_size: int | tuple[int, int],
        family_configs: Mapping[str, Any] | None,
        response_format: str | ResponseFormat,
        weights: RewardWeights,
        reasoning_words: tuple[int, int],
        length_budget: int,
        max_response_chars: int,
        render_mode: str | None,
    ) -> tuple[int, int]:
        """Validate the shared kwargs and build the sampler and scorer; returns ``(width, height)``."""
        self._init_render_mode(render_mode)
        size = normalize_image_size(image_size)
        self.sampler = TaskSampler(families, difficulty, split, size, family_configs)
        self.scorer = ResponseScorer(
            response_format=response_format,
            weights=weights,
            reasoning_words=reasoning_words,
            length_budget=length_budget,
            max_response_chars=max_response_chars,
        )
        self.task: Task | None = None
        return size

    def _require_task(self, method: str) -> Task:
        """The current task; ``ResetNeeded`` when there is none yet."""
        self._require_reset(method)
        assert self.task is not None
        return self.task

    def _prompt(self) -> str:
        """The complete prompt of the task: its question and how to phrase the answer."""
        task = self._require_task("step")
        return f"{task.question}\n{self.scorer.format.describe()}"

    def _task_info(self) -> dict[str, Any]:
        """The task's public description, for ``info`` at every step: never its answer or its seed.

        ``family``, ``difficulty`` and ``answer_type`` tell an agent what kind of answer is wanted;
        ``options`` lists a multiple-choice question's option texts in letter order.
        """
        task = self._require_task("step")
        info: dict[str, Any] = {"family": task.family, "difficulty": task.difficulty, "answer_type": task.answer_type}
        if task.spec.choices:
            info["options"] = list(task.spec.choices)
        return info

    def _task_identity(self) -> dict[str, Any]:
        """Where the task came from (``split`` and ``task_seed``, which regenerate it): for ``info`` at the end only."""
        task = self._require_task("step")
        return {"split": task.split, "task_seed": task.seed}
