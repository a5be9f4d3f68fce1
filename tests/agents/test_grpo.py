"""GRPO: the loss maths against hand-computed values, and short CPU runs that learn, log and resume."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vista_agents.grpo import GRPO_METRICS, GRPOConfig, task_seeds, train
from vista_agents.losses import aggregate, clipped_surrogate, group_advantages, kl_penalty, zero_variance_groups
from vista_agents.run_log import read_metrics

from pinned_metrics import assert_matches_pinned

# -- advantages ----------------------------------------------------------------------------------


def test_group_advantages_are_rewards_standardised_within_each_group():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [3.0, 1.0, 2.0, 2.0]])
    advantages = group_advantages(rewards, eps=0.0)
    # Group 0: mean 0.5, unbiased std sqrt(1/3); group 1: mean 2, std sqrt(2/3).
    expected = torch.tensor([[0.5, -0.5, -0.5, 0.5], [1.0, -1.0, 0.0, 0.0]]) / torch.tensor(
        [[math.sqrt(1 / 3)], [math.sqrt(2 / 3)]]
    )
    torch.testing.assert_close(advantages, expected)


def test_group_advantages_without_scaling_subtract_the_group_mean_only():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [3.0, 1.0, 2.0, 2.0]])
    torch.testing.assert_close(
        group_advantages(rewards, scale=False), torch.tensor([[0.5, -0.5, -0.5, 0.5], [1.0, -1.0, 0.0, 0.0]])
    )


def test_a_group_with_equal_rewards_gets_zero_advantage_and_is_flagged_for_filtering():
    rewards = torch.tensor([[0.4, 0.4, 0.4], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert group_advantages(rewards)[0].abs().max() == 0
    assert zero_variance_groups(rewards).tolist() == [True, False, True]


# -- clipping ------------------------------------------------------------------------------------


def test_clipped_surrogate_matches_hand_computed_values_with_asymmetric_bounds():
    ratios = torch.tensor([[1.5, 0.5, 0.5, 1.5, 1.1, 0.9]])
    advantages = torch.tensor([[1.0, -1.0, 1.0, -1.0, 1.0, -1.0]])
    logprobs = torch.log(ratios).requires_grad_()
    loss, clipped_low, clipped_high = clipped_surrogate(
        logprobs, torch.zeros_like(ratios), advantages, clip_low=0.2, clip_high=0.28
    )
    # -min(r A, clip(r, 0.8, 1.28) A): clipped at 1.28 and 0.8 where the advantage pushes past the bound.
    torch.testing.assert_close(loss.detach(), torch.tensor([[-1.28, 0.8, -0.5, 1.5, -1.1, 0.9]]))
    assert clipped_high.tolist() == [[True, False, False, False, False, False]]
    assert clipped_low.tolist() == [[False, True, False, False, False, False]]
    loss.sum().backward()
    # Clipped tokens get no gradient; the others get d(-r A)/d(log r) = -r A.
    torch.testing.assert_close(logprobs.grad, torch.tensor([[0.0, 0.0, -0.5, 1.5, -1.1, 0.9]]))


# -- KL estimators -------------------------------------------------------------------------------


def test_kl_estimators_match_their_formulas_at_a_known_ratio():
    # pi_theta = 0.5, pi_ref = 0.25: log rho = log(pi_ref / pi_theta) = -log 2.
    logprobs, ref_logprobs = torch.log(torch.tensor([0.5])), torch.log(torch.tensor([0.25]))
    log2 = math.log(2)
    assert kl_penalty(logprobs, ref_logprobs, "k1").item() == pytest.approx(log2)
    assert kl_penalty(logprobs, ref_logprobs, "k2").item() == pytest.approx(0.5 * log2**2)
    assert kl_penalty(logprobs, ref_logprobs, "k3").item() == pytest.approx(0.5 + log2 - 1)
    assert kl_penalty(logprobs, ref_logprobs, "low_var_kl").item() == pytest.approx(0.5 + log2 - 1)


def test_k3_is_an_unbiased_kl_estimate_and_low_var_kl_caps_outliers():
    policy = torch.tensor([0.7, 0.2, 0.1])
    reference = torch.tensor([0.2, 0.3, 0.5])
    exact = float((policy * (policy / reference).log()).sum())
    log_policy, log_reference = policy.log(), reference.log()
    for estimator in ("k1", "k3"):  # expectations under pi_theta of the per-token estimates
        assert float((policy * kl_penalty(log_policy, log_reference, estimator)).sum()) == pytest.approx(
            exact, rel=1e-5
        )
    assert kl_penalty(torch.tensor([-40.0]), torch.tensor([0.0]), "low_var_kl").item() == 10.0
    assert kl_penalty(torch.tensor([-40.0]), torch.tensor([0.0]), "k3").item() > 1e15


def test_unknown_kl_estimator_is_rejected():
    with pytest.raises(ValueError, match="unknown KL estimator"):
        kl_penalty(torch.zeros(1), torch.zeros(1), "k4")  # type: ignore[arg-type]


# -- loss aggregation ----------------------------------------------------------------------------

PER_TOKEN = torch.tensor([[1.0, 2.0, 3.0, 9.0], [4.0, 9.0, 9.0, 9.0]])
MASK = torch.tensor([[True, True, True, False], [True, False, False, False]])


def test_token_mean_weighs_every_token_equally():
    assert aggregate(PER_TOKEN, MASK, "token_mean").item() == pytest.approx((1 + 2 + 3 + 4) / 4)


def test_sequence_mean_weighs_every_sequence_equally():
    assert aggregate(PER_TOKEN, MASK, "sequence_mean").item() == pytest.approx(((1 + 2 + 3) / 3 + 4 / 1) / 2)


def test_dr_grpo_divides_by_sequences_times_the_token_budget():
    assert aggregate(PER_TOKEN, MASK, "dr_grpo", max_tokens=8).item() == pytest.approx(10 / (2 * 8))


@pytest.mark.parametrize("mode", ["token_mean", "sequence_mean", "dr_grpo"])
def test_micro_batch_shares_add_up_to_the_full_batch_loss(mode):
    totals = {"total_sequences": 2, "total_tokens": 4, "max_tokens": 8}
    shares = [aggregate(PER_TOKEN[i : i + 1], MASK[i : i + 1], mode, **totals) for i in range(2)]
    assert sum(shares).item() == pytest.approx(aggregate(PER_TOKEN, MASK, mode, max_tokens=8).item())


def test_masked_tokens_do_not_change_any_aggregate():
    changed = PER_TOKEN.masked_fill(~MASK, -1000.0)
    for mode in ("token_mean", "sequence_mean", "dr_grpo"):
        assert (
            aggregate(changed, MASK, mode, max_tokens=8).item() == aggregate(PER_TOKEN, MASK, mode, max_tokens=8).item()
        )


# -- config ----------------------------------------------------------------------------------------


def test_config_rejects_unknown_choices_and_groups_of_one():
    with pytest.raises(ValueError, match="loss_aggregation"):
        GRPOConfig(loss_aggregation="mean")
    with pytest.raises(ValueError, match="kl_estimator"):
        GRPOConfig(kl_estimator="k9")
    with pytest.raises(ValueError, match="group_size"):
        GRPOConfig(group_size=1)


def test_task_seeds_depend_on_the_step_only_through_the_seed_and_step():
    assert task_seeds(0, 3, 4) == task_seeds(0, 3, 4)
    assert task_seeds(0, 3, 4) != task_seeds(0, 4, 4) != task_seeds(1, 3, 4)


# -- short runs on the tiny model --------------------------------------------------------------------


def run_config(model, output_dir, **overrides) -> GRPOConfig:
    """Two small GRPO steps on counting; a tight length budget makes the random model's rewards vary."""
    settings = dict(
        model=str(model),
        env_kwargs={
            "families": ["counting"],
            "difficulty": 1,
            "image_size": 64,
            "length_budget": 16,
            "length_weight": 1.0,
        },
        output_dir=str(output_dir),
        total_steps=2,
        num_tasks=2,
        group_size=4,
        num_envs=8,
        max_new_tokens=12,
        micro_batch_size=3,
        num_minibatches=2,
        num_epochs=2,
        kl_coef=0.05,
        learning_rate=1e-3,
        eval_episodes=4,
        checkpoint_every=1,
        progress_bar=False,
    )
    settings.update(overrides)
    return GRPOConfig(**settings)


