"""Pick one object and put it into a container."""

from __future__ import annotations

import random

from vista_envs.robot.tasks.base import (
    Goal,
    Layout,
    Placement,
    Task,
    Vocabulary,
    container_spec,
    distinct_colors,
    object_spec,
    register_task,
)


@register_task
class PickAndPlace(Task):
    """Put the named object into the named bowl or tray. Goal: the object rests in the container."""

    name = "pick_and_place"
    description = "Put one object into a container (a bowl or a tray)."
    templates = (
        "Put the {object} in the {container}.",
        "Place the {object} into the {container}.",
        "Pick up the {object} and drop it in the {container}.",
        "Move the {object} into the {container}.",
        "The {object} belongs in the {container}. Put it there.",
    )

    def sample(self, rng: random.Random, vocabulary: Vocabulary) -> Layout:
        object_color, container_color = distinct_colors(rng, vocabulary, 2)
        item = object_spec(rng, vocabulary, object_color)
        container = container_spec(rng, container_color)
        return Layout(
            placements=(Placement(item), Placement(container)),
            goals=(Goal(item.name, "in", container.name),),
            fields={"object": item.name, "container": container.name},
        )
