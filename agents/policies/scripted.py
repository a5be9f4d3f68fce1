"""Policies that need no model: fixed, scripted, callback and oracle responses, for tests and baselines."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from vista_agents.policies.base import check_batch

__all__ = ["CallbackPolicy", "FixedResponsePolicy", "OraclePolicy", "ScriptedPolicy"]


class FixedResponsePolicy:
    """Sends the same response to every env at every turn (e.g. a malformed answer, to test penalties)."""

    def __init__(self, response: str):
        self.response = response

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        check_batch(observations, infos)
        return [self.response] * len(observations)


class ScriptedPolicy:
    """Plays a fixed list of assistant turns: turn ``t`` of an episode gets ``turns[t]``, and the last turn repeats.

    The turn index is the number of assistant messages in ``info["messages"]`` (multi-turn envs), else 0,
    so the policy keeps no state and any number of envs can share it. A typical ``VistaTool-v0`` script
    is a tool call followed by an answer::

        ScriptedPolicy(['<tool_call>{"name": "zoom", "arguments": {"x": 50, "y": 50}}</tool_call>',
                        "<think>Zoomed in.</think><answer>3</answer>"])
    """

    def __init__(self, turns: Sequence[str]):
        if not turns:
            raise ValueError("ScriptedPolicy needs at least one turn")
        self.turns = list(turns)

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        check_batch(observations, infos)
        return [self.turns[min(self._turn(info), len(self.turns) - 1)] for info in infos]

    @staticmethod
    def _turn(info: dict[str, Any]) -> int:
        return sum(1 for message in info.get("messages", ()) if message.get("role") == "assistant")


class CallbackPolicy:
    """Calls ``respond(observation, info) -> str`` once per env: a policy from any function."""

    def __init__(self, respond: Callable[[dict[str, Any], dict[str, Any]], str]):
        self.respond = respond

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        check_batch(observations, infos)
        return [self.respond(observation, info) for observation, info in zip(observations, infos)]


class OraclePolicy:
    """Sends each env's own ``oracle()`` response: a correct, well-formed turn (the upper baseline, SFT data).

    Every vista env has an ``oracle()`` method that knows the current task's answer (and, for
    ``VistaTool-v0``, a tool trajectory). The policy reaches it through the public Gymnasium API,
    ``VectorEnv.call("oracle")`` or ``Env.get_wrapper_attr("oracle")``, so it works through wrappers and
    in sync or async vector envs. Call ``act`` with the observations the same env just returned.

    Args:
        env: the env (or vector env) the policy acts in.
    """

    def __init__(self, env: gym.Env | gym.vector.VectorEnv):
        self.env = env

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        check_batch(observations, infos)
        if isinstance(self.env, gym.vector.VectorEnv):
            responses = list(self.env.call("oracle"))
        else:
            responses = [self.env.get_wrapper_attr("oracle")()]
        if len(responses) != len(observations):
            raise ValueError(f"the env has {len(responses)} sub-envs but act got {len(observations)} observations")
        return responses
