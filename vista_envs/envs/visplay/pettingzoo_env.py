"""VisPlay as a PettingZoo AEC game: ``questioner_0`` asks, then ``reasoner_0`` answers ``m`` times.

A thin wrapper of ``VisPlay-v0`` (:class:`~vista_envs.envs.visplay.VisPlayEnv`) for multi-agent
libraries; it needs the ``pettingzoo`` package (not a dependency of ``vista_envs`` itself).

- Agents: ``"questioner_0"`` acts first; ``"reasoner_0"`` then acts ``m`` turns in a row (one answer
  per turn). An invalid question ends the game at once.
- Observations: ``{"image", "text"}`` as in ``VisPlay-v0``: the questioner sees the instruction,
  the reasoner the question (empty text before there is one).
- Rewards: 0 until the game ends; then the questioner gets :math:`R_Q` and the reasoner
  :math:`\\sum_j R_{R,j}` (its per-answer rewards are in ``infos["reasoner_0"]["rewards"]["reasoner"]``).
- ``reset(options=...)`` passes the scene options of ``VisPlay-v0`` (``split``, ``family``,
  ``difficulty``, ``task_seed``) and ignores any other key, with a warning, as PettingZoo envs do.

Usage::

    from vista_envs.envs.visplay.pettingzoo_env import env as visplay_env
    game = visplay_env(samples=4)
    game.reset(seed=0)
    for agent in game.agent_iter():
        observation, reward, terminated, truncated, info = game.last()
        game.step(None if terminated or truncated else my_policies[agent](observation))
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import AECEnv
from pettingzoo.utils import wrappers

from vista_envs.envs.task_sampler import OPTION_KEYS
from vista_envs.envs.visplay.scene_env import QUESTIONER, REASONER
from vista_envs.envs.visplay.selfplay import VisPlayEnv

__all__ = ["AGENTS", "VisPlayAECEnv", "env"]

AGENTS: dict[str, str] = {QUESTIONER: "questioner_0", REASONER: "reasoner_0"}


class VisPlayAECEnv(AECEnv):
    """The VisPlay round as an agent-environment-cycle game; kwargs go to :class:`VisPlayEnv`."""

    metadata = {"name": "visplay_v0", "render_modes": ["rgb_array"], "is_parallelizable": False, "render_fps": 1}

    def __init__(self, render_mode: str | None = None, **kwargs: Any):
        super().__init__()
        self.game = VisPlayEnv(render_mode=render_mode, **kwargs)
        self.render_mode = render_mode
        self.possible_agents = list(AGENTS.values())
        self.observation_spaces = {agent: self.game.observation_space for agent in self.possible_agents}
        self.action_spaces = {agent: self.game.action_space for agent in self.possible_agents}
        self._observations: dict[str, dict[str, Any]] = {}

    def observation_space(self, agent: str) -> gym.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        options = dict(options or {})
        ignored = sorted(set(options) - set(OPTION_KEYS))
        if ignored:
            gym.logger.warn(f"visplay_v0: ignoring unknown reset options {ignored}; known: {list(OPTION_KEYS)}")
        observation, info = self.game.reset(
            seed=seed, options={key: options[key] for key in OPTION_KEYS if key in options}
        )
        self.agents = list(self.possible_agents)
        self.rewards = {agent: 0.0 for agent in self.agents}
        self._cumulative_rewards = {agent: 0.0 for agent in self.agents}
        self.terminations = {agent: False for agent in self.agents}
        self.truncations = {agent: False for agent in self.agents}
        self.infos = {agent: dict(info) for agent in self.agents}
        questioner, reasoner = AGENTS[QUESTIONER], AGENTS[REASONER]
        self._observations = {questioner: observation, reasoner: {"image": observation["image"], "text": ""}}
        self.agent_selection = questioner

    def observe(self, agent: str) -> dict[str, Any]:
        observation = self._observations[agent]
        return {"image": np.array(observation["image"]), "text": observation["text"]}

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        self._cumulative_rewards[agent] = 0.0
        self.rewards = {name: 0.0 for name in self.agents}
        observation, _, terminated, truncated, info = self.game.step(action)
        if terminated or truncated:
            rewards = info["rewards"]
            self.rewards = {AGENTS[QUESTIONER]: rewards[QUESTIONER], AGENTS[REASONER]: float(sum(rewards[REASONER]))}
            for name in self.agents:
                self.terminations[name], self.truncations[name] = terminated, truncated
                self._observations[name] = observation
                self.infos[name] = dict(info)
            self.agent_selection = self.agents[0]
        else:
            next_agent = AGENTS[info["role"]]
            self._observations[next_agent] = observation
            self.infos[next_agent] = dict(info)
            self.agent_selection = next_agent
        self._accumulate_rewards()

    def render(self) -> np.ndarray | None:
        return self.game.render()

    def close(self) -> None:
        self.game.close()


def env(**kwargs: Any) -> AECEnv:
    """The VisPlay AEC game wrapped in PettingZoo's order-enforcing wrapper (kwargs go to :class:`VisPlayEnv`)."""
    return wrappers.OrderEnforcingWrapper(VisPlayAECEnv(**kwargs))
