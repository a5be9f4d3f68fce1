"""Remote-v0: a served env stepped over the network as a Gymnasium env (vista_envs/envs/remote.py)."""

from __future__ import annotations

import socket

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env, data_equivalence

pytest.importorskip("openenv.core.env_server.http_server")
from vista_envs.envs.remote import RemoteEnvError  # noqa: E402
from vista_envs.integrations.openenv_server import running_server  # noqa: E402

TOOL_KWARGS = {"sandbox": "process", "image_size": 96}


@pytest.fixture(scope="module")
def qa_server():
    with running_server("VisualQA-v0", {"image_size": 64}, max_sessions=8) as server:
        yield server


@pytest.fixture(scope="module")
def tool_server():
    with running_server("VistaTool-v0", TOOL_KWARGS, max_sessions=4) as server:
        yield server


def _remote(server):
    return gym.make("vista_envs:Remote-v0", url=server.url)


def test_remote_env_has_the_served_envs_spaces_and_plays_the_same_episode(tool_server):
    local = gym.make("VistaTool-v0", **TOOL_KWARGS)
    remote = _remote(tool_server)
    try:
        assert remote.observation_space == local.observation_space and remote.action_space == local.action_space
        local_first, remote_first = local.reset(seed=21), remote.reset(seed=21)
        assert data_equivalence(remote_first[0], local_first[0])
        assert remote_first[1]["messages"] == local_first[1]["messages"]
        for turn in local.unwrapped.oracle_trajectory():
            local_step, remote_step = local.step(turn), remote.step(turn)
            assert data_equivalence(remote_step[0], local_step[0])
            assert remote_step[1:4] == pytest.approx(local_step[1:4])
            assert remote_step[4]["reward_terms"] == pytest.approx(local_step[4]["reward_terms"])
        assert remote_step[2] and remote_step[4]["is_success"] == local_step[4]["is_success"]
        assert all(isinstance(image, np.ndarray) and image.dtype == np.uint8 for image in remote_step[4]["images"])
    finally:
        local.close()
        remote.close()


def test_remote_env_passes_gymnasiums_env_checker(qa_server):
    env = _remote(qa_server)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_remote_envs_step_in_vector_envs(qa_server, vector_cls):
    url = qa_server.url
    fns = [lambda: gym.make("vista_envs:Remote-v0", url=url) for _ in range(2)]
    kwargs = {"context": "spawn"} if vector_cls is gym.vector.AsyncVectorEnv else {}
    envs = vector_cls(fns, **kwargs)
    try:
        obs, _ = envs.reset(seed=[4, 5])
        local = gym.make("VisualQA-v0", image_size=64)
        assert np.array_equal(obs["image"][1], local.reset(seed=5)[0]["image"])
        _, rewards, terminated, truncated, _ = envs.step(["<answer>1</answer>", "<answer>2</answer>"])
        assert rewards.shape == (2,) and terminated.all() and not truncated.any()
    finally:
        envs.close()


def test_remote_env_with_array_actions_steps_a_served_robot(tmp_path):
    pytest.importorskip("pybullet")
    local = gym.make("VistaRobotEE-v0", obs_mode="state")
    with running_server("VistaRobotEE-v0", {"obs_mode": "state"}, max_sessions=1) as server:
        remote = _remote(server)
        try:
            assert remote.action_space == local.action_space and isinstance(remote.action_space, gym.spaces.Box)
            check_env(remote.unwrapped, skip_render_check=True)
            local.reset(seed=1)
            remote.reset(seed=1)
            action = np.full(local.action_space.shape, 0.5, dtype=local.action_space.dtype)
            local_step, remote_step = local.step(action), remote.step(action)
            assert data_equivalence(remote_step[0], local_step[0]) and remote_step[1] == pytest.approx(local_step[1])
        finally:
            remote.close()
            local.close()


def test_misuse_raises_clear_errors(qa_server):
    env = _remote(qa_server)
    try:
        with pytest.raises(gym.error.ResetNeeded):  # Gymnasium's own order check, before any request
            env.step("<answer>1</answer>")
        with pytest.raises(RemoteEnvError, match=r"EXECUTION_ERROR.*reset\(\)"):
            env.unwrapped.step("<answer>1</answer>")  # the served env's check, its message passed on
        env.reset(seed=0)
        with pytest.raises(TypeError, match="must be a str"):
            env.step(42)
        # The episode is untouched by the refused action.
        assert env.step("<answer>1</answer>")[2]
    finally:
        env.close()


def test_a_server_at_capacity_refuses_a_remote_env_by_name():
    with running_server("VisualQA-v0", {"image_size": 64}, max_sessions=1) as server:
        first = _remote(server)
        try:
            first.reset(seed=0)
            second = _remote(server)
            with pytest.raises(RemoteEnvError, match="CAPACITY_REACHED"):
                second.reset(seed=0)
            second.close()
        finally:
            first.close()


def test_no_server_at_the_url_is_a_connection_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: nothing answers there
        with pytest.raises(ConnectionError, match="schema"):
            gym.make("vista_envs:Remote-v0", url=f"http://127.0.0.1:{port}", connect_timeout_s=2)
