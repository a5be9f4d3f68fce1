"""UnicodeText: membership, flattening and AsyncVectorEnv shared memory for any Unicode string."""

import multiprocessing as mp

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.spaces.utils import flatdim, flatten, flatten_space, unflatten
from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

from vista_envs.spaces import UnicodeText

SAMPLES = ["", "hello", "三个圆 ✓", "emoji 😀 and \x00 nul", "\ud800 lone surrogate", "x" * 64]


@pytest.mark.parametrize("text", SAMPLES)
def test_any_unicode_string_within_length_is_a_member(text):
    assert UnicodeText(64).contains(text)


def test_non_strings_and_overlong_strings_are_not_members():
    space = UnicodeText(8, min_length=1)
    assert not space.contains(b"bytes")
    assert not space.contains(None)
    assert not space.contains(42)
    assert not space.contains("x" * 9)
    assert not space.contains("")


def test_samples_are_members_and_seeded_sampling_repeats():
    first, second = UnicodeText(32, seed=3), UnicodeText(32, seed=3)
    samples = [first.sample() for _ in range(20)]
    assert samples == [second.sample() for _ in range(20)]
    assert all(first.contains(s) for s in samples)


@pytest.mark.parametrize("text", SAMPLES)
def test_flatten_round_trips(text):
    space = UnicodeText(64)
    flat = flatten(space, text)
    assert flat.shape == (flatdim(space),)
    assert unflatten(space, flat) == text
    assert flatten_space(space).contains(flat)  # every code point, not only the sampling charset


def test_flattened_observations_of_a_text_env_lie_in_the_flattened_space():
    env = gym.wrappers.FlattenObservation(gym.make("VisualQA-v0", image_size=64))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def test_repr_evaluates_to_an_equal_space():
    space = UnicodeText(8, min_length=2)
    assert eval(repr(space)) == space  # noqa: S307 (a fixed, trusted string)


def test_shared_memory_round_trips_several_slots():
    space = UnicodeText(64)
    memory = create_shared_memory(space, n=len(SAMPLES), ctx=mp.get_context("spawn"))
    for index, text in enumerate(SAMPLES):
        write_to_shared_memory(space, index, text, memory)
    assert tuple(read_from_shared_memory(space, memory, n=len(SAMPLES))) == tuple(SAMPLES)


def test_shared_memory_reads_stay_live_and_deepcopy_snapshots():
    # AsyncVectorEnv reads its buffer once and expects later writes to show through.
    import copy

    space = UnicodeText(16)
    memory = create_shared_memory(space, n=2, ctx=mp.get_context("spawn"))
    batch = read_from_shared_memory(space, memory, n=2)
    write_to_shared_memory(space, 0, "first", memory)
    assert batch[0] == "first"
    snapshot = copy.deepcopy(batch)
    write_to_shared_memory(space, 0, "second", memory)
    assert batch[0] == "second" and snapshot == ("first", "")


def test_equality_depends_on_bounds_only():
    assert UnicodeText(10) == UnicodeText(10)
    assert UnicodeText(10) != UnicodeText(11)
    assert UnicodeText(10) != UnicodeText(10, min_length=2)
    assert len({UnicodeText(10), UnicodeText(10)}) == 1
    assert np.array_equal(flatten(UnicodeText(3), "ab"), np.array([98, 99, 0], dtype=np.int32))
