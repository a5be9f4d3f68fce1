"""Agent specs: the strings ``vista-envs bench --agent`` accepts, and the agents they build.

==========================  ==========================================================================
spec                        agent
==========================  ==========================================================================
``random``                  ``agents.policies.RandomPolicy``: a random answer of the asked type (chance)
``scripted``                a heuristic baseline: image statistics, one tool call in tool envs
``oracle``                  ``env.unwrapped.oracle()``: always right (the ceiling)
``overview``                ``VistaVideo-v0``: answers from the reset overview only (perfect perception)
``look-all``                ``VistaVideo-v0``: views every frame from the first on until the budget runs out
``hf:PATH``                 ``agents.policies.HFPolicy`` on a local model folder, on the GPU if there is one (extra ``train``)
``openai:MODEL@URL``        ``agents.policies.OpenAIPolicy`` on any OpenAI-compatible endpoint: tool envs send
                            ``tools`` and read native ``tool_calls`` (key: ``OPENAI_API_KEY``)
``openai-text:MODEL@URL``   the same with tools, calls and results written as text, for servers
                            without function calling (e.g. vLLM without ``--enable-auto-tool-choice``)
``python:MODULE:FACTORY``   ``FACTORY()`` from an importable module (or a ``.py`` file path); any
                            object with ``act(observations, infos) -> list[str]`` works
==========================  ==========================================================================

Any spec may be prefixed with ``NAME=`` to name the agent on the leaderboard
(``mine=python:my_agent:make``). ``agents.policies`` is imported only for ``random``, ``hf:`` and
``openai:`` agents, and torch only for ``hf:``, so ``vista_envs`` itself never imports either. An
endpoint that cannot be reached or refuses a request fails its episodes as agent errors; it is never
scored as a model that answered wrongly.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vista_envs.bench.baselines import EnvAwarePolicy, OraclePolicy, ScriptedPolicy, VideoLookAllPolicy, VideoOverviewPolicy
from vista_envs.bench.suites import BenchError

__all__ = ["AGENT_SPEC_HELP", "BUILTIN_AGENTS", "BenchAgent", "make_agent"]

AGENT_SPEC_HELP = (
    "random | scripted | oracle | overview | look-all | hf:PATH | openai:MODEL@URL | openai-text:MODEL@URL | python:MODULE:FACTORY, "
    "optionally as NAME=SPEC"
)
BUILTIN_AGENTS = ("random", "scripted", "oracle")
_NAME_PATTERN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)=(.+)$")


@dataclass
class BenchAgent:
    """A policy with the name and spec it is ranked under.

    ``policy`` has ``act(observations, infos)`` or, for the oracle, ``act_in_envs(envs, observations, infos)``.
    """

    name: str
    spec: str
    policy: Any

    @property
    def needs_envs(self) -> bool:
        return isinstance(self.policy, EnvAwarePolicy)

    @property
    def token_unit(self) -> str:
        """``"tokens"`` when the policy exposes a tokenizer, else ``"chars"``."""
        return "tokens" if self._tokenizer() is not None else "chars"

    def count_tokens(self, text: str) -> int:
        """The length of one response in :attr:`token_unit`."""
        tokenizer = self._tokenizer()
        return len(tokenizer.encode(text)) if tokenizer is not None else len(text)

    def _tokenizer(self) -> Any:
        tokenizer = getattr(self.policy, "tokenizer", None) or getattr(getattr(self.policy, "processor", None), "tokenizer", None)
        return tokenizer if callable(getattr(tokenizer, "encode", None)) else None


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "agent"


def make_agent(spec: str, seed: int = 0) -> BenchAgent:
    """Build the agent a spec names (see the module docstring); a bad spec raises :class:`BenchError`.

    ``seed`` seeds the random guesser (its guesses then depend only on the seed and the order of episodes).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise BenchError(f"empty agent spec; expected {AGENT_SPEC_HELP}")
    spec = spec.strip()
    named = _NAME_PATTERN.match(spec)
    name, body = (named.group(1), named.group(2)) if named else (None, spec)
    kind, _, argument = body.partition(":")
    if body == "random":
        policy, default_name = _construct("random", _agents_policies("RandomPolicy"), seed=seed), "random"
    elif body == "scripted":
        policy, default_name = ScriptedPolicy(), "scripted"
    elif body == "oracle":
        policy, default_name = OraclePolicy(), "oracle"
    elif body == "overview":
        policy, default_name = VideoOverviewPolicy(), "overview"
    elif body == "look-all":
        policy, default_name = VideoLookAllPolicy(), "look-all"
    elif kind == "hf" and argument:
        policy, default_name = _hf_policy(argument), f"hf-{Path(argument).name}"
    elif kind in ("openai", "openai-text") and argument:
        policy, default_name = _openai_policy(kind, argument), f"{kind}-{argument.partition('@')[0]}"
    elif kind == "python" and argument:
        policy, default_name = _python_policy(argument), f"python-{argument.replace(':', '.')}"
    else:
        raise BenchError(f"unknown agent spec {spec!r}; expected {AGENT_SPEC_HELP}")
    return BenchAgent(name=_safe_name(name or default_name), spec=spec, policy=policy)


