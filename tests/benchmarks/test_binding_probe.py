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
