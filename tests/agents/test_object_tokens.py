"""The object-token warm start: the tasks it reads, the slots and targets it builds, and that each stage moves its
own measure (the full-size figures are in ``benchmarks/bench_grpo_learning_visual.py`` and RESULTS.md)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from transformers import AutoProcessor, LlavaForConditionalGeneration

from vista_agents.object_tokens import (
    ObjectTokens,
    SceneTask,
    pretrain_object_tokens,
    scene_tasks,
    visplay_scene_tasks,
)
from vista_agents.tiny_seeing import build_seeing_vlm

ENV_KWARGS = {"response_format": "answer_only"}


@pytest.fixture(scope="module")
def model_dir(one_torch_thread, tmp_path_factory):
    return build_seeing_vlm(tmp_path_factory.mktemp("object-tokens"), seed=0)


@pytest.fixture(scope="module")
def tokens(model_dir):
    return ObjectTokens(model_dir)


@pytest.fixture(scope="module")
def tasks():
    return scene_tasks("attributes", "train", 48, env_kwargs=ENV_KWARGS)


def test_scene_tasks_carry_the_envs_prompt_and_the_simulators_scene(tasks):
    for task in tasks:
        question = next(part["text"] for part in task.messages[1]["content"] if part["type"] == "text")
        shapes, colors = {shape for shape, _ in task.objects}, {color for _, color in task.objects}
        # Attributes asks the colour of a named shape or the shape of a named colour: the answer is in the scene.
        assert task.answer in shapes | colors, (question, task.objects)
        assert len(task.centres) == len(task.objects) and task.image.shape == (64, 64, 3)
        assert all(0 <= x < 64 and 0 <= y < 64 for x, y in task.centres)
        assert "<answer>" in question  # answer_only wording, as the learners' env gives it
    assert [task.seed for task in tasks] == list(range(48))


def test_scene_tasks_follow_the_env_kwargs_and_split():
    hard = scene_tasks("counting", "test", 4, first_seed=7, env_kwargs={"difficulty": 3, "image_size": 96})
    assert all(task.image.shape == (96, 96, 3) for task in hard)
    assert all(7 <= len(task.objects) <= 10 for task in hard)  # difficulty 3 draws 7-10 objects
    assert [task.seed for task in hard] == [7, 8, 9, 10]


def test_scene_tasks_refuse_a_family_without_objects():
    with pytest.raises(ValueError, match="no objects"):
        scene_tasks("clock", "train", 1)


def test_visplay_scene_tasks_are_the_visplay_reasoners_questions_with_their_true_answers():
    scenes = {"families": ["attributes"], **ENV_KWARGS}
    tasks = visplay_scene_tasks(12, first_seed=5, env_kwargs=scenes)
    assert [task.seed for task in tasks] == list(range(5, 17))
    env = gym.make(
        "VisPlayReasoner-v0",
        grounded=True,
        reward_target="ground_truth",
        confidence_band=(0.0, 1.0),
        player_timeout=None,
        difficulty=1,
        image_size=64,
        split="train",
        **scenes,
    )
    questions = set()
    for task in tasks:
        _, info = env.reset(seed=task.seed)
        assert task.messages == info["messages"] and task.image.shape == (64, 64, 3)
        questions.add(next(part["text"] for part in task.messages[1]["content"] if part["type"] == "text"))
        # Paid against the program's answer, the task's answer earns the full reward (0.9 right + 0.1 format).
        assert env.step(f"<answer>{task.answer}</answer>")[1] == pytest.approx(1.0), task.answer
    assert len(questions) > 6  # the templates vary, not one question


def count_answers(tasks) -> list[str]:
    def question(task) -> str:
        return next(part["text"] for part in task.messages[1]["content"] if part["type"] == "text")

    return [task.answer for task in tasks if "How many" in question(task)]


def test_visplay_scene_tasks_with_absent_counts_ask_counts_whose_answer_is_zero():
    scenes = {"families": ["attributes"], **ENV_KWARGS}
    plain = count_answers(visplay_scene_tasks(60, env_kwargs=scenes))
    mixed = count_answers(visplay_scene_tasks(60, env_kwargs=scenes, absent_counts=0.5))
    assert plain and "0" not in plain  # the scripted Questioner counts objects that are there
    assert mixed.count("0") >= 3 and any(answer != "0" for answer in mixed)


def test_the_response_is_the_answer_only_format(tokens, tasks):
    task = tasks[0]
    expected = tokens.tokenizer(f"<answer>{task.answer}</answer>", add_special_tokens=False)["input_ids"]
    assert tokens.response_ids(task) == [*expected, tokens.tokenizer.eos_token_id]
    with pytest.raises(ValueError, match="not one"):
        tokens.token("an answer of several words")


def test_slots_put_one_token_per_object_among_placeholders(tokens, tasks):
    task = tasks[0]
    row = tokens.slot_row(task)
    prompt_ids = tokens.tokenizer(tokens.prompt(task.messages), add_special_tokens=False)["input_ids"]
    assert prompt_ids.count(tokens.image_id) == 1
    assert len(row) == len(prompt_ids) - 1 + tokens.grid**2 + 4
    at = prompt_ids.index(tokens.image_id)
    image = row[at : at + tokens.grid**2]
    placeholder = tokens.embeddings[tokens.image_id]
    filled = [token for token in image if not torch.equal(token, placeholder)]
    assert len(filled) == len(task.objects)
    for shape, color in task.objects:
        expected = tokens.embeddings[tokens.token(shape)] + tokens.embeddings[tokens.token(color)]
        assert any(torch.equal(expected, token) for token in filled)
    assert torch.equal(row[:at], tokens.embeddings[torch.tensor(prompt_ids[:at])])  # the prompt's own text
    assert torch.equal(row[-4:], tokens.embeddings[torch.tensor(tokens.response_ids(task))])  # then the response
    assert torch.equal(tokens.slot_row(task), row)  # positions fixed per task


def test_a_prompt_without_an_image_is_fed_as_text(tokens, tasks):
    row = tokens.slot_row(tasks[0], "red circle. What shape is the red object?")
    ids = tokens.tokenizer("red circle. What shape is the red object?", add_special_tokens=False)["input_ids"]
    assert len(row) == len(ids) + 4


def test_centre_patches_hold_each_objects_centre(tokens, tasks):
    patch = 64 // tokens.grid
    for task in tasks[:8]:
        for (x, y), index in zip(task.centres, tokens.centre_patches(task), strict=True):
            row, column = divmod(index, tokens.grid)
            assert column * patch <= x < (column + 1) * patch and row * patch <= y < (row + 1) * patch
    # Known cases: (20.5, 9.9) is column 2, row 1 of the 8 px grid; a 128 px image's (127, 0) is the top-right patch.
    known = SceneTask([], np.zeros((64, 64, 3), np.uint8), (("circle", "red"),), ((20.5, 9.9),), "red", 0)
    assert tokens.centre_patches(known) == [1 * tokens.grid + 2]
    large = SceneTask([], np.zeros((128, 128, 3), np.uint8), (("circle", "red"),), ((127.0, 0.0),), "red", 0)
    assert tokens.centre_patches(large) == [tokens.grid - 1]


def test_centre_targets_mark_only_the_centre_patches(tokens, tasks):
    task = tasks[0]
    targets = tokens.centre_targets(task)
    placeholder = tokens.embeddings[tokens.image_id].detach()
    centres = tokens.centre_patches(task)
    for index, vector in enumerate(targets):
        assert torch.equal(vector, placeholder) == (index not in centres)
    (shape, color), first = task.objects[0], centres[0]
    expected = (tokens.embeddings[tokens.token(shape)] + tokens.embeddings[tokens.token(color)]).detach()
    assert torch.equal(targets[first], expected)


def test_image_tokens_are_what_the_vlm_reads(tokens, tasks):
    image = tasks[0].image
    found = tokens.image_tokens([image])
    assert found.shape == (1, tokens.grid**2, tokens.embeddings.shape[1])
    assert not torch.allclose(found, tokens.image_tokens([np.full_like(image, 255)]))  # the image reaches them


def test_the_text_stage_learns_the_answers_it_is_shown(model_dir, tasks):
    """16 tasks whose commonest answer is 3 of them: 80 steps on slots take the text tower from none right to (nearly)
    all, far past answering that commonest word."""
    shown = tasks[:16]
    learner = ObjectTokens(model_dir)
    with torch.no_grad():
        before = float(learner.text_loss(shown, learner.slot_row))
    assert learner.text_accuracy(shown) <= 3 / 16
    losses = []
    learner.train_text([(80, shown)], batch_size=16, learning_rate=3e-3, on_step=lambda step, loss: losses.append(loss))
    assert len(losses) == 80
    with torch.no_grad():
        after = float(learner.text_loss(shown, learner.slot_row))
    assert after < 0.2 * before, (before, after)
    assert learner.text_accuracy(shown) >= 0.75


def test_stages_run_in_turn_with_their_own_tasks(model_dir, tasks):
    learner = ObjectTokens(model_dir)
    first, second = tasks[:8], tasks[8:16]
    fed = []

    def row(task):
        fed.append(task.seed)
        return learner.slot_row(task)

    learner.train_text([(3, first), (2, second)], batch_size=4, row=row)
    assert len(fed) == 5 * 4
    assert {seed for seed in fed[:12]} <= {task.seed for task in first}
    assert {seed for seed in fed[12:]} <= {task.seed for task in second}


def test_the_format_steps_teach_the_answer_tags_and_the_end_of_turn(model_dir, tasks):
    learner = ObjectTokens(model_dir)
    shown = tasks[:16]
    with torch.no_grad():
        word, whole = (float(learner.text_loss(shown, learner.slot_row, flag)) for flag in (False, True))
    assert word != whole  # the two losses cover different tokens
    learner.train_text([(20, shown)], batch_size=16, learning_rate=3e-3, whole_response=True)
    with torch.no_grad():
        predicted = learner.response_logits([learner.slot_row(task) for task in shown]).argmax(-1)
    expected = torch.tensor([learner.response_ids(task) for task in shown])
    # "<answer>" first, "</answer>" and the end of turn after the word: the tokens that do not depend on the scene.
    assert torch.equal(predicted[:, [0, 2, 3]], expected[:, [0, 2, 3]])


def test_the_vision_stage_brings_the_image_tokens_to_their_targets(model_dir, tasks):
    learner = ObjectTokens(model_dir)
    with torch.no_grad():
        before = float(learner.vision_loss(tasks))
    learner.train_vision(tasks, steps=30, batch_size=16, learning_rate=3e-3)
    with torch.no_grad():
        after = float(learner.vision_loss(tasks))
    assert after < 0.7 * before, (before, after)
    text = [p.detach().clone() for p in learner.model.model.language_model.parameters()]
    learner.train_vision(tasks, steps=1, batch_size=4)
    assert all(torch.equal(a, b) for a, b in zip(text, learner.model.model.language_model.parameters()))


def test_pretrain_saves_a_model_the_learners_load(tmp_path, tasks):
    path = build_seeing_vlm(tmp_path / "model", seed=0)
    figures = pretrain_object_tokens(path, [(2, tasks)], vision_steps=2, batch_size=4, held_out=tasks[:8])
    assert set(figures) == {"text_cpu_s", "cpu_s", "slots", "shape", "color", "pixels", "blank"}
    assert 0 < figures["text_cpu_s"] <= figures["cpu_s"]
    assert all(0.0 <= figures[key] <= 1.0 for key in ("slots", "shape", "color", "pixels", "blank"))
    fresh = build_seeing_vlm(tmp_path / "fresh", seed=0)
    trained = LlavaForConditionalGeneration.from_pretrained(path).state_dict()
    untouched = LlavaForConditionalGeneration.from_pretrained(fresh).state_dict()
    changed = [name for name in trained if not torch.equal(trained[name], untouched[name])]
    assert any("vision_tower" in name for name in changed) and any("language_model" in name for name in changed)
    assert AutoProcessor.from_pretrained(path).tokenizer("<answer>", add_special_tokens=False)["input_ids"]
