"""The binding probe: what each condition hands the text tower, and the table it writes (the slots and the two
stages themselves are tested with ``vista_agents.object_tokens``)."""

import argparse

import pytest
import torch

import repo_paths


@pytest.fixture(scope="module")
def bench():
    with repo_paths.benchmark_module("bench_binding_probe") as module:
        yield module


@pytest.fixture(scope="module")
def probe(bench, one_torch_thread, tmp_path_factory):
    from vista_agents.tiny_seeing import build_seeing_vlm

    return bench.Probe(build_seeing_vlm(tmp_path_factory.mktemp("probe"), seed=0))


@pytest.fixture(scope="module")
def task(bench):
    return bench.scene_tasks("attributes", "train", 1, env_kwargs=bench.ENV_KWARGS)[0]


def test_slots_feed_the_envs_prompt_with_the_image_filled(probe, task):
    assert torch.equal(probe.row_of("slots")(task), probe.slot_row(task))
    assert probe.condition_prompt(task, "slots") == probe.prompt(task.messages)


def test_words_write_the_scene_and_drop_the_image(probe, task):
    prompt = probe.condition_prompt(task, "words")
    assert "<image>" not in prompt
    for shape, color in task.objects:
        assert f"{color} {shape}." in prompt
    question = next(part["text"] for part in task.messages[1]["content"] if part["type"] == "text")
    assert question in prompt
    row = probe.row_of("words")(task)
    assert len(row) == len(probe.tokenizer(prompt, add_special_tokens=False)["input_ids"]) + 4


def test_section_tabulates_every_evaluation(bench):
    args = argparse.Namespace(
        family="attributes", train_tasks=64, batch_size=32, learning_rate=1e-3, seed=0, test_tasks=50
    )
    rows = [
        {"condition": "slots", "curve": [(0, 0.0), (10, 0.25)], "cpu_min": 0.5},
        {"condition": "words", "curve": [(0, 0.0), (10, 0.125)], "cpu_min": 0.4},
    ]
    text = bench.section(rows, prior=0.08, majority="star", args=args)
    assert "| condition | step 0 | step 10 | CPU min |" in text
    assert "| slots | 0.0% | 25.0% | 0.5 |" in text
    assert "| words | 0.0% | 12.5% | 0.4 |" in text
    assert "8.0% (`star`)" in text
    assert "*words*: the scene written" in text and "slots_question_first" not in text  # only the conditions run


def test_question_first_puts_the_question_before_the_image(probe, task):
    question = next(part["text"] for part in task.messages[1]["content"] if part["type"] == "text")
    first = probe.condition_prompt(task, "slots_question_first")
    image_first = probe.condition_prompt(task, "slots")
    assert first.index(question) < first.index("<image>")
    assert image_first.index("<image>") < image_first.index(question)
    assert len(probe.row_of("slots_question_first")(task)) == len(probe.row_of("slots")(task))


def test_section_reports_pixels_beside_blank_and_prior(bench):
    args = argparse.Namespace(
        family="attributes",
        train_tasks=64,
        batch_size=32,
        learning_rate=1e-3,
        seed=0,
        test_tasks=50,
        pixels_learning_rate=3e-3,
    )
    rows = [{"condition": "slots", "curve": [(0, 0.0), (10, 0.5)], "cpu_min": 0.5}]
    pixels = {"steps": 7, "shape": 0.75, "color": 0.9, "pixels": 0.6, "blank": 0.1, "cpu_min": 0.2}
    text = bench.section(rows, prior=0.08, majority="star", args=args, pixels=pixels)
    assert "7 steps" in text and "**60.0%**" in text and "10.0% with a blank" in text and "the 8.0% prior" in text
    assert "shape right 75.0% and colour 90.0%" in text
    assert "From pixels" not in bench.section(rows, prior=0.08, majority="star", args=args)


def test_a_short_run_saves_a_model_the_learners_can_load(bench, tmp_path):
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    saved = tmp_path / "saved"
    bench.main(
        ["--conditions", "slots", "--steps", "2", "--eval-every", "1", "--train-tasks", "40", "--test-tasks", "8"]
        + ["--batch-size", "4", "--pixels-steps", "2", "--work-dir", str(tmp_path / "work"), "--save", str(saved)]
    )
    model = LlavaForConditionalGeneration.from_pretrained(saved)
    assert AutoProcessor.from_pretrained(saved).tokenizer("<image>", add_special_tokens=False)["input_ids"]
    assert model.config.vision_config.image_size == 64
