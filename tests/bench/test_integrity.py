"""What the bench lets an agent see, private suites, reproducible stochastic agents, and the run lock."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import vista_envs  # noqa: F401
from vista_envs.bench import BenchError, load_leaderboard, load_suite, make_agent, render_markdown, run_suite
from vista_envs.bench.runner import PUBLIC_INFO_KEYS
from vista_envs.bench.suites import SALT_ENV_VAR, load_salt, parse_suite
from vista_envs.cli import main
from vista_envs.envs.visual_qa import VisualQAEnv

import repo_paths

REPO = repo_paths.REPO
SALT = b"0123456789abcdef-a-secret-salt"


def suite_data(name: str = "integrity", per_cell: int = 3) -> dict[str, Any]:
    return {
        "name": name,
        "version": 1,
        "split": "test",
        "seed": 5,
        "entries": [
            {
                "env": "VisualQA-v0",
                "grid": {"family": ["counting", "comparison"], "difficulty": [2]},
                "episodes_per_cell": per_cell,
            },
            {"env": "VistaTool-v0", "grid": {"family": ["pixel_measure"], "difficulty": [1]}, "episodes_per_cell": 1},
        ],
    }


def episode_lines(log: Path) -> list[dict[str, Any]]:
    return [line for line in map(json.loads, log.read_text().splitlines()) if line["type"] == "episode"]


# -- what an agent sees ----------------------------------------------------------------------------------------------

SPY = textwrap.dedent(
    """
    from vista_envs.tasks import generate_task, get_family

    SEEN = []

    class Regenerator:
        '''The attack of the audit: rebuild the task from what info says, and answer with its answer.'''

        def act(self, observations, infos):
            SEEN.extend(zip(observations, infos))
            answers = []
            for info in infos:
                try:
                    family = get_family(info["family"])
                    task = generate_task(family, info["task_seed"], info["difficulty"], info["split"])
                    answers.append(f"<think>regenerated</think><answer>{task.answer}</answer>")
                except (KeyError, TypeError, ValueError):
                    answers.append("<think>no seed</think><answer>0</answer>")
            return answers

    def make():
        return Regenerator()
    """
)


class LeakyQA(VisualQAEnv):
    """A badly written env: it leaks the task's identity and answer in every info and an extra obs key."""

    def reset(self, *, seed=None, options=None):
        observation, info = super().reset(seed=seed, options=options)
        info.update(task_seed=self.task.seed, split=self.task.split, answer=str(self.task.answer), scene="secret scene")
        return {**observation, "answer_hint": str(self.task.answer)}, info


gym.register("LeakyQA-v0", entry_point=LeakyQA)


