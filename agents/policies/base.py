"""The policy protocol: anything that turns a batch of observations into a batch of text actions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

__all__ = ["Policy"]


@runtime_checkable
class Policy(Protocol):
    """A batched text policy.

    ``act`` receives one observation dict and one info dict per env (un-batched: ``observations[i]``
    is what env ``i`` returned, e.g. ``{"image": array, "question": str}``) and returns one action
    string per env. Multi-turn policies read the conversation from ``infos[i]["messages"]``.
    """

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]: ...
