"""The zone_colors randomisation knob: random training zone colours (high: the whole RGB cube) that never come near
the test colours."""

import colorsys
import math
import random

import gymnasium as gym
import numpy as np
import pytest

import vista_envs  # noqa: F401  (registers the ids)
from vista_envs.robot.objects import SEEN_COLORS, UNSEEN_COLORS
from vista_envs.robot.randomization import (
    DEFAULT_TABLE_RGBA,
    HELD_OUT_DISTANCE,
    LEVELS,
    Randomization,
    held_out_color,
)
from vista_envs.tasks.drawing import COLORS


def reach_episode(randomization, seed: int, split: str = "train", task: str = "reach"):
    """The first image of an episode and the zone's named colour and rendered RGBA."""
    env = gym.make("VistaRobotEE-v0", obs_mode="rgb", image_size=64, randomization=randomization).unwrapped
    obs, _ = env.reset(seed=seed, options={"task": task, "split": split})
    zones = [obj for obj in env.objects.values() if obj.spec.kind == "zone"]
    rgba = [tuple(env.sim.client.getVisualShapeData(z.body)[0][7]) for z in zones]
    names = [z.spec.color for z in zones]
    env.close()
    return obs["image"], names, rgba


def hue_degrees(rgb) -> float:
    return 360.0 * colorsys.rgb_to_hsv(*(c / 255.0 for c in rgb))[0]


def test_held_out_colour_refuses_the_neighbourhood_of_purple_and_pink_only():
    assert HELD_OUT_DISTANCE == 60.0
    assert held_out_color(COLORS["purple"])
    assert held_out_color(COLORS["pink"])
    assert held_out_color((150.0, 70.0, 220.0))  # a brighter purple, 33 from purple
    assert held_out_color((245.0, 150.0, 230.0))  # a paler pink, 45 from pink
    assert held_out_color((140.0, 60.0, 249.0))  # 59 from purple: just inside
    assert not held_out_color((140.0, 60.0, 251.0))  # 61 from purple: just outside
    assert not held_out_color((200.0, 40.0, 200.0))  # magenta, between the two hues: drawn now
    assert not held_out_color((70.0, 30.0, 95.0))  # a dark purple (purple's hue, 122 away)
    assert not held_out_color((245.0, 130.0, 120.0))  # a pale red, 70 from pink
    for seen in SEEN_COLORS:  # every training colour is allowed
        assert not held_out_color(COLORS[seen]), seen


@pytest.mark.parametrize("level", LEVELS[1:])
def test_randomised_zone_colours_never_come_near_the_test_colours(level):
    randomization = Randomization(zone_colors=level)
    rng = random.Random(0)
    for _ in range(2000):
        rgb = [255 * c for c in randomization.object_rgba(rng, rng.choice(SEEN_COLORS), "zone")[:3]]
        assert min(math.dist(rgb, COLORS[c]) for c in ("purple", "pink")) >= HELD_OUT_DISTANCE


def test_high_zone_colours_reach_the_test_hues_but_not_the_test_colours():
    rng = random.Random(3)
    randomization = Randomization(zone_colors="high")
    drawn = [[255 * c for c in randomization.object_rgba(rng, "red", "zone")[:3]] for _ in range(5000)]
    near_purple_hue = [rgb for rgb in drawn if abs(hue_degrees(rgb) - hue_degrees(COLORS["purple"])) < 10]
    assert len(near_purple_hue) > 50  # the hue is not held out, only the neighbourhood of the colour
    nearest = min(math.dist(rgb, COLORS["purple"]) for rgb in drawn)
    assert HELD_OUT_DISTANCE <= nearest < HELD_OUT_DISTANCE + 15  # the range comes close around it


def test_high_zone_colours_spread_over_the_allowed_hues_and_low_ones_stay_near_the_name():
    rng = random.Random(1)
    high = [Randomization(zone_colors="high").object_rgba(rng, "green", "zone")[:3] for _ in range(500)]
    hues = [hue_degrees([255 * c for c in rgb]) for rgb in high]
    assert min(hues) < 30 and max(hues) > 200  # green is at 129
    low = [Randomization(zone_colors="low").object_rgba(rng, "green", "zone")[:3] for _ in range(500)]
    assert all(abs(hue_degrees([255 * c for c in rgb]) - 129) <= 21 for rgb in low)


