"""`vista-envs leaderboard`: ranking, confidence intervals, Markdown, self-contained HTML (rendered in Chromium),
plots."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from vista_envs.bench import BenchError, load_leaderboard, render_html, render_markdown, write_leaderboard
from vista_envs.bench.leaderboard import plot_success
from vista_envs.bench.results import build_results, missing_record, write_json_atomic
from vista_envs.bench.stats import mean_interval, wilson_interval
from vista_envs.bench.suites import parse_suite
from vista_envs.cli import main

SUITE = parse_suite(
    {
        "name": "hand",
        "version": 1,
        "split": "test",
        "seed": 0,
        "entries": [
            {
                "env": "VisualQA-v0",
                "grid": {"family": ["counting", "clock"], "difficulty": [1, 2]},
                "episodes_per_cell": 5,
            }
        ],
    }
)
EPISODES = SUITE.episodes()  # 20: counting/1, counting/2, clock/1, clock/2, 5 each


def record(episode, success: bool, reward: float) -> dict[str, Any]:
    return {
        **missing_record(episode),
        "status": "ran",
        "answer_type": "number",
        "success": success,
        "reward": reward,
        "reward_terms": {"correctness": float(success)},
        "turns": 1,
        "tool_calls": 0,
        "tokens": 40,
        "wall_time_s": 0.01,
        "error": None,
        "error_kind": None,
    }


def results_with(name: str, successes: int, not_run: int = 0, infra: int = 0) -> dict[str, Any]:
    """Results where the first ``successes`` episodes succeed (reward 1, else 0), the last ``not_run`` never ran
    and the ``infra`` before those were cut off by infrastructure errors."""
    records = [
        missing_record(e) if i >= len(EPISODES) - not_run else record(e, i < successes, 1.0 if i < successes else 0.0)
        for i, e in enumerate(EPISODES)
    ]
    for i in range(len(EPISODES) - not_run - infra, len(EPISODES) - not_run):
        records[i] = {
            **records[i],
            "success": False,
            "status": "infra_error",
            "error_kind": "infra",
            "error": "act() raised InfrastructureError: down",
        }
    run = {
        "started_at": "",
        "finished_at": "",
        "wall_time_s": 1.0,
        "sessions": 1,
        "n_envs": 1,
        "step_timeout_s": 1.0,
        "complete": not not_run,
        "stopped": None,
    }
    agent = {"name": name, "spec": name, "token_unit": "chars"}
    envs = {"VisualQA-v0": {"id": "VisualQA-v0", "version": 0, "kwargs": {}}}
    return build_results(suite=SUITE, agent=agent, envs=envs, records=records, run=run)


@pytest.fixture
def results_dir(tmp_path) -> Path:
    """Three agents: 7/20 (good), 20/20 (best), 2/20 with 5 not run (incomplete)."""
    for name, successes, not_run in (("good", 7, 0), ("best", 20, 0), ("stuck", 2, 5)):
        write_json_atomic(tmp_path / f"hand.{name}.json", results_with(name, successes, not_run))
    return tmp_path


# -- confidence intervals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "expected"),
    [
        # Hand-computed: centre (p + z²/2n)/(1 + z²/n), half width z·sqrt(p(1-p)/n + z²/4n²)/(1 + z²/n), z = 1.96.
        (7, 20, (0.1812, 0.5671)),
        (0, 10, (0.0, 0.2775)),  # upper bound z²/(n + z²)
        (10, 10, (0.7225, 1.0)),
        (50, 100, (0.4038, 0.5962)),
        (1, 2, (0.0945, 0.9055)),
    ],
)
def test_wilson_interval_matches_hand_computed_values(successes, trials, expected):
    low, high = wilson_interval(successes, trials)
    assert low == pytest.approx(expected[0], abs=5e-5) and high == pytest.approx(expected[1], abs=5e-5)


def test_wilson_interval_of_no_trials_is_everything_and_bad_counts_raise():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= successes <= trials"):
        wilson_interval(3, 2)


def test_mean_interval_is_normal_and_undefined_for_one_sample():
    assert mean_interval(1.0, 0.5, 100) == pytest.approx((1.0 - 1.96 * 0.05, 1.0 + 1.96 * 0.05), abs=1e-4)
    assert mean_interval(1.0, 0.0, 1) is None


# -- ranking and Markdown ---------------------------------------------------------------------------------------


def table_rows(markdown: str, heading: str) -> list[list[str]]:
    """The body rows of the first table after ``heading``."""
    lines = markdown.split(heading, 1)[1].strip().splitlines()
    table = lines[: next((i for i, line in enumerate(lines) if not line.startswith("|")), len(lines))]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]


def test_markdown_ranks_agents_by_success_with_wilson_intervals(results_dir):
    markdown = render_markdown(load_leaderboard(results_dir))
    rows = table_rows(markdown, "### Overall")
    assert [row[:2] for row in rows] == [["1", "best"], ["2", "good"], ["3", "stuck (incomplete: 5 not run)"]]
    # 7/20: Wilson [18.1, 56.7]; 20/20: [83.9, 100]; 2/20 (5 never ran, counted as failures): [2.8, 30.1].
    assert [row[2] for row in rows] == ["public"] * 3
    assert rows[0][3] == "100.0 [83.9, 100.0]"
    assert rows[1][3] == "35.0 [18.1, 56.7]"
    assert rows[2][3] == "10.0 [2.8, 30.1]"
    # good: 7 rewards of 1 and 13 of 0: mean 0.35, sample std 0.4894, interval 0.35 ± 1.96·0.4894/√20.
    assert rows[1][4] == "0.350 [0.136, 0.564]"
    assert "suite `hand` v1" in markdown and "Wilson" in markdown


def test_markdown_breaks_success_down_by_family_and_difficulty(results_dir):
    markdown = render_markdown(load_leaderboard(results_dir))
    families = table_rows(markdown, "Success % by family (VisualQA-v0):")
    # Episodes run counting/1, counting/2, clock/1, clock/2; "good" wins the first 7: 5 of counting/1, 2 of counting/2.
    # Each cell carries its 95% Wilson interval: 10/10 -> [72.2, 100], 7/10 -> [39.7, 89.2], 2/10 -> [5.7, 51.0], 0/10
    # -> [0, 27.8].
    assert families == [
        ["clock", "100.0 [72.2, 100.0] (10/10)", "0.0 [0.0, 27.8] (0/10)", "0.0 [0.0, 27.8] (0/10)"],
        ["counting", "100.0 [72.2, 100.0] (10/10)", "70.0 [39.7, 89.2] (7/10)", "20.0 [5.7, 51.0] (2/10)"],
    ]
    difficulties = table_rows(markdown, "Success % by difficulty (VisualQA-v0):")
    assert difficulties[0] == [
        "1",
        "100.0 [72.2, 100.0] (10/10)",
        "50.0 [23.7, 76.3] (5/10)",
        "20.0 [5.7, 51.0] (2/10)",
    ]


def test_markdown_with_out_writes_png_plots_beside_it_and_links_them(results_dir, tmp_path):
    path = Path(write_leaderboard(results_dir, "md", tmp_path / "board" / "lb.md"))
    text = path.read_text()
    pngs = sorted(p.name for p in path.parent.glob("*.png"))
    assert pngs == ["lb-visualqa-v0-difficulty.png", "lb-visualqa-v0-family.png"]
    assert all(f"]({name})" in text for name in pngs)


def test_the_readme_command_writes_plots_into_the_results_folder_and_links_them(results_dir, capsys):
    pytest.importorskip("matplotlib")
    assert main(["leaderboard", str(results_dir)]) == 0
    printed = capsys.readouterr().out
    pngs = sorted(p.name for p in results_dir.glob("*.png"))
    assert pngs == ["leaderboard-visualqa-v0-difficulty.png", "leaderboard-visualqa-v0-family.png"]
    assert all(f"]({results_dir / name})" in printed for name in pngs)
    for png in pngs:
        (results_dir / png).unlink()
    assert main(["leaderboard", str(results_dir), "--no-plots"]) == 0
    assert not list(results_dir.glob("*.png")) and "![" not in capsys.readouterr().out


def test_plots_are_png_images_of_success_by_family_and_difficulty(results_dir):
    pytest.importorskip("matplotlib")
    board = load_leaderboard(results_dir)
    for axis in ("family", "difficulty"):
        png = plot_success(board, "VisualQA-v0", axis)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


# -- bad inputs ------------------------------------------------------------------------------------------------------


def test_a_corrupted_results_file_is_named_in_the_error(results_dir):
    (results_dir / "hand.good.json").write_text('{"schema": "vista-envs/bench-results", "schema_ver')
    with pytest.raises(BenchError, match=r"hand.good.json is corrupted: not valid JSON"):
        load_leaderboard(results_dir)


def test_a_results_file_with_a_broken_summary_is_reported(results_dir):
    data = json.loads((results_dir / "hand.good.json").read_text())
    data["overall"]["successes"] = 99
    (results_dir / "hand.good.json").write_text(json.dumps(data))
    with pytest.raises(BenchError, match=r"hand.good.json is corrupted: .*99 successes of 20 episodes"):
        load_leaderboard(results_dir)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["overall"].update(success_rate=float("nan")), "success_rate nan is not its 7/20 successes"),
        (lambda d: d["overall"].update(success_rate=7.0), "success_rate 7.0 is not its 7/20 successes"),
        (lambda d: d["overall"].update(success_ci95=[0.9, 1.0]), "success_ci95 .* is not an interval around"),
        (lambda d: d["overall"].update(mean_reward=float("inf")), "mean_reward is inf"),
        (lambda d: d["overall"].update(mean_reward="high"), "mean_reward is 'high'"),
        (lambda d: d["overall"].update(mean_reward=10**400), "mean_reward is 1000"),
        (lambda d: d["overall"].pop("not_run"), "KeyError: 'not_run'"),
        (lambda d: d["suite"].pop("split"), "KeyError: 'split'"),
        (lambda d: d["suite"].update(episodes=-1), "episodes is -1"),
        (lambda d: d["suite"].update(tasks="secret"), "tasks is 'secret'"),
        (lambda d: d["overall"].update(infra_errors=-2), "infra_errors is -2"),
        (lambda d: d["by_env"]["VisualQA-v0"].update(failed_examples=[1]), "failed_examples must be a list"),
    ],
    ids=[
        "nan-rate",
        "rate-not-successes",
        "interval-off",
        "inf-reward",
        "str-reward",
        "huge-int-reward",
        "no-not-run",
        "no-split",
        "negative-episodes",
        "unknown-tasks",
        "negative-infra",
        "bad-examples",
    ],
)
def test_hand_edited_figures_are_refused_not_ranked(results_dir, edit, message):
    """A NaN success rate once ranked first: every figure the leaderboard reads is checked."""
    data = json.loads((results_dir / "hand.good.json").read_text())
    edit(data)
    (results_dir / "hand.good.json").write_text(json.dumps(data))
    with pytest.raises(BenchError, match=rf"hand.good.json is corrupted: .*{message}"):
        load_leaderboard(results_dir)


def test_deeply_nested_results_json_is_reported_as_corrupted(results_dir):
    (results_dir / "hand.good.json").write_text("[" * 100_000)
    with pytest.raises(BenchError, match="hand.good.json is corrupted: not valid JSON"):
        load_leaderboard(results_dir)


def test_leaderboard_never_writes_over_a_results_file(results_dir):
    before = (results_dir / "hand.good.json").read_bytes()
    for fmt in ("md", "html"):
        with pytest.raises(BenchError, match="json/.jsonl names are for results"):
            write_leaderboard(results_dir, fmt, results_dir / "hand.good.json")
    assert (results_dir / "hand.good.json").read_bytes() == before


def test_a_newline_in_an_agent_name_stays_inside_its_table_row(results_dir):
    data = json.loads((results_dir / "hand.good.json").read_text())
    data["agent"]["name"] = "two\nlines"
    (results_dir / "hand.good.json").write_text(json.dumps(data))
    assert any(
        row[1] == "two lines" for row in table_rows(render_markdown(load_leaderboard(results_dir)), "### Overall")
    )


def test_a_foreign_json_file_is_reported(results_dir):
    (results_dir / "notes.json").write_text('{"hello": 1}')
    with pytest.raises(BenchError, match="notes.json is not a vista-envs results file"):
        load_leaderboard(results_dir)


def test_results_of_different_suite_versions_are_not_ranked_together(results_dir):
    data = json.loads((results_dir / "hand.good.json").read_text())
    data["suite"] = {**data["suite"], "version": 2, "hash": "sha256:0000000000000000"}
    (results_dir / "hand.good.json").write_text(json.dumps(data))
    with pytest.raises(
        BenchError,
        match=r"different suites or suite versions .*hand v1 \(sha256:\w+\): hand.best.json, hand.stuck.json; hand v2 "
        r"\(sha256:0+\): hand.good.json; re-run",
    ):
        load_leaderboard(results_dir)


def test_results_of_two_suites_can_be_ranked_one_suite_at_a_time(results_dir):
    other = copy.deepcopy(json.loads((results_dir / "hand.good.json").read_text()))
    other["suite"]["name"] = "other"
    (results_dir / "other.good.json").write_text(json.dumps(other))
    with pytest.raises(BenchError, match="pass --suite NAME"):
        load_leaderboard(results_dir)
    assert [run["agent"]["name"] for run in load_leaderboard(results_dir, suite="other").runs] == ["good"]


def test_two_results_for_one_agent_are_reported(results_dir):
    shutil.copy(results_dir / "hand.good.json", results_dir / "hand.good-copy.json")
    with pytest.raises(BenchError, match="two results for agent 'good'"):
        load_leaderboard(results_dir)


def test_an_empty_or_missing_results_folder_is_reported(tmp_path):
    with pytest.raises(BenchError, match="no results in"):
        load_leaderboard(tmp_path)
    with pytest.raises(BenchError, match="is not a folder of results"):
        load_leaderboard(tmp_path / "nowhere")


# -- HTML --------------------------------------------------------------------------------------------------------------


def test_html_page_is_self_contained(results_dir):
    page = render_html(load_leaderboard(results_dir), {"VisualQA-v0-family": b"\x89PNG fake"})
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert re.findall(r'src="([^"]*)"', page) == ["data:image/png;base64,iVBORyBmYWtl"]


def test_agent_names_are_escaped_in_html(results_dir):
    data = json.loads((results_dir / "hand.good.json").read_text())
    data["agent"]["name"] = "<b>bold</b>"
    (results_dir / "hand.good.json").write_text(json.dumps(data))
    page = render_html(load_leaderboard(results_dir))
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold</b>" not in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=60, check=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_html_leaderboard_renders_in_headless_chromium(results_dir, tmp_path):
    page = Path(write_leaderboard(results_dir, "html", tmp_path / "board.html"))
    screenshot = tmp_path / "board.png"
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,1600", page.as_uri())
    dom = chromium(tmp_path, "--dump-dom", page.as_uri()).stdout
    overall = dom.split('<table id="overall">', 1)[1].split("</table>", 1)[0]
    agents = re.findall(r'<tr><td class="text">(\d+)</td><td class="text">([^<]+)</td>', overall)
    assert agents == [("1", "best"), ("2", "good"), ("3", "stuck (incomplete: 5 not run)")]
    assert "35.0 [18.1, 56.7]" in overall
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 10_000


# -- command line
# ----------------------------------------------------------------------------------------------------------


def test_cli_leaderboard_prints_markdown_and_writes_html(results_dir, tmp_path, capsys):
    assert main(["leaderboard", str(results_dir)]) == 0
    assert "| 1 | best | public | 100.0 [83.9, 100.0]" in capsys.readouterr().out
    assert main(["leaderboard", str(results_dir), "--format", "html"]) == 0
    assert capsys.readouterr().out.strip() == str(results_dir / "leaderboard.html")
    assert (results_dir / "leaderboard.html").read_text().startswith("<!DOCTYPE html>")


def test_an_agent_with_infrastructure_errors_is_not_ranked_unless_asked_and_then_shows_them(results_dir, capsys):
    write_json_atomic(results_dir / "hand.flaky.json", results_with("flaky", 6, infra=3))
    assert main(["leaderboard", str(results_dir), "--no-plots"]) == 2
    error = capsys.readouterr().err
    assert (
        "not ranking agents whose runs still have infrastructure errors" in error
        and "flaky (3 in hand.flaky.json)" in error
    )
    assert main(["leaderboard", str(results_dir), "--no-plots", "--allow-infra-errors"]) == 0
    rows = table_rows(capsys.readouterr().out, "### Overall")
    flaky = next(row for row in rows if row[1] == "flaky")
    # 6 successes of 20: the 3 cut-off episodes count as failures; the last two columns are errors and infra errors.
    assert flaky[3].startswith("30.0 [") and flaky[-2:] == ["0", "3"]
    assert all(row[-1] == "0" for row in rows if row[1] != "flaky")


def test_cli_leaderboard_reports_corrupted_results_without_a_traceback(results_dir, capsys):
    (results_dir / "hand.best.json").write_text("[")
    assert main(["leaderboard", str(results_dir)]) == 2
    assert "vista-envs leaderboard: error: " in capsys.readouterr().err