def _agents_policies(class_name: str) -> Callable[..., Any]:
    try:
        module = importlib.import_module("agents.policies")
    except ImportError as error:
        raise BenchError(f"agents.policies could not be imported ({error}); install the learners with: pip install 'vista-envs[train]'") from None
    policy_class = getattr(module, class_name, None)
    if policy_class is None:
        raise BenchError(f"agents.policies has no {class_name} in this installation")
    return policy_class


def _construct(spec: str, factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)``, with any failure (a model that does not load, ...) as a :class:`BenchError`."""
    try:
        return factory(*args, **kwargs)
    except (Exception, SystemExit) as error:  # sys.exit() in a factory fails this agent, not the bench
        raise BenchError(f"{spec}: creating the agent failed: {type(error).__name__}: {error}") from error


def _hf_policy(path: str) -> Any:
    if not Path(path).is_dir():
        raise BenchError(f"hf:{path}: no such model folder (hf: takes a local path saved with save_pretrained)")
    policy_class = _agents_policies("HFPolicy")
    import torch  # importable once HFPolicy is: both come with the `train` extra

    device = "cuda" if torch.cuda.is_available() else "cpu"
    return _construct(f"hf:{path}", policy_class, path, device=device)


def _openai_policy(kind: str, argument: str) -> Any:
    model, at, url = argument.partition("@")
    if not model or not at or not url.startswith(("http://", "https://")):
        raise BenchError(f"{kind}:{argument}: expected {kind}:MODEL@URL, e.g. {kind}:gpt-4o-mini@https://api.openai.com/v1")
    tool_mode = "text" if kind == "openai-text" else "native"
    return _construct(f"{kind}:{argument}", _agents_policies("OpenAIPolicy"), model=model, base_url=url, tool_mode=tool_mode)


def _python_policy(argument: str) -> Any:
    module_name, _, factory_name = argument.rpartition(":")
    if not module_name or not factory_name:
        raise BenchError(f"python:{argument}: expected python:MODULE:FACTORY, e.g. python:my_agent:make_agent")
    module = _import_module(module_name)
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise BenchError(f"python:{argument}: {module_name} has no callable {factory_name!r}")
    policy = _construct(f"python:{argument}", factory)
    if not callable(getattr(policy, "act", None)):
        raise BenchError(f"python:{argument}: {factory_name}() returned a {type(policy).__name__}, which has no act(observations, infos) method")
    return policy


def _import_module(module_name: str) -> Any:
    """Import a dotted module name (the working directory is searched first, as ``python -m`` does) or a ``.py`` file."""
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            spec = importlib.util.spec_from_file_location(f"vista_bench_agent_{_safe_name(path.stem)}", path)
            if not path.is_file() or spec is None or spec.loader is None:
                raise BenchError(f"python:{module_name}: no such file")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        return importlib.import_module(module_name)
    except BenchError:
        raise
    except ImportError as error:
        raise BenchError(f"python:{module_name}: cannot import it ({error})") from None
    except (Exception, SystemExit) as error:  # sys.exit() at import fails this agent, not the bench
        raise BenchError(f"python:{module_name}: importing it raised {type(error).__name__}: {error}") from error
