"""Run a suite with an agent: parallel envs, a per-step timeout, resumable results.

The runner keeps ``n_envs`` episodes going at once. Each round it asks the agent for one action
per running episode in a single batched ``act`` call (so a model sees a batch), then steps those
envs concurrently in threads (tool calls and sandboxes wait on subprocesses meanwhile). A slot
whose episode ends takes the next episode of the suite.

Third-party agents cannot spoil a run: an ``act`` that raises, returns the wrong type or length,
or takes longer than ``step_timeout_s`` ends the episodes it was asked about as failures with the
reason recorded, and the run goes on; after ``max_consecutive_timeouts`` hangs in a row the run
stops (the agent is stuck) and the results say so. Every finished episode is appended to the
episode log at once, so an interrupted run, rerun with the same command, resumes where it stopped.
"""

from __future__ import annotations

import functools
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm import tqdm

import vista_envs  # noqa: F401  (registers the env ids)
from vista_envs.bench.agents import BenchAgent
from vista_envs.bench.results import EpisodeLog, build_results, missing_record, results_paths, utc_now, write_json_atomic
from vista_envs.bench.suites import BenchError, EpisodeSpec, Suite

__all__ = ["RunOutcome", "run_suite"]

_MAX_RECORDED_CHARS = 300


@dataclass(frozen=True)
class RunOutcome:
    """Where a run wrote its results, and the results themselves."""

    results_path: Path
    log_path: Path
    results: dict[str, Any]

    @property
    def complete(self) -> bool:
        return bool(self.results["run"]["complete"])


# act() may take at most a day: threading's wait overflows on timeouts of about 1e11 s and NaN never times out.
MAX_STEP_TIMEOUT_S = 86_400.0


def check_step_timeout(step_timeout_s: float) -> float:
    """``step_timeout_s`` if it is a number of seconds in (0, MAX_STEP_TIMEOUT_S]; BenchError otherwise."""
    if not (isinstance(step_timeout_s, (int, float)) and 0 < step_timeout_s <= MAX_STEP_TIMEOUT_S):  # NaN fails too
        raise BenchError(f"the step timeout must be in (0, {MAX_STEP_TIMEOUT_S:g}] seconds, got {step_timeout_s!r}")
    return float(step_timeout_s)


class _AgentTimeout(Exception):
    pass


def _call_with_timeout(function: Callable[[], Any], timeout_s: float) -> Any:
    """``function()`` in a daemon thread; a hung call is abandoned (a daemon thread never blocks exit)."""
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = function()
        except BaseException as error:  # reported to the caller, whatever the agent raised
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=target, name="vista-bench-agent", daemon=True).start()
    if not finished.wait(timeout_s):
        raise _AgentTimeout
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@dataclass
class _Episode:
    """A running episode: its env, its latest observation and what it has accumulated."""

    spec: EpisodeSpec
    env: gym.Env
    observation: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    reward: float = 0.0
    reward_terms: dict[str, float] = field(default_factory=dict)
    turns: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    last_response: str | None = None
    done: bool = False
    error: str | None = None
    error_kind: str | None = None

    def fail(self, kind: str, message: str) -> None:
        self.done, self.error_kind, self.error = True, kind, message

    def record(self) -> dict[str, Any]:
        options, info = self.spec.options, self.info
        family = options.get("family", options.get("task", info.get("family", info.get("task"))))
        difficulty = options.get("difficulty", info.get("difficulty"))
        messages = info.get("messages") or []
        return {
            "key": self.spec.key,
            "entry": self.spec.entry,
            "env_id": self.spec.env_id,
            "family": None if family is None else str(family),
            "difficulty": None if difficulty is None else str(difficulty),
            "answer_type": info.get("answer_type"),
            "seed": self.spec.seed,
            "success": bool(info.get("is_success", False)) and self.error is None,
            "reward": self.reward,
            "reward_terms": self.reward_terms,
            "turns": self.turns,
            "tool_calls": sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "tool"),
            "tokens": self.tokens,
            "wall_time_s": time.perf_counter() - self.started,
            "finished_at": time.time(),
            "error_kind": self.error_kind,
            "error": self.error,
            "answer": _clip(info.get("answer")),
            "response": _clip(self.last_response),
        }


