"""Benchmark results: the per-episode log (JSONL) and the results JSON, schema version 2.

The schema is documented in ``docs/results_schema.md``. A run writes two files into its output folder:

- ``<suite>.<agent>.episodes.jsonl``: a header line, one ``session`` line per (re)start, and one
  ``episode`` line per finished episode, appended and flushed as each episode ends. It is the
  source of truth: an interrupted run resumes from it, and nothing in it is ever rewritten. An
  episode cut off by infrastructure errors is logged with ``"status": "infra_error"`` and run again
  by the next run (its later line wins). A corrupted line is reported with its number and skipped:
  the episode it held is run again, every other episode is kept.
- ``<suite>.<agent>.json``: the summary (per env, family, difficulty and answer type), rebuilt from
  the log whenever a run stops.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from vista_envs.bench.stats import mean_interval, wilson_interval
from vista_envs.bench.suites import BenchError, EpisodeSpec, Suite
from vista_envs.finite import is_finite_number

__all__ = [
    "RESULTS_SCHEMA",
    "RESULTS_SCHEMA_VERSION",
    "EpisodeLog",
    "build_results",
    "load_results",
    "machine_info",
    "missing_record",
    "results_paths",
    "summarize",
    "utc_now",
    "write_json_atomic",
]

RESULTS_SCHEMA = "vista-envs/bench-results"
RESULTS_SCHEMA_VERSION = 2
# Failed episodes per env that a results file keeps for the leaderboard page (with thumbnails): bounds its size.
MAX_FAILED_EXAMPLES = 12
LOG_SCHEMA = "vista-envs/bench-episodes"
_MAX_ERROR_EXAMPLES = 20


def results_paths(out_dir: Path, suite_name: str, agent_name: str) -> tuple[Path, Path]:
    """``(results JSON, episode log)`` of an agent's run of a suite in ``out_dir``."""
    stem = f"{suite_name}.{agent_name}"
    return out_dir / f"{stem}.json", out_dir / f"{stem}.episodes.jsonl"


def missing_record(episode: EpisodeSpec) -> dict[str, Any]:
    """A failure record for an episode that never ran (the run was stopped before it)."""
    return {
        "type": "episode",
        "key": episode.key,
        "entry": episode.entry,
        "env_id": episode.env_id,
        "family": _label(episode.options.get("family", episode.options.get("task"))),
        "difficulty": _label(episode.options.get("difficulty")),
        "success": False,
        "status": "not_run",
    }


def _label(value: Any) -> str | None:
    return None if value is None else str(value)


def _check_episode_line(line: Mapping[str, Any]) -> None:
    """An episode line of a log holds what the results are built from (a hand-edited log raises, naming the line)."""
    if not isinstance(line["key"], str) or not isinstance(line["success"], bool):
        raise TypeError("an episode needs a str key and a bool success")
    if not is_finite_number(line["reward"]) or not is_finite_number(line["wall_time_s"]):
        raise ValueError(f"reward {line['reward']!r} and wall_time_s {line['wall_time_s']!r} must be finite numbers")
    if not isinstance(line["reward_terms"], dict) or not all(
        is_finite_number(v) for v in line["reward_terms"].values()
    ):
        raise ValueError(f"reward_terms {line['reward_terms']!r} must map terms to finite numbers")
    for key in ("turns", "tool_calls"):
        if not _is_count(line[key]):
            raise ValueError(f"{key} {line[key]!r} must be a count")
    for key in ("tokens", "chars"):  # tokens: None when the agent has no tokenizer; chars: absent in older logs
        if line.get(key) is not None and not _is_count(line[key]):
            raise ValueError(f"{key} {line[key]!r} must be a count")