@pytest.fixture(scope="module")
def two_step_run(one_torch_thread, tiny_vlm_32px, tmp_path_factory):
    config = run_config(tiny_vlm_32px, tmp_path_factory.mktemp("grpo"))
    return config, train(config)


def test_two_grpo_steps_change_the_weights(tiny_vlm_32px, two_step_run):
    _, result = two_step_run
    before, after = load_file(tiny_vlm_32px / "model.safetensors"), load_file(result.checkpoint / "model.safetensors")
    changed = [name for name in before if not torch.equal(before[name], after[name])]
    assert len(changed) > len(before) // 2


def test_every_step_logs_every_metric_with_a_value(two_step_run):
    config, result = two_step_run
    rows = read_metrics(config.output_dir)
    assert rows == result.metrics
    assert [row["step"] for row in rows] == [0, 1, 2]
    for row in rows[1:]:
        missing = [name for name in GRPO_METRICS if row.get(name) is None]
        assert not missing, f"step {row['step']} lacks {missing}"
        assert row["trained_sequences"] > 0
        assert row["kl"] >= 0 and 0 <= row["clip_low_fraction"] <= 1
    assert "eval/success_rate" in rows[0] and "eval/success_rate" in rows[-1]
    assert (Path(config.output_dir) / "metrics.csv").read_text().splitlines()[0].startswith("step,")


