"""Served envs with session deltas: Remote-v0 and OpenEnv's own client get what a local env gives.

Every registered id is played locally and through ``Remote-v0`` (which asks for deltas) with the same
seeds and actions, over two episodes; observations, infos, rewards and episode ends must be equal.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import vista_envs

pytest.importorskip("openenv.core.env_server.http_server")
from openenv.core.generic_client import GenericEnvClient  # noqa: E402

from vista_envs.integrations.openenv_server import running_server  # noqa: E402
from vista_envs.wire_delta import DELTA_TAG, DeltaDecoder  # noqa: E402

TOOL_KWARGS = {"sandbox": "process", "image_size": 224}
ZOOM = '<tool_call>{"name": "zoom", "arguments": {"x": 60, "y": 80, "factor": 2}}</tool_call>'
SEARCH = '<tool_call>{"name": "search", "arguments": {"query": "HW-7364", "k": 1}}</tool_call>'


def _assert_same(remote, local, where="info"):
    """``remote`` is ``local`` as the wire promises: arrays bit for bit, numpy scalars as numbers."""
    if isinstance(local, np.ndarray):
        assert isinstance(remote, np.ndarray) and remote.dtype == local.dtype, where
        assert np.array_equal(remote, local), where
    elif isinstance(local, dict):
        assert isinstance(remote, dict) and list(remote) == [str(key) for key in local], where
        for key, value in local.items():
            _assert_same(remote[str(key)], value, f"{where}[{key!r}]")
    elif isinstance(local, (list, tuple)):
        assert isinstance(remote, (list, tuple)) and len(remote) == len(local), where
        for index, (item_remote, item) in enumerate(zip(remote, local)):
            _assert_same(item_remote, item, f"{where}[{index}]")
    elif isinstance(local, float) and np.isnan(local):
        assert np.isnan(remote), where
    else:
        assert remote == (local.item() if isinstance(local, np.generic) else local), where


def _actions(env: gym.Env, step: int):
    """The step's action: the oracle's where the env has one (every other step), else a turn that goes on."""
    if not isinstance(env.action_space, gym.spaces.Text):
        return env.action_space.sample()
    if step == 1 and env.spec.id == "VistaTool-v0":
        return ZOOM  # a new view: a new image in obs and info
    if step % 2 and hasattr(env.unwrapped, "oracle"):
        return env.unwrapped.oracle()
    return "<think>Let me look again.</think>"


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_remote_v0_gives_the_local_envs_observations_infos_and_rewards(env_id):
    kwargs = TOOL_KWARGS if env_id == "VistaTool-v0" else {}
    local = gym.make(env_id, **kwargs)
    local.action_space.seed(5)
    with running_server(env_id, kwargs, max_sessions=1) as server:
        remote = gym.make("vista_envs:Remote-v0", url=server.url)
        try:
            for seed in (7, 8):  # the second reset goes on in the same delta session
                _assert_same(remote.reset(seed=seed), local.reset(seed=seed), f"reset {seed}")
                for step in range(4):
                    action = _actions(local, step)
                    local_step, remote_step = local.step(action), remote.step(action)
                    _assert_same(remote_step, local_step, f"seed {seed} step {step}")
                    if local_step[2] or local_step[3]:
                        break
        finally:
            remote.close()
            local.close()


def test_openenvs_own_client_asks_for_deltas_and_rebuilds_the_full_info_with_the_decoder():
    local = gym.make("VistaTool-v0", **TOOL_KWARGS)
    with running_server("VistaTool-v0", TOOL_KWARGS, max_sessions=2) as server:
        with GenericEnvClient(base_url=server.url, message_timeout_s=60).sync() as client:
            decoder = DeltaDecoder()
            result = client.reset(seed=2, deltas=True)
            _assert_same(decoder.decode(result.observation, new_episode=True), local.reset(seed=2))
            for action in (SEARCH, ZOOM, local.unwrapped.oracle_trajectory()[-1]):
                result = client.step({"text": action})
                local_obs, local_reward, terminated, truncated, local_info = local.step(action)
                assert result.observation["info"]["tools"] == {DELTA_TAG: "same"}, "the schemas travel once"
                _assert_same(decoder.decode(result.observation, new_episode=False), (local_obs, local_info))
                assert result.reward == pytest.approx(local_reward) and result.done == (terminated or truncated)
            # Without deltas (the default), the same session's next episode is full again.
            full = client.reset(seed=2).observation
            assert full["info"]["tools"] == local.reset(seed=2)[1]["tools"]
    local.close()


def test_a_bad_deltas_parameter_is_a_protocol_error():
    with running_server("VisualQA-v0", {"image_size": 64}, max_sessions=1) as server:
        with GenericEnvClient(base_url=server.url, message_timeout_s=60).sync() as client:
            with pytest.raises(Exception, match="deltas must be true or false"):
                client.reset(seed=0, deltas="yes")
            assert client.reset(seed=0, deltas=True).observation["obs"]["text"], "the session goes on"
