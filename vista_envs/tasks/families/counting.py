"""Counting: "How many red circles are there?" over a CLEVR-like scene of 2D shapes.

Answer type ``number`` (an exact int, tolerance 0).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vista_envs.tasks.base import TaskSpec, register_family
from vista_envs.tasks.shape_scene import (
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

# The attributes a question names, per difficulty: one look, then two, then three at once.
QUERY_KEYS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("shape",),),
    (("shape",), ("color",)),
    (("color", "shape"),),
    (("color", "shape"), ("size", "shape")),
    (("size", "color", "shape"), ("size", "color")),
)
# Share of the other objects that differ from the counted kind in one attribute only.
NEAR_MISS_SHARE: tuple[float, ...] = (0.0, 0.0, 0.5, 0.6, 0.7)


@dataclass(frozen=True)
class CountingConfig(SceneConfig):
    """Knobs of the counting family (and ``levels``, the scene ladder, from :class:`SceneConfig`).

    Attributes:
        max_count: the largest answer.
        zero_probability: chance (difficulty 2 and up) that nothing matches and the answer is 0.
    """

    max_count: int = 8
    zero_probability: float = 0.08


@register_family
class Counting(SceneFamily):
    """Count the objects of a kind in a scene of coloured shapes.

    Question: "How many {size} {color} {shape}s are there?", naming one to three attributes.
    Answer: the number of objects with every named attribute (``number``, exact).

    Difficulty ladder (object counts and looks from :data:`SCENE_LEVELS`):

    1. 3-5 big, well-spaced objects on white; count one shape ("How many circles are there?").
    2. 5-7 objects; count one shape or one colour; the answer may be 0.
    3. 7-10 smaller, slightly rotated objects with jittered colours on a tinted background; count a
       colour and shape ("red circles") among near misses (red squares, blue circles).
    4. 9-12 objects that may partly overlap, light pixel noise; colour+shape or size+shape.
    5. 12-15 small objects, more overlap and noise; size+colour+shape ("small red circles") or
       size+colour, with most other objects a near miss.

    Overlap never hides an object: a disc of at least half its radius around each centre stays in view,
    and every shape has a dark outline, so touching objects of one colour can still be told apart.

    Example: "How many small red circles are there?" -> 3.
    """

    name = "counting"
    description = "How many objects of a kind (shape, colour, size) are in the picture?"
    config_cls = CountingConfig
    config: CountingConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = self.level(difficulty)
        n_objects = rng.randint(*level.objects)
        keys = rng.choice(QUERY_KEYS[difficulty - 1])
        query = {key: rng.choice(ATTRIBUTES[key]) for key in keys}
        # At least one object is not counted, so a "small ..." question always has a large object to compare with.
        if difficulty >= 2 and rng.random() < self.config.zero_probability:
            count = 0
        else:
            count = rng.randint(1, min(self.config.max_count, n_objects - 1))
        others = sample_distractors(rng, n_objects - count - 1, [query], NEAR_MISS_SHARE[difficulty - 1])
        if "size" in query:
            others.append(near_miss(rng, query, [query], change="size"))
        else:
            others.append(random_traits(rng, avoid=[query]))
        traits = [random_traits(rng, query) for _ in range(count)] + others
        rng.shuffle(traits)
        objects = place_objects(rng, traits, size, level)
        phrase = describe(query, plural=True)
        if count == 0:
            rationale = f"I look for {phrase} and find none, so the answer is 0."
        elif count == 1:
            rationale = f"I count the {phrase}: there is 1."
        else:
            rationale = f"I count the {phrase}: there are {count}."
        return TaskSpec(
            question=f"How many {phrase} are there?",
            answer=count,
            answer_type="number",
            scene=scene_dict(objects, background=sample_background(rng, level), noise=level.noise, query=query),
            rationale=rationale,
        )
