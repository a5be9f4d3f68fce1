"""The learners' agents for ``vista-envs bench``, declared in the entry-point group ``vista_envs.bench_agents``.

``pyproject.toml`` names these factories, so the bench finds ``hf:PATH``, ``openai:MODEL@URL`` and
``openai-text:MODEL@URL`` as it finds any plugin's agents, and ``vista_envs`` never imports this
package (nor torch). Each factory takes the text after ``KIND:`` and returns an object with
``act(observations, infos) -> list[str]``; a bad argument raises ``vista_envs.bench.BenchError``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vista_envs.bench import BenchError, InfrastructureError

__all__ = ["hf", "openai", "openai_text"]


def hf(path: str) -> Any:
    """``hf:PATH``: :class:`vista_agents.policies.HFPolicy` on a local model folder, on the GPU if there is one."""
    if not path or not Path(path).is_dir():
        raise BenchError(f"no such model folder {path!r} (hf: takes a local path saved with save_pretrained)")
    import torch

    from vista_agents.policies import HFPolicy

    return HFPolicy(path, device="cuda" if torch.cuda.is_available() else "cpu")


# HTTP statuses with which an endpoint refuses one request for what it holds (too long, content it
# will not take): that episode's model gets no answer out, which is scored. Every other failure
# (connection, 5xx, 429, timeouts, 401/403/404: a wrong key, URL or model name) is the setup's.
_REFUSED_FOR_CONTENT = re.compile(r"refused the request with HTTP (400|413|422)\b")


class _EndpointAgent:
    """An :class:`vista_agents.policies.OpenAIPolicy` whose endpoint failures reach the bench as infrastructure errors.

    A refused connection, an HTTP 5xx/429 or a timeout (after the policy's own retries) is the
    endpoint's fault, not the model's: the bench retries it and never scores it. A request refused
    for its content (HTTP 400/413/422, e.g. a conversation past the model's context) is that episode's
    alone: the batch is asked again one episode at a time, and a refused episode answers ``""``.
    """

    def __init__(self, policy: Any, name: str):
        self.policy = policy
        self.bench_name = name

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        try:
            return self.policy.act(observations, infos)
        except Exception as error:  # sorted below: anything else is not the model's fault
            self._raise_unless_refused(error)
        answers = []
        for observation, info in zip(observations, infos):
            try:
                answers.append(self.policy.act([observation], [info])[0])
            except Exception as error:
                self._raise_unless_refused(error)
                answers.append("")
        return answers

    @staticmethod
    def _raise_unless_refused(error: Exception) -> None:
        from vista_agents.policies import OpenAIPolicyError

        if isinstance(error, OpenAIPolicyError) and _REFUSED_FOR_CONTENT.search(str(error)):
            return
        raise InfrastructureError(f"{type(error).__name__}: {error}") from error


def _endpoint(kind: str, argument: str) -> _EndpointAgent:
    model, at, url = argument.partition("@")
    if not model or not at or not url.startswith(("http://", "https://")):
        raise BenchError(f"expected {kind}:MODEL@URL, e.g. {kind}:gpt-4o-mini@https://api.openai.com/v1")
    from vista_agents.policies import OpenAIPolicy

    policy = OpenAIPolicy(model=model, base_url=url, tool_mode="text" if kind == "openai-text" else "native")
    return _EndpointAgent(policy, f"{kind}-{model}")


def openai(argument: str) -> _EndpointAgent:
    """``openai:MODEL@URL``: any OpenAI-compatible endpoint with native function calling (key: ``OPENAI_API_KEY``)."""
    return _endpoint("openai", argument)


def openai_text(argument: str) -> _EndpointAgent:
    """``openai-text:MODEL@URL``: the same with tools, calls and results written as text."""
    return _endpoint("openai-text", argument)
