"""Attributes: "What color is the large square?" / "What shape is the green object?" over a scene of 2D shapes.

Answer type ``text``: a colour name, a shape name, or "small" / "large".
"""

from __future__ import annotations

import random

from vista_envs.tasks.base import TaskSpec, register_family
from vista_envs.tasks.shape_scene import (
    ANSWER_ALIASES,
    ATTRIBUTES,
    SIZES,
    SceneFamily,
    describe,
    place_objects,
    random_traits,
    sample_background,
    scene_dict,
    unique_referents,
)

# (asked attribute, attributes that describe the object) per difficulty.
ONE_LOOK = (("color", ("shape",)), ("shape", ("color",)))
TWO_LOOKS = (("color", ("size", "shape")), ("shape", ("size", "color")), ("size", ("color", "shape")))
QUESTION_FORMS: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = (
    ONE_LOOK,
    ONE_LOOK,
    TWO_LOOKS,
    TWO_LOOKS,
    TWO_LOOKS,
)
NEAR_MISS_SHARE: tuple[float, ...] = (0.0, 0.0, 0.4, 0.6, 0.8)


@register_family
class Attributes(SceneFamily):
    """Name an attribute (colour, shape or size) of the one object a description picks out.

    Question: "What color is the large square?", "What shape is the small green object?",
    "What size is the red star: small or large?". The description always fits exactly one object.
    Answer: a colour name ("gray" also accepts "grey"), a shape name, or "small" / "large" (``text``).

    Difficulty ladder (object counts and looks from :data:`SCENE_LEVELS`):

    1. 3-5 big, well-spaced objects on white; the object is named by one attribute ("the square").
    2. 5-7 objects; still one attribute.
    3. 7-10 smaller, rotated, colour-jittered objects; two attributes ("the large square"), and
       near misses (a small square, a large circle) that share part of the description.
    4. 9-12 objects, partial overlap, light noise; more near misses.
    5. 12-15 small objects, more overlap and noise; most other objects are near misses.

    Example: "What color is the large square?" -> "blue".
    """

    name = "attributes"
    description = "What colour, shape or size is the object that a description picks out?"

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = self.level(difficulty)
        asked, keys = rng.choice(QUESTION_FORMS[difficulty - 1])
        query = {key: rng.choice(ATTRIBUTES[key]) for key in keys}
        (target,), others = unique_referents(
            rng, [query], rng.randint(*level.objects) - 1, NEAR_MISS_SHARE[difficulty - 1]
        )
        answer = getattr(target, asked)
        if asked == "size" and all(other.size == answer for other in others):
            # "Small" and "large" are judged against the rest: at least one object has the other size.
            other_size = next(s for s in SIZES if s != answer)
            others[0] = random_traits(rng, {"size": other_size}, avoid=[query])
        traits = [target, *others]
        rng.shuffle(traits)
        objects = place_objects(rng, traits, size, level)
        phrase = describe(query)
        if asked == "color":
            question = f"What color is the {phrase}?"
        elif asked == "shape":
            question = f"What shape is the {phrase}?"
        else:
            question = f"What size is the {phrase}: small or large?"
        article = "a " if asked == "shape" else ""
        return TaskSpec(
            question=question,
            answer=answer,
            answer_type="text",
            scene=scene_dict(
                objects, background=sample_background(rng, level), noise=level.noise, query=query, asked=asked
            ),
            rationale=f"There is exactly one {phrase}, and it is {article}{answer}.",
            aliases=ANSWER_ALIASES.get(answer, ()),
        )
