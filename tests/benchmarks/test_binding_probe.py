"""The binding probe: what each condition hands the text tower, and the table it writes."""

import argparse

import pytest
import torch

import repo_paths


@pytest.fixture(scope="module")
def bench():
    with repo_paths.benchmark_module("bench_binding_probe") as module:
        yield module


@pytest.fixture(scope="module")
def probe(bench, tmp_path_factory):
    from vista_agents.tiny_seeing import build_seeing_vlm

    return bench.Probe(build_seeing_vlm(tmp_path_factory.mktemp("probe"), seed=0))


@pytest.fixture(scope="module")
def task(bench):
    return bench.load_tasks("attributes", "train", 1, 0)[0]


def test_slots_put_one_token_per_object_among_placeholders(probe, task):
    row = probe.row(task, "slots")
    prompt_ids = probe.tokenizer(probe.prompt(task, "slots"), add_special_tokens=False)["input_ids"]
    assert prompt_ids.count(probe.image_id) == 1
    assert len(row) == len(prompt_ids) - 1 + probe.image_tokens
    at = prompt_ids.index(probe.image_id)
    image = row[at : at + probe.image_tokens]
    placeholder = probe.embeddings[probe.image_id]
    filled = [token for token in image if not torch.equal(token, placeholder)]
    expected = [probe.embeddings[probe.token(s)] + probe.embeddings[probe.token(c)] for s, c in task["objects"]]
    assert len(filled) == len(task["objects"])
    for vector in expected:
        assert any(torch.equal(vector, token) for token in filled)
    # The text around the image is the prompt's own.
    assert torch.equal(row[:at], probe.embeddings[torch.tensor(prompt_ids[:at])])


def test_slots_positions_are_fixed_per_task(probe, task):
    assert torch.equal(probe.row(task, "slots"), probe.row(task, "slots"))


def test_words_write_the_scene_and_drop_the_image(probe, task):
    prompt = probe.prompt(task, "words")
    assert "<image>" not in prompt
    for shape, color in task["objects"]:
        assert f"{color} {shape}." in prompt
    question = next(part["text"] for part in task["messages"][1]["content"] if part["type"] == "text")
    assert question in prompt and prompt.endswith("<answer>")


def test_answers_are_one_token_and_other_words_are_refused(probe, task):
    assert isinstance(probe.token(task["answer"]), int)
    with pytest.raises(ValueError, match="not one"):
        probe.token("an answer of several words")


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
    question = next(part["text"] for part in task["messages"][1]["content"] if part["type"] == "text")
    first, image_first = probe.prompt(task, "slots_question_first"), probe.prompt(task, "slots")
    assert first.index(question) < first.index("<image>")
    assert image_first.index("<image>") < image_first.index(question)
    assert len(probe.row(task, "slots_question_first")) == len(probe.row(task, "slots"))


def test_centre_patches_hold_each_objects_centre(probe, task):
    patch = probe.model.config.vision_config.patch_size
    grid = probe.model.config.vision_config.image_size // patch
    for (x, y), index in zip(task["centres"], probe.centre_patches(task), strict=True):
        row, column = divmod(index, grid)
        assert column * patch <= x < (column + 1) * patch and row * patch <= y < (row + 1) * patch
    # A known case: a centre at (20.5, 9.9) lies in column 2, row 1 of the 8 px grid.
    assert probe.centre_patches({**task, "centres": [(20.5, 9.9)]}) == [1 * grid + 2]


def test_centre_targets_mark_only_the_centre_patches(probe, task):
    targets = probe.centre_targets(task)
    placeholder = probe.embeddings[probe.image_id].detach()
    centres = probe.centre_patches(task)
    for index, vector in enumerate(targets):
        assert torch.equal(vector, placeholder) == (index not in centres)
    (shape, color), first = task["objects"][0], centres[0]
    assert torch.equal(
        targets[first], (probe.embeddings[probe.token(shape)] + probe.embeddings[probe.token(color)]).detach()
    )


def test_image_tokens_are_what_the_vlm_reads(probe, task):
    tokens = probe.image_tokens_of([task["image"]])
    assert tokens.shape == (1, probe.image_tokens, probe.embeddings.shape[1])
    blank = probe.image_tokens_of([task["image"] * 0 + 255])
    assert not torch.allclose(tokens, blank)  # the image reaches the tokens


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
