"""bench_visplay_learning.py: its options and the RESULTS.md section it writes (no model is trained here)."""

import pytest

import repo_paths

FIGURES = ({"cpu_s": 0.0}, {"cpu_s": 0.0}, {"text_cpu_s": 400.0, "cpu_s": 600.0})
TABLE = "| iteration | ... |"


@pytest.fixture(scope="module")
def bench():
    with repo_paths.benchmark_module("bench_visplay_learning") as module:
        yield module


def test_the_warm_start_options_that_make_the_start_are_kept_with_it(bench):
    assert "object_visplay_absent_counts" in bench.STARTS and "object_visplay_tasks" in bench.STARTS
    args = bench.parse_args([])
    assert args.object_visplay_absent_counts == 0.0 and args.kl_coef == 0.0  # off unless asked for


def test_the_section_names_the_reasoners_absent_counts_and_the_kl_coefficient(bench):
    argv = ["--object-text-steps", "4000", "--object-visplay-tasks", "8192", "--kl-coef", "0.05"]
    with_counts = bench.section_body(
        bench.parse_args([*argv, "--object-visplay-absent-counts", "0.5"]), FIGURES, True, TABLE, 60, 12.0, 20.0
    )
    text = " ".join(with_counts.split())
    assert "8192 VisPlay scripted-Questioner questions (`visplay_scene_tasks`, 50% of their counts about random" in text
    assert "KL coefficient 0.05" in text and "60 iterations in 12.0 CPU min" in text and TABLE in with_counts
    without = " ".join(bench.section_body(bench.parse_args(argv), FIGURES, True, TABLE, 60, 12.0, 20.0).split())
    assert "(`visplay_scene_tasks`)" in without and "counts about random" not in without
