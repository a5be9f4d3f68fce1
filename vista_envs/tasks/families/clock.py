"""Analog clocks: what time does the clock show?

An analog clock face is drawn with a short, wide hour hand and a long, slim minute hand. The minute
hand points exactly at ``6 * minute`` degrees and the hour hand at ``30 * (hour + minute / 60)``
degrees (clockwise from 12), as on a real clock, so the two hands together give one reading.
12 is always at the top (no rotation). The answer is the time on a 12-hour dial, written ``H:MM``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, register_family
from vista_envs.tasks.drawing import add_noise, blank, stamp_text

__all__ = ["Clock", "ClockConfig"]

QUESTION = "What time does the clock show? Answer as H:MM."

_FACES = ((255, 255, 255), (255, 250, 235), (236, 236, 236), (228, 238, 252))
_RIMS = ((30, 30, 30), (30, 40, 110), (110, 60, 30), (130, 25, 35), (25, 90, 50))
_HANDS = ((20, 20, 20), (25, 30, 80))
_SECOND_HAND = (220, 40, 40)

# Hand lengths and widths as shares of the radius. The minute hand reaches into the minute-tick ring.
_HOUR_HAND = (0.5, 0.085)
_MINUTE_HAND = (0.9, 0.05)
_SECOND_HAND_LENGTH = 0.9
_TICK_OUTER = 0.94
_HOUR_TICK, _MINUTE_TICK = 0.12, 0.06
_DIAL_INK = (20, 20, 20)
# Unit vectors of the 60 minute marks, clockwise from 12 o'clock (image y points down), as `_point`
# turns them: worked out once rather than for each of the dozens of ticks and numerals of every dial.
_MINUTE_DIRECTIONS = tuple((math.sin(math.radians(6 * tick)), -math.cos(math.radians(6 * tick))) for tick in range(60))


@dataclass(frozen=True)
class ClockConfig(FamilyConfig):
    """Knobs of the clock family.

    Attributes:
        noise: standard deviation of the pixel noise at difficulty 5 (0-255 scale).
        second_hand: draw a thin red second hand as a distractor at difficulty 5.
    """

    noise: float = 10.0
    second_hand: bool = True


@dataclass(frozen=True)
class _Level:
    minutes: tuple[int, ...]  # the minutes a task may show
    numerals: bool
    minute_ticks: bool  # 60 ticks, else only the 12 hour ticks
    radius: tuple[float, float]  # radius range as a share of the shorter image side
    distractors: bool  # second hand and pixel noise


_LEVELS: dict[int, _Level] = {
    1: _Level(minutes=(0,), numerals=True, minute_ticks=False, radius=(0.3, 0.46), distractors=False),
    2: _Level(minutes=(15, 30, 45), numerals=True, minute_ticks=False, radius=(0.3, 0.46), distractors=False),
    3: _Level(
        minutes=tuple(range(0, 60, 5)), numerals=True, minute_ticks=False, radius=(0.34, 0.46), distractors=False
    ),
    4: _Level(minutes=tuple(range(60)), numerals=True, minute_ticks=True, radius=(0.4, 0.47), distractors=False),
    5: _Level(minutes=tuple(range(60)), numerals=False, minute_ticks=True, radius=(0.4, 0.47), distractors=True),
}


def _point(center: tuple[float, float], angle_deg: float, distance: float) -> tuple[float, float]:
    """The point ``distance`` from ``center`` in the direction ``angle_deg`` clockwise from 12 o'clock."""
    angle = math.radians(angle_deg)
    return center[0] + distance * math.sin(angle), center[1] - distance * math.cos(angle)


def _hand(center: tuple[float, float], angle: float, length: float, width: float) -> list[tuple[float, float]]:
    """A kite-shaped hand: a short tail behind the centre, widest near the centre, pointed tip."""
    tail = _point(center, angle, -0.15 * length)
    tip = _point(center, angle, length)
    base = _point(center, angle, 0.12 * length)
    left = _point(base, angle - 90, width / 2)
    right = _point(base, angle + 90, width / 2)
    return [tail, left, tip, right]


