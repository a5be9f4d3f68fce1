"""The temporal_order family: the order is recoverable from the frames alone, changes between frames stay visible
and get subtler with difficulty, frames and the moving ball are drawn where the scene says."""

import math
import random
import re

import numpy as np
import pytest

from vista_envs.tasks import generate_task, get_family
from vista_envs.tasks.drawing import COLORS

from family_checks import DIFFICULTIES, SIZES, specs
from reasoning_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)


def chronological(spec) -> tuple[str, ...]:
    """The frame order recovered from the drawn items and the monotone change the question states."""
    frames = spec.scene["frames"]
    if match := re.search(r"The (\w+) ball only moves (\w+)", spec.question):
        color, direction = match.groups()
        axis, sign = {"right": (0, 1), "left": (0, -1), "down": (1, 1), "up": (1, -1)}[direction]

        def key(frame):
            (ball,) = [i for i in frame["items"] if i.get("shape") == "circle" and i["color"] == color]
            return sign * ball["center"][axis]
    elif match := re.search(r"The (\w+) bar only fills up", spec.question):

        def key(frame):
            (bar,) = [i for i in frame["items"] if i["type"] == "bar" and i["color"] == match.group(1)]
            return bar["fill"]
    elif "glass is only being emptied" in spec.question:

        def key(frame):
            return -next(i["level"] for i in frame["items"] if i["type"] == "glass")
    else:
        assert "only added" in spec.question

        def key(frame):
            return len(frame["items"])

    return tuple(frame["label"] for frame in sorted(frames, key=key))


def smallest_change_px(spec) -> float:
    """The smallest change of the monotone quantity between frames adjacent in time, in rendered pixels."""
    frames = sorted(spec.scene["frames"], key=lambda f: f["time"])
    side = frames[0]["box"][2] - frames[0]["box"][0]
    event = spec.scene["event"]
    if event == "appear":
        return math.inf
    if event == "ball":
        values = [f["items"][-1]["center"] for f in frames]
        return side * min(max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(values, values[1:]))
    kind = "bar" if event == "bar" else "glass"
    values = [next(i for i in f["items"] if i["type"] == kind)["fill" if kind == "bar" else "level"] for f in frames]
    length = 0.8 if kind == "bar" else 0.6  # bar width and glass height, as shares of the frame
    return side * length * min(abs(a - b) for a, b in zip(values, values[1:]))


def test_config_knobs_change_the_questions():
    temporal = get_family("temporal_order", {"first_appearance_share": 1.0})
    appear = [
        t for t in (temporal.sample(random.Random(s), 3, (224, 224)) for s in range(40)) if t.scene["event"] == "appear"
    ]
    assert appear and all(t.answer_type == "choice" for t in appear)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_temporal_order_is_recoverable_from_the_frames_alone(difficulty):
    for spec in specs("temporal_order", difficulty):
        order = chronological(spec)
        labels = tuple(f["label"] for f in spec.scene["frames"])
        assert sorted(order) == sorted(labels) and order != tuple(sorted(labels))
        if spec.answer_type == "sequence":
            assert spec.answer == order
        else:
            assert spec.answer_type == "choice" and spec.scene["event"] == "appear"
            assert spec.choices == labels
            color, shape = re.search(r"does the (\w+) (\w+) first appear", spec.question).groups()
            frames = {frame["label"]: frame["items"] for frame in spec.scene["frames"]}
            present = [any(i["color"] == color and i["shape"] == shape for i in frames[label]) for label in order]
            first = present.index(True)
            assert all(present[first:]) and order[first] == spec.answer and first > 0


@pytest.mark.parametrize("size", SIZES)
def test_temporal_changes_between_frames_stay_visible(size):
    for difficulty in DIFFICULTIES:
        for spec in specs("temporal_order", difficulty, 30, size):
            assert smallest_change_px(spec) >= 2.99


def test_temporal_difficulty_adds_frames_and_makes_changes_subtler():
    frames = [np.mean([len(s.scene["frames"]) for s in specs("temporal_order", d)]) for d in DIFFICULTIES]
    gradual = [[s for s in specs("temporal_order", d, 100) if s.scene["event"] != "appear"] for d in DIFFICULTIES]
    changes = [np.median([smallest_change_px(s) for s in level]) for level in gradual]
    assert frames[0] == 3 and frames[-1] == 5 and all(a <= b for a, b in zip(frames, frames[1:]))
    assert all(a > b for a, b in zip(changes, changes[1:]))


@pytest.mark.parametrize("size", SIZES)
def test_temporal_frames_lie_inside_the_image_without_overlapping(size):
    for difficulty in (1, 5):
        for spec in specs("temporal_order", difficulty, 5, size):
            boxes = [f["box"] for f in spec.scene["frames"]]
            assert all(0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1] for x0, y0, x1, y1 in boxes)
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4])
def test_temporal_image_draws_the_moving_ball_where_the_scene_says(difficulty):
    fam = get_family("temporal_order")
    checked = 0
    for seed in range(40):
        task = generate_task(fam, seed, difficulty)
        if task.spec.scene["event"] != "ball":
            continue
        pixels = np.asarray(task.image, dtype=int)
        for frame in task.spec.scene["frames"]:
            x0, y0, x1, _ = frame["box"]
            ball = frame["items"][-1]
            u, v = ball["center"]
            drawn = pixels[round(y0 + v * (x1 - x0)), round(x0 + u * (x1 - x0))]
            assert np.abs(drawn - np.array(COLORS[ball["color"]])).max() < 10
        checked += 1
    assert checked > 0