def test_resuming_from_a_checkpoint_reproduces_the_metrics(two_step_run, tmp_path):
    config, result = two_step_run
    # In a copy: the module's run stays as it was for the other tests, whatever order they run in.
    copy = tmp_path / "run"
    shutil.copytree(config.output_dir, copy)
    shutil.rmtree(copy / result.checkpoint.relative_to(config.output_dir))  # forget step 2: it is redone from step 1
    resumed = train(dataclasses.replace(config, output_dir=str(copy), resume=True))
    original, again = result.metrics[-1], resumed.metrics[-1]
    assert [row["step"] for row in resumed.metrics] == [0, 1, 2]
    for name in GRPO_METRICS:
        if not name.startswith("time/") and name != "completions_per_s":
            assert again[name] == pytest.approx(original[name], rel=1e-5, abs=1e-7), name
    assert again["eval/reward"] == pytest.approx(original["eval/reward"])
    assert json.loads((copy / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 2


def test_without_zero_variance_filtering_every_episode_is_trained_on(tiny_vlm_32px, tmp_path):
    config = run_config(
        tiny_vlm_32px,
        tmp_path,
        total_steps=1,
        filter_zero_variance_groups=False,
        kl_coef=0.0,
        num_epochs=1,
        num_minibatches=1,
        loss_aggregation="dr_grpo",
        scale_rewards=False,
        checkpoint_every=0,
    )
    row = train(config).metrics[-1]
    assert row["trained_sequences"] == 8
    assert row["kl"] == 0 and row["ratio"] == pytest.approx(1.0)  # one on-policy step: the ratio is exactly 1


@pytest.mark.skipif(importlib.util.find_spec("peft") is None, reason="LoRA needs the peft package")
def test_lora_trains_only_the_adapter_and_uses_the_base_model_as_kl_reference(tiny_vlm_32px, tmp_path):
    config = run_config(tiny_vlm_32px, tmp_path, total_steps=1, lora_rank=4, learning_rate=1e-2, checkpoint_every=0)
    result = train(config)
    assert (result.checkpoint / "adapter_model.safetensors").exists()
    assert not (result.checkpoint / "model.safetensors").exists()
    adapter = load_file(result.checkpoint / "adapter_model.safetensors")
    assert any("lora_B" in name and value.abs().max() > 0 for name, value in adapter.items())  # B starts at 0
    assert result.metrics[-1]["kl"] is not None


def is_text(name: str) -> bool:
    return "language_model" in name or name.startswith("lm_head")


@pytest.mark.parametrize(
    ("flag", "frozen", "trained"),
    [
        ("freeze_vision_tower", lambda name: "vision_tower" in name, ("language_model", "projector")),
        ("freeze_language_model", is_text, ("vision_tower", "projector")),
    ],
)
def test_a_frozen_tower_keeps_its_weights_while_the_rest_trains(tiny_vlm_32px, tmp_path, flag, frozen, trained):
    config = run_config(tiny_vlm_32px, tmp_path, total_steps=1, learning_rate=1e-2, **{flag: True})
    config = dataclasses.replace(config, kl_coef=0.0, num_epochs=1, num_minibatches=1, checkpoint_every=0)
    result = train(config)
    assert result.metrics[-1]["trained_sequences"] > 0
    before = load_file(Path(tiny_vlm_32px) / "model.safetensors")
    after = load_file(result.checkpoint / "model.safetensors")
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    kept = {name for name in before if frozen(name)}
    assert kept and not changed & kept
    assert all(any(part in name for name in changed) for part in trained)


def test_the_learning_rate_follows_its_schedule_across_a_resume(tiny_vlm_32px, tmp_path):
    config = run_config(tiny_vlm_32px, tmp_path, learning_rate=1e-3, lr_scheduler="linear", checkpoint_every=1)
    config = dataclasses.replace(config, eval_every=0, eval_episodes=1)
    result = train(config)
    assert [row["learning_rate"] for row in result.metrics[1:]] == pytest.approx([1e-3, 5e-4])
    shutil.rmtree(result.checkpoint)  # forget step 2: the resumed run redoes it at step 2's rate, not the peak
    resumed = train(dataclasses.replace(config, resume=True))
    assert resumed.metrics[-1]["learning_rate"] == pytest.approx(5e-4)


def test_freezing_a_model_without_a_vision_tower_or_language_model_is_refused():
    from vista_agents.training import language_model, vision_tower

    with pytest.raises(ValueError, match="no vision_tower or visual"):
        vision_tower(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no language_model"):
        language_model(torch.nn.Linear(2, 2))


def test_a_short_seeded_run_logs_the_pinned_metrics(two_step_run):
    _, result = two_step_run
    assert_matches_pinned("grpo", result.metrics)
