"""Reading ``reset(options=...)``: every bad option of the envs that read them with ``choose_task`` raises an error
that names the env's id."""

import gymnasium as gym
import numpy as np
import pytest

import vista_envs  # noqa: F401  (registers the ids)
from vista_envs.envs.task_sampler import choose_task

# The envs whose reset reads its options with choose_task(..., env_id=...).
ENV_IDS = ["VistaVideo-v0", "VistaGUI-v0", "VistaViews-v0"]


def make(env_id):
    if "Views" in env_id:
        pytest.importorskip("pybullet")
        return gym.make(env_id, image_size=64)
    return gym.make(env_id)


def choose(options, env_id="Some-v0"):
    return choose_task(
        np.random.default_rng(0),
        options,
        names=("a", "b"),
        difficulty_range=(1, 5),
        default_split="train",
        env_id=env_id,
    )


@pytest.mark.parametrize("difficulty", [0, 6, 2.5, "2", None, True])
def test_a_bad_difficulty_option_names_the_env(difficulty):
    with pytest.raises(ValueError, match=r"^Some-v0: difficulty must be an int in \[1, 5\]"):
        choose({"difficulty": difficulty})


@pytest.mark.parametrize("options", ["difficulty=2", 5, ["split"], [("split", "train")]])
def test_options_that_are_not_a_mapping_are_refused_with_a_type_error_naming_the_env(options):
    with pytest.raises(TypeError, match=r"^Some-v0: reset options must be a dict or None, got "):
        choose(options)


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize(
    ("options", "error"),
    [({"difficulty": 9}, ValueError), ({"difficulty": 2.0}, ValueError), ("difficulty=2", TypeError), (7, TypeError)],
)
def test_the_newest_envs_name_themselves_for_any_bad_reset_options(env_id, options, error):
    env = make(env_id)
    with pytest.raises(error, match=f"^{env_id}: "):
        env.reset(seed=0, options=options)
    env.close()
