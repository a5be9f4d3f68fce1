"""The policy protocol: anything that turns a batch of observations into a batch of text actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Policy", "check_batch"]


@runtime_checkable
class Policy(Protocol):
    """A batched text policy.

    ``act`` receives one observation dict and one info dict per env (un-batched: ``observations[i]``
    is what env ``i`` returned, e.g. ``{"image": array, "question": str}``) and returns one action
    string per env. Multi-turn policies read the conversation from ``infos[i]["messages"]``.

    Implementations: :class:`~vista_agents.policies.hf.HFPolicy` (a local Hugging Face VLM),
    :class:`~vista_agents.policies.openai_policy.OpenAIPolicy` (an OpenAI-compatible endpoint),
    :class:`~vista_agents.policies.random_policy.RandomPolicy` (the chance baseline) and the model-free
    policies of :mod:`vista_agents.policies.scripted` (fixed, scripted, callback and oracle responses).
    """

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]: ...


def check_batch(observations: Sequence[Any], infos: Sequence[Any]) -> None:
    """Raise a clear error unless there is exactly one info per observation (one of each per env)."""
    if len(observations) != len(infos):
        raise ValueError(f"got {len(observations)} observations but {len(infos)} infos; pass one info per env")
