"""The VistaViews-v0 benchmark's stage breakdown still finds every stage it times (it skips what a tree lacks, so a
renamed function would drop out of the table silently) and puts the originals back."""

import importlib

import pytest

import repo_paths

pytest.importorskip("pybullet")


@pytest.fixture(scope="module")
def bench():
    with repo_paths.benchmark_module("bench_vista_views") as module:
        yield module


def test_every_stage_names_a_function_of_this_tree(bench):
    for _, module_name, path in bench.STAGES:
        owner = importlib.import_module(module_name)
        *owners, function = path.split(".")
        for part in owners:
            owner = getattr(owner, part)
        assert function in vars(owner), f"{module_name}.{path} is gone: the breakdown would skip it"


def test_the_breakdown_times_the_stages_every_episode_runs_and_restores_the_originals(bench):
    from vista_envs.views import rig, scene

    originals = (rig.render_view, scene.sample_layout, scene.SceneBuilder.build)
    spent = bench.breakdown(2, 64, 4)
    for stage in ("seeding", "layout", "scene build", "rendering", "visibility", "questions", "marks", "answer step"):
        assert spent[stage] > 0, stage
    assert spent["rigs drawn"] >= 1.0
    assert (rig.render_view, scene.sample_layout, scene.SceneBuilder.build) == originals


def test_the_contract_floor_replays_the_recorded_episode_without_generating_one(bench):
    import gymnasium as gym

    real = gym.make("VistaViews-v0", image_size=64, n_views=3, split="test").unwrapped
    (recorded,) = bench.record_episodes(3, 64, [7])
    floor = bench.ContractFloorEnv(image_size=64, n_views=3, split="test")
    floor.episode = recorded
    obs, info = floor.reset(seed=123)  # another seed: the recorded episode is what is shown
    real.reset(seed=7)
    assert obs["text"] == real._prompt and info["messages"][1]["content"][-1]["text"] == real._prompt
    assert len(info["images"]) == len(floor.views) == 3 and obs["image"].shape == real.observation_space["image"].shape
    pose = floor.sim.client.getBasePositionAndOrientation
    real_pose = real.sim.client.getBasePositionAndOrientation
    layout_bodies = real.bodies
    floor_bodies = floor.builder.build(recorded.layout, _replayed_rng(recorded), floor.randomization)[0]
    assert [real_pose(body) for body in layout_bodies] == [pose(body) for body in floor_bodies]
    assert floor.step(floor.oracle())[4]["is_success"]
    floor.close()
    real.close()


def _replayed_rng(recorded):
    import random

    rng = random.Random(0)
    rng.setstate(recorded.look_state)
    return rng


def test_the_floor_table_reads_the_budget_left_to_generation(bench):
    def row(render_ms, floor_ms, env_ms, bare_ms=10.25):
        return {
            "raw_render_eps": 1e3 / render_ms,
            "bare_floor_eps": 1e3 / bare_ms,
            "floor_eps": 1e3 / floor_ms,
            "env_eps": 1e3 / env_ms,
        }

    # 10 ms of rendering allows 1.5 ms: a floor of 1 ms leaves 0.5 ms for a generation of 1 ms (2x too slow); a
    # floor of 2 ms leaves nothing, whatever the generation costs.
    # A generation that fits what the floor leaves needs no speed-up.
    lines = bench.floor_table(
        [(2, 128, row(10.0, 11.0, 12.0)), (2, 64, row(10.0, 12.0, 12.5)), (4, 224, row(10.0, 10.5, 10.75))]
    )
    assert lines[2] == "| 2 | 128 | 10.00 | 1.50 | 0.25 | 1.00 | 1.00 | 0.50 | 2.0x |"
    assert lines[3] == "| 2 | 64 | 10.00 | 1.50 | 0.25 | 2.00 | 0.50 | 0.00 | none can |"
    assert lines[4] == "| 4 | 224 | 10.00 | 1.50 | 0.25 | 0.50 | 0.25 | 1.00 | none (met) |"


def test_the_bare_floor_draws_the_episode_scene_and_scores_its_answer(bench):

    from vista_envs.envs.vista_views import VistaViewsEnv

    env = VistaViewsEnv(image_size=64, n_views=2, split="test")
    env.reset(seed=3)
    floor = bench.BareFloorEnv(env)
    floor.bodies, floor.cameras = bench.scene_state(env), env.cameras
    assert len(floor.bodies) == len(env.layout.objects) + len(env.layout.screens)
    obs, _ = floor.reset(seed=0)
    assert env.observation_space["image"].contains(obs["image"])
    # Its views are the env's before the background fill, the marks and the titles: the bodies' pixels (not
    # TinyRenderer's white background) are the env's, but for the few under a mark or title.
    drawn = (obs["image"] != 255).any(axis=2)
    assert drawn.sum() > 100
    assert (obs["image"][drawn] == env._image[drawn]).all(axis=1).mean() > 0.8
    right = env.oracle()
    assert floor.step(right)[4]["is_success"]
    assert not floor.step(env.scorer.format.wrap("A guess.", "nothing of the sort"))[4]["is_success"]
    env.close()
