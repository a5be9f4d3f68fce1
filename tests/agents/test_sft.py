"""SFT on oracle demonstrations, and the vista-agents command line that runs it."""

from __future__ import annotations

import importlib
import json

import gymnasium as gym
import pytest
import torch
from transformers import AutoModelForImageTextToText

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.cli import ALGORITHMS, build_parser, config_from_args, field_docs, main
from vista_agents.grpo import GRPOConfig
from vista_agents.policies import HFPolicy
from vista_agents.run_log import read_metrics
from vista_agents.sft import SFT_METRICS, SFTConfig, collect_demonstrations, demonstration_loss, train

from pinned_metrics import assert_matches_pinned

COUNTING = {"families": ["counting"], "difficulty": 1, "image_size": 64}


def held_out_loss(model_path, demonstrations_seed: int = 7) -> float:
    """Mean token NLL of fresh oracle demonstrations (not those trained on) under a saved model."""
    policy = HFPolicy(str(model_path), max_new_tokens=8)
    envs = gym.make_vec("VisualQA-v0", num_envs=8, **COUNTING)
    demonstrations = collect_demonstrations(policy, envs, count=16, seed=demonstrations_seed)
    tokens = sum(t.num_policy_tokens for t in demonstrations)
    with torch.no_grad():
        return float(demonstration_loss(policy.model, demonstrations, policy.tokenizer.pad_token_id, tokens))


def test_demonstrations_train_only_the_oracle_turn(tiny_vlm_32px):
    policy = HFPolicy(str(tiny_vlm_32px))
    envs = gym.make_vec("VisualQA-v0", num_envs=4, **COUNTING)
    for demonstration in collect_demonstrations(policy, envs, count=4, seed=0):
        trained = policy.tokenizer.decode(demonstration.input_ids[demonstration.loss_mask])
        assert trained == demonstration.turns[0] + "<|im_end|>"
        assert trained.startswith("<think>I count the") and demonstration.success


@pytest.fixture(scope="module")
def sft_run(one_torch_thread, tiny_vlm_32px, tmp_path_factory):
    config = SFTConfig(
        model=str(tiny_vlm_32px),
        env_kwargs=COUNTING,
        output_dir=str(tmp_path_factory.mktemp("sft")),
        num_demonstrations=96,
        num_epochs=2,
        batch_size=16,
        micro_batch_size=8,
        learning_rate=5e-3,
        max_new_tokens=8,
        eval_episodes=4,
        progress_bar=False,
    )
    return config, train(config)


def test_sft_lowers_the_loss_on_held_out_oracle_demonstrations(tiny_vlm_32px, sft_run):
    _, result = sft_run
    before, after = held_out_loss(tiny_vlm_32px), held_out_loss(result.checkpoint)
    assert after < 0.5 * before


def test_sft_logs_every_metric_at_every_step_and_the_training_loss_falls(sft_run):
    config, result = sft_run
    rows = read_metrics(config.output_dir)
    assert [row["step"] for row in rows] == list(range(config.total_steps + 1)) and config.total_steps == 12
    assert all(row.get(name) is not None for row in rows[1:] for name in SFT_METRICS)
    assert rows[-1]["loss"] < 0.5 * rows[1]["loss"]
    assert "eval/success_rate" in rows[0] and "eval/success_rate" in rows[-1]


def test_sft_checkpoint_loads_back_as_an_ordinary_model(sft_run):
    _, result = sft_run
    model = AutoModelForImageTextToText.from_pretrained(result.checkpoint)
    assert model.config.model_type == "llava"


# -- command line ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_every_config_field_has_a_documented_flag(algorithm):
    cls = getattr(importlib.import_module(ALGORITHMS[algorithm][0]), ALGORITHMS[algorithm][1])
    docs = field_docs(cls)
    help_text = (
        build_parser()
        ._subparsers._group_actions[0]
        .choices["train"]
        ._subparsers._group_actions[0]
        .choices[algorithm]
        .format_help()
    )  # noqa: SLF001
    for name in cls.__dataclass_fields__:
        assert docs.get(name), f"{cls.__name__}.{name} has no docstring"
        assert "--" + name.replace("_", "-") in help_text


def test_config_file_lists_become_the_tuples_the_config_declares(tmp_path):
    config_file = tmp_path / "grpo.toml"
    config_file.write_text("adam_betas = [0.8, 0.9]\n")
    config = config_from_args(GRPOConfig, build_parser().parse_args(["train", "grpo", "--config", str(config_file)]))
    assert config.adam_betas == (0.8, 0.9)


def test_flags_override_the_config_file_which_overrides_the_defaults(tmp_path):
    config_file = tmp_path / "grpo.json"
    config_file.write_text(json.dumps({"learning_rate": 0.5, "group_size": 4, "env_kwargs": {"families": ["clock"]}}))
    arguments = build_parser().parse_args(
        ["train", "grpo", "--config", str(config_file), "--group-size", "6", "--no-scale-rewards", "--bf16", "auto"]
    )
    config = config_from_args(GRPOConfig, arguments)
    assert (config.learning_rate, config.group_size, config.env_kwargs) == (0.5, 6, {"families": ["clock"]})
    assert config.scale_rewards is False and config.bf16 is None and config.clip_high == GRPOConfig.clip_high


def test_config_file_with_an_unknown_field_is_refused(tmp_path):
    config_file = tmp_path / "bad.json"
    config_file.write_text(json.dumps({"learning_rat": 0.5}))
    with pytest.raises(SystemExit, match="learning_rat"):
        config_from_args(GRPOConfig, build_parser().parse_args(["train", "grpo", "--config", str(config_file)]))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "visplay", "--diversity-weight", "-1"], "vista-agents train visplay: diversity_weight must be >= 0"),
        (["train", "grpo", "--group-size", "1"], "vista-agents train grpo: .*group_size"),
        (["train", "sft", "--model", "/no/such/model"], "vista-agents train sft: --model /no/such/model: no such file"),
        (["eval", "--env", "VisualQA-v0", "--model", "./no-such-model"], "vista-agents eval: --model ./no-such-model"),
    ],
)
def test_the_cli_refuses_bad_values_and_missing_models_in_one_line(argv, message):
    with pytest.raises(SystemExit, match=message):
        main(argv)


def test_cli_trains_sft_then_evaluates_the_result(tiny_vlm_32px, tmp_path, capsys):
    output = tmp_path / "run"
    main(
        [
            "train",
            "sft",
            "--env",
            "VisualQA-v0",
            "--env-kwargs",
            json.dumps(COUNTING),
            "--model",
            str(tiny_vlm_32px),
            "--output-dir",
            str(output),
            "--num-demonstrations",
            "8",
            "--batch-size",
            "8",
            "--eval-episodes",
            "2",
            "--max-new-tokens",
            "4",
            "--no-progress-bar",
        ]
    )
    checkpoint = output / "checkpoints" / "step_000001"
    assert str(checkpoint) in capsys.readouterr().out
    main(
        [
            "eval",
            "--env",
            "VisualQA-v0",
            "--env-kwargs",
            json.dumps(COUNTING),
            "--model",
            str(checkpoint),
            "--episodes",
            "3",
            "--max-new-tokens",
            "4",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 3 and summary["split"] == "test" and 0 <= summary["success_rate"] <= 1


def test_a_short_seeded_run_logs_the_pinned_metrics(sft_run):
    _, result = sft_run
    assert_matches_pinned("sft", result.metrics)
