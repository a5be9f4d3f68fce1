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
