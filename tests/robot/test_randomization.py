"""Domain randomisation of the robot envs: every knob changes the image, levels and presets, seeding."""

import dataclasses
import math
import random

import gymnasium as gym
import numpy as np
import pytest

import vista_envs  # noqa: F401  (registers the ids)
from vista_envs.robot.randomization import LEVELS, Randomization, texture_files
from vista_envs.tasks.drawing import COLORS

KNOBS = tuple(knob.name for knob in dataclasses.fields(Randomization))
# The knobs a preset sets: zone_colors draws a zone off its colour name (zone_contrast weights that draw), so presets
# leave them off.
ZONE_KNOBS = ("zone_colors", "zone_contrast")
PRESET_KNOBS = tuple(knob for knob in KNOBS if knob not in ZONE_KNOBS)


def knob_alone(knob: str) -> dict[str, str]:
    """``knob`` at ``"high"``, with zone_colors on for zone_contrast, which only weights its draw."""
    return {knob: "high", "zone_colors": "high"} if knob == "zone_contrast" else {knob: "high"}


def first_image(randomization, seed: int = 3, task: str = "sort_by_color") -> tuple[np.ndarray, dict]:
    """The first camera image of an episode, and its ground-truth scene."""
    env = gym.make("VistaRobot-v0", randomization=randomization).unwrapped
    obs, _ = env.reset(seed=seed, options={"task": task})
    scene = env.scene()
    env.close()
    return obs["image"], scene


def changed_pixels(a: np.ndarray, b: np.ndarray, threshold: int = 12) -> int:
    """Pixels whose colour moved by more than ``threshold`` (0-255) in some channel."""
    return int((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > threshold).sum())


def test_there_are_ten_knobs_with_four_levels():
    assert KNOBS == (
        "lighting",
        "object_colors",
        "textures",
        "table_color",
        "object_poses",
        "camera",
        "distractors",
        "image_noise",
        "zone_colors",
        "zone_contrast",
    )
    assert LEVELS == ("none", "low", "medium", "high")


@pytest.mark.parametrize("knob", KNOBS)
def test_each_knob_visibly_changes_the_image(knob):
    task = "reach" if knob in ZONE_KNOBS else "sort_by_color"  # sort_by_color has no zone
    # zone_contrast is measured against zone_colors alone, whose draw it weights.
    plain, _ = first_image({"zone_colors": "high"} if knob == "zone_contrast" else None, task=task)
    randomised, _ = first_image(knob_alone(knob), task=task)
    # At least 200 of the 16384 pixels change clearly (an object's worth); most knobs change far more.
    assert changed_pixels(plain, randomised) >= 200, knob


@pytest.mark.parametrize("knob", [k for k in KNOBS if k != "distractors"])
def test_randomising_the_looks_keeps_the_task_layout(knob):
    task = "push_to_region" if knob in ZONE_KNOBS else "sort_by_color"
    _, plain = first_image(None, task=task)
    _, randomised = first_image(knob_alone(knob), task=task)
    place = {o["name"]: o["position"][:2] for o in plain["objects"]}
    moved = {o["name"]: o["position"][:2] for o in randomised["objects"]}
    assert moved.keys() == place.keys()
    for name, position in place.items():
        assert moved[name] == pytest.approx(position, abs=1e-3), name


def test_distractors_add_objects_that_the_instruction_does_not_name():
    _, plain = first_image(None)
    _, cluttered = first_image({"distractors": "high"})
    names = {o["name"] for o in plain["objects"]}
    extra = [o for o in cluttered["objects"] if o["name"] not in names]
    assert len(extra) == 3 and all(o["kind"] == "object" for o in extra)
    sort_colors = {o["color"] for o in plain["objects"] if o["shape"] == "tray"}
    assert not {o["color"] for o in extra} & sort_colors  # "every red object" stays true


def test_the_seed_fixes_the_randomised_look():
    first, _ = first_image("high", seed=8)
    again, _ = first_image("high", seed=8)
    other, _ = first_image("high", seed=9)
    assert np.array_equal(first, again)
    assert changed_pixels(first, other) > 1000


def test_presets_set_every_knob_and_dicts_set_only_theirs():
    assert Randomization.preset("medium") == Randomization(**{knob: "medium" for knob in PRESET_KNOBS})
    assert Randomization.preset("high").zone_colors == Randomization.preset("high").zone_contrast == "none"
    assert Randomization.from_any({"camera": "low"}) == Randomization(camera="low")
    assert Randomization.from_any(None) == Randomization() == Randomization.from_any("none")
    assert Randomization.from_any("high").n_distractors == 3


def test_invalid_levels_and_knobs_raise_clear_errors():
    with pytest.raises(ValueError, match="level must be one of"):
        Randomization(lighting="blinding")
    with pytest.raises(ValueError, match="unknown randomization knobs"):
        Randomization.from_any({"gravity": "high"})
    with pytest.raises(TypeError, match="randomization must be"):
        Randomization.from_any(3)


@pytest.mark.parametrize("level", LEVELS)
def test_jittered_colours_stay_nearest_their_own_name(level):
    randomization = Randomization(object_colors=level)
    rng = random.Random(0)
    for name in COLORS:
        for _ in range(200):
            rgb = [255 * c for c in randomization.object_rgba(rng, name)[:3]]
            assert min(COLORS, key=lambda other: math.dist(rgb, COLORS[other])) == name


def test_camera_and_lighting_levels_grow_in_spread():
    spreads = []
    for level in LEVELS:
        rng = random.Random(0)
        styles = [Randomization(camera=level, lighting=level).style(rng) for _ in range(50)]
        spreads.append(
            (
                np.std([s.camera.eye for s in styles], axis=0).sum(),
                np.std([s.lighting.direction for s in styles], axis=0).sum(),
            )
        )
    assert spreads[0] == pytest.approx((0.0, 0.0), abs=1e-12)
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(spreads, spreads[1:]))


def test_procedural_textures_are_files_pybullet_can_load():
    paths = texture_files()
    assert len(paths) == 6 and len(set(paths)) == 6
    env = gym.make("VistaRobotEE-v0", randomization={"textures": "high"}).unwrapped
    env.reset(seed=0)  # loads them
    env.close()


@pytest.mark.parametrize("noise", LEVELS)
def test_a_style_whose_knobs_draw_nothing_is_the_defaults_shared_and_leaves_the_rng_alone(noise):
    from vista_envs.robot.randomization import _NOISE_SIGMA, DEFAULT_CAMERA, DEFAULT_LIGHTING, DEFAULT_TABLE_RGBA

    randomization = Randomization(image_noise=noise, object_colors="high", distractors="low")
    rng, untouched = random.Random(5), random.Random(5)
    style = randomization.style(rng)
    assert (style.camera, style.lighting, style.table_rgba) == (DEFAULT_CAMERA, DEFAULT_LIGHTING, DEFAULT_TABLE_RGBA)
    assert style.noise_sigma == _NOISE_SIGMA[LEVELS.index(noise)]
    assert randomization.style(rng) is style  # built once
    assert rng.random() == untouched.random()
    drawn = Randomization(image_noise=noise, lighting="low").style(rng)  # a drawing knob: a style of its own
    assert drawn.lighting != DEFAULT_LIGHTING and drawn.noise_sigma == style.noise_sigma
