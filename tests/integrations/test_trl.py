"""TRL: datasets of env tasks, per-term reward functions equal to the env's reward, and the tool environment."""

from __future__ import annotations

import inspect
import json
import os

import gymnasium as gym
import numpy as np
import pytest

datasets = pytest.importorskip("datasets")

import vista_envs  # noqa: F401
from vista_envs.integrations.tasks import family_names
from vista_envs.integrations.trl import (
    VistaToolEnvironment,
    completion_text,
    environment_factory,
    make_dataset,
    reward_functions,
)
from vista_envs.tools.toolbox import tool_names

ALL_FAMILIES = list(family_names())
TOOL_KWARGS = {"image_size": 64, "families": ["counting"], "sandbox": "process"}


def _options(task):
    return {key: task[key] for key in ("family", "difficulty", "split", "task_seed")}


def test_a_dataset_row_holds_the_envs_prompt_and_image_and_keeps_the_task_reference_out_of_the_prompt():
    dataset = make_dataset("VisualQA-v0", 4, split="eval", seed=1, image_size=64)
    env = gym.make("VisualQA-v0", image_size=64)
    for row in dataset:
        observation, info = env.reset(options=_options(row["task"]))
        system, user = row["prompt"]
        assert system["content"][0]["text"] == info["messages"][0]["content"]
        assert [part["type"] for part in user["content"]] == ["image", "text"] and user["content"][1][
            "text"
        ] == observation["text"]
        assert len(row["images"]) == 1 and row["images"][0].size == (64, 64)
        assert np.array_equal(np.asarray(row["images"][0]), observation["image"])  # PNG is lossless
        assert row["task"]["env_id"] == "VisualQA-v0" and row["task"]["split"] == "eval"
        assert str(row["task"]["task_seed"]) not in json.dumps(row["prompt"])


def test_the_weighted_sum_of_the_reward_functions_equals_the_env_reward_over_every_family():
    dataset = datasets.concatenate_datasets(
        [make_dataset("VisualQA-v0", 3, seed=7, families=[name], image_size=64) for name in ALL_FAMILIES]
    )
    functions, weights = reward_functions("VisualQA-v0")
    assert [f.__name__ for f in functions] == ["correctness", "format", "reasoning", "length"] and weights == [
        1.0,
        0.2,
        0.2,
        0.1,
    ]
    env = gym.make("VisualQA-v0", families=ALL_FAMILIES, image_size=64)
    prompts, completions, truths, expected = [], [], [], []
    for row in dataset:
        env.reset(options=_options(row["task"]))
        oracle = env.unwrapped.oracle()
        for response in (
            oracle,
            "<think>It looks like two of them.</think><answer>2</answer>",
            "<answer>A</answer>",
            "",
            "y" * 5000,
        ):
            env.reset(options=_options(row["task"]))
            expected.append(env.step(response)[1])
            prompts.append(row["prompt"])
            # TRL's conversational completion: a list with the assistant message.
            completions.append([{"role": "assistant", "content": response}])
            truths.append(row["ground_truth"])
    columns = [f(prompts=prompts, completions=completions, ground_truth=truths, trainer_state=None) for f in functions]
    totals = [sum(w * c[i] for w, c in zip(weights, columns, strict=True)) for i in range(len(expected))]
    assert totals == pytest.approx(expected, abs=1e-12)
    assert max(expected) == pytest.approx(1.4) and min(expected) < 0


def test_custom_weights_flow_into_the_returned_reward_weights_and_the_sum_still_matches():
    kwargs = {"image_size": 64, "correctness_weight": 2.0, "format_weight": 0.5, "length_weight": 0.0}
    dataset = make_dataset("VisualQA-v0", 5, seed=2, **kwargs)
    functions, weights = reward_functions("VisualQA-v0", **kwargs)
    assert weights == [2.0, 0.5, 0.2, 0.0]
    env = gym.make("VisualQA-v0", **kwargs)
    for row in dataset:
        env.reset(options=_options(row["task"]))
        response = env.unwrapped.oracle()
        expected = env.step(response)[1]
        got = sum(
            w
            * f(
                prompts=[row["prompt"]],
                completions=[[{"role": "assistant", "content": response}]],
                ground_truth=[row["ground_truth"]],
            )[0]
            for w, f in zip(weights, functions, strict=True)
        )
        assert got == pytest.approx(expected)


