"""What the envs built on the task library share: drawing the episode's task and scoring its answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym

from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.task_sampler import TaskSampler, normalize_image_size
from vista_envs.rewards import RewardWeights
from vista_envs.scoring import ResponseScorer
from vista_envs.tasks import Task

__all__ = ["TaskEnv"]


class TaskEnv(gym.Env[dict[str, Any], str]):
    """Base of the envs whose episode is one generated task answered in text (``VisualQA-v0``, ``VistaTool-v0``).

    It owns the :class:`TaskSampler` (which task, at which size), the :class:`ResponseScorer` (how an
    answer is paid), render-mode checking and the task part of ``info``. Subclasses name themselves in
    :attr:`env_id` for error messages.
    """

    env_id: str
    metadata = {"render_modes": ["rgb_array"], "render_fps": 1}

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
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"{self.env_id}: render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
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
        if self.task is None:
            raise gym.error.ResetNeeded(f"{self.env_id}: call reset() before {method}().")
        return self.task

    def _render_allowed(self) -> bool:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_id}: render() needs render_mode='rgb_array' at construction.")
            return False
        self._require_task("render")
        return True

    def _task_info(self) -> dict[str, Any]:
        """The task's public description: never its answer."""
        task = self._require_task("step")
        return {
            "family": task.family,
            "difficulty": task.difficulty,
            "split": task.split,
            "task_seed": task.seed,
            "answer_type": task.answer_type,
        }
