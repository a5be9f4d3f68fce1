"""Grounding: "Give the bounding box of the purple triangle ..." over a scene of 2D shapes.

Answer type ``box``: the target's tight pixel box ``(x0, y0, x1, y1)``, scored by IoU.
"""

from __future__ import annotations

import random

from vista_envs.tasks.base import TaskSpec, register_family
from vista_envs.tasks.shape_scene import (
    ATTRIBUTES,
    SceneFamily,
    describe,
    place_objects,
    sample_background,
    scene_dict,
    unique_referents,
)

# The attributes that describe the target, per difficulty.
DESCRIPTION_KEYS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (("shape",), ("color",)),
    (("color", "shape"),),
    (("color", "shape"),),
    (("color", "shape"), ("size", "color", "shape")),
    (("size", "color", "shape"),),
)
NEAR_MISS_SHARE: tuple[float, ...] = (0.0, 0.3, 0.5, 0.6, 0.8)


@register_family
class Grounding(SceneFamily):
    """Locate the one object a description picks out, as a pixel bounding box.

    Question: "Give the bounding box of the purple triangle in this 224x224 image as [x0, y0, x1, y1]
    in pixels (top-left corner, then bottom-right corner)."
    Answer: the tight box of the drawn shape, ``(x0, y0, x1, y1)`` with x1/y1 one past the last
    pixel, exactly what ``Image.getbbox`` returns for it alone (``box``, scored by IoU).
    The target is drawn last, so nothing covers it and its box is what one sees.

    Difficulty ladder (object counts and looks from :data:`SCENE_LEVELS`):

    1. 3-5 big, well-spaced objects on white; the target is named by its shape or its colour.
    2. 5-7 objects; colour and shape, a few near misses (same colour or same shape).
    3. 7-10 smaller, rotated objects; more near misses.
    4. 9-12 objects, partial overlap, light noise; sometimes size+colour+shape.
    5. 12-15 small objects, more overlap and noise; size+colour+shape among many near misses.

    Example: "Give the bounding box of the purple triangle ..." -> (40, 100, 73, 129).
    """

    name = "grounding"
    description = "Where is the object a description picks out? Answer with its pixel bounding box."

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = self.level(difficulty)
        keys = rng.choice(DESCRIPTION_KEYS[difficulty - 1])
        query = {key: rng.choice(ATTRIBUTES[key]) for key in keys}
        (target,), others = unique_referents(
            rng, [query], rng.randint(*level.objects) - 1, NEAR_MISS_SHARE[difficulty - 1]
        )
        rng.shuffle(others)
        # Placed first (so it gets room), drawn last (so nothing hides part of it).
        placed = place_objects(rng, [target, *others], size, level)
        objects = [*placed[1:], placed[0]]
        box = objects[-1].bbox
        phrase = describe(query)
        width, height = size
        return TaskSpec(
            question=(
                f"Give the bounding box of the {phrase} in this {width}x{height} image as [x0, y0, x1, y1] "
                "in pixels (top-left corner, then bottom-right corner)."
            ),
            answer=box,
            answer_type="box",
            scene=scene_dict(objects, background=sample_background(rng, level), noise=level.noise, query=query),
            rationale=(
                f"The {phrase} spans x from {box[0]} to {box[2]} and y from {box[1]} to {box[3]}, "
                f"so its box is [{box[0]}, {box[1]}, {box[2]}, {box[3]}]."
            ),
        )