def test_completion_text_puts_back_what_trls_response_parser_split_off():
    message = {"role": "assistant", "reasoning_content": "three red ones", "content": "<answer>3</answer>"}
    assert completion_text([message]) == "<think>three red ones</think><answer>3</answer>"
    call = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"type": "function", "function": {"name": "zoom", "arguments": {"x": 1, "y": 2}}}],
    }
    assert completion_text([call]) == '<tool_call>{"name": "zoom", "arguments": {"x": 1, "y": 2}}</tool_call>'
    assert completion_text("plain text") == "plain text" and completion_text([]) == "" and completion_text(7) == 7


def test_the_tool_environment_exposes_one_documented_method_per_tool_and_nothing_else():
    public = {
        name
        for name, _ in inspect.getmembers(VistaToolEnvironment, predicate=inspect.isfunction)
        if not name.startswith("_")
    }
    tools = set(tool_names())
    assert public == tools | {"reset", "get_reward"}
    from transformers.utils import get_json_schema

    for name in tools:  # TRL turns each into a schema from its signature and its Args: docstring
        schema = get_json_schema(getattr(VistaToolEnvironment, name))
        assert schema["function"]["name"] == name and "Args:" in getattr(VistaToolEnvironment, name).__doc__


def test_the_tool_environment_returns_images_for_new_views_and_its_rewards_sum_to_the_env_return():
    row = make_dataset("VistaTool-v0", 1, seed=3, **TOOL_KWARGS)[0]
    environment = environment_factory(**TOOL_KWARGS)()
    assert environment.reset(**row) is None
    zoomed = environment.zoom(x=32, y=32)
    assert zoomed[0]["type"] == "image" and zoomed[0]["image"].size == (64, 64) and "Zoomed" in zoomed[1]["text"]
    assert "2" in environment.calculator(expression="1+1")
    assert environment.zoom(x="left", y=None).startswith("[zoom]")  # bad arguments: the env's error and its cost
    env = gym.make("VistaTool-v0", **TOOL_KWARGS)
    env.reset(options=_options(row["task"]))
    answer = env.unwrapped.oracle_trajectory()[-1]
    functions, weights = reward_functions("VistaTool-v0", **TOOL_KWARGS)
    completion = [{"role": "assistant", "content": answer}]
    terms = [
        f(
            prompts=[row["prompt"]],
            completions=[completion],
            ground_truth=[row["ground_truth"]],
            environments=[environment],
        )[0]
        for f in functions
    ]
    total = sum(w * t for w, t in zip(weights, terms, strict=True)) + environment.get_reward()
    # The same turns stepped into the env directly, one call per turn as the trainer runs them.
    env.reset(options=_options(row["task"]))
    calls = [
        {"name": "zoom", "arguments": {"x": 32, "y": 32}},
        {"name": "calculator", "arguments": {"expression": "1+1"}},
        {"name": "zoom", "arguments": {"x": "left"}},
    ]
    expected = sum(env.step(f"<tool_call>{json.dumps(c)}</tool_call>")[1] for c in calls) + env.step(answer)[1]
    assert total == pytest.approx(expected) and terms[0] == 1.0
    assert environment.get_reward() == pytest.approx(-2 * 0.05 - 0.1)
    # After the answer the episode is over: further calls run nothing and cost nothing.
    assert "episode is over" in environment.grid()


