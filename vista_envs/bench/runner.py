"""Run a suite with an agent: parallel envs, a per-step timeout, resumable results.

The runner keeps ``n_envs`` episodes going at once. Each round it asks the agent for one action
per running episode in a single batched ``act`` call (so a model sees a batch), then steps those
envs concurrently in threads (tool calls and sandboxes wait on subprocesses meanwhile). A slot
whose episode ends takes the next episode of the suite.

Only the model's answers are scored. An ``act`` that raises (a refused connection, an HTTP 5xx or
429, a crash in the agent's code) or takes longer than ``step_timeout_s`` is an *infrastructure
error*: the same batch is asked again after a backoff, and after ``max_infra_errors`` of them in a
row the run stops with one message; the episodes it left are logged as ``infra_error`` and a rerun
runs them again. An ``act`` that returns the wrong type or length has answered, badly: its episodes
are failures with the reason recorded.

An agent sees only what a model may know: each observation's declared keys and the public part of
``info`` (:data:`PUBLIC_INFO_KEYS`), copied. Only the built-in oracle is given the envs. A stochastic
agent (:class:`~vista_envs.bench.baselines.SeededPolicy`) draws from one stream per episode, seeded
from the episode's identity, so a resumed run gives the same episodes as an uninterrupted one.

Every finished episode is appended to the episode log at once, so an interrupted run, rerun with the
same command, resumes where it stopped; a lock keeps two runs from writing to one log.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import io
import random
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
import numpy as np
from tqdm import tqdm

import vista_envs  # noqa: F401  (registers the env ids)
from vista_envs.bench.agents import BenchAgent
from vista_envs.bench.lock import RunLock
from vista_envs.bench.results import (
    EpisodeLog,
    build_results,
    missing_record,
    results_paths,
    utc_now,
    write_json_atomic,
)
from vista_envs.bench.suites import BenchError, EpisodeSpec, Suite

__all__ = ["PUBLIC_INFO_KEYS", "RunOutcome", "public_view", "run_suite"]

_MAX_RECORDED_CHARS = 300
# Prompts and responses are kept longer: a reader of the leaderboard opens failed episodes to read them.
_MAX_TRANSCRIPT_CHARS = 2000
_THUMBNAIL_PX = 96

# What an agent may read in ``info`` (the agent contract's public metadata and the conversation);
# anything else an env puts there (a task seed, a split, the answer) is stripped before act().
PUBLIC_INFO_KEYS = frozenset(
    {
        "family",
        "difficulty",
        "answer_type",
        "options",
        "messages",
        "images",
        "tools",
        "turn",
        "n_turns",
        "role",
        "error",
        "sandbox",
    }
)


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


def public_view(
    observation: Any,
    info: dict[str, Any],
    observation_space: gym.Space | None,
    env_public_keys: frozenset[str] = frozenset(),
) -> tuple[Any, dict[str, Any]]:
    """Copies of what an agent may see: the observation's declared keys, and ``info``'s public keys (those of the
    contract, :data:`PUBLIC_INFO_KEYS`, and those the env declares in ``public_info_keys``, e.g. a clip's length)."""
    if isinstance(observation, dict) and isinstance(observation_space, gym.spaces.Dict):
        observation = {key: value for key, value in observation.items() if key in observation_space.spaces}
    allowed = PUBLIC_INFO_KEYS | env_public_keys
    return copy.deepcopy(observation), copy.deepcopy({key: value for key, value in info.items() if key in allowed})


def agent_rng(episode: EpisodeSpec) -> random.Random:
    """The episode's own random stream for a seeded agent: from a one-way hash of its seed, so it says nothing about the
    task."""
    digest = hashlib.blake2b(f"agent|{episode.seed}|{episode.key}".encode(), digest_size=16).digest()
    return random.Random(int.from_bytes(digest, "little"))


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
    chars: int = 0
    tokens_known: bool = True
    rng: random.Random | None = None
    prompt: str | None = None
    first_image: Any = None
    done: bool = False
    error: str | None = None
    error_kind: str | None = None

    def fail(self, kind: str, message: str) -> None:
        self.done, self.error_kind, self.error = True, kind, message

    def record(self, private: bool = False) -> dict[str, Any]:
        options, info = self.spec.options, self.info
        family = options.get("family", options.get("task", info.get("family", info.get("task"))))
        difficulty = options.get("difficulty", info.get("difficulty"))
        messages = info.get("messages") or []
        success = bool(info.get("is_success", False)) and self.error is None
        record = {
            "key": self.spec.key,
            "entry": self.spec.entry,
            "env_id": self.spec.env_id,
            "family": None if family is None else str(family),
            "difficulty": None if difficulty is None else str(difficulty),
            "answer_type": info.get("answer_type"),
            # A private run's seed would regenerate its secret task: it is not recorded.
            "seed": None if private else self.spec.seed,
            "success": success,
            "reward": self.reward,
            "reward_terms": self.reward_terms,
            "turns": self.turns,
            "tool_calls": sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "tool"),
            "tokens": self.tokens if self.tokens_known else None,
            "chars": self.chars,
            "wall_time_s": time.perf_counter() - self.started,
            "finished_at": time.time(),
            "error_kind": self.error_kind,
            "error": self.error,
            "answer": _clip(info.get("answer")),
            "extracted_answer": _clip(info.get("extracted_answer")),
            "response": _clip(self.last_response, _MAX_TRANSCRIPT_CHARS),
            "prompt": _clip(self.prompt, _MAX_TRANSCRIPT_CHARS),
        }
        if self.error_kind == "infra":
            record["status"] = "infra_error"
        if not success and self.error_kind != "infra":
            # Failed episodes carry a small thumbnail for the leaderboard page (successes need none).
            record["thumbnail"] = _thumbnail(self.first_image)
        return record


