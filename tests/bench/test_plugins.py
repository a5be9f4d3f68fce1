"""Plugins: a package installed beside vista-envs adds a family, a bench agent and suites through entry points.

The package is ``tests/plugin_pkg`` (its ``pyproject.toml`` declares the entry points, two of them broken
on purpose); it is installed with pip into a temporary folder put on the path, as a user's package would be.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import vista_envs  # noqa: F401
from vista_envs import plugins
from vista_envs.bench import BenchError, load_leaderboard, load_suite, make_agent, render_markdown, run_suite
from vista_envs.bench.suites import parse_suite
from vista_envs.tasks import base as task_registry
from vista_envs.tasks import family_names, get_family

import repo_paths

# The demo package's broken entry points warn, as they should.
pytestmark = pytest.mark.filterwarnings("ignore::vista_envs.plugins.PluginWarning")

REPO = repo_paths.REPO
PACKAGE = repo_paths.TESTS / "plugin_pkg"


def _write_dist_info(site: Path) -> None:
    """The installed form of the package without pip: its code and a dist-info with its entry points."""
    import tomllib

    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text())["project"]
    shutil.copytree(PACKAGE / "vista_plugin_demo", site / "vista_plugin_demo")
    info = site / f"vista_plugin_demo-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, entries in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{name} = {value}" for name, value in entries.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory):
    """Install the demo package into a folder on sys.path (pip, or its dist-info by hand where pip cannot build
    offline)."""
    root = tmp_path_factory.mktemp("plugin")
    source, site = root / "src", root / "site"
    shutil.copytree(PACKAGE, source)  # build outside the repo: no build/ or egg-info left in tests/
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--target",
        str(site),
        str(source),
    ]
    if subprocess.run(command, capture_output=True, text=True, timeout=240).returncode != 0:
        shutil.rmtree(site, ignore_errors=True)
        site.mkdir()
        _write_dist_info(site)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    task_registry._plugins_loaded = False  # families are read once per process: read them again with the plugin there
    yield site
    sys.path.remove(str(site))
    importlib.invalidate_caches()
    task_registry._REGISTRY.pop("demo_dots", None)
    task_registry._plugins_loaded = False
    plugins._ERRORS.clear()
    for name in [n for n in sys.modules if n.startswith("vista_plugin_demo")]:
        del sys.modules[name]


def cli(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-m", "vista_envs.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_a_plugin_family_works_in_gym_make_kwargs_like_a_builtin_one(plugin_site):
    assert "demo_dots" in family_names()
    env = gym.make("VisualQA-v0", families=["demo_dots", "counting"])
    observation, info = env.reset(seed=0, options={"family": "demo_dots", "difficulty": 2, "split": "test"})
    assert info["family"] == "demo_dots" and "How many black dots" in observation["text"]
    _, _, terminated, _, info = env.step(env.unwrapped.oracle())
    assert terminated and info["is_success"]
    env.close()


def test_a_failing_entry_point_is_reported_by_name_and_the_rest_still_load(plugin_site):
    family_names()
    [failure] = plugins.plugin_errors(plugins.FAMILIES_GROUP)
    assert failure.name == "broken_family" and failure.distribution == "vista-plugin-demo"
    assert "ModuleNotFoundError" in failure.error and "broken_family" in str(failure)
    assert {"demo_dots", "counting", "clock"} <= set(family_names())
    with pytest.raises(
        BenchError,
        match=r"broken-agent: plugin 'broken-agent' = 'vista_plugin_demo:no_such_factory' .*failed to load: "
        r"AttributeError",
    ):
        make_agent("broken-agent")
    assert make_agent("demo-counter").name == "demo-counter"


def test_a_suite_naming_an_unknown_family_says_which_plugin_would_provide_it(plugin_site, tmp_path):
    for family, message in (
        (
            "broken_family",
            r"unknown task family 'broken_family': plugin 'broken_family' = 'vista_plugin_demo.missing:Nothing' of "
            r"package 'vista-plugin-demo' would provide it but failed to load: ModuleNotFoundError",
        ),
        (
            "no_such_family",
            r"unknown task family 'no_such_family': no installed package declares it \(entry-point group "
            r"'vista_envs.families'",
        ),
    ):
        suite = parse_suite(
            {
                "name": "s",
                "version": 1,
                "split": "test",
                "seed": 0,
                "entries": [{"env": "VisualQA-v0", "grid": {"family": [family]}, "episodes_per_cell": 1}],
            }
        )
        with pytest.raises(BenchError, match=message):
            run_suite(suite, make_agent("oracle"), tmp_path, progress=False)
        with pytest.raises(ValueError, match=message.split(": ", 1)[1]):
            get_family(family)


def test_plugin_suites_load_by_name_from_a_dict_or_a_file(plugin_site):
    assert load_suite("demo").name == "demo" and len(load_suite("demo").episodes()) == 8
    assert load_suite("demo-file").entries[0].grid["family"] == ("demo_dots",)
    with pytest.raises(
        BenchError, match="unknown suite 'nope'; built-in suites: full, quick; from plugins: demo, demo-file"
    ):
        load_suite("nope")


def test_a_plugin_family_agent_and_suite_run_through_vista_envs_bench_and_reach_the_leaderboard(plugin_site, tmp_path):
    bench = cli(
        plugin_site,
        "bench",
        "--suite",
        "demo",
        "--agent",
        "demo-counter",
        "--agent",
        "random",
        "--agent",
        "oracle",
        "--out",
        "res",
        "--no-progress",
        cwd=tmp_path,
    )
    assert bench.returncode == 0, bench.stderr
    results = json.loads((tmp_path / "res" / "demo.demo-counter.json").read_text())
    dots = results["by_env"]["VisualQA-v0"]["by_family"]["demo_dots"]
    assert dots["episodes"] == 4 and dots["successes"] == 4  # the plugin's agent solves the plugin's family
    # The broken family is reported as one plain line, and nothing else went wrong.
    assert "vista-envs: warning: plugin 'broken_family'" in bench.stderr and "Traceback" not in bench.stderr
    board = cli(plugin_site, "leaderboard", "res", cwd=tmp_path)
    assert board.returncode == 0, board.stderr
    overall = board.stdout.split("### Overall", 1)[1].split("###", 1)[0]
    rows = [line for line in overall.splitlines() if line.startswith("| ")][2:]
    assert [row.split("|")[2].strip() for row in rows] == ["oracle", "demo-counter", "random"]
    assert "| demo_dots | 100.0 [" in board.stdout


def test_list_and_show_know_the_plugin_family_agent_and_suites(plugin_site, tmp_path, capsys):
    from vista_envs.cli import main

    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "demo_dots" in listing and "demo-counter" in listing and "demo, demo-file" in listing
    assert "Plugins that failed to load (the rest loaded):" in listing and "'broken_family'" in listing
    assert (
        main(["show", "VisualQA-v0", "--family", "demo_dots", "--split", "test", "--out", str(tmp_path / "dots.png")])
        == 0
    )
    assert (tmp_path / "dots.png").exists() and "How many black dots" in capsys.readouterr().out


def test_in_process_runs_and_leaderboards_see_the_plugin_agent_too(plugin_site, tmp_path):
    outcome = run_suite(load_suite("demo"), make_agent("demo-counter"), tmp_path, progress=False)
    assert outcome.complete
    assert "| 1 | demo-counter |" in render_markdown(load_leaderboard(tmp_path))


# -- layering: vista_envs imports nothing from agents/ ---------------------------------------------------------------


def test_bench_with_the_builtin_agents_never_imports_torch_or_the_learners(tmp_path):
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "name": "t",
                "version": 1,
                "split": "test",
                "seed": 0,
                "entries": [{"env": "VisualQA-v0", "grid": {"family": ["counting"]}, "episodes_per_cell": 2}],
            }
        )
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    for args in (
        [
            "bench",
            "--suite",
            str(suite),
            "--agent",
            "random",
            "--agent",
            "scripted",
            "--agent",
            "oracle",
            "--out",
            "res",
            "--no-progress",
        ],
        ["leaderboard", "res", "--no-plots"],
    ):
        # -X importtime lists every module the command imports, on stderr.
        run = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "vista_envs.cli", *args],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert run.returncode == 0, run.stderr[-2000:]
        imported = {
            line.rsplit("|", 1)[1].strip()
            for line in run.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert "vista_envs.bench.runner" in imported or args[0] == "leaderboard"
        assert not {name for name in imported if name.split(".")[0] in ("torch", "transformers", "vista_agents")}


def test_the_learners_declare_their_bench_agents_as_entry_points():
    import tomllib

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"][
        "vista_envs.bench_agents"
    ]
    assert set(declared) == {"hf", "openai", "openai-text"}
    for value in declared.values():
        module, _, attribute = value.partition(":")
        assert module == "vista_agents.bench_agents" and callable(getattr(importlib.import_module(module), attribute))


def test_vista_envs_source_never_imports_the_learners():
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "vista_envs").rglob("*.py")
        if any(
            line.lstrip().startswith(("import vista_agents", "from agents")) for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []
