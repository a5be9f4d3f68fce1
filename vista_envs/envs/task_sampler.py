"""Choosing the task of an episode from the env's settings and ``reset(options=...)``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from vista_envs.tasks import SPLITS, Task, TaskFamily, family_names, generate_task, get_family
from vista_envs.tasks.base import check_difficulty

__all__ = ["OPTION_KEYS", "TaskSampler", "choose_task"]

OPTION_KEYS = ("split", "family", "difficulty", "task_seed")


def choose_task(
    rng: np.random.Generator,
    options: Mapping[str, Any],
    *,
    names: Sequence[str],
    difficulty_range: tuple[int, int],
    default_split: str,
    option_keys: Sequence[str] = OPTION_KEYS,
    env_id: str | None = None,
) -> tuple[str, str, int]:
    """The ``(split, family, difficulty)`` of an episode: from ``options`` where they fix them, else drawn from ``rng``.

    Every env that draws its tasks by family and difficulty reads its reset options here, so they mean the same
    everywhere and draw from the RNG in the same order (family, then difficulty; a caller draws its task seed
    after). Unknown option keys, an unknown split or family and a bad difficulty raise ``ValueError``; options that are
    not a mapping, ``TypeError``.
    """
    prefix = f"{env_id}: " if env_id else ""
    if not isinstance(options, Mapping):  # else set(options) would read a str as option names, one per letter
        raise TypeError(f"{prefix}reset options must be a dict or None, got {type(options).__name__}")
    unknown = set(options).difference(option_keys)
    if unknown:
        raise ValueError(f"{prefix}unknown reset options {sorted(unknown)}; known: {list(option_keys)}")
    split = options.get("split", default_split)
    if split not in SPLITS:
        raise ValueError(f"{prefix}split must be one of {SPLITS}, got {split!r}")
    name = options["family"] if "family" in options else names[int(rng.integers(len(names)))]
    if name not in names:
        raise ValueError(f"{prefix}family {name!r} is not available in this env; available: {', '.join(names)}")
    if "difficulty" in options:
        try:
            difficulty = check_difficulty(options["difficulty"])
        except ValueError as error:  # its message does not say which env was reset
            raise ValueError(f"{prefix}{error}") from None
    else:
        low, high = difficulty_range
        difficulty = int(rng.integers(low, high + 1))
    return split, name, difficulty


class TaskSampler:
    """Draws tasks: a family, a difficulty and a task seed from the env's RNG unless ``options`` fix them.

    Args:
        families: the families to draw from (default: every registered family).
        difficulty: a fixed level 1..5, or an inclusive ``(low, high)`` range drawn uniformly per episode.
        split: the default split ("train", "eval" or "test").
        image_size: ``(width, height)`` of generated images.
        family_configs: per-family config overrides, e.g. ``{"counting": {"max_objects": 8}}``.
    """

    def __init__(
        self,
        families: Sequence[str] | None,
        difficulty: int | tuple[int, int],
        split: str,
        image_size: tuple[int, int],
        family_configs: Mapping[str, Any] | None = None,
    ):
        names = tuple(families) if families is not None else family_names()
        if not names:
            raise ValueError("families must name at least one task family")
        configs = dict(family_configs or {})
        unknown = set(configs) - set(names)
        if unknown:
            raise ValueError(f"family_configs names families that are not in use: {sorted(unknown)}")
        self.families: dict[str, TaskFamily] = {name: get_family(name, configs.get(name)) for name in names}
        self._names = tuple(self.families)
        self.difficulty_range = self._difficulty_range(difficulty)
        self.split = self._check_split(split)
        self.image_size = image_size

    @staticmethod
    def _difficulty_range(difficulty: int | tuple[int, int]) -> tuple[int, int]:
        if isinstance(difficulty, tuple) and len(difficulty) == 2:
            low, high = check_difficulty(difficulty[0]), check_difficulty(difficulty[1])
            if low > high:
                raise ValueError(f"difficulty range must be (low, high) with low <= high, got {difficulty}")
            return low, high
        level = check_difficulty(difficulty)
        return level, level

    @staticmethod
    def _check_split(split: str) -> str:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return split

    def sample(self, rng: np.random.Generator, options: Mapping[str, Any] | None) -> Task:
        """The episode's task; ``options`` may fix ``split``, ``family``, ``difficulty`` and ``task_seed``."""
        options = options or {}
        split, family_name, difficulty = choose_task(
            rng, options, names=self._names, difficulty_range=self.difficulty_range, default_split=self.split
        )
        task_seed = options.get("task_seed", int(rng.integers(2**31 - 1)))
        return generate_task(self.families[family_name], task_seed, difficulty, split, self.image_size)

    def observed_image(self, task: Task) -> Image.Image:
        """The task image at the env's image size (families with ``detail_scale > 1`` draw larger)."""
        if task.image.size == self.image_size:
            return task.image
        # reduce() is a box filter over whole-number factors: identical to resize(BOX), ~4x faster.
        return task.image.reduce(task.image.width // self.image_size[0])