def _thumbnail(image: Any) -> str | None:
    """A JPEG data URL of at most _THUMBNAIL_PX pixels a side (about 2-4 kB), or None without an image."""
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] in (3, 4) and image.dtype == np.uint8):
        return None
    from PIL import Image

    picture = Image.fromarray(image[..., :3])
    picture.thumbnail((_THUMBNAIL_PX, _THUMBNAIL_PX))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _clip(value: Any, limit: int = _MAX_RECORDED_CHARS) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _check_families(suite: Suite, entry_name: str, cells: Sequence[EpisodeSpec]) -> None:
    """A task family a suite names must be registered (built in or from a plugin); else say which plugin would provide
    it.

    Only envs built on the task library's families are checked here: VistaVideo's question kinds,
    VistaViews' families and VistaGUI's app kinds are the envs' own, checked by their ``reset``.
    """
    from vista_envs import plugins
    from vista_envs.envs.task_env import TaskEnv
    from vista_envs.tasks import family_names

    if not cells:
        return
    entry_point = gym.spec(cells[0].env_id).entry_point  # a "module:Class" string, or the class itself
    env_class = gym.envs.registration.load_env_creator(entry_point) if isinstance(entry_point, str) else entry_point
    if not (isinstance(env_class, type) and issubclass(env_class, TaskEnv)):
        return

    known = set(family_names())
    for episode in cells:
        family = episode.options.get("family")
        if isinstance(family, str) and family not in known:
            hint = plugins.provider_hint(plugins.FAMILIES_GROUP, family)
            raise BenchError(f"suite {suite.name}: entry {entry_name!r}: unknown task family {family!r}: {hint}")


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
        _check_families(suite, entry.name, list(cells.values()))
        try:
            env = gym.make(entry.env_id, disable_env_checker=True, **entry.env_kwargs)
        except Exception as error:
            raise BenchError(
                f"suite {suite.name}: cannot make {entry.env_id} with {dict(entry.env_kwargs)}: "
                f"{type(error).__name__}: {error}"
            ) from error
        try:
            for episode in cells.values():
                env.reset(seed=episode.seed, options=dict(episode.options))
        except Exception as error:
            raise BenchError(
                f"suite {suite.name}: {entry.env_id} rejects the reset options {dict(episode.options)}: {error}"
            ) from error
        finally:
            env.close()
    return described


@dataclass(frozen=True)
class _AgentFailure:
    """Why one ``act`` call produced no usable actions: ``kind`` is ``"infra"`` (retried, never scored) or ``"agent"``
    (a bad answer)."""

    kind: str
    message: str


