"""bench_visplay_learning.py: its options and the RESULTS.md section it writes (no model is trained here)."""

import pytest

import repo_paths

FIGURES = ({"cpu_s": 0.0}, {"cpu_s": 0.0}, {"text_cpu_s": 400.0, "cpu_s": 600.0})
# An evaluation before the first iteration and one after the last, with held-out template questions of two kinds.
ROWS = [
    {
        "step": 0,
        "eval/success_rate": 0.5,
        "eval_templates/success_rate": 0.25,
        "eval_templates/count_success_rate": 0.5,
        "eval_templates/count_questions": 2.0,
        "eval_templates/query_success_rate": 0.0,
        "eval_templates/query_questions": 2.0,
    },
    {
        "step": 60,
        "eval/success_rate": 0.75,
        "eval_templates/success_rate": 0.75,
        "eval_templates/count_success_rate": 1.0,
        "eval_templates/count_questions": 2.0,
        "eval_templates/query_success_rate": 0.5,
        "eval_templates/query_questions": 2.0,
    },
]


@pytest.fixture(scope="module")
def bench():
    with repo_paths.benchmark_module("bench_visplay_learning") as module:
        yield module


def test_the_warm_start_options_that_make_the_start_are_kept_with_it(bench):
    assert "object_visplay_absent_counts" in bench.STARTS and "object_visplay_tasks" in bench.STARTS
    args = bench.parse_args([])
    assert args.object_visplay_absent_counts == 0.0 and args.kl_coef == 0.0  # off unless asked for
    assert (args.diversity_weight, args.diversity_threshold) == (1.0, 0.5)  # VisPlay's, unless asked for


def test_the_section_names_the_reasoners_absent_counts_and_the_kl_coefficient(bench):
    argv = ["--object-text-steps", "4000", "--object-visplay-tasks", "8192", "--kl-coef", "0.05"]
    with_counts = bench.section_body(
        bench.parse_args([*argv, "--object-visplay-absent-counts", "0.5"]), FIGURES, True, ROWS, 60, 12.0, 20.0
    )
    text = " ".join(with_counts.split())
    assert "8192 VisPlay scripted-Questioner questions (`visplay_scene_tasks`, 50% of their counts about random" in text
    assert "KL coefficient 0.05" in text and "60 iterations in 12.0 CPU min" in text
    assert "| 60 | 0.75 | 0.75 |" in with_counts  # the table: held-out VisualQA, then held-out template questions
    without = " ".join(bench.section_body(bench.parse_args(argv), FIGURES, True, ROWS, 60, 12.0, 20.0).split())
    assert "(`visplay_scene_tasks`)" in without and "counts about random" not in without


def test_the_section_names_the_diversity_settings_and_the_held_out_template_questions(bench):
    args = bench.parse_args(["--diversity-threshold", "0.75", "--eval-template-episodes", "64"])
    text = " ".join(bench.section_body(args, FIGURES, True, ROWS, 60, 12.0, 20.0).split())
    assert "diversity penalty weight 1 with BLEU-distance threshold 0.75" in text
    assert "64 questions of the scripted Questioner" in text


def test_the_template_kinds_line_gives_each_kinds_first_and_last_accuracy(bench):
    assert bench.template_kinds(ROWS) == (
        "Held-out template questions right by kind, iteration 0 -> 60: count 0.50 -> 1.00 (2 questions), "
        "query 0.00 -> 0.50 (2 questions)."
    )
    assert "were asked" in bench.template_kinds([{"step": 0, "eval/success_rate": 0.5}])
