"""Stable-Baselines3, as its users run it: its env checker and PPO with its default policies on VistaRobotEE-v0's
array observation modes, with no wrapper of ours (SB3 adds its own Monitor, DummyVecEnv and VecTransposeImage)."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

import vista_envs  # noqa: F401  (registers the ids)

sb3 = pytest.importorskip("stable_baselines3")
check_env = pytest.importorskip("stable_baselines3.common.env_checker").check_env

# obs_mode -> the SB3 default policy that reads it
POLICIES = {"state": "MultiInputPolicy", "rgb": "MultiInputPolicy", "both": "MultiInputPolicy", "pixels": "CnnPolicy"}


def make(obs_mode: str) -> gym.Env:
    # 64 px: the smallest image the envs make, above the 36 px that SB3's NatureCNN needs.
    return gym.make("VistaRobotEE-v0", obs_mode=obs_mode, image_size=64, tasks=["reach"], max_steps=50)


@pytest.mark.parametrize("obs_mode", list(POLICIES))
def test_sb3_check_env_passes_without_warnings(obs_mode):
    env = make(obs_mode)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env, warn=True)
    finally:
        env.close()


def test_sb3_check_env_refuses_the_text_bearing_vlm_mode_which_is_for_language_agents():
    env = make("vlm")
    try:
        with pytest.raises(AssertionError):
            check_env(env, warn=False)
    finally:
        env.close()


@pytest.fixture
def one_torch_thread():
    """One thread: SB3's small networks run fastest so, and the test suite shares the machine's cores."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("obs_mode", list(POLICIES))
def test_sb3_ppo_with_its_default_policy_trains_and_acts_without_a_wrapper(
    obs_mode, one_torch_thread, tmp_path, monkeypatch
):
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path))  # SB3's default logger otherwise leaves a folder in /tmp per run
    env = make(obs_mode)
    try:
        model = sb3.PPO(POLICIES[obs_mode], env, n_steps=100, batch_size=50, n_epochs=1, seed=0, device="cpu")
        model.learn(total_timesteps=200)
        assert model.num_timesteps == 200
        obs, _ = env.reset(seed=1)
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(np.asarray(action, dtype=np.float32).clip(-1, 1))
        _, _, _, _, info = env.step(action)
        assert (
            "error" not in info or "clipped" in info["error"]
        )  # a Gaussian mean may leave [-1, 1]; nothing else is wrong
    finally:
        env.close()
