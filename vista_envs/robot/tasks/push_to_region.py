"""Push an object along the table into a marked zone."""

from __future__ import annotations

import random

from vista_envs.robot.plan import Primitive
from vista_envs.robot.tasks.base import (
    Goal,
    Layout,
    Placement,
    Task,
    Vocabulary,
    distinct_colors,
    object_spec,
    register_task,
    zone_spec,
)

# Shapes that slide rather than roll or topple when pushed.
PUSHABLE_SHAPES = ("cube", "cylinder", "prism")
# Room around the object for the gripper to come down behind it from any side.
PUSH_CLEARANCE = 0.05


@register_task
class PushToRegion(Task):
    """Push the named object into the coloured zone (a flat square on the table). Goal: the object rests
    in the zone. The oracle pushes (a pick-and-place also solves it)."""

    name = "push_to_region"
    description = "Push an object along the table into a coloured zone."
    templates = (
        "Push the {object} into the {zone}.",
        "Slide the {object} onto the {zone}.",
        "Shove the {object} so that it ends up inside the {zone}.",
        "Nudge the {object} into the {zone} without lifting it.",
    )

    def sample(self, rng: random.Random, vocabulary: Vocabulary) -> Layout:
        object_color, zone_color = distinct_colors(rng, vocabulary, 2)
        shapes = [shape for shape in vocabulary.shapes if shape in PUSHABLE_SHAPES]
        item = object_spec(rng, vocabulary, object_color, shapes)
        zone = zone_spec(zone_color)
        return Layout(
            placements=(Placement(item, clearance=PUSH_CLEARANCE), Placement(zone)),
            goals=(Goal(item.name, "in", zone.name),),
            fields={"object": item.name, "zone": zone.name},
        )

    def goal_plan(self, goal: Goal) -> list[Primitive]:
        return [Primitive("push", (goal.subject, goal.target))]
