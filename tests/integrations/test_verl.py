"""verl and EasyR1: parquet exports load with `datasets`, score back to the env's reward, and the multi-turn rollout."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import gymnasium as gym
import pytest

pytest.importorskip("pyarrow")
datasets = pytest.importorskip("datasets")

import vista_envs  # noqa: F401
from vista_envs.integrations import easyr1, export, verl
from vista_envs.integrations.tasks import TaskRef, iter_tasks
from vista_envs.tasks import family_names

ALL_FAMILIES = list(family_names())


def _load(path):
    return datasets.load_dataset("parquet", data_files=str(path), split="train")


def _responses(env, ref_options):
    """Responses that hit every branch of the scorer: the oracle, a wrong answer, a bare answer, junk, a non-str."""
    env.reset(options=ref_options)
    oracle = env.unwrapped.oracle()
    return [
        oracle,
        "<think>I look at the image closely.</think><answer>zebra 99</answer>",
        "<answer>1</answer>",
        "no tags at all",
        "x" * 20000,
        None,
    ]


def test_a_verl_export_of_every_family_loads_with_datasets_and_scores_back_to_the_env_reward(tmp_path):
    env = gym.make("VisualQA-v0", families=ALL_FAMILIES, image_size=64)
    seen = set()
    for family in ALL_FAMILIES:
        path = export.export_tasks(
            "verl", "VisualQA-v0", 2, tmp_path / family, split="test", seed=5, families=[family], image_size=64
        )
        rows = _load(path)
        assert path.name == "test.parquet" and len(rows) == 2 and set(rows["ability"]) == {family}
        _check_verl_rows(rows, env, seen)
    assert seen == set(ALL_FAMILIES)


def _check_verl_rows(rows, env, seen):
    for index, row in enumerate(rows):
        info = row["extra_info"]
        seen.add(info["family"])
        assert row["data_source"] == "vista_envs/VisualQA-v0" and row["reward_model"]["style"] == "rule"
        assert info["split"] == "test" and info["index"] == index and row["agent_name"] == "single_turn_agent"
        assert row["prompt"][1]["content"].startswith("<image>") and row["images"][0].size == (64, 64)
        # The prompt never carries the seed or the answer's JSON.
        assert str(info["task_seed"]) not in json.dumps(row["prompt"]) and "scoring" not in json.dumps(row["prompt"])
        options = TaskRef("VisualQA-v0", info["family"], info["difficulty"], info["split"], info["task_seed"]).options()
        for response in _responses(env, options):
            env.reset(options=options)
            _, reward, *_, step_info = env.step(response)
            score = verl.compute_score(row["data_source"], response, row["reward_model"]["ground_truth"], info)
            assert score["score"] == reward
            assert {k: score[k] for k in step_info["reward_terms"]} == step_info["reward_terms"]


def test_an_easyr1_export_loads_with_datasets_and_its_batch_reward_equals_the_env_reward(tmp_path):
    rows = datasets.concatenate_datasets(
        [
            _load(
                export.export_tasks(
                    "easyr1", "VisualQA-v0", 1, tmp_path / name, split="eval", seed=1, families=[name], image_size=64
                )
            )
            for name in ALL_FAMILIES
        ]
    )
    assert sorted(rows["family"]) == sorted(ALL_FAMILIES)
    assert set(rows.column_names) >= {"problem", "answer", "images"}
    env = gym.make("VisualQA-v0", families=ALL_FAMILIES, image_size=64)
    inputs, expected = [], []
    for row in rows:
        assert row["problem"].startswith("<image>") and row["problem"].count("<image>") == len(row["images"]) == 1
        options = TaskRef("VisualQA-v0", row["family"], row["difficulty"], row["split"], row["task_seed"]).options()
        for response in _responses(env, options)[:5]:  # EasyR1 always passes decoded strings
            env.reset(options=options)
            _, reward, *_ = env.step(response)
            inputs.append({"response": response, "response_length": len(response), "ground_truth": row["answer"]})
            expected.append(reward)
    scores = easyr1.compute_score(inputs)
    assert [s["overall"] for s in scores] == expected
    assert max(expected) > 1.0 and min(expected) < 0.0  # the oracle and the over-long response are both in there


def test_easyr1_reward_refuses_the_per_sample_calling_convention():
    with pytest.raises(ValueError, match="reward_type=batch"):
        easyr1.compute_score({"response": "x", "ground_truth": "{}"})


def test_verl_compute_score_refuses_rows_of_another_data_source_and_bad_ground_truths():
    task = next(iter_tasks("VisualQA-v0", 1, image_size=64))
    with pytest.raises(ValueError, match="not a vista-envs export"):
        verl.compute_score("openai/gsm8k", "<answer>1</answer>", task.ground_truth)
    with pytest.raises(ValueError, match="not a vista-envs ground truth"):
        verl.compute_score("vista_envs/VisualQA-v0", "<answer>1</answer>", "42")
    with pytest.raises(ValueError, match="not a vista-envs ground truth"):
        verl.compute_score("vista_envs/VisualQA-v0", "<answer>1</answer>", {"answer": 1})


def test_an_export_naming_a_family_the_env_does_not_have_fails_before_writing_anything(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="no family 'nope'"):
        export.export_tasks("verl", "VisualQA-v0", 4, out, families=["counting", "nope"])
    # A real family that this configuration of the env cannot draw is refused too.
    with pytest.raises(ValueError, match="is not a task env"):
        export.export_tasks("verl", "VistaRobot-v0", 4, out)
    with pytest.raises(ValueError, match="format must be"):
        export.export_tasks("parquet", "VisualQA-v0", 4, out)
    assert not out.exists()


def test_the_cli_refuses_an_unknown_family_with_exit_status_2_and_writes_nothing(tmp_path, capsys):
    from vista_envs.cli import main

    assert (
        main(
            [
                "export",
                "--format",
                "easyr1",
                "--env",
                "VisualQA-v0",
                "--n",
                "3",
                "--out",
                str(tmp_path / "o"),
                "--family",
                "nope",
            ]
        )
        == 2
    )
    assert "no family 'nope'" in capsys.readouterr().err and not (tmp_path / "o").exists()
    assert (
        main(
            [
                "export",
                "--format",
                "verl",
                "--env",
                "VisualQA-v0",
                "--n",
                "3",
                "--out",
                str(tmp_path / "o"),
                "--image-size",
                "64",
                "--family",
                "clock",
            ]
        )
        == 0
    )
    assert len(_load(tmp_path / "o" / "train.parquet")) == 3


def test_an_interrupted_export_leaves_no_file_that_looks_complete(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_row = export.verl_row

    def failing_row(task, index, encode):
        calls["n"] += 1
        if index == 300:  # past the first written batch
            raise KeyboardInterrupt
        return real_row(task, index, encode)

    monkeypatch.setattr(export, "verl_row", failing_row)
    with pytest.raises(KeyboardInterrupt):
        export.export_tasks("verl", "VisualQA-v0", 400, tmp_path, families=["counting"], image_size=64)
    assert calls["n"] == 301 and list(tmp_path.iterdir()) == []


def test_the_same_seed_exports_the_same_tasks(tmp_path):
    first = _load(export.export_tasks("easyr1", "VisualQA-v0", 6, tmp_path / "a", seed=3, image_size=64))
    second = _load(export.export_tasks("easyr1", "VisualQA-v0", 6, tmp_path / "b", seed=3, image_size=64))
    assert first["problem"] == second["problem"] and first["answer"] == second["answer"]


def test_png_bytes_round_trip_exactly_at_every_level_and_refuse_non_rgb_arrays():
    import io

    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    for level in (0, 1, 9):
        decoded = Image.open(io.BytesIO(export.png_bytes(pixels, level)))
        assert decoded.mode == "RGB" and np.array_equal(np.asarray(decoded), pixels)
    assert len(export.png_bytes(np.zeros((64, 64, 3), np.uint8), 9)) < len(
        export.png_bytes(np.zeros((64, 64, 3), np.uint8), 0)
    )
    with pytest.raises(ValueError, match="RGB"):
        export.png_bytes(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="png_level"):
        export.export_tasks("verl", "VisualQA-v0", 1, "unused", png_level=10)


# -- the multi-turn rollout for verl's agent loop ---------------------------------------------------------


class ScriptedServer:
    """A stub of verl's `server_manager`: `generate(request_id=, prompt_ids=, sampling_params=, image_data=)`
    answering each request with the next scripted turn, tokenized."""

    def __init__(self, tokenizer, turns):
        self.tokenizer = tokenizer
        self.turns = list(turns)
        self.requests = []

    async def generate(self, request_id, *, prompt_ids, sampling_params, image_data=None, **kwargs):
        self.requests.append({"prompt_ids": list(prompt_ids), "images": list(image_data or [])})
        ids = self.tokenizer.encode(self.turns.pop(0), add_special_tokens=False) + [self.tokenizer.eos_token_id]
        return SimpleNamespace(token_ids=ids, log_probs=[-0.5] * len(ids))


@pytest.fixture(scope="module")
def tiny_processor(tiny_vlm):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_vlm)


def test_the_verl_rollout_masks_only_model_tokens_returns_tool_images_and_earns_the_env_return(tiny_processor):
    env_kwargs = {"image_size": 64, "families": ["counting"], "sandbox": "process"}
    row = next(iter_tasks("VistaTool-v0", 1, seed=2, **env_kwargs))
    env = gym.make("VistaTool-v0", **env_kwargs)
    env.reset(options=row.ref.options())
    answer = env.unwrapped.oracle_trajectory()[-1]
    turns = [
        '<think>Look closer.</think><tool_call>{"name": "zoom", "arguments": {"x": 32, "y": 32}}</tool_call>',
        answer,
    ]
    # The env's return for the same turns, stepped directly.
    env.reset(options=row.ref.options())
    expected = sum(env.step(turn)[1] for turn in turns)

    tokenizer = tiny_processor.tokenizer
    server = ScriptedServer(tokenizer, turns)
    rollout = verl.VistaToolRollout(tokenizer, tiny_processor, response_length=4096, **env_kwargs)
    extra_info = {
        "split": row.ref.split,
        "index": 0,
        "env_id": "VistaTool-v0",
        "family": row.ref.family,
        "difficulty": row.ref.difficulty,
        "task_seed": row.ref.task_seed,
    }
    result = asyncio.run(rollout.run(server, {"temperature": 1.0}, extra_info))
    rollout.close()

    assert result.reward == pytest.approx(expected) and result.is_success and result.num_turns == 2
    assert len(result.response_ids) == len(result.response_mask) == len(result.response_logprobs)
    # Model tokens are exactly the two generations, in place; the rest (tool result, new view) is masked out.
    first, second = (tokenizer.encode(t, add_special_tokens=False) + [tokenizer.eos_token_id] for t in turns)
    assert result.response_ids[: len(first)] == first and result.response_ids[-len(second) :] == second
    assert sum(result.response_mask) == len(first) + len(second)
    assert result.response_mask[len(first)] == 0 and result.response_mask[-len(second)] == 1
    # The zoomed view came back as an image, and the second request was the first's tokens plus the response so far.
    assert len(result.images) == 2 and len(server.requests[1]["images"]) == 2
    assert server.requests[1]["prompt_ids"] == result.prompt_ids + result.response_ids[: -len(second)]
    observation = tokenizer.decode(result.response_ids[len(first) : -len(second)])
    assert "<tool_response>" in observation and "Zoomed" in observation and observation.rstrip().endswith("assistant")


def test_the_verl_rollout_stops_at_the_response_budget(tiny_processor):
    env_kwargs = {"image_size": 64, "families": ["counting"], "tools": ["calculator"]}
    row = next(iter_tasks("VistaTool-v0", 1, seed=4, **env_kwargs))
    tokenizer = tiny_processor.tokenizer
    server = ScriptedServer(
        tokenizer, ['<tool_call>{"name": "calculator", "arguments": {"expression": "1+1"}}</tool_call>'] * 20
    )
    rollout = verl.VistaToolRollout(tokenizer, tiny_processor, response_length=60, **env_kwargs)
    result = asyncio.run(rollout.run(server, {}, row.ref))
    rollout.close()
    assert len(result.response_ids) == len(result.response_mask) <= 60 and not result.is_success


def test_the_verl_agent_loop_subclass_runs_the_rollout_inside_verls_own_agent_loop_base(request):
    # Runs where verl's agent-loop module imports (verl 0.9.1 and its hydra/omegaconf/tensordict deps); skipped in CI.
    agent_loop = pytest.importorskip("verl.experimental.agent_loop.agent_loop", exc_type=ImportError)
    tiny_processor = request.getfixturevalue("tiny_processor")
    from omegaconf import OmegaConf

    from vista_envs.integrations.verl_agent_loop import VistaToolAgentLoop

    assert agent_loop._agent_loop_registry["vista_tool_agent"] == {
        "_target_": "vista_envs.integrations.verl_agent_loop.VistaToolAgentLoop"
    }
    env_kwargs = {"image_size": 64, "families": ["counting"], "sandbox": "process"}
    rollout = {"prompt_length": 4096, "response_length": 1024, "custom": {"vista_env_kwargs": env_kwargs}}
    tokenizer = tiny_processor.tokenizer
    turns = [
        '<tool_call>{"name": "zoom", "arguments": {"x": 32, "y": 32}}</tool_call>',
        "<think>I count them all.</think><answer>3</answer>",
    ]
    loop = VistaToolAgentLoop(
        trainer_config=agent_loop.DictConfigWrap(OmegaConf.create({"actor_rollout_ref": {"rollout": rollout}})),
        server_manager=ScriptedServer(tokenizer, turns),
        tokenizer=tokenizer,
        processor=tiny_processor,
        dataset_cls=None,
        data_config=agent_loop.DictConfigWrap(OmegaConf.create({})),
    )
    row = next(iter_tasks("VistaTool-v0", 1, seed=6, **env_kwargs))
    extra_info = {
        "split": row.ref.split,
        "index": 0,
        "env_id": "VistaTool-v0",
        "family": row.ref.family,
        "difficulty": row.ref.difficulty,
        "task_seed": row.ref.task_seed,
    }
    output = asyncio.run(loop.run({"temperature": 1.0}, extra_info=extra_info, raw_prompt=[]))
    env = gym.make("VistaTool-v0", **env_kwargs)
    env.reset(options=row.ref.options())
    assert output.reward_score == pytest.approx(sum(env.step(turn)[1] for turn in turns))
    assert len(output.multi_modal_data["images"]) == 2 and sum(output.response_mask) < len(output.response_mask)
    batch = output.as_dict()  # verl's own conversion to the tensors its trainer reads
    assert batch["responses"].shape == batch["response_mask"].shape