def _actions(agent: BenchAgent, running: list[_Episode], timeout_s: float) -> list[Any] | _AgentFailure:
    """The agent's action for each running episode (each still to be type-checked), or why it gave none."""
    if agent.needs_envs:  # the oracle alone reads the envs (and so sees everything): it is the ceiling
        observations = [episode.observation for episode in running]
        call = functools.partial(
            agent.policy.act_in_envs,
            [episode.env for episode in running],
            observations,
            [episode.info for episode in running],
        )
    else:
        views = [
            public_view(
                episode.observation,
                episode.info,
                episode.env.observation_space,
                getattr(episode.env.unwrapped, "public_info_keys", frozenset()),
            )
            for episode in running
        ]
        observations, infos = [view[0] for view in views], [view[1] for view in views]
        if agent.seeded:
            call = functools.partial(agent.policy.act_seeded, observations, infos, [episode.rng for episode in running])
        else:
            call = functools.partial(agent.policy.act, observations, infos)
    try:
        actions = _call_with_timeout(call, timeout_s)
    except _AgentTimeout:
        return _AgentFailure("infra", f"timeout: act() took longer than {timeout_s:g} s")
    except (Exception, SystemExit) as error:  # sys.exit() in an agent is its process failing, not the model answering
        frame = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
        where = f" (at {Path(frame.filename).name}:{frame.lineno})" if frame else ""
        return _AgentFailure("infra", f"act() raised {type(error).__name__}: {error}{where}")
    if not isinstance(actions, (list, tuple)) or len(actions) != len(running):
        got = f"a {type(actions).__name__}" + (
            f" of length {len(actions)}" if isinstance(actions, (list, tuple)) else ""
        )
        return _AgentFailure(
            "agent", f"act() returned {got}; expected a list of {len(running)} str (one per observation)"
        )
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


def _start(pool: _EnvPool, spec: EpisodeSpec, agent: BenchAgent) -> _Episode:
    episode = _Episode(spec=spec, env=pool.take(spec), rng=agent_rng(spec) if agent.seeded else None)
    try:
        episode.observation, episode.info = episode.env.reset(seed=spec.seed, options=dict(spec.options))
    except Exception as error:
        episode.fail("env", f"env.reset raised {type(error).__name__}: {error}")
        return episode
    if isinstance(episode.observation, dict):
        text, image = episode.observation.get("text"), episode.observation.get("image")
        episode.prompt = text if isinstance(text, str) else None
        episode.first_image = image if isinstance(image, np.ndarray) else None
    return episode


@dataclass(frozen=True)
class RetryPolicy:
    """How infrastructure errors are retried: waits of ``backoff_s``, doubling up to ``max_backoff_s``;
    the run stops at ``max_errors`` in a row."""

    max_errors: int = 5
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0

    def wait(self, errors_in_a_row: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2 ** max(0, errors_in_a_row - 1))


def run_suite(
    suite: Suite,
    agent: BenchAgent,
    out_dir: str | Path,
    *,
    n_envs: int = 4,
    step_timeout_s: float = 120.0,
    max_consecutive_timeouts: int | None = None,
    max_infra_errors: int = 5,
    retry_backoff_s: float = 2.0,
    progress: bool = True,
) -> RunOutcome:
    """Run every episode of ``suite`` not yet in the episode log with ``agent``, then write the results JSON.

    Args:
        suite: the suite (see :func:`vista_envs.bench.suites.load_suite`; with a salt, a private run).
        agent: the agent (see :func:`vista_envs.bench.agents.make_agent`).
        out_dir: folder of ``<suite>.<agent>.json`` and ``<suite>.<agent>.episodes.jsonl``
            (``<suite>.private.<agent>...`` for a private run).
        n_envs: episodes run at once (the batch size of ``act``).
        step_timeout_s: the longest one ``act`` call may take; a longer one is an infrastructure error.
        max_infra_errors: the run stops after this many infrastructure errors in a row.
        max_consecutive_timeouts: the former name of ``max_infra_errors`` (timeouts are infrastructure errors).
        retry_backoff_s: the first wait before an ``act`` that failed is retried (it doubles, up to a minute).
        progress: show a progress bar.
    """
    check_step_timeout(step_timeout_s)
    if max_consecutive_timeouts is not None:
        max_infra_errors = max_consecutive_timeouts
    if n_envs < 1 or max_infra_errors < 1:
        raise BenchError("n_envs and max_infra_errors must be >= 1")
    if not (isinstance(retry_backoff_s, (int, float)) and 0 <= retry_backoff_s <= 3600):
        raise BenchError(f"the retry backoff must be in [0, 3600] seconds, got {retry_backoff_s!r}")
    retry = RetryPolicy(max_infra_errors, float(retry_backoff_s), max(60.0, float(retry_backoff_s)))
    stem_suite = f"{suite.name}.private" if suite.private else suite.name
    results_path, log_path = results_paths(Path(out_dir), stem_suite, agent.name)
    with RunLock(log_path.with_name(log_path.name[: -len(".episodes.jsonl")] + ".lock")):
        return _run_locked(suite, agent, results_path, log_path, n_envs, step_timeout_s, retry, progress)


