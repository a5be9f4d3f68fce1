"""RayVectorEnv: sub-envs as Ray actors behave exactly like SyncVectorEnv, and a failed actor costs one truncated
episode."""

from __future__ import annotations

import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ClosedEnvironmentError
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv

import vista_envs  # noqa: F401  (registers the env ids)
from vista_envs.vector import DEFAULT_ACTOR_OPTIONS, RESOURCE_HINTS, RayVectorEnv, make_ray_vec, replacement_seed

ray = pytest.importorskip("ray")

# Many vector envs share the 2 CPUs of the test's Ray: each actor reserves a quarter of one.
LIGHT = {"num_cpus": 0.25}
CARTPOLE_ENVS = 3


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # address="local": a Ray of its own, even if a cluster was started on this machine with `ray start`.
    ray.init(
        address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2, log_to_driver=False
    )
    # The envs defined below live in this test module, which actor processes cannot import: ship them by value.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


class SleepyEnv(gym.Env):
    """Action 1 hangs (a simulator stuck in a loop); action 0 returns at once."""

    observation_space = gym.spaces.Discrete(4)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return int(self.np_random.integers(4)), {}

    def step(self, action):
        if action == 1:
            time.sleep(60)
        return 0, 1.0, False, False, {}


class FaultyEnv(SleepyEnv):
    """Action 1 is a bug in the env's own code."""

    def step(self, action):
        if action == 1:
            raise ValueError("the env rejects action 1")
        return super().step(action)


def cartpole() -> gym.Env:
    return gym.make("CartPole-v1")


def ray_cartpoles(**kwargs) -> RayVectorEnv:
    return RayVectorEnv([cartpole] * CARTPOLE_ENVS, actor_options=LIGHT, **kwargs)


def sync_cartpoles(**kwargs) -> SyncVectorEnv:
    return SyncVectorEnv([cartpole] * CARTPOLE_ENVS, **kwargs)


@pytest.fixture(scope="module")
def cartpoles():
    envs = ray_cartpoles()
    yield envs
    envs.close()


