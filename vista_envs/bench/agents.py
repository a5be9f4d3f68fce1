"""Agent specs: the strings ``vista-envs bench --agent`` accepts, and the agents they build.

==========================  ==========================================================================
spec                        agent
==========================  ==========================================================================
``random``                  :class:`~vista_envs.bench.baselines.RandomGuesser`: a random answer of the asked type
(chance)
``scripted``                a heuristic baseline: image statistics, one tool call in tool envs
``oracle``                  ``env.unwrapped.oracle()``: always right (the ceiling)
``overview``                ``VistaVideo-v0``: answers from the reset overview only (perfect perception: reads the env)
``look-all``                ``VistaVideo-v0``: views every frame from the first on until the budget runs out (reads the
env)
``python:MODULE:FACTORY``   ``FACTORY()`` from an importable module (or a ``.py`` file path); any
                            object with ``act(observations, infos) -> list[str]`` works
``KIND:ARGUMENT``, ``KIND`` an agent a plugin declares in the entry-point group ``vista_envs.bench_agents``
                            (``KIND = "pkg.module:factory"``; ``factory(ARGUMENT)`` builds it). The learners
                            package declares ``hf:PATH`` (a local model folder) and ``openai:MODEL@URL`` /
                            ``openai-text:MODEL@URL`` (any OpenAI-compatible endpoint) this way.
==========================  ==========================================================================

Any spec may be prefixed with ``NAME=`` to name the agent on the leaderboard
(``mine=python:my_agent:make``). ``vista_envs`` imports nothing from the learners: ``hf:`` and
``openai:`` come through their entry points, so ``random``, ``scripted`` and ``oracle`` run without
torch.

What an agent sees is only what a model may know: the observation (the keys of the env's observation
space) and the public part of ``info`` (:data:`PUBLIC_INFO_KEYS`); the runner strips everything else.
Only the built-in ``oracle`` is given the envs themselves. A stochastic agent that wants resumed runs
to equal uninterrupted ones defines ``act_seeded(observations, infos, rngs)`` as well: ``rngs[i]`` is
episode ``i``'s own ``random.Random``, seeded from the episode (as the ``random`` agent does).
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

from vista_envs import plugins
from vista_envs.bench.baselines import (
    EnvAwarePolicy,
    OraclePolicy,
    RandomGuesser,
    ScriptedPolicy,
    SeededPolicy,
    VideoLookAllPolicy,
    VideoOverviewPolicy,
)
from vista_envs.bench.gui_baselines import GUIRouter, RandomGUIPolicy
from vista_envs.bench.suites import BenchError

__all__ = ["AGENT_SPEC_HELP", "BUILTIN_AGENTS", "BenchAgent", "make_agent", "plugin_agent_kinds"]

BUILTIN_AGENTS = ("random", "scripted", "oracle")
_BUILTIN_KINDS = (*BUILTIN_AGENTS, "python")
_NAME_PATTERN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)=(.+)$")


def plugin_agent_kinds() -> list[str]:
    """The agent kinds installed plugins declare (``hf``, ``openai``, ... when the learners are installed)."""
    return [ep.name for ep in plugins.declared(plugins.AGENTS_GROUP) if ep.name not in _BUILTIN_KINDS]


def _spec_help() -> str:
    kinds = " | ".join(f"{kind}:..." for kind in plugin_agent_kinds())
    return (
        "random | scripted | oracle | python:MODULE:FACTORY"
        + (f" | {kinds}" if kinds else "")
        + ", optionally as NAME=SPEC"
    )


AGENT_SPEC_HELP = (
    "random | scripted | oracle | python:MODULE:FACTORY | KIND:ARG from a plugin (hf:PATH, "
    "openai:MODEL@URL, ...), optionally as NAME=SPEC"
)


@dataclass
class BenchAgent:
    """A policy with the name and spec it is ranked under.

    ``policy`` has ``act(observations, infos)``, or ``act_seeded(observations, infos, rngs)`` (a
    :class:`SeededPolicy`); only a ``privileged`` agent (the built-in oracle) is given the envs, through
    ``act_in_envs(envs, observations, infos)``.
    """

    name: str
    spec: str
    policy: Any
    privileged: bool = False

    @property
    def needs_envs(self) -> bool:
        return self.privileged and isinstance(self.policy, EnvAwarePolicy)

    @property
    def seeded(self) -> bool:
        return isinstance(self.policy, SeededPolicy)

    @property
    def token_unit(self) -> str:
        """``"tokens"`` when the policy exposes a tokenizer, else ``"chars"`` (responses are then measured in characters
        only)."""
        return "tokens" if self._tokenizer() is not None else "chars"

    def count_tokens(self, text: str) -> int | None:
        """The length of one response in tokens of the policy's tokenizer; None when it has none."""
        tokenizer = self._tokenizer()
        if tokenizer is None:
            return None
        try:
            return len(tokenizer.encode(text))
        except Exception:  # (a tokenizer that fails on odd text leaves this response uncounted)
            return None

    def _tokenizer(self) -> Any:
        tokenizer = getattr(self.policy, "tokenizer", None) or getattr(
            getattr(self.policy, "processor", None), "tokenizer", None
        )
        return tokenizer if callable(getattr(tokenizer, "encode", None)) else None


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "agent"


