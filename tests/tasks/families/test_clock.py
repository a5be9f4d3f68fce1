"""The clock family: the answer and the drawn hands follow from the time, near misses score zero, a real difficulty
ladder."""

import math

import pytest

from vista_envs.answers import score_answer
from vista_envs.tasks.families.clock import ClockConfig

from family_checks import DIFFICULTIES, tasks
from reading_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)


def hand_pixel(task, angle: float, share: float):
    scene = task.spec.scene
    cx, cy = scene["center"]
    r = scene["radius"] * share
    return task.image.getpixel(
        (round(cx + r * math.sin(math.radians(angle))), round(cy - r * math.cos(math.radians(angle))))
    )


def angular_gap(a: float, b: float) -> float:
    return abs((a - b + 180) % 360 - 180)


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_clock_answer_and_hands_follow_from_the_time(difficulty, generated):
    for task in generated[difficulty]:
        scene = task.spec.scene
        hour, minute = scene["hour"], scene["minute"]
        assert task.answer_type == "time" and task.answer == f"{hour}:{minute:02d}"
        assert 1 <= hour <= 12 and 0 <= minute <= 59
        assert scene["minute_hand_angle"] == 6 * minute
        assert scene["hour_hand_angle"] == pytest.approx(30 * (hour % 12 + minute / 60), abs=0.01)


def test_clock_hands_are_drawn_at_their_angles():
    checked = 0
    for task in tasks("clock", 4, seeds=range(40)):
        scene = task.spec.scene
        hands = tuple(scene["hands"])
        minute, hour = scene["minute_hand_angle"], scene["hour_hand_angle"]
        if angular_gap(minute, hour) < 40 or angular_gap(minute + 180, hour) < 40:
            continue
        assert hand_pixel(task, minute, 0.4) == hands
        assert hand_pixel(task, hour, 0.3) == hands
        assert hand_pixel(task, minute + 180, 0.4) != hands
        checked += 1
    assert checked >= 10


def test_clock_wrong_readings_score_zero(generated):
    for difficulty in DIFFICULTIES:
        for task in generated[difficulty]:
            hour, minute = task.spec.scene["hour"], task.spec.scene["minute"]
            assert score_answer(f"{hour}:{(minute + 1) % 60:02d}", task.spec) == 0.0
            assert score_answer(f"{hour % 12 + 1}:{minute:02d}", task.spec) == 0.0
            assert score_answer(f"{hour % 12 + 12}:{minute:02d}", task.spec) == 1.0  # the 24-hour form


def test_clock_difficulty_refines_the_minutes_and_removes_numerals(generated):
    def minutes(d):
        return {t.spec.scene["minute"] for t in generated[d]}

    assert minutes(1) == {0}
    assert minutes(2) <= {15, 30, 45}
    assert all(m % 5 == 0 for m in minutes(3)) and len(minutes(3)) > 6
    assert any(m % 5 for m in minutes(4)) and any(m % 5 for m in minutes(5))
    assert all(t.spec.scene["ticks"] == "minutes" for d in (4, 5) for t in generated[d])
    assert all(t.spec.scene["numerals"] for d in (1, 2, 3, 4) for t in generated[d])
    assert not any(t.spec.scene["numerals"] for t in generated[5])
    assert all(t.spec.scene["noise"] > 0 and t.spec.scene["second_hand_angle"] is not None for t in generated[5])


def test_clock_config_can_drop_the_second_hand():
    for task in tasks("clock", 5, seeds=range(5), config=ClockConfig(second_hand=False)):
        assert task.spec.scene["second_hand_angle"] is None