@register_family
class Clock(TaskFamily):
    """Read the time on an analog clock.

    The hour hand sits at its true fractional position (``hour + minute / 60``), so at 2:50 it is
    most of the way from 2 to 3. 12 o'clock is always at the top.

    Difficulty ladder:

    1. On the hour, numerals 1-12 and hour ticks.
    2. Quarter and half hours (:15, :30, :45).
    3. Any multiple of five minutes.
    4. Any minute; 60 minute ticks (hour ticks longer) to read it off.
    5. Any minute, no numerals (only ticks), a thin red second hand as a distractor, pixel noise.

    Answer type ``time``: ``"H:MM"`` on a 12-hour dial, H in 1..12.

    Example: "What time does the clock show? Answer as H:MM." -> ``"4:37"``
    """

    name = "clock"
    description = "Read the time on an analog clock face."
    config_cls = ClockConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: ClockConfig = self.config  # type: ignore[assignment]
        hour = rng.randint(1, 12)
        minute = rng.choice(level.minutes)
        width, height = size
        radius = min(width, height) * rng.uniform(*level.radius)
        margin = 2.0
        center = (
            rng.uniform(radius + margin, width - radius - margin),
            rng.uniform(radius + margin, height - radius - margin),
        )
        second_hand = level.distractors and config.second_hand
        scene: dict[str, Any] = {
            "hour": hour,
            "minute": minute,
            "hour_hand_angle": round(30 * (hour % 12 + minute / 60), 2),
            "minute_hand_angle": 6 * minute,
            "center": [round(center[0], 1), round(center[1], 1)],
            "radius": round(radius, 1),
            "numerals": level.numerals,
            "ticks": "minutes" if level.minute_ticks else "hours",
            "second_hand_angle": 6 * rng.randrange(60) if second_hand else None,
            "face": list(rng.choice(_FACES)),
            "rim": list(rng.choice(_RIMS)),
            "hands": list(rng.choice(_HANDS)),
            "background": [rng.randint(200, 250) for _ in range(3)],
            "noise": config.noise if level.distractors else 0.0,
        }
        answer = f"{hour}:{minute:02d}"
        if minute == 0:
            rationale = (
                f"The long minute hand points straight up at 12 and the short hour hand points at {hour}, "
                f"so the time is {answer}."
            )
        else:
            rationale = (
                f"The long minute hand points at {minute} minutes past the hour and the short hour hand is "
                f"between {hour} and {hour % 12 + 1}, so the time is {answer}."
            )
        return TaskSpec(question=QUESTION, answer=answer, answer_type="time", scene=scene, rationale=rationale)

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        image, draw = blank(size, tuple(scene["background"]))
        center = cx, cy = tuple(scene["center"])
        radius = scene["radius"]
        rim = tuple(scene["rim"])
        draw.ellipse(
            (cx - radius, cy - radius, cx + radius, cy + radius),
            fill=tuple(scene["face"]),
            outline=rim,
            width=max(2, round(radius * 0.04)),
        )
        self._draw_dial(draw, center, radius, scene["ticks"] == "minutes", scene["numerals"])
        hands = tuple(scene["hands"])
        draw.polygon(
            _hand(center, scene["hour_hand_angle"], radius * _HOUR_HAND[0], radius * _HOUR_HAND[1]), fill=hands
        )
        draw.polygon(
            _hand(center, scene["minute_hand_angle"], radius * _MINUTE_HAND[0], radius * _MINUTE_HAND[1]), fill=hands
        )
        if scene["second_hand_angle"] is not None:
            angle = scene["second_hand_angle"]
            tail = _point(center, angle, -0.2 * radius)
            draw.line(
                (tail, _point(center, angle, radius * _SECOND_HAND_LENGTH)),
                fill=_SECOND_HAND,
                width=max(1, round(radius * 0.012)),
            )
        cap = max(2.0, radius * 0.05)
        draw.ellipse((cx - cap, cy - cap, cx + cap, cy + cap), fill=rim)
        return add_noise(image, scene["noise"], rng)

    @staticmethod
    def _draw_dial(
        draw: ImageDraw.ImageDraw, center: tuple[float, float], radius: float, minute_ticks: bool, numerals: bool
    ) -> None:
        """Tick marks (longer and thicker at the hours) and, optionally, the numerals 1-12."""
        cx, cy = center
        outer = radius * _TICK_OUTER
        hour_inner, minute_inner = outer - radius * _HOUR_TICK, outer - radius * _MINUTE_TICK
        hour_width = max(2, round(radius * 0.025))
        for tick in range(0, 60, 1 if minute_ticks else 5):
            dx, dy = _MINUTE_DIRECTIONS[tick]
            inner, width = (hour_inner, hour_width) if tick % 5 == 0 else (minute_inner, 1)
            draw.line((cx + inner * dx, cy + inner * dy, cx + outer * dx, cy + outer * dy), fill=_DIAL_INK, width=width)
        if numerals:
            font_px = max(7, round(radius * 0.2))
            distance = radius * (0.7 if minute_ticks else 0.72)
            for hour in range(1, 13):
                dx, dy = _MINUTE_DIRECTIONS[5 * hour % 60]
                stamp_text(draw, (cx + distance * dx, cy + distance * dy), str(hour), font_px, _DIAL_INK)