def make_agent(spec: str, seed: int = 0) -> BenchAgent:
    """Build the agent a spec names (see the module docstring); a bad spec raises :class:`BenchError`.

    ``seed`` is kept for compatibility: stochastic built-ins draw from per-episode streams the runner seeds.
    """
    del seed
    if not isinstance(spec, str) or not spec.strip():
        raise BenchError(f"empty agent spec; expected {_spec_help()}")
    spec = spec.strip()
    named = _NAME_PATTERN.match(spec)
    name, body = (named.group(1), named.group(2)) if named else (None, spec)
    kind, _, argument = body.partition(":")
    privileged = False
    if body == "random":
        # VistaGUI-v0 episodes get random inputs instead of random answers (see bench.gui_baselines).
        policy, default_name = GUIRouter(RandomGuesser(), RandomGUIPolicy()), "random"
    elif body == "scripted":
        policy, default_name = ScriptedPolicy(), "scripted"
    elif body == "oracle":
        policy, default_name, privileged = OraclePolicy(), "oracle", True
    elif body == "overview":  # VistaVideo-v0's frame-choice baselines read the env, as the oracle does
        policy, default_name, privileged = VideoOverviewPolicy(), "overview", True
    elif body == "look-all":
        policy, default_name, privileged = VideoLookAllPolicy(), "look-all", True
    elif kind == "python" and argument:
        policy, default_name = _python_policy(argument), f"python-{argument.replace(':', '.')}"
    else:
        policy, default_name = _plugin_policy(spec, kind, argument)
    return BenchAgent(name=_safe_name(name or default_name), spec=spec, policy=policy, privileged=privileged)


def _plugin_policy(spec: str, kind: str, argument: str) -> tuple[Any, str]:
    """The agent a ``vista_envs.bench_agents`` entry point named ``kind`` builds from ``argument``."""
    entry_point = next(
        (ep for ep in plugins.declared(plugins.AGENTS_GROUP) if ep.name == kind and kind not in _BUILTIN_KINDS), None
    )
    if entry_point is None:
        hint = ""
        if kind in ("hf", "openai", "openai-text"):
            hint = (
                f" (no installed package declares the agent kind {kind!r} in the entry-point group "
                f"{plugins.AGENTS_GROUP!r}: vista-envs "
                "declares it for its learners when installed, pip install 'vista-envs[train]'; an editable install "
                "made before "
                "those entry points existed needs pip install -e . again)"
            )
        raise BenchError(f"unknown agent spec {spec!r}{hint}; expected {_spec_help()}")
    try:
        factory = plugins.load_entry_point(plugins.AGENTS_GROUP, entry_point)
    except ImportError as error:
        raise BenchError(f"{spec}: {error}") from None
    if not callable(factory):
        raise BenchError(
            f"{spec}: plugin {plugins.describe(entry_point)} is a {type(factory).__name__}, not a factory(argument) -> "
            "agent"
        )
    policy = _construct(spec, factory, argument)
    if not callable(getattr(policy, "act", None)):
        raise BenchError(
            f"{spec}: plugin {plugins.describe(entry_point)} returned a {type(policy).__name__}, which has no "
            "act(observations, infos) method"
        )
    default_name = getattr(policy, "bench_name", None) or (
        f"{kind}-{Path(argument.partition('@')[0]).name}" if argument else kind
    )
    return policy, str(default_name)


def _construct(spec: str, factory: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``factory(*args, **kwargs)``, with any failure (a model that does not load, ...) as a :class:`BenchError`."""
    try:
        return factory(*args, **kwargs)
    except BenchError as error:
        raise BenchError(f"{spec}: {error}") from None
    except (Exception, SystemExit) as error:  # sys.exit() in a factory fails this agent, not the bench
        raise BenchError(f"{spec}: creating the agent failed: {type(error).__name__}: {error}") from error


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
        raise BenchError(
            f"python:{argument}: {factory_name}() returned a {type(policy).__name__}, which has no act(observations, "
            "infos) method"
        )
    return policy


def _import_module(module_name: str) -> Any:
    """Import a dotted module name (the working directory is searched first, as ``python -m`` does) or a ``.py``
    file."""
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