def test_a_rollout_that_stops_without_answering_is_paid_as_the_env_pays_a_turn_without_an_answer():
    row = make_dataset("VistaTool-v0", 1, seed=4, **TOOL_KWARGS)[0]
    environment = VistaToolEnvironment(**TOOL_KWARGS)
    environment.reset(**row)
    functions, weights = reward_functions("VistaTool-v0", **TOOL_KWARGS)
    completion = [{"role": "assistant", "content": "I am not sure."}]
    terms = [
        f(
            prompts=[row["prompt"]],
            completions=[completion],
            ground_truth=[row["ground_truth"]],
            environments=[environment],
        )[0]
        for f in functions
    ]
    assert terms == [0.0, 0.0, 0.0, 0.0] and environment.get_reward() == pytest.approx(-0.1)


def test_bad_dataset_arguments_fail_before_any_task_is_drawn():
    with pytest.raises(ValueError, match="no family 'nope'"):
        make_dataset("VisualQA-v0", 2, families=["nope"])
    with pytest.raises(ValueError, match="not a task env"):
        make_dataset("VisPlay-v0", 2)
    with pytest.raises(ValueError, match="non-negative"):
        make_dataset("VisualQA-v0", -1)
    with pytest.raises(ValueError, match="split"):
        make_dataset("VisualQA-v0", 2, split="validation")


def test_reset_without_a_task_column_says_what_is_missing():
    environment = VistaToolEnvironment(**TOOL_KWARGS)
    with pytest.raises(ValueError, match="'task' column"):
        environment.reset(prompt=[])
    with pytest.raises(RuntimeError, match="reset"):
        environment.zoom(x=1, y=1)


# -- real GRPOTrainer runs on tiny VLMs ----------------------------------------------------------------------


def _scripted(model, tokenizer, scripts):
    """Make `model.generate` write the scripted turns (a zoom call, then the answer) token by token, through TRL's own
    generation call, so the trainer's real tool loop runs; the turn is picked by counting tool responses so far."""
    header = tokenizer.encode("<|im_start|>assistant\n", add_special_tokens=False)
    start, response, eos = header[0], tokenizer.convert_tokens_to_ids("<tool_response>"), tokenizer.eos_token_id

    def allowed(batch_id, ids):
        ids = ids.tolist()
        text = tokenizer.decode(ids)
        turns = next((turns for question, turns in scripts.items() if question in text), None)
        if turns is None:  # an unscripted prompt: the model samples freely
            return list(range(len(tokenizer)))
        target = tokenizer.encode(turns[min(ids.count(response), len(turns) - 1)], add_special_tokens=False) + [eos]
        done = len(ids) - (len(ids) - 1 - ids[::-1].index(start)) - len(header)
        return [target[min(done, len(target) - 1)]]

    generate = model.generate
    model.generate = lambda *args, **kwargs: generate(*args, prefix_allowed_tokens_fn=allowed, **kwargs)


def _config(tmp_path, weights, **overrides):
    from trl import GRPOConfig

    settings = dict(
        output_dir=str(tmp_path / "out"),
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=4,
        num_generations=2,
        max_completion_length=24,
        max_steps=2,
        steps_per_generation=1,
        reward_weights=weights,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        beta=0.0,
        seed=0,
    )
    settings.update(overrides)
    return GRPOConfig(**settings)


