"""The seeing-VLM GRPO benchmark's verdict and the section it writes (the run itself is the benchmark's)."""

import argparse

import pytest

import repo_paths


@pytest.fixture(scope="module")
def bench():
    with repo_paths.benchmark_module("bench_grpo_learning_visual") as module:
        yield module


def row(**overrides: float) -> dict:
    figures = {"family": "attributes", "prior": 0.09, "majority": "red", "start": 0.55, "sft": 0.60, "grpo": 0.75}
    figures |= {"sft_blank": 0.1, "grpo_blank": 0.08, "total_cpu_min": 15.0, "curve": [0.6, 0.7, 0.75]}
    return figures | overrides


def test_the_verdict_checks_every_target(bench):
    assert bench.verdict(row(), budget_min=20) == "met"
    assert bench.verdict(row(grpo=0.69), budget_min=20) == "not met (>= 70%, GRPO +10 points)"
    assert bench.verdict(row(prior=0.40), budget_min=20) == "not met (>= 2x prior)"
    assert bench.verdict(row(sft=0.66), budget_min=20) == "not met (GRPO +10 points)"
    assert bench.verdict(row(total_cpu_min=20.5), budget_min=20) == "not met (time)"


def arguments(**overrides) -> argparse.Namespace:
    parser_defaults = dict(
        pretrain_steps=0,
        caption_steps=0,
        caption_learning_rate=3e-3,
        object_text_steps=3000,
        object_vision_steps=2000,
        object_mix_steps=2500,
        families=["attributes", "counting"],
        object_tasks=8192,
        sft_demonstrations=512,
        sft_epochs=1,
        sft_learning_rate=5e-4,
        grpo_steps=300,
        num_tasks=16,
        group_size=8,
        grpo_learning_rate=3e-4,
        temperature=1.0,
        kl_coef=0.0,
        freeze_vision_tower=False,
        freeze_language_model=False,
        grpo_lr_scheduler="constant",
        eval_every=50,
        eval_episodes=300,
        budget_minutes=20.0,
    )
    return argparse.Namespace(**(parser_defaults | overrides))


def written(bench, monkeypatch, figures: dict, args: argparse.Namespace) -> str:
    sections = []
    monkeypatch.setattr(bench, "update_section", lambda title, body, command: sections.append((title, body, command)))
    bench.write_section(figures, args, {"cpu_s": 0.0}, 12.0, ["--families", "attributes"])
    [(title, body, command)] = sections
    assert title == "GRPO learning (seeing VLM): attributes"
    assert command == "python benchmarks/bench_grpo_learning_visual.py --families attributes"
    return body


def test_the_section_reports_the_object_token_start(bench, monkeypatch):
    objects = {"cpu_s": 540.0, "slots": 0.99, "shape": 0.8, "color": 0.9, "pixels": 0.62, "blank": 0.15}
    body = written(bench, monkeypatch, row(objects=objects), arguments())
    assert "Object-token warm start" in body and "3000 steps on attributes tasks" in body
    assert "then 2500 on attributes and counting tasks mixed equally" in body and "2000 steps; 9.0 CPU min" in body
    assert "exact object tokens 99.0%" in body and "shape / colour 80.0% / 90.0%" in body
    assert "the images 62.0% (blank image 15.0%)" in body
    assert "| attributes | 9.0% (`red`) | 55.0% | 60.0% | 75.0% | +15.0 points | 10.0% / 8.0% | 15.0 | met |" in body
    assert "60% -> 70% -> 75%" in body
    assert "KL coefficient 0)" in body
    frozen = written(bench, monkeypatch, row(objects=objects), arguments(freeze_vision_tower=True, kl_coef=0.05))
    assert "KL coefficient 0.05, vision tower frozen)" in frozen
    text_frozen = written(bench, monkeypatch, row(), arguments(freeze_language_model=True, grpo_lr_scheduler="cosine"))
    assert "lr 0.0003 (cosine)," in text_frozen and "KL coefficient 0, text tower frozen)" in text_frozen


def test_the_section_leaves_out_a_warm_start_not_run(bench, monkeypatch):
    body = written(bench, monkeypatch, row(), arguments(object_text_steps=0))
    assert "Object-token" not in body and "No caption warm start." in body
    alone = written(bench, monkeypatch, row(objects={"cpu_s": 60.0}), arguments(families=["attributes"]))
    assert "3000 steps on attributes tasks, + 100 format steps" in alone and "mixed" not in alone