def test_high_zone_colours_fill_the_rgb_cube_light_pastel_and_dark_corners_included():
    rng = random.Random(5)
    randomization = Randomization(zone_colors="high")
    drawn = np.array([[255 * c for c in randomization.object_rgba(rng, "blue", "zone")[:3]] for _ in range(4000)])
    octants = {tuple(corner) for corner in (drawn >= 128).astype(int)}
    assert len(octants) == 8  # every corner of the cube, not one hue's neighbourhood
    # Light, near-white colours and near-blacks: the earlier HSV draw (saturation and value >= 0.3) had neither.
    assert (drawn.min(axis=1) > 200).sum() > 10
    assert (drawn.max(axis=1) < 60).sum() > 10
    # Pink is surrounded on its light side too: draws just outside its held-out ball, as light as it or lighter.
    pink = np.array(COLORS["pink"])
    distance = np.linalg.norm(drawn - pink, axis=1)
    near = drawn[(distance >= HELD_OUT_DISTANCE) & (distance < HELD_OUT_DISTANCE + 30)]
    assert (near.sum(axis=1) >= pink.sum()).sum() > 5
    assert distance.min() >= HELD_OUT_DISTANCE


def test_the_same_seed_gives_the_same_zone_colours_and_another_seed_others():
    def draws(seed: int) -> list:
        rng = random.Random(seed)
        return [Randomization(zone_colors="high").object_rgba(rng, "gray", "zone") for _ in range(20)]

    assert draws(7) == draws(7)
    assert draws(7) != draws(8)


@pytest.mark.parametrize("color", SEEN_COLORS)
def test_with_the_knob_off_a_zone_keeps_its_named_colour(color):
    for randomization in (Randomization(), Randomization(zone_colors="none"), Randomization.preset("high")):
        rng = random.Random(0)
        rgba = randomization.object_rgba(rng, color, "zone")
        if randomization.object_colors == "none":
            assert [round(255 * c) for c in rgba[:3]] == list(COLORS[color])
        else:  # a preset jitters every colour but keeps it nearest its own name (zone_colors stays off)
            rgb = [255 * c for c in rgba[:3]]
            assert min(COLORS, key=lambda name: math.dist(rgb, COLORS[name])) == color


def test_only_zones_named_with_seen_colours_are_recoloured():
    randomization = Randomization(zone_colors="high")
    for color in UNSEEN_COLORS:
        rgba = randomization.object_rgba(random.Random(0), color, "zone")
        assert [round(255 * c) for c in rgba[:3]] == list(COLORS[color])
    cube = randomization.object_rgba(random.Random(0), "red", "object")
    assert [round(255 * c) for c in cube[:3]] == list(COLORS["red"])


def test_the_knob_draws_training_zones_off_their_colour_and_the_seed_fixes_the_draw():
    plain, names, plain_rgba = reach_episode(None, seed=4)
    randomised, same_names, rgba = reach_episode({"zone_colors": "high"}, seed=4)
    again, _, rgba_again = reach_episode({"zone_colors": "high"}, seed=4)
    assert names == same_names  # the task (and its instruction) is unchanged
    assert rgba != plain_rgba and rgba == rgba_again and np.array_equal(randomised, again)
    assert (np.abs(plain.astype(int) - randomised.astype(int)).max(axis=2) > 12).sum() > 10


@pytest.mark.parametrize("split", ["eval", "test"])
def test_held_out_episodes_look_as_they_do_without_randomisation(split):
    plain, names, _ = reach_episode(None, seed=2, split=split)
    randomised, _, _ = reach_episode({"zone_colors": "high"}, seed=2, split=split)
    assert names[0] in UNSEEN_COLORS
    assert np.array_equal(plain, randomised)


def test_tasks_without_zones_are_untouched_by_the_knob():
    plain, _, _ = reach_episode(None, seed=5, task="stack")
    randomised, _, _ = reach_episode({"zone_colors": "high"}, seed=5, task="stack")
    assert np.array_equal(plain, randomised)


# -- zone_contrast: a share of the zone colours drawn near the table -------------------------------------------------