def _clip(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= _MAX_RECORDED_CHARS else text[: _MAX_RECORDED_CHARS - 3] + "..."


class _EnvPool:
    """Envs made on demand and reused: each of the ``n_envs`` slots keeps one env per suite entry."""

    def __init__(self) -> None:
        self.idle: dict[str, list[gym.Env]] = {}
        self.all: list[gym.Env] = []

    def take(self, spec: EpisodeSpec) -> gym.Env:
        idle = self.idle.setdefault(spec.entry, [])
        if idle:
            return idle.pop()
        env = gym.make(spec.env_id, disable_env_checker=True, **spec.env_kwargs)
        self.all.append(env)
        return env

    def give_back(self, spec: EpisodeSpec, env: gym.Env) -> None:
        self.idle.setdefault(spec.entry, []).append(env)

    def close(self) -> None:
        for env in self.all:
            env.close()


def _check_envs(suite: Suite, episodes: Sequence[EpisodeSpec]) -> dict[str, dict[str, Any]]:
    """Make every entry's env and reset it into every grid cell once, so a bad suite fails before any work."""
    described: dict[str, dict[str, Any]] = {}
    for entry in suite.entries:
        try:
            env_spec = gym.spec(entry.env_id)
        except gym.error.Error as error:
            raise BenchError(f"suite {suite.name}: entry {entry.name!r}: {error}") from None
        described[entry.name] = {"id": entry.env_id, "version": env_spec.version, "kwargs": dict(entry.env_kwargs)}
        cells = {tuple(sorted(e.options.items(), key=str)): e for e in episodes if e.entry == entry.name}
        if not cells:
            continue
        try:
            env = gym.make(entry.env_id, disable_env_checker=True, **entry.env_kwargs)
        except Exception as error:
            raise BenchError(f"suite {suite.name}: cannot make {entry.env_id} with {dict(entry.env_kwargs)}: {type(error).__name__}: {error}") from error
        try:
            for episode in cells.values():
                env.reset(seed=episode.seed, options=dict(episode.options))
        except Exception as error:
            raise BenchError(f"suite {suite.name}: {entry.env_id} rejects the reset options {dict(episode.options)}: {error}") from error
        finally:
            env.close()
    return described


@dataclass(frozen=True)
class _AgentFailure:
    """Why one ``act`` call produced no usable actions: ``kind`` is ``"agent"`` or ``"timeout"``."""

    kind: str
    message: str


def _actions(agent: BenchAgent, running: list[_Episode], timeout_s: float) -> list[Any] | _AgentFailure:
    """The agent's action for each running episode (each still to be type-checked), or why it gave none."""
    observations = [episode.observation for episode in running]
    infos = [episode.info for episode in running]
    if agent.needs_envs:
        call = functools.partial(agent.policy.act_in_envs, [episode.env for episode in running], observations, infos)
    else:
        call = functools.partial(agent.policy.act, observations, infos)
    try:
        actions = _call_with_timeout(call, timeout_s)
    except _AgentTimeout:
        return _AgentFailure("timeout", f"timeout: act() took longer than {timeout_s:g} s")
    except (Exception, SystemExit) as error:  # sys.exit() in an agent ends its episodes, not the whole bench
        frame = traceback.extract_tb(error.__traceback__)[-1]
        return _AgentFailure("agent", f"act() raised {type(error).__name__}: {error} (at {Path(frame.filename).name}:{frame.lineno})")
    if not isinstance(actions, (list, tuple)) or len(actions) != len(running):
        got = f"a {type(actions).__name__}" + (f" of length {len(actions)}" if isinstance(actions, (list, tuple)) else "")
        return _AgentFailure("agent", f"act() returned {got}; expected a list of {len(running)} str (one per observation)")
    return list(actions)


def _step(episode: _Episode, action: str) -> None:
    try:
        observation, reward, terminated, truncated, info = episode.env.step(action)
    except Exception as error:
        episode.fail("env", f"env.step raised {type(error).__name__}: {error}")
        return
    episode.observation, episode.info = observation, info
    episode.reward += float(reward)
    for term, value in info.get("reward_terms", {}).items():
        episode.reward_terms[term] = episode.reward_terms.get(term, 0.0) + float(value)
    if terminated or truncated:
        episode.done = True
    elif episode.turns >= episode.spec.max_steps:
        episode.fail("env", f"the episode did not end within max_steps={episode.spec.max_steps} steps")


def _start(pool: _EnvPool, spec: EpisodeSpec) -> _Episode:
    episode = _Episode(spec=spec, env=pool.take(spec))
    try:
        episode.observation, episode.info = episode.env.reset(seed=spec.seed, options=dict(spec.options))
    except Exception as error:
        episode.fail("env", f"env.reset raised {type(error).__name__}: {error}")
    return episode


def run_suite(
    suite: Suite,
    agent: BenchAgent,
    out_dir: str | Path,
    *,
    n_envs: int = 4,
    step_timeout_s: float = 120.0,
    max_consecutive_timeouts: int = 3,
    progress: bool = True,
) -> RunOutcome:
    """Run every episode of ``suite`` not yet in the episode log with ``agent``, then write the results JSON.

    Args:
        suite: the suite (see :func:`vista_envs.bench.suites.load_suite`).
        agent: the agent (see :func:`vista_envs.bench.agents.make_agent`).
        out_dir: folder of ``<suite>.<agent>.json`` and ``<suite>.<agent>.episodes.jsonl``.
        n_envs: episodes run at once (the batch size of ``act``).
        step_timeout_s: the longest one ``act`` call may take.
        max_consecutive_timeouts: the run stops after this many timed-out ``act`` calls in a row.
        progress: show a progress bar.
    """
    check_step_timeout(step_timeout_s)
    if n_envs < 1 or max_consecutive_timeouts < 1:
        raise BenchError("n_envs and max_consecutive_timeouts must be >= 1")
    results_path, log_path = results_paths(Path(out_dir), suite.name, agent.name)
    if results_path.exists() and not log_path.exists():
        raise BenchError(
            f"{results_path} exists without its episode log {log_path.name}: this run would replace it; "
            "move it away (or delete it) to run afresh (nothing was changed)"
        )
    header = {"suite": suite.describe(), "agent": {"name": agent.name, "spec": agent.spec}}
    log = EpisodeLog(log_path, header)
    episodes = suite.episodes()
    finished = log.finished()
    pending = deque(e for e in episodes if e.key not in finished)
    envs = _check_envs(suite, list(pending))
    started_at = utc_now()
    stopped: str | None = None
    if pending:
        log.start_session(time.time())
        stopped = _run_pending(agent, pending, log, n_envs, step_timeout_s, max_consecutive_timeouts, progress, len(episodes))
    finished = log.finished()
    records = [finished.get(e.key) or missing_record(e) for e in episodes]
    run = {
        "started_at": started_at,
        "finished_at": utc_now(),
        "wall_time_s": log.wall_time_s(),
        "sessions": sum(1 for line in log.lines if line.get("type") == "session"),
        "n_envs": n_envs,
        "step_timeout_s": step_timeout_s,
        "complete": len(finished) == len(episodes),
        "stopped": stopped,
    }
    agent_info = {"name": agent.name, "spec": agent.spec, "token_unit": agent.token_unit}
    results = build_results(suite=suite, agent=agent_info, envs=envs, records=records, run=run)
    write_json_atomic(results_path, results)
    return RunOutcome(results_path, log_path, results)


def _run_pending(
    agent: BenchAgent,
    pending: deque[EpisodeSpec],
    log: EpisodeLog,
    n_envs: int,
    step_timeout_s: float,
    max_consecutive_timeouts: int,
    progress: bool,
    total: int,
) -> str | None:
    """Run the pending episodes; returns why the run stopped early, or None when all ran."""
    pool = _EnvPool()
    running: list[_Episode] = []
    ran, successes, timeouts_in_a_row = 0, 0, 0
    bar = tqdm(total=total, initial=total - len(pending), desc=f"{agent.name}", unit="ep", disable=not progress, dynamic_ncols=True)
    try:
        with ThreadPoolExecutor(max_workers=n_envs, thread_name_prefix="vista-bench-env") as stepper:
            while pending or running:
                while pending and len(running) < n_envs:
                    running.append(_start(pool, pending.popleft()))
                acting = [episode for episode in running if not episode.done]
                if acting:
                    actions = _actions(agent, acting, step_timeout_s)
                    if isinstance(actions, _AgentFailure):
                        timeouts_in_a_row = timeouts_in_a_row + 1 if actions.kind == "timeout" else 0
                        for episode in acting:
                            episode.fail(actions.kind, actions.message)
                    else:
                        timeouts_in_a_row = 0
                        to_step = []
                        for episode, action in zip(acting, actions):
                            episode.turns += 1
                            if not isinstance(action, str):
                                episode.fail("agent", f"act() returned a {type(action).__name__} for this episode; expected a str")
                                continue
                            episode.last_response = action
                            episode.tokens += agent.count_tokens(action)
                            to_step.append((episode, action))
                        list(stepper.map(lambda pair: _step(*pair), to_step))
                for episode in [e for e in running if e.done]:
                    running.remove(episode)
                    pool.give_back(episode.spec, episode.env)
                    record = episode.record()
                    log.add_episode(record)
                    ran, successes = ran + 1, successes + record["success"]
                    bar.update(1)
                    bar.set_postfix(success=f"{successes / ran:.2f}", refresh=False)
                if timeouts_in_a_row >= max_consecutive_timeouts:
                    return f"stopped after {timeouts_in_a_row} consecutive act() timeouts of {step_timeout_s:g} s; {len(pending)} episodes not run"
    finally:
        bar.close()
        pool.close()
    return None