def _run_locked(
    suite: Suite,
    agent: BenchAgent,
    results_path: Path,
    log_path: Path,
    n_envs: int,
    step_timeout_s: float,
    retry: RetryPolicy,
    progress: bool,
) -> RunOutcome:
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
        stopped = _run_pending(
            agent, pending, log, n_envs, step_timeout_s, retry, progress, len(episodes), suite.private
        )
    latest = log.latest()
    finished = log.finished()
    records = [latest.get(e.key) or missing_record(e) for e in episodes]
    run = {
        "started_at": started_at,
        "finished_at": utc_now(),
        "wall_time_s": log.wall_time_s(),
        "sessions": sum(1 for line in log.lines if line.get("type") == "session"),
        "n_envs": n_envs,
        "step_timeout_s": step_timeout_s,
        "complete": len(finished) == len(episodes),
        "stopped": stopped,
        "log_problems": list(log.problems),
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
    retry: RetryPolicy,
    progress: bool,
    total: int,
    private: bool,
) -> str | None:
    """Run the pending episodes; returns why the run stopped early, or None when all ran."""
    pool = _EnvPool()
    running: list[_Episode] = []
    ran, successes, infra_in_a_row = 0, 0, 0
    bar = tqdm(
        total=total,
        initial=total - len(pending),
        desc=f"{agent.name}",
        unit="ep",
        disable=not progress,
        dynamic_ncols=True,
    )

    def finish(episode: _Episode) -> None:
        nonlocal ran, successes
        running.remove(episode)
        pool.give_back(episode.spec, episode.env)
        record = episode.record(private)
        log.add_episode(record)
        if record.get("status") != "infra_error":
            ran, successes = ran + 1, successes + record["success"]
            bar.update(1)
            bar.set_postfix(success=f"{successes / ran:.2f}", refresh=False)

    try:
        with ThreadPoolExecutor(max_workers=n_envs, thread_name_prefix="vista-bench-env") as stepper:
            while pending or running:
                while pending and len(running) < n_envs:
                    running.append(_start(pool, pending.popleft(), agent))
                acting = [episode for episode in running if not episode.done]
                if acting:
                    states = [episode.rng.getstate() for episode in acting] if agent.seeded else []
                    actions = _actions(agent, acting, step_timeout_s)
                    if isinstance(actions, _AgentFailure) and actions.kind == "infra":
                        infra_in_a_row += 1
                        for episode, state in zip(acting, states):
                            episode.rng.setstate(state)  # the retry draws what the failed call drew
                        if infra_in_a_row >= retry.max_errors:
                            # The endpoint (or the agent's process) is down: stop, and leave these episodes to a rerun.
                            for episode in [e for e in running if e.done]:
                                finish(episode)
                            for episode in acting:
                                episode.fail("infra", actions.message)
                                finish(episode)
                            return (
                                f"stopped after {infra_in_a_row} infrastructure "
                                f"error{'s' if infra_in_a_row > 1 else ''} in a row (last: {actions.message}); "
                                f"{len(acting)} episodes were cut off and {len(pending)} not run: nothing was scored "
                                "as a model failure, "
                                "fix the endpoint or agent and run the same command again to resume"
                            )
                        time.sleep(retry.wait(infra_in_a_row))
                        continue  # the same episodes, in the same state, are asked again
                    infra_in_a_row = 0
                    if isinstance(actions, _AgentFailure):
                        for episode in acting:
                            episode.fail(actions.kind, actions.message)
                    else:
                        to_step = []
                        for episode, action in zip(acting, actions):
                            episode.turns += 1
                            if not isinstance(action, str):
                                episode.fail(
                                    "agent",
                                    f"act() returned a {type(action).__name__} for this episode; expected a str",
                                )
                                continue
                            episode.last_response = action
                            episode.chars += len(action)
                            counted = agent.count_tokens(action)
                            if counted is None:
                                episode.tokens_known = False
                            else:
                                episode.tokens += counted
                            to_step.append((episode, action))
                        list(stepper.map(lambda pair: _step(*pair), to_step))
                for episode in [e for e in running if e.done]:
                    finish(episode)
    finally:
        bar.close()
        pool.close()
    return None
