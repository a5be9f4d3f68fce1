"""Stack cubes into a tower in a given order."""

from __future__ import annotations

import random

from vista_envs.robot.tasks.base import (
    Goal,
    Layout,
    Placement,
    Task,
    Vocabulary,
    distinct_colors,
    object_spec,
    register_task,
)

# Room around the base: the hand is ~21 cm wide across the fingers and would brush a tower while
# picking a cube next to it.
TOWER_CLEARANCE = 0.05


@register_task
class Stack(Task):
    """Stack two or three cubes. Goals: each cube rests centred on the one named below it."""

    name = "stack"
    description = "Stack two or three cubes in the order the instruction gives."
    templates = (
        "Stack the {top} on the {base}.",
        "Put the {top} on top of the {base}.",
        "Place the {top} onto the {base}.",
        "Build a tower with the {base} at the bottom and the {top} on it.",
    )
    tower_templates = (
        "Stack the {middle} on the {base}, then the {top} on the {middle}.",
        "Build a tower: the {base} at the bottom, the {middle} in the middle, the {top} on top.",
        "Make a stack of three cubes, from bottom to top: {base}, {middle}, {top}.",
        "Put the {middle} on the {base} and finish the tower with the {top}.",
    )

    def sample(self, rng: random.Random, vocabulary: Vocabulary) -> Layout:
        n_cubes = rng.choice((2, 3))
        cubes = [object_spec(rng, vocabulary, color, ("cube",)) for color in distinct_colors(rng, vocabulary, n_cubes)]
        # Bottom first: each cube goes on the one before it.
        goals = tuple(Goal(upper.name, "on", lower.name) for lower, upper in zip(cubes, cubes[1:]))
        roles = ("base", "top") if n_cubes == 2 else ("base", "middle", "top")
        return Layout(
            placements=(Placement(cubes[0], clearance=TOWER_CLEARANCE), *(Placement(cube) for cube in cubes[1:])),
            goals=goals,
            fields={role: cube.name for role, cube in zip(roles, cubes)},
        )

    def instruction_templates(self, layout: Layout) -> tuple[str, ...]:
        return self.tower_templates if "middle" in layout.fields else self.templates