class EpisodeLog:
    """The append-only JSONL log of one agent's run of one suite.

    Opening it validates the header against ``header`` (same suite hash and agent spec) and
    returns the episodes already finished; a last line cut off by a kill is dropped. A corrupted line
    further up is reported in :attr:`problems` (with its line number) and skipped, so its episode is
    run again and no other is lost. A new log is written on its first line, so a run that fails
    before any (a suite whose envs cannot be made) leaves no file that would block the mended suite.
    """

    def __init__(self, path: Path, header: Mapping[str, Any]):
        self.path = path
        self.header = {"type": "header", "schema": LOG_SCHEMA, "schema_version": RESULTS_SCHEMA_VERSION, **header}
        self.lines: list[dict[str, Any]] = []
        self.problems: list[str] = []
        if path.exists():
            self._read_existing()

    def _read_existing(self) -> None:
        raw = self.path.read_bytes()
        complete, _, partial = raw.rpartition(b"\n")
        if partial.strip():
            # The process died while writing this line: drop it so appends stay line-aligned.
            with self.path.open("r+b") as handle:
                handle.truncate(len(complete) + 1 if complete else 0)
        try:
            lines = [line for line in complete.decode("utf-8").split("\n") if line.strip()] if complete else []
        except UnicodeDecodeError as error:
            raise BenchError(
                f"{self.path} is corrupted: not UTF-8 ({error}); move the file away to start this run afresh"
            ) from None
        if not lines:
            self.path.write_text("")
            self._append(self.header)
            return
        parsed = []
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
                if not isinstance(entry, dict):
                    raise ValueError(f"a {type(entry).__name__}, not a JSON object")
                if number > 1:
                    if entry.get("type") == "episode":
                        _check_episode_line(entry)
                    elif entry.get("type") != "session" or not is_finite_number(entry.get("started_at")):
                        raise ValueError(f"an unknown line type {entry.get('type')!r}")
            except (ValueError, RecursionError, KeyError, TypeError) as error:
                reason = f"{type(error).__name__}: {error}"
                if number == 1:  # without its header, nothing says which run the log holds
                    raise BenchError(
                        f"{self.path}: line 1 (the header) is corrupted ({reason}); move the file away to start this "
                        "run afresh"
                    ) from None
                self.problems.append(
                    f"{self.path}: line {number} is corrupted ({reason}); skipped, and its episode (if it held one) is "
                    "run again"
                )
                continue
            parsed.append(entry)
        found = parsed[0]
        if found.get("schema") != LOG_SCHEMA:
            raise BenchError(
                f"{self.path} is not a vista-envs episode log (its first line has no schema {LOG_SCHEMA!r})"
            )
        for key in ("suite", "agent"):
            if found.get(key) != self.header[key]:
                raise BenchError(
                    f"{self.path} holds a run of {_describe(found)}, not of {_describe(self.header)}; "
                    "write to another --out folder or move the old files away (nothing was changed)"
                )
        self.lines = parsed[1:]

    def latest(self) -> dict[str, dict[str, Any]]:
        """The latest line of each episode by key (infrastructure errors included)."""
        return {line["key"]: line for line in self.lines if line.get("type") == "episode"}

    def finished(self) -> dict[str, dict[str, Any]]:
        """Finished episodes by key: those whose latest line is not an infrastructure error (those run again)."""
        return {key: line for key, line in self.latest().items() if line.get("status") != "infra_error"}

    def start_session(self, started_at: float) -> None:
        self._append({"type": "session", "started_at": started_at})

    def add_episode(self, record: Mapping[str, Any]) -> None:
        self._append({"type": "episode", **record})

    def wall_time_s(self) -> float:
        """The time spent running, summed over sessions: from each start to its last finished episode."""
        total, session_start, session_end = 0.0, None, None
        for line in self.lines:
            if line.get("type") == "session":
                if session_start is not None and session_end is not None:
                    total += session_end - session_start
                session_start, session_end = line["started_at"], None
            elif line.get("type") == "episode" and session_start is not None:
                session_end = line["finished_at"]
        if session_start is not None and session_end is not None:
            total += session_end - session_start
        return total

    def _append(self, line: Mapping[str, Any]) -> None:
        if line is not self.header:
            self.lines.append(dict(line))
            if not self.path.exists():
                self._append(self.header)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
            handle.flush()


