"""Policies that act in vista-envs through the Gymnasium API.

``HFPolicy`` needs torch and transformers (the ``train`` extra); it is imported on first use so that
the other policies work without them.
"""

from typing import Any

from vista_agents.policies.base import Policy
from vista_agents.policies.chat import Chat, ChatBuilder
from vista_agents.policies.openai_policy import OpenAIPolicy, OpenAIPolicyError
from vista_agents.policies.random_policy import RandomPolicy
from vista_agents.policies.scripted import CallbackPolicy, FixedResponsePolicy, OraclePolicy, ScriptedPolicy

__all__ = [
    "CallbackPolicy",
    "Chat",
    "ChatBuilder",
    "Completion",
    "FixedResponsePolicy",
    "HFPolicy",
    "OpenAIPolicy",
    "OpenAIPolicyError",
    "OraclePolicy",
    "Policy",
    "RandomPolicy",
    "ScriptedPolicy",
]


def __getattr__(name: str) -> Any:
    if name in ("HFPolicy", "Completion"):
        from vista_agents.policies import hf

        return getattr(hf, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
