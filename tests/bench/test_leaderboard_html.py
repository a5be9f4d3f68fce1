"""The HTML leaderboard in a real browser: a reader opens a failed episode and sees what the model saw and said."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from vista_envs.bench import load_leaderboard, make_agent, render_html, run_suite, write_leaderboard
from vista_envs.bench.leaderboard import MAX_FAILURES_SHOWN
from vista_envs.bench.suites import parse_suite

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SUITE = parse_suite(
    {
        "name": "page",
        "version": 1,
        "split": "test",
        "seed": 4,
        "entries": [
            {
                "env": "VisualQA-v0",
                "grid": {"family": ["counting", "clock", "maze"], "difficulty": [1, 3]},
                "episodes_per_cell": 3,
            },
            {"env": "VistaTool-v0", "grid": {"family": ["pixel_measure"], "difficulty": [1]}, "episodes_per_cell": 2},
        ],
    }
)
# Clicks the first failed episode open, then writes what the page shows into the DOM for --dump-dom to read.
OPEN_FIRST_FAILURE = """
<script>
window.addEventListener("load", () => {
  const first = document.querySelector("details.failure");
  first.querySelector("summary").click();
  first.scrollIntoView();
  const image = first.querySelector("img.thumb");
  document.body.dataset.opened = String(first.open);
  document.body.dataset.thumbWidth = String(image.naturalWidth);
  const response = first.querySelector("pre.response");
  document.body.dataset.responseVisible = String(response.getBoundingClientRect().height > 0);
});
</script>
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("page")
    for spec in ("random", "scripted", "oracle"):
        run_suite(SUITE, make_agent(spec), out, progress=False)
    return out


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=90, check=True
    )


def test_failed_episodes_are_on_the_page_with_thumbnail_prompt_response_and_reward_terms(results):
    page = render_html(load_leaderboard(results))
    failures = re.findall(r'<details class="failure">.*?</details>', page, flags=re.S)
    assert failures and all(
        '<img class="thumb"' in f and "<b>prompt</b>" in f and "<b>response</b>" in f for f in failures[:3]
    )
    assert "reward term" in failures[0] and "correctness" in failures[0]
    assert "<b>expected</b>" in failures[0] and "<b>read from the response</b>" in failures[0]
    assert "<script" not in page and "http://" not in page
    # Bounded: at most MAX_FAILURES_SHOWN per agent and env, each thumbnail a few kB.
    assert len(failures) <= 2 * 2 * MAX_FAILURES_SHOWN and len(page) < 600_000
    oracle = page.split("oracle:", 1)
    assert "failed episodes" not in oracle[1].split("<h2>", 1)[0] if len(oracle) > 1 else True


def test_a_hand_edited_thumbnail_cannot_inject_markup(results, tmp_path):
    for path in results.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    data = json.loads((tmp_path / "page.random.json").read_text())
    example = data["by_env"]["VisualQA-v0"]["failed_examples"][0]
    example["thumbnail"] = 'x" onerror="alert(1)'
    example["response"] = "<script>alert(1)</script>"
    (tmp_path / "page.random.json").write_text(json.dumps(data))
    page = render_html(load_leaderboard(tmp_path))
    assert "onerror" not in page and "<script>alert" not in page and "&lt;script&gt;alert(1)" in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_headless_chromium_opens_a_failed_episode_and_shows_its_thumbnail_and_response(results, tmp_path):
    page = Path(write_leaderboard(results, "html", tmp_path / "board.html"))
    scripted = tmp_path / "board-click.html"
    scripted.write_text(page.read_text().replace("</body>", OPEN_FIRST_FAILURE + "</body>"))
    dom = chromium(tmp_path / "profile", "--virtual-time-budget=3000", "--dump-dom", scripted.as_uri()).stdout
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-opened="true"' in body and 'data-response-visible="true"' in body
    assert int(re.search(r'data-thumb-width="(\d+)"', body).group(1)) > 32  # the thumbnail decoded
    first = re.search(r'<details class="failure"( open="")?>', dom)
    assert first.group(1) == ' open=""'
    screenshot = tmp_path / "board.png"
    chromium(
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        "--window-size=1280,2400",
        "--virtual-time-budget=3000",
        scripted.as_uri(),
    )
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 20_000
