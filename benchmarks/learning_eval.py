"""Held-out measures the learning benchmarks share: the majority-answer prior, and greedy accuracy with and without the
image.

A gain in accuracy means the model learned to see only if it beats answering without looking. Two
baselines say how far that goes: the **majority-answer prior** (always give the commonest training
answer, scored on the held-out tasks) and a **no-image ablation** (the same model, the same tasks, the
image replaced by a blank one of the same size, so the model can use only the question).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.config import VLMRunConfig as RunConfig
from vista_agents.training import eval_seeds, evaluate_policy, load_model, make_envs

__all__ = ["BlankImage", "greedy_accuracy", "majority_prior"]

BLANK_VALUE = 255  # the scenes' background is white: a blank image is an empty scene


class BlankImage(gym.Wrapper):
    """Replaces the image in the observation and in the conversation (``info["images"]``) by a blank one of the same
    shape."""

    def _blank(self, observation: dict[str, Any], info: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        observation = {**observation, "image": np.full_like(observation["image"], BLANK_VALUE)}
        if "images" in info:
            info = {**info, "images": [np.full_like(np.asarray(image), BLANK_VALUE) for image in info["images"]]}
        return observation, info

    def reset(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._blank(*self.env.reset(**kwargs))

    def step(self, action: Any) -> tuple[Any, ...]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        observation, info = self._blank(observation, info)
        return observation, reward, terminated, truncated, info


def majority_prior(
    env_id: str, env_kwargs: dict[str, Any], split: str, seeds: list[int], train_tasks: int = 2000
) -> tuple[str, float]:
    """The commonest answer of ``train_tasks`` training tasks and the share of the ``split`` tasks (reset ``seeds``) it
    answers right."""
    env = gym.make(env_id, **env_kwargs)

    def answers(options: dict[str, str], reset_seeds: list[int]) -> list[str]:
        found = []
        for seed in reset_seeds:
            env.reset(seed=seed, options=options)
            found.append(env.step(env.unwrapped.oracle())[4]["answer"])
        return found

    majority = collections.Counter(answers({"split": "train"}, list(range(train_tasks)))).most_common(1)[0][0]
    held_out = answers({"split": split}, seeds)
    env.close()
    return majority, sum(answer == majority for answer in held_out) / len(held_out)


def greedy_accuracy(model_dir: str, config: RunConfig, blank: bool = False) -> float:
    """Held-out greedy accuracy of the model in ``model_dir`` on ``config``'s evaluation tasks; ``blank``: with blank
    images."""
    config = dataclasses.replace(config, model=str(model_dir), eval_temperature=0.0, lora_rank=0)
    loaded = load_model(config, torch.device("cpu"))
    if blank:
        envs = gym.vector.SyncVectorEnv(
            [lambda: BlankImage(gym.make(config.env_id, **config.env_kwargs)) for _ in range(config.num_envs)]
        )
    else:
        envs = make_envs(config)
    try:
        return evaluate_policy(loaded.model, loaded.processor, envs, config)["eval/success_rate"]
    finally:
        envs.close()


def held_out_seeds(config: RunConfig) -> list[int]:
    return list(eval_seeds(config))