@pytest.mark.slow
def test_grpo_trainer_trains_two_steps_on_exported_visual_qa_tasks_with_rewards_equal_to_the_envs(tmp_path):
    pytest.importorskip("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from transformers import AutoProcessor
    from trl import GRPOTrainer

    from vista_agents.tiny import build_tiny_vlm

    path = build_tiny_vlm(tmp_path / "tiny", seed=0)  # saved, then loaded by path by the trainer
    # Prompts are told apart by their text below, so keep 8 tasks whose questions differ.
    drawn = make_dataset("VisualQA-v0", 32, families=["counting", "clock"], image_size=64)
    first_of = {}
    for index, row in enumerate(drawn):
        first_of.setdefault(row["prompt"][1]["content"][1]["text"], index)
    assert len(first_of) >= 8
    dataset = drawn.select(sorted(first_of.values())[:8])
    functions, weights = reward_functions("VisualQA-v0")
    seen = []

    def record(prompts, completions, ground_truth, task, **kwargs):
        seen.extend(zip(completions, task, strict=True))
        return [0.0] * len(completions)

    trainer = GRPOTrainer(
        model=str(path),
        reward_funcs=[*functions, record],
        args=_config(tmp_path, [*weights, 0.0], max_completion_length=96),
        train_dataset=dataset,
    )
    # Half the prompts get the oracle's answer, so the rewards compared below are not all zero.
    env = gym.make("VisualQA-v0", families=["counting", "clock"], image_size=64)
    scripts = {}
    for row in dataset.select(range(0, 8, 2)):
        env.reset(options=_options(row["task"]))
        scripts[row["prompt"][1]["content"][1]["text"]] = [env.unwrapped.oracle()]
    _scripted(trainer.model, AutoProcessor.from_pretrained(path).tokenizer, scripts)
    trainer.train()
    logged = [row for row in trainer.state.log_history if "reward" in row]
    assert (
        trainer.state.global_step == 2 and len(logged) == 2 and all("rewards/correctness/mean" in row for row in logged)
    )
    rewards = []
    for completion, task in seen:
        env.reset(options=_options(task))
        rewards.append(env.step(completion_text(completion))[1])
    assert len(rewards) == 8 and max(rewards) == pytest.approx(1.4)  # 2 steps x 4 completions; the oracle's earn 1.4
    # TRL's logged mean reward per step is the mean of the env's rewards for that step's completions.
    for step, row in enumerate(logged):
        assert row["reward"] == pytest.approx(sum(rewards[4 * step : 4 * step + 4]) / 4, abs=1e-6)


@pytest.mark.slow
def test_grpo_trainer_runs_multi_turn_vista_tool_with_an_image_returning_zoom_and_pays_the_env_return(tmp_path):
    pytest.importorskip("trl")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import GRPOTrainer
    from trl.chat_template_utils import qwen3_template

    from vista_agents.tiny_qwen import build_tiny_qwen2_5_vl

    path = build_tiny_qwen2_5_vl(tmp_path / "tiny-qwen", seed=0)
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    # The tiny template is ChatML with Hermes tool calls, which TRL's Qwen3 response template parses.
    processor.tokenizer.response_template = qwen3_template
    dataset = make_dataset("VistaTool-v0", 2, seed=5, **TOOL_KWARGS)
    env = gym.make("VistaTool-v0", **TOOL_KWARGS)
    scripts, expected = {}, {}
    zoom = '<tool_call>{"name": "zoom", "arguments": {"x": 30, "y": 30}}</tool_call>'
    for row in dataset:
        env.reset(options=_options(row["task"]))
        question = row["prompt"][1]["content"][1]["text"].split("\n")[0]
        scripts[question] = [zoom, env.unwrapped.oracle_trajectory()[-1]]
        env.reset(options=_options(row["task"]))
        expected[question] = env.step(zoom)[1] + env.step(scripts[question][1])[1]
    assert len(scripts) == 2  # the two prompts are told apart by their questions
    _scripted(model, processor.tokenizer, scripts)
    functions, weights = reward_functions("VistaTool-v0", **TOOL_KWARGS)
    trainer = GRPOTrainer(
        model=model,
        processing_class=processor,
        reward_funcs=functions,
        train_dataset=dataset,
        args=_config(tmp_path, weights, per_device_train_batch_size=2, max_completion_length=512, max_steps=1),
        environment_factory=environment_factory(**TOOL_KWARGS),
    )
    trainer.train()
    row = next(row for row in trainer.state.log_history if "reward" in row)
    assert row["tools/call_frequency"] == 1.0 and row["tools/failure_frequency"] == 0.0
    assert row["rewards/VistaToolEnvironment/mean"] == pytest.approx(-0.05)  # one zoom, at tool_cost_weight
    assert (
        row["reward"]
        == pytest.approx(sum(expected.values()) / len(expected), abs=1e-6)
        == pytest.approx(1.35, abs=1e-6)
    )