def near_table_shares(level: str, table_rgba, draws: int = 3000, seed: int = 0) -> tuple[float, float]:
    """The shares of high zone colours within RGB distance 25-90 of ``table_rgba`` and nearer than 25."""
    randomization = Randomization(zone_colors="high", zone_contrast=level)
    rng = random.Random(seed)
    table = [255 * c for c in table_rgba[:3]]
    distances = [
        math.dist([255 * c for c in randomization.object_rgba(rng, "red", "zone", table_rgba)[:3]], table)
        for _ in range(draws)
    ]
    return sum(25.0 <= d <= 90.0 for d in distances) / draws, sum(d < 25.0 for d in distances) / draws


@pytest.mark.parametrize("table_rgba", [DEFAULT_TABLE_RGBA, (0.35, 0.33, 0.3, 1.0)])
def test_zone_contrast_draws_its_share_of_zones_near_the_table_it_is_given(table_rgba):
    shares = {level: near_table_shares(level, table_rgba) for level in LEVELS}
    # A uniform draw over the cube puts one zone in five or fewer this near the table; each level adds its share.
    assert shares["none"][0] < 0.2
    for level, added in (("low", 0.2), ("medium", 0.35), ("high", 0.5)):
        expected = shares["none"][0] + added * (1 - shares["none"][0])
        assert shares[level][0] == pytest.approx(expected, abs=0.04), level
        # Faint, not invisible: no more zones within 25 of the table than the uniform draw gives (under 1%).
        assert shares[level][1] <= shares["none"][1] + 0.005 and shares["none"][1] < 0.01, level


def test_zone_contrast_follows_the_drawn_table_not_one_fixed_colour():
    dark_table = (0.3, 0.3, 0.3, 1.0)
    near_dark, _ = near_table_shares("high", dark_table)
    randomization = Randomization(zone_colors="high", zone_contrast="high")
    rng = random.Random(0)
    drawn = [randomization.object_rgba(rng, "red", "zone", dark_table)[:3] for _ in range(3000)]
    near_cream = sum(
        math.dist([255 * c for c in rgb], [255 * c for c in DEFAULT_TABLE_RGBA[:3]]) <= 90 for rgb in drawn
    )
    assert near_dark > 0.5 and near_cream / 3000 < 0.15


def test_zone_contrast_never_draws_near_the_test_colours_even_on_a_table_beside_pink():
    pinkish_table = tuple(c / 255 for c in (235.0, 180.0, 200.0)) + (1.0,)  # 52 from pink: half its ball is near
    randomization = Randomization(zone_colors="high", zone_contrast="high")
    rng = random.Random(2)
    for _ in range(2000):
        rgb = [255 * c for c in randomization.object_rgba(rng, "green", "zone", pinkish_table)[:3]]
        assert not held_out_color(rgb)


def test_zone_contrast_needs_zone_colors_and_leaves_draws_alone_when_off():
    with pytest.raises(ValueError, match="set zone_colors too"):
        Randomization(zone_contrast="high")
    # Off, it takes nothing from the episode's rng: the zone_colors draws are exactly as before it existed.
    off = [Randomization(zone_colors="high", zone_contrast="none"), Randomization(zone_colors="high")]
    draws = [[r.object_rgba(random.Random(9), "blue", "zone") for _ in range(3)] for r in off]
    assert draws[0] == draws[1]
    on = Randomization(zone_colors="high", zone_contrast="high").object_rgba(random.Random(9), "blue", "zone")
    assert on != draws[0][0]


def test_zone_contrast_in_an_env_draws_faint_training_zones_and_leaves_test_episodes_alone():
    knobs = {"zone_colors": "high", "zone_contrast": "high", "table_color": "high"}
    faint = 0
    for seed in range(12):
        env = gym.make("VistaRobotEE-v0", obs_mode="rgb", image_size=64, randomization=knobs).unwrapped
        env.reset(seed=seed, options={"task": "reach", "split": "train"})
        zone = next(obj for obj in env.objects.values() if obj.spec.kind == "zone")
        rgb = [255 * c for c in env.sim.client.getVisualShapeData(zone.body)[0][7][:3]]
        faint += math.dist(rgb, [255 * c for c in env.style.table_rgba[:3]]) <= 90
        env.close()
    assert faint >= 4  # about half of 12 are drawn near the episode's own table
    plain, names, rgba = reach_episode(None, seed=4, split="test")
    randomised, same_names, same_rgba = reach_episode(knobs | {"table_color": "none"}, seed=4, split="test")
    assert names == same_names and set(names) <= set(UNSEEN_COLORS)
    assert rgba == same_rgba and np.array_equal(plain, randomised)
