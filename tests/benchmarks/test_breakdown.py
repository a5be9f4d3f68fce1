"""The episode-breakdown benchmark still sees every stage it times (its wrappers follow the env's internals)."""

import pytest

import vista_envs.tasks.base as task_base

import repo_paths


@pytest.fixture(scope="module")
def breakdown():
    with repo_paths.benchmark_module("bench_visual_qa_breakdown") as module:
        yield module


def test_every_stage_is_timed_and_the_originals_come_back(breakdown):
    original_split_of = task_base.split_of
    micros, samples = breakdown.stage_breakdown(size=64, episodes=24)
    assert set(micros) == set(breakdown.STAGES)
    assert all(micros[stage] > 0 for stage in ("sampling", "split check", "drawing", "conversion", "step"))
    assert samples >= 1.0  # re-samples only add to the one sample of each task
    assert task_base.split_of is original_split_of


def test_split_check_off_accepts_the_first_sample_only_inside_the_run(breakdown):
    seen = []

    def run(n):
        seen.append(task_base.split_of("counting", None))

    breakdown.split_check_off(run)(1)
    assert seen == ["train"]
    with pytest.raises(AttributeError):  # outside the run the real split check is back (and needs a real spec)
        task_base.split_of("counting", None)
