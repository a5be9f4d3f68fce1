import math

import numpy as np
import pytest

from vista_agents.config import ModelConfig, VLMRunConfig


def test_a_constant_schedule_keeps_the_learning_rate():
    config = ModelConfig(learning_rate=0.1)
    assert [config.learning_rate_at(step, 10) for step in (0, 5, 9)] == [0.1, 0.1, 0.1]


def test_linear_and_cosine_schedules_fall_from_the_peak_towards_zero():
    linear = ModelConfig(learning_rate=0.1, lr_scheduler="linear")
    assert [linear.learning_rate_at(step, 4) for step in range(4)] == pytest.approx([0.1, 0.075, 0.05, 0.025])
    cosine = ModelConfig(learning_rate=0.1, lr_scheduler="cosine")
    assert cosine.learning_rate_at(0, 4) == pytest.approx(0.1)
    assert cosine.learning_rate_at(2, 4) == pytest.approx(0.05)  # half-way: half the peak
    assert cosine.learning_rate_at(3, 4) == pytest.approx(0.05 * (1 + math.cos(math.pi * 0.75)))


def test_warmup_rises_to_the_peak_before_the_schedule_starts():
    config = ModelConfig(learning_rate=0.1, lr_scheduler="linear", warmup_steps=3)
    rates = [config.learning_rate_at(step, 7) for step in range(7)]
    assert rates[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert rates[3:] == pytest.approx([0.1, 0.075, 0.05, 0.025])


@pytest.mark.parametrize(
    ("settings", "message"),
    [({"lr_scheduler": "step"}, "lr_scheduler must be one of"), ({"warmup_steps": -1}, "warmup_steps must be >= 0")],
)
def test_a_bad_schedule_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        ModelConfig(**settings)


@pytest.mark.parametrize(
    ("settings", "error", "message"),
    [
        ({"num_envs": True}, TypeError, "num_envs must be an int, got True"),
        ({"seed": 1.5}, TypeError, "seed must be an int, got 1.5"),
        ({"micro_batch_size": "4"}, TypeError, "micro_batch_size must be an int, got '4'"),
        ({"learning_rate": "1e-3"}, TypeError, "learning_rate must be a number"),
        ({"learning_rate": float("nan")}, ValueError, "learning_rate must be finite"),
        ({"max_grad_norm": float("inf")}, ValueError, "max_grad_norm must be finite"),
        ({"adam_betas": (0.9, float("nan"))}, ValueError, "adam_betas must be finite"),
        ({"adam_betas": ("0.9", "0.99")}, TypeError, "adam_betas must be a tuple of numbers"),
        ({"resume": 1}, TypeError, "resume must be true or false, got 1"),
        ({"bf16": "no"}, TypeError, "bf16 must be true or false or None"),
        ({"env_kwargs": ["counting"]}, TypeError, "env_kwargs must be a dict"),
        ({"output_dir": None}, TypeError, "output_dir must be a string"),
    ],
)
def test_a_value_of_the_wrong_type_or_a_nan_is_refused_naming_its_field(settings, error, message):
    with pytest.raises(error, match=message):
        VLMRunConfig(**settings)


def test_every_trainer_config_checks_the_types_of_its_own_fields_and_takes_lists_for_tuples():
    from vista_agents.ppo import PPOConfig
    from vista_agents.visplay_trainer import VisPlayConfig

    with pytest.raises(ValueError, match="gamma must be finite"):
        PPOConfig(gamma=float("nan"))
    with pytest.raises(TypeError, match="samples must be an int"):
        VisPlayConfig(samples=2.5)
    assert PPOConfig(hidden_sizes=[32, 32]).hidden_sizes == (32, 32)
    assert VisPlayConfig(confidence_band=[0.1, 0.9]).confidence_band == (0.1, 0.9)
    assert VLMRunConfig(num_envs=np.int64(2), learning_rate=np.float32(0.5)).num_envs == 2  # numbers from a sweep


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"eval_every": -1}, "eval_every must be >= 0, got -1"),  # each silently meant 0 (no periodic evaluation,
        ({"checkpoint_every": -5}, "checkpoint_every must be >= 0, got -5"),  # no checkpoint before the end)
        ({"max_grad_norm": -1.0}, "max_grad_norm must be >= 0"),  # silently no clipping
        ({"resume": True, "overwrite": True}, "resume and overwrite exclude each other"),  # resuming silently won
        ({"seed": -1}, r"seed must lie in \[0, 2\*\*32\)"),
        ({"output_dir": ""}, "output_dir must name a folder"),
        ({"device": "gpu"}, "device must be 'auto' or a torch device"),
        ({"eval_episodes": 0}, "eval_episodes must be >= 1"),
        ({"max_new_tokens": 0}, "max_new_tokens must be >= 1"),
        ({"generation_batch_size": 0}, "generation_batch_size must be >= 1"),
        ({"micro_batch_size": 0}, "micro_batch_size must be >= 1"),
        ({"eval_temperature": -0.5}, "eval_temperature must be >= 0"),
        ({"learning_rate": -1e-5}, "learning_rate must be >= 0"),
        ({"weight_decay": -0.1}, "weight_decay must be >= 0"),
        ({"lora_rank": -8}, "lora_rank must be >= 0"),
        ({"lora_dropout": 1.0}, r"lora_dropout in \[0, 1\)"),
        ({"adam_betas": (0.9, 1.5)}, r"adam_betas must be two numbers in \[0, 1\)"),
        ({"adam_betas": (0.9,)}, r"adam_betas must be two numbers in \[0, 1\)"),
    ],
)
def test_a_value_out_of_its_range_is_refused_naming_its_field(settings, message):
    with pytest.raises(ValueError, match=message):
        VLMRunConfig(**settings)


