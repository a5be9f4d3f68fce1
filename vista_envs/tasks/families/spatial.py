"""Spatial relations: "Is the red circle to the left of the blue square?" over a scene of 2D shapes.

Answer type ``yes_no`` (relations, "is there a ... left of ...") or ``text`` ("What color is the
leftmost circle?").
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from vista_envs.tasks.base import TaskSpec, register_family
from vista_envs.tasks.shape_scene import (
    ANSWER_ALIASES,
    ATTRIBUTES,
    Query,
    SceneConfig,
    SceneFamily,
    SceneLevel,
    SceneObject,
    Traits,
    clearly_before,
    describe,
    matching,
    place_objects,
    random_traits,
    sample_background,
    sample_distractors,
    scene_dict,
    separated,
    unique_referents,
)

# The relations along each axis: (subject before the reference, subject after it); image y grows downwards.
AXIS_RELATIONS: dict[str, tuple[str, str]] = {"x": ("left", "right"), "y": ("above", "below")}
RELATION_WORDS = {"left": "to the left of", "right": "to the right of", "above": "above", "below": "below"}
# extreme -> (axis, whether the extreme object comes first along it).
EXTREMES: dict[str, tuple[str, bool]] = {
    "leftmost": ("x", True),
    "rightmost": ("x", False),
    "topmost": ("y", True),
    "bottommost": ("y", False),
}

# Question forms per difficulty: "relation" (A rel B?), "extreme" (attribute of the leftmost C),
# "exists" (is there a C rel B?: every C must be checked).
FORMS: tuple[tuple[str, ...], ...] = (
    ("relation",),
    ("relation",),
    ("relation", "extreme"),
    ("relation", "extreme", "exists"),
    ("extreme", "exists"),
)
# Attributes that name the unique objects of "relation" and "exists", per difficulty.
REFERENT_KEYS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("shape",), ("color",)),
    (("color", "shape"),),
    (("color", "shape"),),
    (("color", "shape"), ("size", "shape")),
    (("size", "color", "shape"),),
)
# (attributes that name a group, attribute asked of its extreme member), per difficulty.
GROUP_FORMS: tuple[tuple[tuple[tuple[str, ...], str], ...], ...] = (
    ((("shape",), "color"), (("color",), "shape")),
    ((("shape",), "color"), (("color",), "shape")),
    ((("shape",), "color"), (("color",), "shape")),
    ((("size", "shape"), "color"), (("size", "color"), "shape")),
    ((("size", "shape"), "color"), (("size", "color"), "shape"), (("color", "shape"), "size")),
)
NEAR_MISS_SHARE: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8)
_PLACEMENTS = 8
_X, _Y = operator.attrgetter("x"), operator.attrgetter("y")
VerdictT = TypeVar("VerdictT")


class _Question(NamedTuple):
    """One built question with the scene it was asked of."""

    text: str
    answer: str
    answer_type: str
    objects: list[SceneObject]
    query: dict[str, Any]
    rationale: str


def _implies(a: Query, b: Query) -> bool:
    """True when every object described by ``a`` is also described by ``b``."""
    return all(a.get(key) == value for key, value in b.items())


def _random_query(rng: random.Random, keys: tuple[str, ...]) -> dict[str, str]:
    return {key: rng.choice(ATTRIBUTES[key]) for key in keys}


def _place_until(
    rng: random.Random,
    traits: Sequence[Traits],
    size: tuple[int, int],
    level: SceneLevel,
    judge: Callable[[list[SceneObject]], VerdictT | None],
) -> tuple[list[SceneObject], VerdictT] | None:
    """Place ``traits`` in a random drawing order until ``judge`` finds a clear question in the layout.

    Returns the objects and the judge's verdict, or None when no layout of a few works.
    """
    order = list(traits)
    for _ in range(_PLACEMENTS):
        rng.shuffle(order)
        objects = place_objects(rng, order, size, level)
        verdict = judge(objects)
        if verdict is not None:
            return objects, verdict
    return None


def _clear_extremes(group: list[SceneObject], margin: float) -> list[tuple[str, SceneObject]] | None:
    """The (extreme, object) pairs where one object of ``group`` is clearly ahead of all the others; None if there are
    none."""
    options = []
    for extreme, (axis, first) in EXTREMES.items():
        position = _X if axis == "x" else _Y
        # min/max keep the first of equals, as a stable sort would put it first.
        winner = min(group, key=position) if first else max(group, key=position)
        for other in group:
            if other is not winner and not (
                clearly_before(winner, other, axis, margin) if first else clearly_before(other, winner, axis, margin)
            ):
                break
        else:
            options.append((extreme, winner))
    return options or None


@dataclass(frozen=True)
class SpatialConfig(SceneConfig):
    """Knobs of the spatial family (and ``levels``, the scene ladder, from :class:`SceneConfig`).

    Attributes:
        margin: how far (as a share of the image's shorter side) the extreme object's edges and
            centre must all be ahead of every other object of its group.
    """

    margin: float = 0.04


@register_family
class Spatial(SceneFamily):
    """Spatial relations between the objects of a scene of coloured shapes.

    Questions and answers:

    - relation (``yes_no``): "Is the red circle to the left of the blue square?" (left, right, above,
      below). Asked only along an axis where the two objects do not overlap at all, so the answer
      never hinges on a few pixels.
    - extreme (``text``): "What color is the leftmost circle?" (leftmost, rightmost, topmost,
      bottommost). The extreme object's near edge, centre and far edge are all ahead of every other
      object of the group by ``margin``.
    - exists (``yes_no``): "Is there a red object above the small blue star?": every red object lies
      wholly above or wholly below the star, and one must check them all.

    Difficulty ladder (object counts and looks from :data:`SCENE_LEVELS`):

    1. 3-5 big, well-spaced objects on white; relation between objects named by one attribute.
    2. 5-7 objects; relation between objects named by colour and shape.
    3. 7-10 smaller, rotated objects; relation or extreme, with near misses.
    4. 9-12 objects, partial overlap, light noise; relation, extreme or exists; size in descriptions.
    5. 12-15 small objects, more overlap and noise; extreme or exists with size+colour+shape.

    Example: "Is the red circle to the left of the blue square?" -> "yes".
    """

    name = "spatial"
    description = "Where are objects relative to each other: left of, above, leftmost, ...?"
    config_cls = SpatialConfig
    config: SpatialConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = self.level(difficulty)
        build = {"relation": self._relation, "extreme": self._extreme, "exists": self._exists}
        # A draw whose layout admits no clear question is dropped (a few percent of draws).
        while (question := build[rng.choice(FORMS[difficulty - 1])](rng, difficulty, size, level)) is None:
            pass
        return TaskSpec(
            question=question.text,
            answer=question.answer,
            answer_type=question.answer_type,
            scene=scene_dict(
                question.objects, background=sample_background(rng, level), noise=level.noise, query=question.query
            ),
            rationale=question.rationale,
            aliases=ANSWER_ALIASES.get(question.answer, ()),
        )

    def _relation(
        self, rng: random.Random, difficulty: int, size: tuple[int, int], level: SceneLevel
    ) -> _Question | None:
        subject_query = _random_query(rng, rng.choice(REFERENT_KEYS[difficulty - 1]))
        reference_query = _random_query(rng, rng.choice(REFERENT_KEYS[difficulty - 1]))
        if _implies(subject_query, reference_query) or _implies(reference_query, subject_query):
            return None
        n_others = rng.randint(*level.objects) - 2
        (subject, reference), others = unique_referents(
            rng, [subject_query, reference_query], n_others, NEAR_MISS_SHARE[difficulty - 1]
        )

        def clear_axes(objects: list[SceneObject]) -> tuple[SceneObject, SceneObject, list[str]] | None:
            a, b = matching(objects, subject_query)[0], matching(objects, reference_query)[0]
            axes = [axis for axis in AXIS_RELATIONS if separated(a, b, axis) or separated(b, a, axis)]
            return (a, b, axes) if axes else None

        placed = _place_until(rng, [subject, reference, *others], size, level, clear_axes)
        if placed is None:
            return None
        objects, (a, b, axes) = placed
        axis = rng.choice(axes)
        relation = rng.choice(AXIS_RELATIONS[axis])
        actual = AXIS_RELATIONS[axis][0 if separated(a, b, axis) else 1]
        subject_phrase, reference_phrase = describe(subject_query), describe(reference_query)
        if relation == actual:
            answer, rationale = (
                "yes",
                f"The {subject_phrase} is {RELATION_WORDS[actual]} the {reference_phrase}, so the answer is yes.",
            )
        else:
            answer = "no"
            rationale = (
                f"The {subject_phrase} is {RELATION_WORDS[actual]} the {reference_phrase}, "
                f"not {RELATION_WORDS[relation]} it, so the answer is no."
            )
        return _Question(
            text=f"Is the {subject_phrase} {RELATION_WORDS[relation]} the {reference_phrase}?",
            answer=answer,
            answer_type="yes_no",
            objects=objects,
            query={"form": "relation", "subject": subject_query, "reference": reference_query, "relation": relation},
            rationale=rationale,
        )

    def _extreme(
        self, rng: random.Random, difficulty: int, size: tuple[int, int], level: SceneLevel
    ) -> _Question | None:
        keys, asked = rng.choice(GROUP_FORMS[difficulty - 1])
        group_query = _random_query(rng, keys)
        n_objects = rng.randint(*level.objects)
        n_members = rng.randint(2, min(4, n_objects - 1))
        members = [random_traits(rng, group_query) for _ in range(n_members)]
        traits = members + sample_distractors(
            rng, n_objects - n_members, [group_query], NEAR_MISS_SHARE[difficulty - 1]
        )
        if asked == "size" and len({item.size for item in traits}) == 1:
            return None
        margin = self.config.margin * min(size)
        placed = _place_until(
            rng, traits, size, level, lambda objects: _clear_extremes(matching(objects, group_query), margin)
        )
        if placed is None:
            return None
        objects, options = placed
        extreme, winner = rng.choice(options)
        answer = getattr(winner, asked)
        group_phrase = describe(group_query)
        if asked == "size":
            text = f"What size is the {extreme} {group_phrase}: small or large?"
        else:
            text = f"What {asked} is the {extreme} {group_phrase}?"
        article = "a " if asked == "shape" else ""
        return _Question(
            text=text,
            answer=answer,
            answer_type="text",
            objects=objects,
            query={"form": "extreme", "group": group_query, "extreme": extreme, "asked": asked},
            rationale=f"Of the {n_members} {describe(group_query, plural=True)}, the {extreme} one is "
            f"{article}{answer}.",
        )

    def _exists(
        self, rng: random.Random, difficulty: int, size: tuple[int, int], level: SceneLevel
    ) -> _Question | None:
        reference_query = _random_query(rng, rng.choice(REFERENT_KEYS[difficulty - 1]))
        keys, _ = rng.choice(GROUP_FORMS[difficulty - 1])
        group_query = _random_query(rng, keys)
        if _implies(group_query, reference_query) or _implies(reference_query, group_query):
            return None
        n_objects = rng.randint(*level.objects)
        n_members = rng.randint(1, min(3, n_objects - 2))
        reference = random_traits(rng, reference_query, avoid=[group_query])
        members = [random_traits(rng, group_query, avoid=[reference_query]) for _ in range(n_members)]
        traits = [reference, *members]
        traits += sample_distractors(
            rng, n_objects - len(traits), [reference_query, group_query], NEAR_MISS_SHARE[difficulty - 1]
        )

        def clear_axes(objects: list[SceneObject]) -> tuple[SceneObject, list[SceneObject], list[str]] | None:
            b, group = matching(objects, reference_query)[0], matching(objects, group_query)
            # Every member lies wholly on one side of the reference along the axis.
            axes = [
                axis
                for axis in AXIS_RELATIONS
                if all(separated(obj, b, axis) or separated(b, obj, axis) for obj in group)
            ]
            return (b, group, axes) if axes else None

        placed = _place_until(rng, traits, size, level, clear_axes)
        if placed is None:
            return None
        objects, (b, group, axes) = placed
        axis = rng.choice(axes)
        relation = rng.choice(AXIS_RELATIONS[axis])
        before = relation == AXIS_RELATIONS[axis][0]
        hits = sum(separated(obj, b, axis) if before else separated(b, obj, axis) for obj in group)
        group_phrase, reference_phrase, words = (
            describe(group_query),
            describe(reference_query),
            RELATION_WORDS[relation],
        )
        plural = describe(group_query, plural=True)
        if hits and n_members == 1:
            answer, rationale = (
                "yes",
                f"The one {group_phrase} is {words} the {reference_phrase}, so the answer is yes.",
            )
        elif hits == n_members:
            answer, rationale = (
                "yes",
                f"All {n_members} {plural} are {words} the {reference_phrase}, so the answer is yes.",
            )
        elif hits:
            verb = "is" if hits == 1 else "are"
            answer, rationale = (
                "yes",
                f"{hits} of the {n_members} {plural} {verb} {words} the {reference_phrase}, so the answer is yes.",
            )
        else:
            answer, rationale = "no", f"No {group_phrase} is {words} the {reference_phrase}, so the answer is no."
        return _Question(
            text=f"Is there a {group_phrase} {words} the {reference_phrase}?",
            answer=answer,
            answer_type="yes_no",
            objects=objects,
            query={"form": "exists", "group": group_query, "reference": reference_query, "relation": relation},
            rationale=rationale,
        )
