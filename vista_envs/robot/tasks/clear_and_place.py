"""Put an object into a container that another object occupies: the obstacle must come out first."""

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
class ClearAndPlace(Task):
    """The container holds an obstacle object that the instruction does not name; the constraint says the
    container must end up holding the named object only. Goals, in order: the obstacle is out of the
    container; the named object rests in it. Putting the object straight in fails."""

    name = "clear_and_place"
    description = (
        "Empty an occupied container, then put the named object in it (the container may hold only that object)."
    )
    templates = (
        "Put the {object} in the {container}. At the end the {container} must hold nothing else.",
        "The {container} should contain only the {object}. Make it so.",
        "Empty the {container}, then place the {object} inside it.",
        "Make the {object} the only thing in the {container}.",
    )

    def sample(self, rng: random.Random, vocabulary: Vocabulary) -> Layout:
        object_color, obstacle_color, container_color = distinct_colors(rng, vocabulary, 3)
        item = object_spec(rng, vocabulary, object_color)
        obstacle = object_spec(rng, vocabulary, obstacle_color)
        container = container_spec(rng, container_color)
        return Layout(
            placements=(Placement(item), Placement(container), Placement(obstacle, inside=container.name)),
            goals=(Goal(obstacle.name, "out", container.name), Goal(item.name, "in", container.name)),
            fields={"object": item.name, "container": container.name},
        )
