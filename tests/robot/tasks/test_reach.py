"""The reach task: bring the grasp point onto a coloured zone, in VistaRobotEE-v0 and (by the reach(ZONE) plan
primitive) in VistaRobot-v0: success detection, the oracle, shaped progress, what the agent observes."""

import re

import gymnasium as gym
import numpy as np
import pytest

import vista_envs  # noqa: F401  (registers the ids)
from vista_envs.robot.controller import move_action
from vista_envs.robot.objects import SEEN_COLORS
from vista_envs.robot.tasks import task_names
from vista_envs.robot.tasks.base import TOUCH_TOLERANCE


def make_ee(**kwargs) -> gym.Env:
    return gym.make("VistaRobotEE-v0", tasks=["reach"], **{"obs_mode": "state", **kwargs}).unwrapped


def zone_of(env) -> dict:
    (zone,) = [o for o in env.scene()["objects"] if o["kind"] == "zone"]
    return zone


def drive_to(env, obs: dict, point: np.ndarray, steps: int = 40) -> tuple[dict, bool, dict]:
    """Move the grasp point towards ``point`` for ``steps`` steps (or until the episode ends)."""
    for _ in range(steps):
        obs, _, terminated, truncated, info = env.step(move_action(obs["state"][:3], point, 1.0, 0.05))
        if terminated or truncated:
            return obs, terminated, info
    return obs, False, info


def test_reach_is_a_registered_task():
    assert "reach" in task_names()


def test_bringing_the_grasp_point_onto_the_zone_centre_succeeds():
    env = make_ee()
    obs, info = env.reset(seed=0)
    centre = np.array(zone_of(env)["position"])
    obs, terminated, info = drive_to(env, obs, centre + [0.0, 0.0, 0.015])
    assert terminated and info["is_success"] and info["reward_terms"]["success"] == 1.0
    assert np.linalg.norm(obs["state"][:3] - centre) <= TOUCH_TOLERANCE


@pytest.mark.parametrize(
    "offset", [(0.0, 0.0, 0.08), (0.08, 0.0, 0.015), (0.0, -0.07, 0.02)], ids=["above", "beside", "off-side"]
)
def test_staying_just_outside_five_centimetres_of_the_zone_centre_does_not_succeed(offset):
    env = make_ee()
    obs, info = env.reset(seed=0)
    obs, terminated, info = drive_to(env, obs, np.array(zone_of(env)["position"]) + offset)
    assert not terminated and not info["is_success"]
    assert np.linalg.norm(obs["state"][:3] - np.array(zone_of(env)["position"])) > TOUCH_TOLERANCE


def test_shaped_progress_grows_as_the_grasp_point_nears_the_zone():
    env = make_ee()
    obs, info = env.reset(seed=3)
    centre = np.array(zone_of(env)["position"])
    progress = [info["progress"]]
    for height in (0.3, 0.15, 0.08):
        obs, _, info = drive_to(env, obs, centre + [0.0, 0.0, height], steps=15)
        progress.append(info["progress"])
    assert progress == sorted(progress) and progress[-1] - progress[0] > 0.2 and progress[-1] < 0.5


def test_the_zone_is_in_the_state_and_named_but_not_located_by_the_vlm_prompt():
    env = make_ee()
    obs, info = env.reset(seed=5)
    zone = zone_of(env)
    goal = obs["state"][8:].reshape(4, 7)
    np.testing.assert_allclose(goal[0, :3], zone["position"], atol=1e-4)  # the goal "object": the zone
    np.testing.assert_allclose(goal[0, 3:6], zone["position"], atol=1e-4)  # where the grasp point should go
    assert goal[0, 6] == 1.0 and not goal[1:].any()
    vlm = make_ee(obs_mode="vlm", image_size=64)
    obs, _ = vlm.reset(seed=5)
    instruction = obs["text"].splitlines()[0]
    assert (
        instruction == f"Instruction: {vlm.task.instruction}"
        and zone["name"] in instruction
        and not re.search(r"\d", instruction)
    )
    assert f"{zone['position'][0]:.3f}" not in obs["text"] and f"{zone['position'][1]:.3f}" not in obs["text"]


def test_the_zone_is_visible_in_the_camera_image():
    env = make_ee(obs_mode="rgb", image_size=64)
    obs, info = env.reset(seed=5)
    env.sim.remove_body(env.objects[zone_of(env)["name"]].body)
    without_zone = env.render_camera()
    changed = np.abs(obs["image"].astype(int) - without_zone.astype(int)).max(axis=2) > 30
    assert changed.sum() >= 20


def zone_color(env, seed: int, split: str) -> str:
    env.reset(seed=seed, options={"split": split})
    return zone_of(env)["color"]


def test_held_out_splits_draw_zone_colours_never_seen_in_training():
    env = make_ee()
    colors = {split: {zone_color(env, seed, split) for seed in range(12)} for split in ("train", "eval", "test")}
    assert colors["train"] <= set(SEEN_COLORS) and len(colors["train"]) > 3
    assert colors["eval"] and colors["test"] and not (colors["eval"] | colors["test"]) & set(SEEN_COLORS)
    assert not colors["eval"] & colors["test"]


def test_oracle_solves_at_least_95_percent_of_eval_episodes_through_the_continuous_interface():
    env = make_ee(randomization={"distractors": "medium", "object_poses": "high"})
    solved = 0
    for seed in range(40):
        env.reset(seed=seed, options={"split": "eval"})
        while True:
            _, _, terminated, truncated, info = env.step(env.oracle())
            if terminated or truncated:
                break
        solved += info["is_success"]
    assert solved >= 38, solved


def test_the_reach_plan_touches_the_zone_and_the_touch_counts_after_the_arm_returns_home():
    env = gym.make("VistaRobot-v0", tasks=["reach"], image_size=64).unwrapped
    _, info = env.reset(seed=2, options={"split": "eval"})
    obs, _, terminated, _, info = env.step(f"<plan>reach({zone_of(env)['name']})</plan>")
    assert terminated and info["is_success"] and info["executed"] == [f"reach({zone_of(env)['name']})"]
    assert np.linalg.norm(obs["state"][:3] - np.array(zone_of(env)["position"])) > 0.3  # the arm is back home


def test_reach_names_zones_only():
    env = gym.make("VistaRobot-v0", tasks=["pick_and_place"], image_size=64).unwrapped
    env.reset(seed=0)
    subject = env.task.goal_names()[0]
    _, _, _, _, info = env.step(f"reach({subject})")
    assert "is not a zone" in info["error"] and info["reward_terms"]["invalid"] == -1.0
