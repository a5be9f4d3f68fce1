"""`vista-envs bench`: suites, agent specs, the resumable runner and its handling of misbehaving agents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import vista_envs  # noqa: F401
from vista_envs.bench import BenchError, load_suite, make_agent, run_suite
from vista_envs.bench.agents import BenchAgent
from vista_envs.bench.baselines import OraclePolicy, task_view
from vista_envs.bench.results import RESULTS_SCHEMA, load_results, results_paths
from vista_envs.bench.suites import parse_suite
from vista_envs.cli import main
from vista_envs.gui.apps import APP_KINDS
from vista_envs.tasks import family_names
from vista_envs.video.questions import KINDS as VIDEO_KINDS

import repo_paths

REPO = repo_paths.REPO

TINY = {
    "name": "tiny",
    "version": 1,
    "description": "yes/no heavy families, plus one tool family",
    "split": "test",
    "seed": 7,
    "entries": [
        {
            "env": "VisualQA-v0",
            "grid": {"family": ["comparison", "spatial", "maze"], "difficulty": [1, 3]},
            "episodes_per_cell": 8,
        },
        {"env": "VistaTool-v0", "grid": {"family": ["pixel_measure"], "difficulty": [1]}, "episodes_per_cell": 2},
    ],
}
TINY_EPISODES = 3 * 2 * 8 + 2


def small_suite(episodes_per_cell: int = 2, version: int = 1) -> dict[str, Any]:
    """A VisualQA-only suite of 2 families x 1 difficulty."""
    return {
        "name": "small",
        "version": version,
        "split": "test",
        "seed": 1,
        "entries": [
            {
                "env": "VisualQA-v0",
                "grid": {"family": ["counting", "clock"], "difficulty": [2]},
                "episodes_per_cell": episodes_per_cell,
            }
        ],
    }


def write_suite(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / f"{data['name']}-v{data['version']}.json"
    path.write_text(json.dumps(data))
    return path


def agent_of(policy: Any, name: str = "custom") -> BenchAgent:
    """A test agent; one that reads the envs (an oracle variant) is privileged, as only the built-in oracle is from the
    CLI."""
    return BenchAgent(name=name, spec=f"python:test:{name}", policy=policy, privileged=hasattr(policy, "act_in_envs"))


def episode_lines(log: Path) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, log.read_text().splitlines()) if line["type"] == "episode"]


# -- suites -------------------------------------------------------------------------------------------


def test_builtin_suites_use_the_test_split_registered_envs_and_existing_families():
    for name in ("quick", "full"):
        suite = load_suite(name)
        assert suite.split == "test" and suite.version >= 1
        for entry in suite.entries:
            assert entry.env_id in gym.registry
            if entry.env_id in ("VisualQA-v0", "VistaTool-v0"):  # envs built on the task library's families
                assert set(entry.grid["family"]) <= set(family_names())
            elif entry.env_id == "VistaVideo-v0":
                assert set(entry.grid["family"]) <= set(VIDEO_KINDS)
            elif entry.env_id == "VistaGUI-v0":  # its families are app kinds
                assert set(entry.grid["family"]) <= set(APP_KINDS)
        episodes = suite.episodes()
        assert len({e.key for e in episodes}) == len(episodes)
        assert all(e.options["split"] == "test" for e in episodes)


def test_every_grid_cell_of_the_builtin_suites_resets_its_env():
    for name in ("quick", "full"):
        for entry in load_suite(name).entries:
            env = gym.make(entry.env_id, **entry.env_kwargs)
            for cell in entry.cells():
                observation, info = env.reset(seed=0, options={**entry.options, **cell, "split": "test"})
                assert (info["family"], info["difficulty"]) == (cell["family"], cell["difficulty"])
            env.close()


def test_quick_suite_is_also_found_from_the_repo_benchmarks_folder():
    assert load_suite(REPO / "benchmarks" / "suites" / "quick.json").hash == load_suite("quick").hash


def test_suite_hash_ignores_description_and_layout_but_not_content():
    base = parse_suite(TINY)
    assert parse_suite({**TINY, "description": "other words"}).hash == base.hash
    assert parse_suite(json.loads(json.dumps(TINY, indent=4))).hash == base.hash
    assert parse_suite({**TINY, "seed": 8}).hash != base.hash
    assert parse_suite({**TINY, "version": 2}).hash != base.hash
    assert base.hash.startswith("sha256:") and len(base.hash) == len("sha256:") + 16


def test_episode_seeds_are_fixed_and_do_not_move_when_an_entry_is_added():
    seeds = {e.key: e.seed for e in parse_suite(TINY).episodes()}
    assert seeds == {e.key: e.seed for e in parse_suite(TINY).episodes()}
    extended = {
        **TINY,
        "entries": [
            *TINY["entries"],
            {"env": "VisualQA-v0", "name": "qa-clock", "grid": {"family": ["clock"]}, "episodes_per_cell": 2},
        ],
    }
    extended_seeds = {e.key: e.seed for e in parse_suite(extended).episodes()}
    assert {key: extended_seeds[key] for key in seeds} == seeds
    assert len(set(seeds.values())) == len(seeds)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"split": "train"}, "held-out split"),
        ({"version": 0}, "version must be a positive int"),
        ({"entries": []}, "non-empty list"),
        ({"entries": [{"env": "VisualQA-v0", "episodes_per_cell": 0}]}, "'episodes_per_cell' must be a positive int"),
        (
            {"entries": [{"env": "VisualQA-v0", "episodes_per_cell": 1, "grid": {"family": []}}]},
            "non-empty list of distinct values",
        ),
        (
            {"entries": [{"env": "VisualQA-v0", "episodes_per_cell": 1, "options": {"split": "eval"}}]},
            "split is set once",
        ),
        ({"entries": [{"env": "VisualQA-v0", "episodes_per_cell": 1}] * 2}, "distinct 'name's"),
        ({"entries": [{"env": "VisualQA-v0", "episodes_per_cell": 1, "colour": "red"}]}, "unknown keys ['colour']"),
        ({"seeds": 3}, "unknown keys ['seeds']"),
    ],
)
def test_malformed_suites_raise_clear_errors(change, message):
    with pytest.raises(BenchError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        parse_suite({**TINY, **change})


def test_unknown_suite_name_and_broken_suite_file_raise_clear_errors(tmp_path):
    with pytest.raises(BenchError, match=r"unknown suite 'nope'; built-in suites: full, quick"):
        load_suite("nope")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(BenchError, match="broken.json is not valid JSON"):
        load_suite(broken)


def test_suite_naming_a_family_the_env_lacks_fails_before_running(tmp_path):
    data = small_suite()
    data["entries"][0]["grid"]["family"] = ["counting", "no_such_family"]
    with pytest.raises(BenchError, match="unknown task family 'no_such_family': no installed package declares it"):
        run_suite(parse_suite(data), make_agent("oracle"), tmp_path, progress=False)


# -- agent specs ----------------------------------------------------------------------------------------


AGENT_MODULE = textwrap.dedent(
    """
    class Echo:
        def act(self, observations, infos):
            return ["<think>a b c</think><answer>1</answer>" for _ in observations]

    def make_agent():
        return Echo()

    def make_nothing():
        return 42

    def make_broken():
        raise RuntimeError("no weights here")
    """
)


def test_each_agent_spec_builds_its_agent(tmp_path, monkeypatch):
    (tmp_path / "my_bench_agent.py").write_text(AGENT_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    expected = {
        "random": ("random", "GUIRouter"),  # RandomGuesser, with random inputs for VistaGUI-v0 episodes
        "scripted": ("scripted", "ScriptedPolicy"),
        "oracle": ("oracle", "OraclePolicy"),
        "python:my_bench_agent:make_agent": ("python-my_bench_agent.make_agent", "Echo"),
        f"python:{tmp_path / 'my_bench_agent.py'}:make_agent": (None, "Echo"),
        "mine=python:my_bench_agent:make_agent": ("mine", "Echo"),
        "openai:qwen2.5-vl@http://127.0.0.1:9/v1": ("openai-qwen2.5-vl", "_EndpointAgent"),
        "openai-text:qwen2.5-vl@http://127.0.0.1:9/v1": ("openai-text-qwen2.5-vl", "_EndpointAgent"),
    }
    for spec, (name, policy_class) in expected.items():
        agent = make_agent(spec)
        assert type(agent.policy).__name__ == policy_class, spec
        assert name is None or agent.name == name
        assert agent.spec == spec and agent.token_unit == "chars"
    assert make_agent("oracle").needs_envs and not make_agent("random").needs_envs
    assert make_agent("random").seeded and not make_agent("scripted").seeded


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty agent spec"),
        ("randm", "unknown agent spec 'randm'; expected random | scripted | oracle"),
        ("hf:", "no such model folder ''"),
        ("hf:/no/such/model", "no such model folder"),
        ("openai:gpt-4o", "expected openai:MODEL@URL"),
        ("openai:gpt-4o@localhost:8000", "expected openai:MODEL@URL"),
        ("openai-text:gpt-4o", "expected openai-text:MODEL@URL"),
        ("python:my_bench_agent", "expected python:MODULE:FACTORY"),
        ("python:no_such_module_xyz:make", "cannot import it"),
        ("python:my_bench_agent:missing", "has no callable 'missing'"),
        ("python:my_bench_agent:make_nothing", "returned a int, which has no act"),
        ("python:my_bench_agent:make_broken", "creating the agent failed: RuntimeError: no weights here"),
        ("python:missing_file.py:make", "no such file"),
    ],
)
def test_bad_agent_specs_raise_clear_errors(spec, message, tmp_path, monkeypatch):
    (tmp_path / "my_bench_agent.py").write_text(AGENT_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(BenchError, match=message.replace("|", r"\|")):
        make_agent(spec)


def test_baselines_read_the_task_question_and_image_in_both_envs():
    for env_id in ("VisualQA-v0", "VistaTool-v0"):
        env = gym.make(env_id)
        observation, info = env.reset(seed=0, options={"family": "counting", "split": "test"})
        question, image = task_view(observation, info)
        assert question.startswith(env.unwrapped.task.question) and (image == observation["image"]).all()
        env.close()


# -- runs -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("tiny")
    suite = parse_suite(TINY)
    return {
        spec: run_suite(suite, make_agent(spec, seed=suite.seed), out, progress=False).results
        for spec in ("random", "scripted", "oracle")
    }


def test_oracle_tops_the_tiny_suite_and_random_sits_at_chance(tiny_runs):
    oracle, scripted, random_ = (tiny_runs[name]["overall"] for name in ("oracle", "scripted", "random"))
    assert oracle["success_rate"] == 1.0 and oracle["episodes"] == TINY_EPISODES
    assert random_["success_rate"] < scripted["success_rate"] < oracle["success_rate"]
    yes_no = tiny_runs["random"]["by_env"]["VisualQA-v0"]["by_answer_type"]["yes_no"]
    low, high = yes_no["success_ci95"]
    assert yes_no["episodes"] >= 15 and low <= 0.5 <= high, yes_no


def test_results_follow_schema_version_2(tiny_runs):
    results = tiny_runs["scripted"]
    assert results["schema"] == RESULTS_SCHEMA and results["schema_version"] == 2
    assert results["agent"] == {"name": "scripted", "spec": "scripted", "token_unit": "chars"}
    assert results["suite"] == parse_suite(TINY).describe()
    assert results["envs"]["VistaTool-v0"] == {"id": "VistaTool-v0", "version": 0, "kwargs": {}}
    assert results["run"]["complete"] and results["run"]["stopped"] is None and results["run"]["wall_time_s"] > 0
    assert {"platform", "cpu_count", "python", "packages"} <= set(results["machine"])
    qa = results["by_env"]["VisualQA-v0"]
    assert set(qa["by_family"]) == {"comparison", "spatial", "maze"} and set(qa["by_difficulty"]) == {"1", "3"}
    assert qa["summary"]["episodes"] == 48 and sum(g["episodes"] for g in qa["by_family"].values()) == 48
    assert set(qa["summary"]["mean_reward_terms"]) == {"correctness", "format", "reasoning", "length"}
    tool = results["by_env"]["VistaTool-v0"]["summary"]
    # The scripted agent calls one tool (Python counts the pixels), then answers: 2 turns, 1 call.
    assert tool["mean_turns"] == 2 and tool["mean_tool_calls"] == 1 and tool["success_rate"] == 1.0
    # Without a tokenizer the scripted agent's responses are measured in characters only.
    assert "tools" in tool["mean_reward_terms"] and tool["mean_tokens"] is None and tool["mean_chars"] > 0
    assert results["suite"]["tasks"] == "public" and qa["summary"]["infra_errors"] == 0
    # Failed episodes keep what the leaderboard page shows: prompt, response, answer, reward terms, a small thumbnail.
    example = qa["failed_examples"][0]
    assert example["prompt"] and example["response"] and example["answer"] and example["reward_terms"]
    assert example["thumbnail"].startswith("data:image/jpeg;base64,") and len(example["thumbnail"]) < 8000
    assert len({e["family"] for e in qa["failed_examples"]}) > 1


def test_a_rerun_of_the_random_agent_gives_identical_responses(tmp_path):
    suite = parse_suite(small_suite(episodes_per_cell=4))
    runs = [
        episode_lines(
            run_suite(suite, make_agent("random", seed=3), tmp_path / str(i), n_envs=3, progress=False).log_path
        )
        for i in range(2)
    ]
    assert [(e["key"], e["response"]) for e in runs[0]] == [(e["key"], e["response"]) for e in runs[1]]
    assert len({e["response"] for e in runs[0]}) > 1


# -- misbehaving agents -----------------------------------------------------------------------------------


class Raising:
    def act(self, observations, infos):
        raise RuntimeError("model exploded")


class Exits:
    def act(self, observations, infos):
        raise SystemExit(3)


class ReturnsString:
    def act(self, observations, infos):
        return "<answer>1</answer>"


class ReturnsTooFew:
    def act(self, observations, infos):
        return ["<answer>1</answer>"] * (len(observations) - 1)


class ReturnsNone:
    def act(self, observations, infos):
        return [None] * len(observations)


@pytest.mark.parametrize(
    ("policy", "kind", "message"),
    [
        (ReturnsString(), "agent", "act() returned a str; expected a list of 2 str"),
        (ReturnsTooFew(), "agent", "act() returned a list of length 1; expected a list of 2 str"),
        (ReturnsNone(), "agent", "act() returned a NoneType for this episode; expected a str"),
    ],
)
def test_misbehaving_agent_episodes_are_recorded_failures_and_the_run_completes(policy, kind, message, tmp_path):
    outcome = run_suite(parse_suite(small_suite()), agent_of(policy), tmp_path, n_envs=2, progress=False)
    overall = outcome.results["overall"]
    assert outcome.complete and overall["episodes"] == 4 and overall["successes"] == 0 and overall["errors"] == 4
    [error] = outcome.results["errors"]
    assert error["kind"] == kind and error["episodes"] == 4 and message in error["message"]


@pytest.mark.parametrize("policy", [Raising(), Exits()], ids=["raises", "sys-exit"])
def test_an_agent_that_keeps_raising_is_an_infrastructure_failure_never_a_model_failure(policy, tmp_path):
    outcome = run_suite(
        parse_suite(small_suite()),
        agent_of(policy),
        tmp_path,
        n_envs=2,
        max_infra_errors=3,
        retry_backoff_s=0,
        progress=False,
    )
    overall, run = outcome.results["overall"], outcome.results["run"]
    assert not outcome.complete and "stopped after 3 infrastructure errors in a row" in run["stopped"]
    assert "nothing was scored as a model failure" in run["stopped"]
    # The two episodes it was asked about are logged as infra errors (re-run on resume), the other two never ran.
    assert overall["infra_errors"] == 2 and overall["not_run"] == 2 and overall["errors"] == 0
    assert all(e["status"] == "infra_error" for e in episode_lines(outcome.log_path))


class RaisesEveryOtherCall:
    def __init__(self):
        self.calls, self.oracle = 0, OraclePolicy()

    def act_in_envs(self, envs, observations, infos):
        self.calls += 1
        if self.calls % 2 == 0:
            raise ValueError("flaky")
        return self.oracle.act_in_envs(envs, observations, infos)


def test_a_failing_act_call_is_retried_and_scores_nothing(tmp_path):
    outcome = run_suite(
        parse_suite(small_suite(episodes_per_cell=3)),
        agent_of(RaisesEveryOtherCall()),
        tmp_path,
        n_envs=1,
        retry_backoff_s=0,
        progress=False,
    )
    overall = outcome.results["overall"]
    assert outcome.complete and overall["successes"] == 6 and overall["errors"] == 0 and overall["infra_errors"] == 0


class HangsFirst:
    """Hangs on its first ``hangs`` calls, then answers like the oracle."""

    def __init__(self, hangs: int):
        self.hangs, self.oracle = hangs, OraclePolicy()

    def act_in_envs(self, envs, observations, infos):
        if self.hangs > 0:
            self.hangs -= 1
            time.sleep(30)
        return self.oracle.act_in_envs(envs, observations, infos)


def test_a_hanging_step_times_out_is_retried_and_the_run_goes_on(tmp_path):
    start = time.perf_counter()
    outcome = run_suite(
        parse_suite(small_suite()),
        agent_of(HangsFirst(1)),
        tmp_path,
        n_envs=1,
        step_timeout_s=0.3,
        retry_backoff_s=0,
        progress=False,
    )
    assert time.perf_counter() - start < 10
    assert outcome.complete and outcome.results["overall"]["successes"] == 4 and outcome.results["errors"] == []


def test_an_agent_that_keeps_hanging_is_stopped_and_the_rest_counts_as_not_run(tmp_path):
    outcome = run_suite(
        parse_suite(small_suite(episodes_per_cell=5)),
        agent_of(HangsFirst(100)),
        tmp_path,
        n_envs=1,
        step_timeout_s=0.2,
        max_infra_errors=2,
        retry_backoff_s=0,
        progress=False,
    )
    overall, run = outcome.results["overall"], outcome.results["run"]
    assert (
        not outcome.complete
        and "2 infrastructure errors in a row (last: timeout: act() took longer than 0.2 s)" in run["stopped"]
    )
    assert (
        overall["episodes"] == 10
        and overall["successes"] == 0
        and overall["not_run"] == 9
        and overall["infra_errors"] == 1
    )
    assert overall["errors"] == 0


# -- resume -----------------------------------------------------------------------------------------------


class CountingOracle:
    def __init__(self):
        self.seen, self.oracle = 0, OraclePolicy()

    def act_in_envs(self, envs, observations, infos):
        self.seen += len(envs)
        return self.oracle.act_in_envs(envs, observations, infos)


def test_a_run_cut_off_mid_line_resumes_with_only_the_missing_episodes(tmp_path):
    suite = parse_suite(small_suite(episodes_per_cell=4))
    first = run_suite(suite, agent_of(CountingOracle()), tmp_path, progress=False)
    lines = first.log_path.read_text().splitlines(keepends=True)
    # Header, session, 3 episodes, then half of the 4th line: a process killed while writing.
    first.log_path.write_text("".join(lines[:5]) + lines[5][:40])
    agent = agent_of(CountingOracle())
    resumed = run_suite(suite, agent, tmp_path, progress=False)
    assert agent.policy.seen == 8 - 3
    assert resumed.complete and resumed.results["overall"]["successes"] == 8 and resumed.results["run"]["sessions"] == 2
    assert sorted(e["key"] for e in episode_lines(resumed.log_path)) == sorted(e.key for e in suite.episodes())


SLOW_RUN = textwrap.dedent(
    """
    import sys, time
    from vista_envs.bench import load_suite, run_suite
    from vista_envs.bench.agents import BenchAgent
    from vista_envs.bench.baselines import OraclePolicy, task_view

    class SlowOracle(OraclePolicy):
        def act_in_envs(self, envs, observations, infos):
            time.sleep(0.1)
            return super().act_in_envs(envs, observations, infos)

    agent = BenchAgent("slow", "python:slow:make", SlowOracle(), privileged=True)
    run_suite(load_suite(sys.argv[1]), agent, sys.argv[2], n_envs=1, progress=False)
    """
)


def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    suite_path = write_suite(tmp_path, small_suite(episodes_per_cell=20))
    out = tmp_path / "out"
    _, log = results_paths(out, "small", "slow")
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_RUN, str(suite_path), str(out)], env={**os.environ, "PYTHONPATH": str(REPO)}
    )
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and len(episode_lines(log)) >= 5) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    done_before = len(episode_lines(log))
    assert 5 <= done_before < 40
    agent = agent_of(CountingOracle(), name="slow")
    agent.spec = "python:slow:make"
    resumed = run_suite(load_suite(suite_path), agent, out, progress=False)
    assert agent.policy.seen == 40 - done_before
    assert resumed.complete and resumed.results["overall"]["successes"] == 40
    keys = [e["key"] for e in episode_lines(log)]
    assert len(keys) == len(set(keys)) == 40


def test_resuming_into_results_of_another_suite_version_is_refused_and_changes_nothing(tmp_path):
    run_suite(parse_suite(small_suite(version=1)), make_agent("oracle"), tmp_path, progress=False)
    _, log = results_paths(tmp_path, "small", "oracle")
    before = log.read_bytes()
    with pytest.raises(BenchError, match=r"holds a run of suite small v1 \(sha256:\w+\) .* not of suite small v2"):
        run_suite(parse_suite(small_suite(version=2)), make_agent("oracle"), tmp_path, progress=False)
    assert log.read_bytes() == before


def test_a_corrupted_line_inside_the_episode_log_is_reported_by_number_and_only_its_episode_runs_again(tmp_path):
    outcome = run_suite(parse_suite(small_suite()), make_agent("oracle"), tmp_path, progress=False)
    lines = outcome.log_path.read_text().splitlines(keepends=True)
    lost = json.loads(lines[3])["key"]
    lines[3] = "{garbage\n"
    outcome.log_path.write_text("".join(lines))
    agent = agent_of(CountingOracle(), name="oracle")
    agent.spec = "oracle"
    resumed = run_suite(parse_suite(small_suite()), agent, tmp_path, progress=False)
    [problem] = resumed.results["run"]["log_problems"]
    assert "line 4 is corrupted" in problem and "run again" in problem
    assert agent.policy.seen == 1
    last = json.loads(resumed.log_path.read_text().splitlines()[-1])
    assert last["key"] == lost and last["success"]
    assert resumed.log_path.read_text().splitlines()[3] == "{garbage"  # the log itself is never rewritten
    assert resumed.complete and resumed.results["overall"]["successes"] == 4


def test_log_lines_that_are_not_episode_records_are_reported(tmp_path):
    outcome = run_suite(parse_suite(small_suite()), make_agent("oracle"), tmp_path, progress=False)
    lines = outcome.log_path.read_text().splitlines(keepends=True)
    huge_reward = json.dumps({**json.loads(lines[2]), "reward": 10**400}) + "\n"
    for bad, message in (
        ("[1, 2]\n", "not a JSON object"),
        ('{"type": "episode"}\n', "KeyError: 'key'"),
        ("[" * 100_000 + "\n", "RecursionError"),
        (huge_reward, "must be finite numbers"),
    ):
        outcome.log_path.write_text("".join([*lines[:2], bad, *lines[3:]]))
        rerun = run_suite(parse_suite(small_suite()), make_agent("oracle"), tmp_path, progress=False)
        [problem] = rerun.results["run"]["log_problems"]
        assert "line 3 is corrupted" in problem and message in problem
        assert rerun.complete and rerun.results["overall"]["successes"] == 4
    outcome.log_path.write_text("{garbage\n" + "".join(lines[1:]))
    with pytest.raises(BenchError, match="line 1 \\(the header\\) is corrupted"):
        run_suite(parse_suite(small_suite()), make_agent("oracle"), tmp_path, progress=False)


def test_results_without_their_episode_log_are_never_replaced(tmp_path):
    outcome = run_suite(parse_suite(small_suite()), make_agent("oracle"), tmp_path, progress=False)
    outcome.log_path.unlink()
    before = outcome.results_path.read_bytes()
    with pytest.raises(BenchError, match="exists without its episode log"):
        run_suite(parse_suite(small_suite()), make_agent("oracle"), tmp_path, progress=False)
    assert outcome.results_path.read_bytes() == before and not outcome.log_path.exists()


def test_a_suite_whose_envs_fail_leaves_no_log_behind(tmp_path):
    bad = small_suite()
    bad["entries"][0]["env_kwargs"] = {"image_size": 5}
    with pytest.raises(BenchError, match="cannot make VisualQA-v0"):
        run_suite(parse_suite(bad), make_agent("oracle"), tmp_path, progress=False)
    assert not list(tmp_path.iterdir())  # so the fixed suite runs at once
    assert run_suite(parse_suite(small_suite()), make_agent("oracle"), tmp_path, progress=False).complete


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf"), 1e12])
def test_step_timeouts_outside_a_day_are_refused(timeout, tmp_path):
    with pytest.raises(BenchError, match="the step timeout must be in"):
        run_suite(parse_suite(small_suite()), make_agent("oracle"), tmp_path, step_timeout_s=timeout, progress=False)
    assert not list(tmp_path.iterdir())


def test_suites_past_the_episode_cap_and_deeply_nested_suite_files_are_refused(tmp_path):
    with pytest.raises(BenchError, match="a suite may have at most 100,000"):
        parse_suite(small_suite(episodes_per_cell=10**9))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    with pytest.raises(BenchError, match="is not valid JSON"):
        load_suite(deep)


# -- command line ---------------------------------------------------------------------------------------------


def test_cli_bench_reports_a_bad_agent_and_still_runs_the_others(tmp_path, capsys):
    suite_path = write_suite(tmp_path, small_suite())
    code = main(
        [
            "bench",
            "--suite",
            str(suite_path),
            "--agent",
            "nope",
            "--agent",
            "oracle",
            "--out",
            str(tmp_path / "res"),
            "--no-progress",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "agent 'nope': error: unknown agent spec 'nope'" in captured.err
    assert "oracle: success 100.0%" in captured.out
    assert load_results(tmp_path / "res" / "small.oracle.json")["overall"]["successes"] == 4
