"""PPO: GAE, the clipped losses and the reward scaler against hand-computed values; the actor-critic networks;
short runs that update, log, resume and handle Gymnasium's next-step autoreset; the config and its flags."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shutil
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from safetensors.torch import load_file

from vista_agents.cli import add_config_arguments, config_from_args
from vista_agents.networks import ActorCritic, RunningMeanStd
from vista_agents.ppo import PPO_METRICS, PPOConfig, RewardScaler, compute_gae, load_agent, ppo_loss, train, value_loss
from vista_agents.run_log import read_metrics
from vista_envs.spaces import UnicodeText

from pinned_metrics import assert_matches_pinned

# -- GAE -------------------------------------------------------------------------------------------

GAMMA, LAMBDA = 0.9, 0.8
# Three envs side by side over three steps, the same rewards and values: the second episode ends at step 1
# by termination, the third by truncation (step 2 is then the step after the end, whose value is the
# value of the episode's final observation).
REWARDS = torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 0.0, 0.0]])
VALUES = torch.tensor([[0.5, 0.5, 0.5], [1.0, 1.0, 1.0], [1.5, 1.5, 1.5]])
TERMINATED = torch.tensor([[False, False, False], [False, True, False], [False, False, False]])
TRUNCATED = torch.tensor([[False, False, False], [False, False, True], [False, False, False]])
NEXT_VALUE = torch.tensor([2.0, 2.0, 2.0])


def gae() -> tuple[torch.Tensor, torch.Tensor]:
    return compute_gae(REWARDS, VALUES, TERMINATED, TRUNCATED, NEXT_VALUE, GAMMA, LAMBDA)


def test_gae_of_a_running_episode_discounts_the_td_errors_and_bootstraps_from_the_next_value():
    advantages, returns = gae()
    # delta_2 = 3 + 0.9 * 2 - 1.5 = 3.3; delta_1 = 2 + 0.9 * 1.5 - 1 = 2.35; delta_0 = 1 + 0.9 * 1 - 0.5 = 1.4
    a2 = 3.3
    a1 = 2.35 + GAMMA * LAMBDA * a2
    a0 = 1.4 + GAMMA * LAMBDA * a1
    torch.testing.assert_close(advantages[:, 0], torch.tensor([a0, a1, a2]))
    torch.testing.assert_close(returns[:, 0], torch.tensor([a0 + 0.5, a1 + 1.0, a2 + 1.5]))


def test_gae_does_not_bootstrap_a_terminated_episode():
    advantages, _ = gae()
    # delta_1 = 2 - V(s_1) = 1: nothing follows a termination.
    assert advantages[1, 1].item() == pytest.approx(1.0)
    assert advantages[0, 1].item() == pytest.approx(1.4 + GAMMA * LAMBDA * 1.0)


def test_gae_bootstraps_a_truncated_episode_from_the_value_of_its_final_observation_but_stops_the_sum_there():
    advantages, _ = gae()
    # delta_1 = 2 + 0.9 * V(final observation) - 1 = 2.35, and the next episode's errors do not leak in.
    assert advantages[1, 2].item() == pytest.approx(2.35)
    assert advantages[0, 2].item() == pytest.approx(1.4 + GAMMA * LAMBDA * 2.35)


def test_gae_with_lambda_one_and_zero_values_is_the_discounted_return():
    rewards = torch.tensor([[1.0], [0.0], [2.0]])
    advantages, returns = compute_gae(
        rewards,
        torch.zeros(3, 1),
        torch.zeros(3, 1, dtype=torch.bool),
        torch.zeros(3, 1, dtype=torch.bool),
        torch.tensor([4.0]),
        0.5,
        1.0,
    )
    torch.testing.assert_close(returns[:, 0], torch.tensor([1 + 0.25 * 2 + 0.125 * 4, 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4]))
    torch.testing.assert_close(advantages, returns)


# -- losses ----------------------------------------------------------------------------------------


def test_clipped_value_loss_takes_the_larger_error_of_the_new_and_the_clipped_value():
    new = torch.tensor([2.0, 0.0], requires_grad=True)
    old, returns = torch.tensor([1.0, 1.0]), torch.tensor([3.0, 0.5])
    loss = value_loss(new, old, returns, clip_coef=0.2, clip=True)
    # Sample 0: (2 - 3)^2 = 1 vs (1.2 - 3)^2 = 3.24; sample 1: (0 - 0.5)^2 = 0.25 vs (0.8 - 0.5)^2 = 0.09.
    assert loss.item() == pytest.approx(0.5 * (3.24 + 0.25) / 2)
    loss.backward()
    # The clipped term wins for sample 0 and does not depend on the new value: no gradient there.
    torch.testing.assert_close(new.grad, torch.tensor([0.0, 0.5 * 2 * (0.0 - 0.5) / 2]))


def test_unclipped_value_loss_is_half_the_mean_squared_error():
    loss = value_loss(
        torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0]), torch.tensor([3.0, 0.5]), clip_coef=0.2, clip=False
    )
    assert loss.item() == pytest.approx(0.5 * (1.0 + 0.25) / 2)


def test_ppo_loss_clips_the_ratio_adds_the_weighted_value_loss_and_subtracts_the_entropy_bonus():
    ratios = torch.tensor([1.5, 0.5, 1.1])
    new_logprobs = ratios.log().requires_grad_()
    advantages = torch.tensor([1.0, -1.0, 1.0])
    returns = torch.tensor([1.0, 2.0, 3.0])
    values = torch.tensor([1.0, 2.0, 2.0])  # the third is off by 1: squared error 1
    loss, stats = ppo_loss(
        new_logprobs,
        torch.zeros(3),
        advantages,
        values,
        values,
        returns,
        torch.tensor([1.0, 2.0, 3.0]),
        clip_coef=0.2,
        clip_vloss=True,
        vf_coef=0.5,
        ent_coef=0.01,
    )
    # -min(r A, clip(r, 0.8, 1.2) A) = -1.2, 0.8, -1.1
    policy = (-1.2 + 0.8 - 1.1) / 3
    value = 0.5 * (0 + 0 + 1) / 3
    assert stats["policy_loss"] == pytest.approx(policy)
    assert stats["value_loss"] == pytest.approx(value)
    assert stats["entropy"] == pytest.approx(2.0)
    assert loss.item() == pytest.approx(policy + 0.5 * value - 0.01 * 2.0)
    assert stats["clip_fraction"] == pytest.approx(2 / 3)
    assert stats["approx_kl"] == pytest.approx(float(((ratios - 1) - ratios.log()).mean()))
    assert stats["old_approx_kl"] == pytest.approx(float(-ratios.log().mean()))
    loss.backward()
    # Only the unclipped sample moves the policy: d(-r A / 3)/d(log r) = -1.1 / 3.
    torch.testing.assert_close(new_logprobs.grad, torch.tensor([0.0, 0.0, -1.1 / 3]))


def test_reward_scaler_divides_by_the_std_of_the_discounted_return_and_skips_invalid_steps():
    scaler = RewardScaler(num_envs=2, gamma=0.5)
    scaler(np.array([1.0, 3.0]), valid=np.array([True, True]), ended=np.array([False, True]))
    # Env 1 ended: its next step is the reset step (invalid), which must not count.
    scaled = scaler(np.array([2.0, 0.0]), valid=np.array([True, False]), ended=np.array([False, False]))
    reference = RunningMeanStd(())
    reference.update(torch.tensor([1.0, 3.0]))
    reference.update(torch.tensor([0.5 * 1.0 + 2.0]))
    np.testing.assert_allclose(scaled, np.array([2.0, 0.0]) / math.sqrt(float(reference.var) + 1e-8))
    assert scaler.returns.tolist() == [2.5, 0.0]


def test_running_mean_std_matches_numpy_over_several_batches():
    statistics = RunningMeanStd((2,), epsilon=0.0)
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(30, 2))
    for batch in np.split(data, [7, 19]):
        statistics.update(torch.as_tensor(batch))
    np.testing.assert_allclose(statistics.mean.numpy(), data.mean(axis=0))
    np.testing.assert_allclose(statistics.var.numpy(), data.var(axis=0))


# -- networks --------------------------------------------------------------------------------------

ROBOT_LIKE = spaces.Dict(
    {
        "image": spaces.Box(0, 255, (64, 64, 3), np.uint8),
        "text": UnicodeText(64),
        "state": spaces.Box(-10.0, 10.0, (8,), np.float32),
    }
)


def test_dict_observation_with_image_and_state_builds_a_cnn_and_ignores_the_text():
    with pytest.warns(UserWarning, match=r"ignores the text observation entries \['text'\]"):
        agent = ActorCritic(ROBOT_LIKE, spaces.Box(-1.0, 1.0, (4,), np.float32))
    assert list(agent.cnns) == ["image"] and agent.vector_keys == ["state"] and agent.ignored_keys == ["text"]
    observations = {
        "image": np.random.default_rng(0).integers(0, 256, (5, 64, 64, 3), dtype=np.uint8),
        "text": ("an instruction",) * 5,
        "state": np.zeros((5, 8), np.float32),
    }
    inputs = agent.preprocess(observations)
    action, log_prob, entropy, value = agent.get_action_and_value(inputs)
    assert action.shape == (5, 4) and log_prob.shape == entropy.shape == value.shape == (5,)
    assert agent.act(observations).shape == (5, 4)
    # The image matters: another image gives another value.
    other = dict(observations, image=255 - observations["image"])
    assert not torch.allclose(agent.get_value(agent.preprocess(other)), value)


def test_plain_box_observations_and_discrete_actions_give_a_categorical_policy():
    agent = ActorCritic(spaces.Box(-1.0, 1.0, (3,), np.float32), spaces.Discrete(5))
    inputs = agent.preprocess(np.zeros((4, 3), np.float32))
    action, log_prob, entropy, _ = agent.get_action_and_value(inputs)
    assert action.dtype == torch.long and ((action >= 0) & (action < 5)).all()
    # Orthogonal init with gain 0.01 on the policy output: nearly uniform at first.
    assert entropy.mean().item() == pytest.approx(math.log(5), abs=1e-3) and log_prob.shape == (4,)


def test_observation_statistics_update_only_when_asked_and_standardise_vectors():
    agent = ActorCritic(spaces.Box(-100.0, 100.0, (2,), np.float32), spaces.Box(-1.0, 1.0, (1,), np.float32))
    batch = np.array([[10.0, -5.0], [30.0, -5.0]], np.float32)
    agent.preprocess(batch)
    assert agent.observation_rms.mean.tolist() == [0.0, 0.0]
    vector = agent.preprocess(batch, update_statistics=True)["vector"]
    torch.testing.assert_close(vector[:, 0], torch.tensor([-1.0, 1.0]), atol=1e-3, rtol=0)
    assert vector[:, 1].abs().max() < 0.01  # a constant entry maps to about 0 (the prior count of 1e-4 leaves a trace)


@pytest.mark.parametrize(
    "observation_space, action_space, error, message",
    [
        (spaces.Discrete(3), spaces.Discrete(2), TypeError, "cannot read"),
        (spaces.Dict({"text": UnicodeText(8)}), spaces.Discrete(2), TypeError, "no image or vector"),
        (spaces.Box(-1.0, 1.0, (3,)), spaces.MultiDiscrete([2, 2]), TypeError, "Box and Discrete action spaces"),
        (spaces.Box(-1.0, 1.0, (3,)), spaces.Box(-1.0, 1.0, (2, 2)), TypeError, "one dimension"),
        (spaces.Box(0, 255, (16, 16, 3), np.uint8), spaces.Discrete(2), ValueError, "at least 36x36"),
    ],
    ids=["discrete-observation", "text-only", "multi-discrete-action", "matrix-action", "tiny-image"],
)
def test_unreadable_spaces_are_refused_with_a_clear_error(observation_space, action_space, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(error, match=message):
            ActorCritic(observation_space, action_space)


# -- config and flags ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"vectorization_mode": "threads"}, "vectorization_mode must be"),
        ({"num_envs": 2, "num_steps": 8, "total_timesteps": 15}, "less than one iteration"),
        ({"num_envs": 2, "num_steps": 8, "num_minibatches": 17}, "exceeds the samples"),
        ({"gae_lambda": 1.5}, "must lie in"),
        ({"update_epochs": 0}, "update_epochs must be >= 1"),
        ({"hidden_sizes": (64, 0)}, "hidden_sizes"),
    ],
)
def test_bad_configs_raise_clear_errors(overrides, message):
    with pytest.raises(ValueError, match=message):
        PPOConfig(**overrides)


def test_every_config_field_is_a_documented_flag_and_flags_override_the_config_file(tmp_path):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, PPOConfig)
    help_text = parser.format_help()
    for name in PPOConfig.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in help_text, name
    config_file = tmp_path / "ppo.json"
    config_file.write_text(json.dumps({"learning_rate": 0.001, "num_envs": 4, "hidden_sizes": [32, 32]}))
    arguments = parser.parse_args(
        [
            "--config",
            str(config_file),
            "--env",
            "Pendulum-v1",
            "--env-kwargs",
            '{"g": 9.81}',
            "--num-envs",
            "2",
            "--no-anneal-lr",
            "--hidden-sizes",
            "128",
            "256",
        ]
    )
    config = config_from_args(PPOConfig, arguments)
    assert (config.env_id, config.env_kwargs, config.learning_rate, config.num_envs) == (
        "Pendulum-v1",
        {"g": 9.81},
        0.001,
        2,
    )
    assert config.anneal_lr is False and config.hidden_sizes == (128, 256) and config.clip_coef == PPOConfig.clip_coef


# -- short runs ------------------------------------------------------------------------------------

# Reach with episodes of 4 steps: too short to succeed from the home pose, so every episode is truncated.
SHORT_REACH = {"tasks": ["reach"], "obs_mode": "state", "max_steps": 4}


def run_config(output_dir: Path, **overrides) -> PPOConfig:
    settings = {
        "env_kwargs": SHORT_REACH,
        "output_dir": str(output_dir),
        "num_envs": 2,
        "num_steps": 16,
        "total_timesteps": 64,
        "num_minibatches": 4,
        "update_epochs": 2,
        "learning_rate": 1e-2,
        "eval_episodes": 2,
        "checkpoint_every": 1,
        "progress_bar": False,
    }
    settings.update(overrides)
    return PPOConfig(**settings)


@pytest.fixture(scope="module")
def two_iteration_run(tmp_path_factory):
    config = run_config(tmp_path_factory.mktemp("ppo"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the text entry of the observation is ignored, as it says
        return config, train(config)


def test_two_iterations_change_every_weight(two_iteration_run):
    config, result = two_iteration_run
    first = load_file(Path(config.output_dir) / "checkpoints" / "step_000001" / "model.safetensors")
    second = load_file(result.checkpoint / "model.safetensors")
    parameters = [name for name in second if "rms" not in name]
    assert parameters and all(not torch.equal(first[name], second[name]) for name in parameters)
    assert not torch.equal(first["observation_rms.mean"], second["observation_rms.mean"])


def test_every_iteration_logs_every_metric_with_a_value(two_iteration_run):
    config, result = two_iteration_run
    rows = read_metrics(config.output_dir)
    assert rows == result.metrics and [row["step"] for row in rows] == [0, 1, 2]
    for row in rows[1:]:
        missing = [name for name in PPO_METRICS if row.get(name) is None]
        assert not missing, f"iteration {row['step']} lacks {missing}"
    assert {"eval/success_rate", "eval/return", "eval/length"} <= set(rows[0]) and "eval/success_rate" in rows[-1]
    assert rows[-1]["global_step"] == 64 and rows[-1]["learning_rate"] == pytest.approx(0.5e-2)
    assert (Path(config.output_dir) / "metrics.csv").read_text().splitlines()[0].startswith("step,")


def test_steps_after_an_episode_end_are_left_out_of_the_update(two_iteration_run):
    _, result = two_iteration_run
    first = result.metrics[1]
    # Per env: 4 steps of an episode, then the step whose action the vector env ignores while it resets:
    # steps 4, 9 and 14 of the 16 are left out, and three 4-step episodes end.
    assert first["valid_fraction"] == pytest.approx(13 / 16)
    assert first["episodes"] == 3 * 2 and first["episode_length"] == 4 and first["success_rate"] == 0


def test_resuming_from_a_checkpoint_reproduces_the_metrics(two_iteration_run, tmp_path):
    config, result = two_iteration_run
    # In a copy: the module's run stays as it was for the other tests, whatever order they run in.
    copy = tmp_path / "run"
    shutil.copytree(config.output_dir, copy)
    shutil.rmtree(copy / result.checkpoint.relative_to(config.output_dir))  # forget iteration 2: redone from 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = train(dataclasses.replace(config, output_dir=str(copy), resume=True))
    assert [row["step"] for row in resumed.metrics] == [0, 1, 2]
    original, again = result.metrics[-1], resumed.metrics[-1]
    for name in (*PPO_METRICS, "eval/return"):
        if not name.startswith("time/") and name != "steps_per_s":
            assert again[name] == pytest.approx(original[name], rel=1e-6, abs=1e-9), name


def test_a_checkpoint_loads_back_as_a_policy_for_its_env(two_iteration_run):
    config, _ = two_iteration_run
    checkpoint = Path(config.output_dir) / "checkpoints" / "step_000001"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent = load_agent(checkpoint)
    assert agent.observation_rms.count > 16  # the observation statistics come back with the weights
    envs = gym.make_vec("VistaRobotEE-v0", num_envs=1, vectorization_mode="sync", **SHORT_REACH)
    observations, _ = envs.reset(seed=0)
    actions = agent.act(observations)
    assert actions.shape == (1, 4) and np.array_equal(actions, agent.act(observations))  # deterministic: the mean
    envs.close()


def test_discrete_actions_and_envs_without_splits_or_success_train(tmp_path):
    config = PPOConfig(
        env_id="CartPole-v1",
        output_dir=str(tmp_path),
        num_envs=2,
        num_steps=32,
        total_timesteps=64,
        num_minibatches=2,
        update_epochs=1,
        eval_episodes=2,
        eval_split="",
        progress_bar=False,
    )
    rows = train(config).metrics
    assert rows[-1]["eval/return"] > 0 and rows[-1]["eval/success_rate"] is None  # CartPole reports no success
    assert_matches_pinned("ppo", rows)  # a short seeded run: a refactor must not change its metrics
    assert rows[-1]["action_std"] is None and rows[-1]["policy_loss"] is not None


@pytest.mark.slow
@pytest.mark.timeout(900)  # ~80k robot steps: 2-3 CPU min alone, past pytest's 300 s on a 2-core machine under load
def test_ppo_learns_to_reach_from_the_state_vector(tmp_path):
    config = PPOConfig(
        env_kwargs={"tasks": ["reach"], "obs_mode": "state", "max_steps": 50},
        output_dir=str(tmp_path),
        num_envs=8,
        num_steps=128,
        total_timesteps=8 * 128 * 80,  # reach is learned at 40-80k steps (benchmarks/RESULTS.md, SB3 vs PPO)
        num_minibatches=8,
        eval_every=0,
        eval_episodes=32,
        progress_bar=False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = train(config).metrics
    assert rows[0]["eval/success_rate"] <= 0.1 and rows[-1]["eval/success_rate"] >= 0.8


def test_gymnasium_vector_envs_reset_on_the_step_after_an_episode_ends():
    """What the rollout relies on (Gymnasium 1.x's default autoreset): the final observation comes with the
    end, and the next step ignores the action, resets, and reports reward 0."""
    envs = gym.make_vec(
        "CartPole-v1",
        num_envs=1,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP},
    )
    envs.reset(seed=0)
    ended = False
    while not ended:
        observations, _, terminated, truncated, _ = envs.step(np.array([0]))
        ended = bool(terminated[0] or truncated[0])
    assert abs(observations[0, 2]) > 0.2  # the pole has fallen: the final observation
    observations, reward, terminated, truncated, _ = envs.step(np.array([0]))
    assert reward[0] == 0 and not terminated[0] and not truncated[0] and abs(observations[0, 2]) < 0.05


def test_a_discrete_space_not_starting_at_0_is_refused():
    from gymnasium import spaces

    from vista_agents.networks import ActorCritic

    with pytest.raises(TypeError, match="start at 0"):
        ActorCritic(spaces.Box(-1, 1, (3,), np.float32), spaces.Discrete(3, start=-1))


def test_a_launched_multi_process_run_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as accelerate launch and torchrun set it
    with pytest.raises(RuntimeError, match="one process"):
        train(PPOConfig(env_id="CartPole-v1", output_dir=str(tmp_path)))


def test_a_run_gives_the_caller_its_torch_thread_count_back_however_it_ends(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the text entry of the observation is ignored, as it says
            train(run_config(tmp_path / "finished", total_timesteps=32, torch_threads=1))
        assert torch.get_num_threads() == 3
        with pytest.raises(gym.error.Error):  # fails after the threads were set: its envs cannot be made
            train(run_config(tmp_path / "failed", env_id="NoSuchEnv-v0", torch_threads=1))
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(threads)