def test_each_trainer_refuses_its_own_fields_out_of_range_naming_them():
    from vista_agents.grpo import GRPOConfig
    from vista_agents.ppo import PPOConfig
    from vista_agents.sft import SFTConfig
    from vista_agents.visplay_trainer import VisPlayConfig

    for settings, message in [
        ({"top_p": 0.0}, r"top_p in \(0, 1\]"),
        ({"temperature": -1.0}, "temperature must be >= 0"),
        ({"num_tasks": 0}, "num_tasks must be >= 1, got 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            GRPOConfig(**settings)
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        SFTConfig(batch_size=0)
    for name in ("vf_coef", "max_grad_norm", "target_kl", "cpu_time_limit_s", "torch_threads"):
        with pytest.raises(ValueError, match=f"{name} must be >= 0"):
            PPOConfig(**{name: -1})
    with pytest.raises(ValueError, match="warm_start_learning_rate must be >= 0"):
        VisPlayConfig(warm_start_learning_rate=-1.0)
    assert VisPlayConfig(eval_episodes=0).eval_episodes == 0  # VisPlay's "no evaluation"


@pytest.mark.parametrize(
    ("argv", "config_file", "message"),
    [
        (["train", "grpo", "--learning-rate", "nan"], None, "vista-agents train grpo: learning_rate must be finite"),
        (["train", "sft", "--checkpoint-every", "-1"], None, "vista-agents train sft: checkpoint_every must be >= 0"),
        (["train", "ppo", "--device", "gpu"], None, "vista-agents train ppo: device must be 'auto' or a torch device"),
        (["train", "ppo"], '{"num_envs": "4"}', "vista-agents train ppo: num_envs must be an int, got '4'"),
        (["train", "sft"], '{"resume": "yes"}', "vista-agents train sft: resume must be true or false"),
        (["train", "visplay"], "{not json", r"vista-agents train visplay: \S+config.json: Expecting"),
        (["train", "grpo", "--config", "no-such-config.json"], None, "vista-agents train grpo: .*no-such-config.json"),
    ],
)
def test_the_cli_refuses_a_bad_value_or_config_file_in_one_line(argv, config_file, message, tmp_path):
    from vista_agents.cli import main

    if config_file is not None:
        (tmp_path / "config.json").write_text(config_file)
        argv = [*argv, "--config", str(tmp_path / "config.json")]
    with pytest.raises(SystemExit, match=message) as exit_:
        main(argv)
    assert isinstance(exit_.value.code, str) and "\n" not in exit_.value.code  # one line, exit status 1