def wait_until_dead(actor, seconds: float = 30) -> None:
    """Block until calls to ``actor`` fail (``ray.kill`` returns before the actor is gone)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            ray.get(actor.describe.remote(), timeout=seconds)
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.05)
    raise AssertionError(f"{actor} still answers {seconds} s after it was killed")


def kill(actor) -> None:
    """Kill an actor as a crash would: calls to it fail from now on."""
    ray.kill(actor)
    wait_until_dead(actor)


def assert_same(actual, expected, what: str) -> None:
    assert data_equivalence(actual, expected, exact=True), f"{what} differ:\nray:  {actual}\nsync: {expected}"


def play_side_by_side(ray_envs: gym.vector.VectorEnv, sync_envs: gym.vector.VectorEnv, actions: list, seed: int) -> int:
    """Reset and step both vector envs alike, asserting identical returns; reset ended envs by mask when autoreset
    is disabled. Returns how many episodes ended."""
    assert_same(ray_envs.reset(seed=seed), sync_envs.reset(seed=seed), "reset returns")
    ended = 0
    for step, action in enumerate(actions):
        returned = ray_envs.step(action)
        assert_same(returned, sync_envs.step(action), f"returns of step {step}")
        done = returned[2] | returned[3]
        ended += int(done.sum())
        if ray_envs.metadata["autoreset_mode"] == AutoresetMode.DISABLED and done.any():
            assert_same(
                ray_envs.reset(options={"reset_mask": done}),
                sync_envs.reset(options={"reset_mask": done}),
                f"masked reset after step {step}",
            )
    return ended


# -- same seeds, same results as SyncVectorEnv -----------------------------------------------------------


@pytest.mark.parametrize("mode", list(AutoresetMode))
def test_cartpole_matches_sync_vector_env_over_many_autoresets(mode):
    actions = list(np.random.default_rng(0).integers(0, 2, (100, CARTPOLE_ENVS)))
    ray_envs = ray_cartpoles(autoreset_mode=mode)
    try:
        assert ray_envs.metadata["autoreset_mode"] == mode
        assert play_side_by_side(ray_envs, sync_cartpoles(autoreset_mode=mode), actions, seed=42) >= 2 * CARTPOLE_ENVS
    finally:
        ray_envs.close()


def test_visual_qa_text_observations_and_nested_infos_match_sync_vector_env():
    kwargs = {"families": ["counting", "clock"], "difficulty": 2, "image_size": 64}
    ray_envs = make_ray_vec("VisualQA-v0", 2, **kwargs)
    sync_envs = gym.make_vec("VisualQA-v0", num_envs=2, **kwargs)
    try:
        assert ray_envs.actor_options == RESOURCE_HINTS["VisualQA-v0"]
        responses = ["<think>Count.</think><answer>3</answer>", "no format at all", 17]  # 17: not even a string
        actions = [(responses[step % 3], responses[(step + 1) % 3]) for step in range(6)]
        play_side_by_side(ray_envs, sync_envs, actions, seed=7)
        assert_same(ray_envs.reset(seed=[3, None]), sync_envs.reset(seed=[3, None]), "reset with a list of seeds")
        assert_same(ray_envs.call("oracle"), sync_envs.call("oracle"), "oracle responses")
    finally:
        ray_envs.close()


def test_robot_state_observations_match_sync_vector_env_across_truncations():
    kwargs = {"obs_mode": "state", "max_steps": 4}
    ray_envs = make_ray_vec("VistaRobotEE-v0", 2, actor_options=LIGHT, **kwargs)
    sync_envs = gym.make_vec("VistaRobotEE-v0", num_envs=2, **kwargs)
    try:
        actions = list(np.random.default_rng(1).uniform(-1, 1, (12, 2, 4)).astype(np.float32))
        assert play_side_by_side(ray_envs, sync_envs, actions, seed=0) >= 4
    finally:
        ray_envs.close()


def test_the_side_by_side_comparison_tells_different_seeds_apart(cartpoles):
    assert not data_equivalence(cartpoles.reset(seed=1), sync_cartpoles().reset(seed=2), exact=True)


def test_spaces_metadata_and_batches_are_those_of_sync_vector_env(cartpoles):
    sync_envs = sync_cartpoles()
    assert cartpoles.single_observation_space == sync_envs.single_observation_space
    assert cartpoles.observation_space == sync_envs.observation_space
    assert cartpoles.action_space == sync_envs.action_space
    assert cartpoles.metadata == sync_envs.metadata
    observations, _ = cartpoles.reset(seed=1)
    assert cartpoles.observation_space.contains(observations)
    assert cartpoles.np_random_seed == (1, 2, 3)


def test_returned_observations_are_copies_that_later_steps_do_not_overwrite(cartpoles):
    first, _ = cartpoles.reset(seed=0)
    kept = first.copy()
    cartpoles.step(np.ones(CARTPOLE_ENVS, dtype=np.int64))
    assert np.array_equal(first, kept)


def test_reset_options_and_seed_lists_are_checked_like_sync_vector_env(cartpoles):
    with pytest.raises(ValueError, match="length must match num_envs"):
        cartpoles.reset(seed=[1, 2])
    with pytest.raises(TypeError, match="dtype=np.bool_"):
        cartpoles.reset(options={"reset_mask": np.ones(CARTPOLE_ENVS, dtype=int)})
    with pytest.raises(ValueError, match="at least one True"):
        cartpoles.reset(options={"reset_mask": np.zeros(CARTPOLE_ENVS, dtype=bool)})


def test_stepping_an_ended_env_without_reset_is_refused_when_autoreset_is_disabled():
    envs = ray_cartpoles(autoreset_mode=AutoresetMode.DISABLED)
    try:
        envs.reset(seed=0)
        done = np.zeros(CARTPOLE_ENVS, dtype=bool)
        while not done.any():
            *_, terminated, truncated, _ = envs.step(np.ones(CARTPOLE_ENVS, dtype=np.int64))
            done = terminated | truncated
        with pytest.raises(ValueError, match="reset_mask"):
            envs.step(np.ones(CARTPOLE_ENVS, dtype=np.int64))
    finally:
        envs.close()


# -- call, get_attr, set_attr, render ----------------------------------------------------------------------


def test_set_attr_then_get_attr_round_trips_per_env_values(cartpoles):
    cartpoles.set_attr("note", ["a", "b", "c"])
    assert cartpoles.get_attr("note") == ("a", "b", "c")
    cartpoles.set_attr("note", "same")
    assert cartpoles.get_attr("note") == ("same",) * CARTPOLE_ENVS
    with pytest.raises(ValueError, match="length equal to the number of environments"):
        cartpoles.set_attr("note", ["a"])


def test_render_returns_each_sub_envs_frame_like_sync_vector_env():
    kwargs = {"families": ["counting"], "difficulty": 1, "image_size": 64, "render_mode": "rgb_array"}
    ray_envs = make_ray_vec("VisualQA-v0", 2, **kwargs)
    sync_envs = gym.make_vec("VisualQA-v0", num_envs=2, **kwargs)
    try:
        ray_envs.reset(seed=5)
        sync_envs.reset(seed=5)
        assert ray_envs.render_mode == "rgb_array"
        assert_same(ray_envs.render(), sync_envs.render(), "frames")
    finally:
        ray_envs.close()


# -- failures: killed actors, timeouts, bugs ------------------------------------------------------------------


def test_a_killed_actor_truncates_only_its_episode_and_its_replacement_starts_a_seeded_one():
    ray_envs, sync_envs = ray_cartpoles(), sync_cartpoles()
    try:
        assert_same(ray_envs.reset(seed=10), sync_envs.reset(seed=10), "reset returns")
        stay = np.zeros(CARTPOLE_ENVS, dtype=np.int64)
        before, *_ = ray_envs.step(stay)
        sync_envs.step(stay)
        old_actor = ray_envs.actors[1]
        kill(old_actor)

        observations, rewards, terminated, truncated, infos = ray_envs.step(stay)
        expected = sync_envs.step(stay)
        assert truncated.tolist() == [False, True, False] and not terminated[1] and rewards[1] == 0.0
        assert np.array_equal(observations[1], before[1])  # the last observation the episode reached
        assert infos["_actor_restarted"].tolist() == [False, True, False] and infos["actor_restarted"][1]
        assert "killed by `ray.kill`" in infos["actor_error"][1]
        for index in (0, 2):  # the other sub-envs did not notice
            assert np.array_equal(observations[index], expected[0][index]) and rewards[index] == expected[1][index]
        assert ray_envs.actors[1] != old_actor and ray_envs.restarts.tolist() == [0, 1, 0]

        observations, rewards, terminated, truncated, infos = ray_envs.step(stay)
        fresh, _ = gym.make("CartPole-v1").reset(seed=replacement_seed(11, 1))
        assert np.array_equal(observations[1], fresh) and not truncated[1] and rewards[1] == 0.0
        assert "actor_restarted" not in infos
    finally:
        ray_envs.close()


def test_an_actor_killed_before_a_reset_is_replaced_and_the_reset_retried(cartpoles):
    kill(cartpoles.actors[0])
    observations, infos = cartpoles.reset(seed=4)
    expected_observations, _ = sync_cartpoles().reset(seed=4)
    assert np.array_equal(observations, expected_observations)
    assert infos["_actor_restarted"].tolist() == [True, False, False]


def test_an_actor_lost_during_a_call_raises_and_the_next_step_reports_its_episode_truncated(cartpoles):
    cartpoles.reset(seed=0)
    kill(cartpoles.actors[2])
    with pytest.raises(RuntimeError, match="sub-env 2.*replaced"):
        cartpoles.get_attr("np_random_seed")
    _, _, _, truncated, infos = cartpoles.step(np.zeros(CARTPOLE_ENVS, dtype=np.int64))
    assert truncated.tolist() == [False, False, True]
    assert infos["_actor_restarted"].tolist() == [False, False, True]


def test_the_episode_a_dead_actor_cut_short_is_counted_by_episode_statistics(cartpoles):
    envs = gym.wrappers.vector.RecordEpisodeStatistics(cartpoles)
    envs.reset(seed=0)
    stay = np.zeros(CARTPOLE_ENVS, dtype=np.int64)
    envs.step(stay)
    kill(cartpoles.actors[0])
    *_, truncated, infos = envs.step(stay)
    assert truncated[0] and infos["_episode"].tolist() == [True, False, False]
    assert infos["episode"]["l"][0] == 2


def test_a_step_past_the_timeout_is_reported_truncated_and_the_env_recovers():
    # Every call must come back within step_timeout, the healthy sub-env's too: 3 s, not less, for a loaded machine.
    envs = RayVectorEnv([SleepyEnv] * 2, actor_options=LIGHT, step_timeout=3.0)
    try:
        envs.reset(seed=0)
        start = time.monotonic()
        _, rewards, _, truncated, infos = envs.step(np.array([0, 1]))
        assert time.monotonic() - start < 30  # not the 60 s the env sleeps (3 s, then a replacement actor starts)
        assert truncated.tolist() == [False, True] and rewards.tolist() == [1.0, 0.0]
        assert "step_timeout=3 s" in infos["actor_error"][1]
        envs.step(np.array([0, 0]))  # the replacement's first episode starts
        _, rewards, _, truncated, _ = envs.step(np.array([0, 0]))
        assert rewards.tolist() == [1.0, 1.0] and not truncated.any()
    finally:
        envs.close()


def test_an_exception_raised_by_the_env_propagates_with_its_own_type():
    envs = RayVectorEnv([FaultyEnv] * 2, actor_options=LIGHT)
    try:
        envs.reset(seed=0)
        with pytest.raises(ValueError, match="rejects action 1"):
            envs.step(np.array([0, 1]))
        assert envs.restarts.tolist() == [0, 0]
    finally:
        envs.close()


# -- construction, errors, closing -------------------------------------------------------------------------


def test_actors_the_cluster_cannot_place_are_reported_with_the_resources_they_asked_for():
    with pytest.raises(RuntimeError, match="not running after 1 s.*'num_cpus': 64"):
        RayVectorEnv([cartpole], actor_options={"num_cpus": 64}, start_timeout=1.0)


def test_an_env_that_cannot_be_built_is_reported():
    with pytest.raises(RuntimeError, match="(?s)could not be built.*`NoSuchEnv` doesn.t exist"):
        RayVectorEnv([lambda: gym.make("NoSuchEnv-v0")], actor_options=LIGHT)


def test_sub_envs_with_different_spaces_are_refused():
    with pytest.raises(RuntimeError, match="sub-env 1 has observation space"):
        RayVectorEnv([cartpole, lambda: gym.make("Pendulum-v1")], actor_options=LIGHT)


def test_bad_arguments_are_refused_before_any_actor_starts():
    with pytest.raises(ValueError, match="at least one env_fn"):
        RayVectorEnv([])
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        make_ray_vec("CartPole-v1", 0)


def test_make_ray_vec_falls_back_to_the_default_resources_for_ids_without_a_hint():
    envs = make_ray_vec("CartPole-v1", 1, actor_options=None)
    try:
        assert envs.actor_options == DEFAULT_ACTOR_OPTIONS
        assert envs.node_ids() == (ray.get_runtime_context().get_node_id(),)
    finally:
        envs.close()


def test_close_kills_the_actors_and_a_closed_env_refuses_to_step():
    envs = ray_cartpoles()
    actors = envs.actors
    envs.close()
    for actor in actors:
        wait_until_dead(actor)
    with pytest.raises(ClosedEnvironmentError):
        envs.step(np.zeros(CARTPOLE_ENVS, dtype=np.int64))


def test_importing_vista_envs_does_not_import_ray():
    code = "import sys, vista_envs, vista_envs.vector; assert 'ray' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], check=False, capture_output=True).returncode == 0


def test_without_ray_the_error_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install 'vista-envs\[distributed\]'"):
        RayVectorEnv([cartpole])


# -- the rollout engine -------------------------------------------------------------------------------------


def test_rollout_collector_records_the_same_trajectories_as_with_sync_vector_env(tmp_path):
    pytest.importorskip("torch")
    from vista_agents.policies import HFPolicy, OraclePolicy
    from vista_agents.rollout import RolloutCollector
    from vista_agents.tiny import build_tiny_vlm

    policy = HFPolicy(build_tiny_vlm(tmp_path / "tiny-vlm", seed=0, image_size=32), max_new_tokens=8, batch_size=4)
    kwargs = {"families": ["chart_arithmetic"], "image_size": 64, "tools": ["zoom", "crop", "calculator"]}
    ray_envs = make_ray_vec("VistaTool-v0", 2, actor_options=LIGHT, **kwargs)
    sync_envs = gym.make_vec("VistaTool-v0", num_envs=2, **kwargs)
    try:
        on_ray = RolloutCollector(ray_envs, policy, actor=OraclePolicy(ray_envs), record_logprobs=False).collect(
            [1, 2, 3]
        )
        on_sync = RolloutCollector(sync_envs, policy, actor=OraclePolicy(sync_envs), record_logprobs=False).collect(
            [1, 2, 3]
        )
    finally:
        ray_envs.close()
        sync_envs.close()
    assert all(trajectory.success and len(trajectory.turns) >= 2 for trajectory in on_ray)
    for ours, theirs in zip(on_ray, on_sync, strict=True):
        assert ours.turns == theirs.turns and ours.rewards == theirs.rewards
        assert (
            ours.input_ids.tolist() == theirs.input_ids.tolist()
            and ours.loss_mask.tolist() == theirs.loss_mask.tolist()
        )


def test_a_learner_with_a_ray_address_steps_its_envs_on_ray_actors():
    from vista_agents.training import EnvConfig, make_envs

    envs = make_envs(EnvConfig(env_id="VisualQA-v0", env_kwargs={"image_size": 64}, num_envs=2, ray_address="local"))
    try:
        assert isinstance(envs, RayVectorEnv)
        observations, _ = envs.reset(seed=[1, 2])
        expected, _ = SyncVectorEnv([lambda: gym.make("VisualQA-v0", image_size=64)] * 2).reset(seed=[1, 2])
        assert observations["text"] == expected["text"]
    finally:
        envs.close()
    assert not isinstance(make_envs(EnvConfig(env_id="VisualQA-v0", num_envs=1)), RayVectorEnv)


def test_ppo_with_a_ray_address_steps_its_envs_on_ray_actors(monkeypatch):
    from vista_agents.ppo import PPOConfig
    from vista_agents.training import make_envs

    monkeypatch.setitem(RESOURCE_HINTS, "CartPole-v1", {"num_cpus": 0.1})  # the other tests' actors may hold the CPUs
    envs = make_envs(PPOConfig(env_id="CartPole-v1", ray_address="local"), num_envs=2)
    try:
        assert isinstance(envs, RayVectorEnv) and envs.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    finally:
        envs.close()
