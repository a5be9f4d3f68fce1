"""Comparison: "Are there more circles than squares?" / "Which color is more common: red or blue?"
over a scene of 2D shapes.

Answer type ``yes_no`` (more, fewer, as many) or ``text`` (which of two is more common; never a tie).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vista_envs.tasks.base import TaskSpec, register_family
from vista_envs.tasks.shape_scene import (
    ANSWER_ALIASES,
    ATTRIBUTES,
    SceneConfig,
    SceneFamily,
    describe,
    near_miss,
    place_objects,
    random_traits,
    sample_background,
    sample_distractors,
    scene_dict,
)

# Question forms per difficulty.
FORMS: tuple[tuple[str, ...], ...] = (
    ("more",),
    ("more", "fewer"),
    ("more", "fewer", "same", "which"),
    ("more", "fewer", "same", "which"),
    ("more", "fewer", "same", "which"),
)
# The compared attribute per difficulty, and the attributes of the group it is counted in
# ("among the small circles": context keys) that each compared attribute allows.
COMPARED: tuple[tuple[str, ...], ...] = (
    ("shape",),
    ("shape", "color"),
    ("shape", "color"),
    ("shape", "color"),
    ("shape", "color"),
)
CONTEXT_KEYS: dict[str, tuple[tuple[str, ...], ...]] = {
    "color": (("shape",), ("size",), ("size", "shape")),
    "shape": (("color",), ("size",), ("size", "color")),
}
# Chance that the counts are taken within a context group, and largest context, per difficulty.
CONTEXT_PROBABILITY: tuple[float, ...] = (0.0, 0.0, 0.5, 1.0, 1.0)
CONTEXT_SIZE: tuple[int, ...] = (0, 0, 1, 1, 2)
# Smallest difference between the two counts of a "more"/"fewer"/"which" question.
MIN_GAP: tuple[int, ...] = (2, 1, 0, 0, 0)
NEAR_MISS_SHARE: tuple[float, ...] = (0.0, 0.0, 0.5, 0.6, 0.8)


@dataclass(frozen=True)
class ComparisonConfig(SceneConfig):
    """Knobs of the comparison family (and ``levels``, the scene ladder, from :class:`SceneConfig`).

    Attributes:
        max_count: the most objects of one compared kind.
    """

    max_count: int = 6


@register_family
class Comparison(SceneFamily):
    """Compare how many objects of two kinds a scene of coloured shapes holds.

    Questions and answers:

    - "Are there more circles than squares?", "Are there fewer red objects than blue objects?",
      "Are there as many small red circles as small blue circles?" (``yes_no``; equal counts make
      "more" and "fewer" a "no").
    - "Which color is more common among the circles: red or blue?" (``text``: the value that is more
      common; the two counts always differ.)

    Difficulty ladder (object counts and looks from :data:`SCENE_LEVELS`):

    1. 3-5 big, well-spaced objects on white; "more" between two shapes whose counts differ by 2 or more.
    2. 5-7 objects; "more" or "fewer" between shapes or colours, counts differ by at least 1.
    3. 7-10 smaller, rotated objects; also "as many" and "which"; counts may differ by one or tie;
       half the questions count within a group ("red circles" vs "blue circles"), with near misses.
    4. 9-12 objects, partial overlap, light noise; always within a group.
    5. 12-15 small objects, more overlap and noise; groups of up to two attributes
       ("small red circles" vs "small blue circles") among many near misses.

    Example: "Are there more circles than squares?" -> "yes".
    """

    name = "comparison"
    description = "Are there more objects of one kind than of another? Which kind is more common?"
    config_cls = ComparisonConfig
    config: ComparisonConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = self.level(difficulty)
        form = rng.choice(FORMS[difficulty - 1])
        attribute = rng.choice(COMPARED[difficulty - 1])
        context: dict[str, str] = {}
        if rng.random() < CONTEXT_PROBABILITY[difficulty - 1]:
            keys = rng.choice([keys for keys in CONTEXT_KEYS[attribute] if len(keys) <= CONTEXT_SIZE[difficulty - 1]])
            context = {key: rng.choice(ATTRIBUTES[key]) for key in keys}
        first, second = rng.sample(ATTRIBUTES[attribute], 2)
        kinds = ({**context, attribute: first}, {**context, attribute: second})
        n_objects = rng.randint(*level.objects)
        # "small" needs a large object to be judged against: keep one place for it.
        sized = "size" in context
        counts = self._counts(rng, form, MIN_GAP[difficulty - 1], n_objects - sized)
        traits = [random_traits(rng, kind) for kind, count in zip(kinds, counts) for _ in range(count)]
        if sized:
            traits.append(near_miss(rng, kinds[0], kinds, change="size"))
        traits += sample_distractors(rng, n_objects - len(traits), kinds, NEAR_MISS_SHARE[difficulty - 1])
        rng.shuffle(traits)
        objects = place_objects(rng, traits, size, level)

        names = [describe(kind, plural=True) for kind in kinds]
        counted = " and ".join(f"{count} {describe(kind, plural=count != 1)}" for kind, count in zip(kinds, counts))
        aliases: tuple[str, ...] = ()
        if form == "which":
            answer_type = "text"
            answer = first if counts[0] > counts[1] else second
            among = f" among the {describe(context, plural=True)}" if context else ""
            question = f"Which {attribute} is more common{among}: {first} or {second}?"
            conclusion = f"{answer} is more common"
            aliases = ANSWER_ALIASES.get(answer, ())
        else:
            answer_type = "yes_no"
            holds = {"more": counts[0] > counts[1], "fewer": counts[0] < counts[1], "same": counts[0] == counts[1]}[
                form
            ]
            answer = "yes" if holds else "no"
            if form == "same":
                question = f"Are there as many {names[0]} as {names[1]}?"
            else:
                question = f"Are there {form} {names[0]} than {names[1]}?"
            conclusion = f"the answer is {answer}"
        return TaskSpec(
            question=question,
            answer=answer,
            answer_type=answer_type,
            scene=scene_dict(
                objects,
                background=sample_background(rng, level),
                noise=level.noise,
                query={"form": form, "attribute": attribute, "values": [first, second], "context": context},
            ),
            rationale=f"I count {counted}, so {conclusion}.",
            aliases=aliases,
        )

    def _counts(self, rng: random.Random, form: str, min_gap: int, room: int) -> tuple[int, int]:
        """Counts of the two kinds, together at most ``room``: a tie for half the "same" questions, never one for
        "which"."""
        cap = min(self.config.max_count, room)
        while True:
            counts = rng.randint(0, cap), rng.randint(0, cap)
            if form == "same" and rng.random() < 0.5:
                counts = (counts[0], counts[0])
            gap = abs(counts[0] - counts[1])
            if (form == "which" and gap == 0) or (form in ("more", "fewer") and gap < min_gap):
                continue
            if 1 <= sum(counts) <= room:
                return counts