def _describe(header: Mapping[str, Any]) -> str:
    suite, agent = header.get("suite", {}), header.get("agent", {})
    return f"suite {suite.get('name')} v{suite.get('version')} ({suite.get('hash')}) by agent {agent.get('spec')!r}"


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def summarize(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Success, reward and cost figures of a group of episode records.

    Episodes that never ran, or were cut off by infrastructure errors, count as failures in the success
    rate and are left out of the means; ``infra_errors`` counts the latter (the leaderboard refuses to
    rank a run that has any). ``mean_tokens`` is over the episodes measured in tokens (None when the
    agent has no tokenizer); ``mean_chars`` counts response characters, for every agent.
    """
    records = list(records)
    infra = [r for r in records if r.get("status") == "infra_error"]
    ran = [r for r in records if r.get("status") not in ("not_run", "infra_error")]
    successes = sum(bool(r["success"]) for r in records)
    rewards = [float(r["reward"]) for r in ran]
    reward_std = statistics.stdev(rewards) if len(rewards) > 1 else 0.0
    mean_reward = _mean(rewards)
    reward_ci = mean_interval(mean_reward, reward_std, len(rewards)) if mean_reward is not None else None
    term_values: dict[str, list[float]] = {}
    for record in ran:
        for term, value in record["reward_terms"].items():
            term_values.setdefault(term, []).append(float(value))
    return {
        "episodes": len(records),
        "successes": successes,
        "success_rate": successes / len(records) if records else 0.0,
        "success_ci95": list(wilson_interval(successes, len(records))),
        "mean_reward": mean_reward,
        "reward_std": reward_std,
        "reward_ci95": list(reward_ci) if reward_ci else None,
        "mean_reward_terms": {term: statistics.fmean(values) for term, values in sorted(term_values.items())},
        "mean_turns": _mean([r["turns"] for r in ran]),
        "mean_tool_calls": _mean([r["tool_calls"] for r in ran]),
        "mean_tokens": _mean([r["tokens"] for r in ran if r.get("tokens") is not None]),
        "mean_chars": _mean([r["chars"] for r in ran if r.get("chars") is not None]),
        "errors": sum(1 for r in ran if r.get("error")),
        "infra_errors": len(infra),
        "not_run": len(records) - len(ran) - len(infra),
        "episode_time_s": sum(float(r["wall_time_s"]) for r in ran),
    }


def _grouped(records: list[Mapping[str, Any]], field: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        label = record.get(field)
        if label is not None:
            groups.setdefault(str(label), []).append(record)
    return {label: summarize(group) for label, group in sorted(groups.items(), key=lambda item: _natural_key(item[0]))}


def _natural_key(label: str) -> tuple[int, float, str]:
    try:
        return 0, float(label), label
    except ValueError:
        return 1, math.inf, label


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """What the run ran on: OS, CPU architecture and count, Python and key package versions."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "packages": {name: _package_version(name) for name in ("vista-envs", "gymnasium", "numpy", "pillow")},
    }


def build_results(
    *,
    suite: Suite,
    agent: Mapping[str, Any],
    envs: Mapping[str, Any],
    records: list[Mapping[str, Any]],
    run: Mapping[str, Any],
) -> dict[str, Any]:
    """The results JSON (schema version 2) from every episode record of the suite, not-run ones included."""
    error_counts = Counter((r["error_kind"], r["error"]) for r in records if r.get("error"))
    private = suite.private
    by_env = {}
    for name in envs:
        entry_records = [r for r in records if r["entry"] == name]
        by_env[name] = {
            "env_id": envs[name]["id"],
            "summary": summarize(entry_records),
            "by_family": _grouped(entry_records, "family"),
            "by_difficulty": _grouped(entry_records, "difficulty"),
            "by_answer_type": _grouped(entry_records, "answer_type"),
            "failed_examples": [] if private else _failed_examples(entry_records),
        }
    return {
        "schema": RESULTS_SCHEMA,
        "schema_version": RESULTS_SCHEMA_VERSION,
        "agent": dict(agent),
        "suite": suite.describe(),
        "envs": dict(envs),
        "machine": machine_info(),
        "run": dict(run),
        "overall": summarize(records),
        "by_env": by_env,
        "errors": [
            {"kind": kind, "message": message, "episodes": count}
            for (kind, message), count in error_counts.most_common(_MAX_ERROR_EXAMPLES)
        ],
    }


_EXAMPLE_FIELDS = (
    "key",
    "family",
    "difficulty",
    "answer_type",
    "reward",
    "reward_terms",
    "turns",
    "error",
    "answer",
    "extracted_answer",
    "prompt",
    "response",
    "thumbnail",
)


