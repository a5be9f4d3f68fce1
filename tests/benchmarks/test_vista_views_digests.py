"""The VistaViews-v0 digest script tells episodes apart and gives the same digest to the same episode."""

import gymnasium as gym
import pytest

import repo_paths

pytest.importorskip("pybullet")


@pytest.fixture(scope="module")
def digests():
    with repo_paths.benchmark_module("vista_views_digests") as module:
        yield module


def test_an_episode_digest_repeats_with_its_seed_and_changes_with_the_seed_the_action_or_the_size(digests):
    small = gym.make("VistaViews-v0", image_size=64, n_views=2)
    large = gym.make("VistaViews-v0", image_size=96, n_views=2)
    try:

        def oracle(bare):
            return [bare.oracle()]

        first = digests.episode(small, {"seed": 3}, oracle)
        assert digests.episode(small, {"seed": 3}, oracle) == first
        assert digests.episode(small, {"seed": 4}, oracle) != first
        assert digests.episode(small, {"seed": 3}, lambda bare: ["<answer>no</answer>"]) != first
        assert digests.episode(large, {"seed": 3}, oracle) != first
    finally:
        small.close()
        large.close()
