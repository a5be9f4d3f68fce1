"""Sort objects of two colours into the tray of their colour."""

from __future__ import annotations

import random

from vista_envs.robot.objects import ObjectSpec
from vista_envs.robot.tasks.base import Goal, Layout, Placement, Task, Vocabulary, distinct_colors, register_task


@register_task
class SortByColor(Task):
    """Two trays of two colours and two to four objects of those colours. Goals: each object rests in
    the tray of its colour. No distractor shares the two colours."""

    name = "sort_by_color"
    description = "Put every object into the tray of its own colour."
    templates = (
        "Sort the objects by colour: every {first} object goes in the {first} tray and every {second} object in the "
        "{second} tray.",
        "Put each object in the tray that has the same colour.",
        "Move all {first} objects into the {first} tray and all {second} objects into the {second} tray.",
        "Match colours: put the {first} things in the {first} tray and the {second} things in the {second} tray.",
    )

    def sample(self, rng: random.Random, vocabulary: Vocabulary) -> Layout:
        colors = distinct_colors(rng, vocabulary, 2)
        counts = rng.choice(((1, 1), (2, 1), (1, 2), (2, 2)))
        items = [
            ObjectSpec(color, shape)
            for color, n in zip(colors, counts)
            for shape in rng.sample(list(vocabulary.shapes), n)
        ]
        rng.shuffle(items)
        trays = [ObjectSpec(color, "tray") for color in colors]
        return Layout(
            placements=tuple(Placement(spec) for spec in (*trays, *items)),
            goals=tuple(Goal(item.name, "in", f"{item.color} tray") for item in items),
            fields={"first": colors[0], "second": colors[1]},
            reserved_colors=tuple(colors),
        )