def _failed_examples(records: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Up to MAX_FAILED_EXAMPLES failed episodes that ran, spread over families (round robin, in suite order).

    A private run keeps none: its prompts and answers are the secret tasks.
    """
    by_family: dict[Any, list[Mapping[str, Any]]] = {}
    for record in records:
        if not record["success"] and record.get("status") not in ("not_run", "infra_error"):
            by_family.setdefault(record.get("family"), []).append(record)
    chosen: list[Mapping[str, Any]] = []
    queues = list(by_family.values())
    while queues and len(chosen) < MAX_FAILED_EXAMPLES:
        for queue in list(queues):
            if len(chosen) < MAX_FAILED_EXAMPLES:
                chosen.append(queue.pop(0))
            if not queue:
                queues.remove(queue)
    return [{field: record.get(field) for field in _EXAMPLE_FIELDS} for record in chosen]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that readers see the old file or the new one, never half of one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def load_results(path: Path) -> dict[str, Any]:
    """Read and validate one results JSON; a corrupted or foreign file raises :class:`BenchError` naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise BenchError(f"{path}: cannot read it ({error})") from None
    except (ValueError, RecursionError) as error:  # JSONDecodeError, an int past the digit limit, nesting too deep
        raise BenchError(
            f"{path} is corrupted: not valid JSON ({error}); re-run its bench command to rebuild it from the episode "
            "log"
        ) from None
    if not isinstance(data, dict) or data.get("schema") != RESULTS_SCHEMA:
        raise BenchError(f'{path} is not a vista-envs results file (no "schema": {RESULTS_SCHEMA!r})')
    if data.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise BenchError(
            f"{path} has results schema version {data.get('schema_version')!r}; this vista-envs reads version "
            f"{RESULTS_SCHEMA_VERSION}"
        )
    try:
        _check_summary(data["overall"])
        for env in data["by_env"].values():
            _check_summary(env["summary"])
            for group in ("by_family", "by_difficulty"):
                for summary in env[group].values():
                    _check_summary(summary)
            examples = env.get("failed_examples", [])
            if not (
                isinstance(examples, list)
                and len(examples) <= MAX_FAILED_EXAMPLES
                and all(isinstance(e, dict) for e in examples)
            ):
                raise ValueError(f"failed_examples must be a list of at most {MAX_FAILED_EXAMPLES} episode objects")
        name, suite = data["agent"]["name"], data["suite"]
        if suite.get("tasks", "public") not in ("public", "private"):
            raise ValueError(f"the suite's tasks is {suite.get('tasks')!r}, not 'public' or 'private'")
        if not isinstance(name, str) or not all(
            isinstance(suite[key], (str, int)) for key in ("name", "version", "hash", "split")
        ):
            raise TypeError("agent name or suite identity has the wrong type")
        if not _is_count(suite["episodes"]):
            raise ValueError(f"the suite's episodes is {suite['episodes']!r}")
    except (KeyError, TypeError, AttributeError, ValueError) as error:
        raise BenchError(f"{path} is corrupted: {type(error).__name__}: {error}") from None
    return data


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_summary(summary: Mapping[str, Any]) -> None:
    """Every figure a leaderboard reads from a summary is there, finite and consistent (a hand-edited file cannot rank
    first)."""
    episodes, successes = summary["episodes"], summary["successes"]
    if not (_is_count(episodes) and _is_count(successes) and successes <= episodes):
        raise ValueError(f"a summary has {successes!r} successes of {episodes!r} episodes")
    rate = summary["success_rate"]
    if not is_finite_number(rate) or not math.isclose(rate, successes / episodes if episodes else 0.0, abs_tol=1e-9):
        raise ValueError(f"a summary's success_rate {rate!r} is not its {successes}/{episodes} successes")
    interval = summary["success_ci95"]
    if not (
        isinstance(interval, list)
        and len(interval) == 2
        and all(is_finite_number(v) for v in interval)
        and 0 <= interval[0] <= rate <= interval[1] <= 1
    ):
        raise ValueError(f"a summary's success_ci95 {interval!r} is not an interval around its success rate")
    for key in ("mean_reward", "mean_turns", "mean_tool_calls", "mean_tokens", "mean_chars"):
        if summary[key] is not None and not is_finite_number(summary[key]):
            raise ValueError(f"a summary's {key} is {summary[key]!r}")
    reward_interval = summary.get("reward_ci95")
    if reward_interval is not None and not (
        isinstance(reward_interval, list)
        and len(reward_interval) == 2
        and all(is_finite_number(v) for v in reward_interval)
    ):
        raise ValueError(f"a summary's reward_ci95 is {reward_interval!r}")
    for key in ("errors", "not_run", "infra_errors"):
        if not _is_count(summary[key]):
            raise ValueError(f"a summary's {key} is {summary[key]!r}")