@pytest.fixture
def spy(tmp_path, monkeypatch):
    (tmp_path / "spy_agent.py").write_text(SPY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield
    module = sys.modules.pop("spy_agent", None)
    assert module is not None


def test_a_python_hook_agent_sees_nothing_that_regenerates_the_task_even_from_a_leaky_env(spy, tmp_path, capsys):
    data = suite_data()
    data["entries"].append(
        {"env": "LeakyQA-v0", "grid": {"family": ["counting"], "difficulty": [2]}, "episodes_per_cell": 3}
    )
    (tmp_path / "suite.json").write_text(json.dumps(data))
    code = main(
        ["bench", "--suite", "suite.json", "--agent", "spy=python:spy_agent:make", "--out", "res", "--no-progress"]
    )
    assert code == 0, capsys.readouterr().err
    seen = sys.modules["spy_agent"].SEEN
    assert len(seen) >= 10
    for observation, info in seen:
        assert set(info) <= PUBLIC_INFO_KEYS and not {"task_seed", "split", "answer", "scene"} & set(info)
        assert set(observation) == {"image", "text"}  # the leaky env's extra key is not in its observation space
    results = json.loads((tmp_path / "res" / "integrity.spy.json").read_text())
    # Regenerating needs the seed: without it the attack answers "0" and scores only where 0 is right...
    leaky = results["by_env"]["LeakyQA-v0"]["summary"]
    assert leaky["successes"] < leaky["episodes"]
    # ...whereas the leaked info, had it been passed on, solves every task (the control).
    env = gym.make("LeakyQA-v0", disable_env_checker=True)
    attack = sys.modules["spy_agent"].Regenerator()
    for seed in range(3):
        observation, info = env.reset(seed=seed, options={"family": "counting", "difficulty": 2, "split": "test"})
        assert env.step(attack.act([observation], [info])[0])[4]["is_success"]
    env.close()


def test_public_info_keys_are_what_the_agent_contract_allows_at_every_step():
    assert {"family", "difficulty", "answer_type", "options", "messages", "images", "tools"} <= PUBLIC_INFO_KEYS
    assert not {"task_seed", "split", "answer", "is_success", "extracted_answer", "reward_terms"} & PUBLIC_INFO_KEYS


def test_only_the_builtin_oracle_is_given_the_envs(tmp_path):
    class EnvReader:
        called = False

        def act(self, observations, infos):
            return ["<answer>0</answer>"] * len(observations)

        def act_in_envs(self, envs, observations, infos):
            EnvReader.called = True
            return [env.unwrapped.oracle() for env in envs]

    (tmp_path / "reader.py").write_text("")
    agent = make_agent("oracle")
    assert agent.needs_envs and agent.privileged
    agent.policy, agent.privileged = EnvReader(), False  # what a python: agent with act_in_envs gets
    assert not agent.needs_envs
    run_suite(parse_suite(suite_data(per_cell=1)), agent, tmp_path, progress=False)
    assert not EnvReader.called


# -- private suites --------------------------------------------------------------------------------------------------


def test_a_private_suite_draws_other_tasks_than_the_public_one_with_the_same_seeds():
    public = parse_suite(suite_data())
    private = public.with_salt(load_salt_text("x" * 40))
    assert public.hash == private.hash and private.private and not public.private
    assert [e.key for e in public.episodes()] == [e.key for e in private.episodes()]
    assert all(a.seed != b.seed for a, b in zip(public.episodes(), private.episodes()))
    env = gym.make("VisualQA-v0")
    differing = 0
    for a, b in zip(public.episodes()[:6], private.episodes()[:6]):
        obs_a, _ = env.reset(seed=a.seed, options=dict(a.options))
        question_a = env.unwrapped.task.question
        obs_b, _ = env.reset(seed=b.seed, options=dict(b.options))
        differing += question_a != env.unwrapped.task.question or not np.array_equal(obs_a["image"], obs_b["image"])
    env.close()
    assert differing == 6
    # Another salt, other tasks again; the same salt, the same tasks.
    other = public.with_salt(load_salt_text("y" * 40))
    assert [e.seed for e in other.episodes()] != [e.seed for e in private.episodes()]
    assert [e.seed for e in public.with_salt(load_salt_text("x" * 40)).episodes()] == [
        e.seed for e in private.episodes()
    ]


def load_salt_text(text: str) -> bytes:
    import hashlib

    return hashlib.sha512(text.encode()).digest()


def test_salts_come_from_a_file_or_the_environment_and_short_ones_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(SALT_ENV_VAR, raising=False)
    assert load_salt() is None
    (tmp_path / "salt.txt").write_text("s" * 32 + "\n")
    assert load_salt(tmp_path / "salt.txt") == load_salt_text("s" * 32)
    monkeypatch.setenv(SALT_ENV_VAR, "e" * 32)
    assert load_salt() == load_salt_text("e" * 32)
    (tmp_path / "short.txt").write_text("abc")
    with pytest.raises(BenchError, match="a salt needs at least 16 characters"):
        load_salt(tmp_path / "short.txt")
    with pytest.raises(BenchError, match="cannot be read"):
        load_salt(tmp_path / "missing.txt")


def test_private_results_keep_no_seeds_or_episodes_and_the_leaderboard_says_which_tasks_each_used(
    tmp_path, monkeypatch, capsys
):
    (tmp_path / "suite.json").write_text(json.dumps(suite_data()))
    (tmp_path / "salt.txt").write_text("a-secret-salt-of-enough-characters")
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--suite", "suite.json", "--agent", "scripted", "--out", "res", "--no-progress"]) == 0
    assert (
        main(
            [
                "bench",
                "--suite",
                "suite.json",
                "--agent",
                "scripted",
                "--salt-file",
                "salt.txt",
                "--out",
                "res",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "private tasks (salt " in capsys.readouterr().out
    private = json.loads((tmp_path / "res" / "integrity.private.scripted.json").read_text())
    assert private["suite"]["tasks"] == "private" and len(private["suite"]["salt_id"]) == 12
    assert all(env["failed_examples"] == [] for env in private["by_env"].values())
    log = tmp_path / "res" / "integrity.private.scripted.episodes.jsonl"
    assert all(line["seed"] is None for line in episode_lines(log))
    assert "a-secret-salt" not in log.read_text()
    board = render_markdown(load_leaderboard(tmp_path / "res"))
    assert "| scripted | public |" in board and f"| scripted | private (salt {private['suite']['salt_id']}) |" in board


# -- reproducible stochastic agents ----------------------------------------------------------------------------------


def test_a_resumed_random_run_gives_the_same_episodes_as_an_uninterrupted_one(tmp_path):
    suite = parse_suite(suite_data(per_cell=6))
    whole = run_suite(suite, make_agent("random"), tmp_path / "whole", n_envs=4, progress=False)
    # A kill leaves the log cut after some episode line; the rerun batches the rest differently.
    cut = run_suite(suite, make_agent("random"), tmp_path / "cut", n_envs=3, progress=False)
    lines = cut.log_path.read_text().splitlines(keepends=True)
    cut.log_path.write_text("".join(lines[:7]))  # header, session, 5 episodes
    resumed = run_suite(suite, make_agent("random"), tmp_path / "cut", n_envs=2, progress=False)
    assert resumed.results["run"]["sessions"] == 2

    def responses(log: Path) -> dict[str, tuple[str, bool]]:
        return {line["key"]: (line["response"], line["success"]) for line in episode_lines(log)}

    assert responses(resumed.log_path) == responses(whole.log_path)
    assert resumed.results["overall"]["success_rate"] == whole.results["overall"]["success_rate"]
    assert len({response for response, _ in responses(whole.log_path).values()}) > 3


# -- the run lock ----------------------------------------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from vista_envs.bench.lock import RunLock
    with RunLock(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(60)
    """
)


def test_a_second_run_on_the_same_out_refuses_while_the_first_runs(tmp_path, capsys):
    (tmp_path / "suite.json").write_text(json.dumps(suite_data(per_cell=1)))
    out = tmp_path / "res"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out / "integrity.oracle.lock")],
        stdout=subprocess.PIPE,
        text=True,
        env={"PYTHONPATH": str(REPO)},
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(
            BenchError, match=rf"another run is writing to integrity.oracle in .*\(pid {holder.pid} on "
        ):
            run_suite(load_suite(tmp_path / "suite.json"), make_agent("oracle"), out, progress=False)
        assert (
            main(
                [
                    "bench",
                    "--suite",
                    str(tmp_path / "suite.json"),
                    "--agent",
                    "oracle",
                    "--out",
                    str(out),
                    "--no-progress",
                ]
            )
            == 1
        )
        assert "another run is writing to integrity.oracle" in capsys.readouterr().err
        assert not (out / "integrity.oracle.episodes.jsonl").exists()
    finally:
        holder.kill()
        holder.wait()
    # The holder died (as a killed run does): its lock file is left behind and is taken over.
    assert (out / "integrity.oracle.lock").exists()
    outcome = run_suite(load_suite(tmp_path / "suite.json"), make_agent("oracle"), out, progress=False)
    assert outcome.complete and not (out / "integrity.oracle.lock").exists()


def test_a_lock_file_naming_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    (tmp_path / "integrity.oracle.lock").write_text(
        json.dumps({"pid": int(dead.stdout), "host": "here", "started_at": time.time()})
    )
    assert run_suite(parse_suite(suite_data(per_cell=1)), make_agent("oracle"), tmp_path, progress=False).complete


def test_an_env_may_declare_more_public_info_keys_and_everything_else_is_still_stripped():
    import numpy as np

    from vista_envs.bench.runner import public_view

    info = {
        "family": "count",
        "n_frames": 900,
        "task_seed": 7,
        "answer": "3",
        "images": [np.zeros((2, 2, 3), np.uint8)],
    }
    _, shown = public_view({"text": "q"}, info, None, frozenset({"n_frames"}))
    assert shown.keys() == {"family", "n_frames", "images"}
    assert shown["images"][0] is not info["images"][0]  # a copy: an agent cannot change the env's state
    _, default = public_view({"text": "q"}, info, None)
    assert "n_frames" not in default
