"""Reach: bring the gripper down onto a coloured zone (the simplest task, for learning end-effector control)."""

from __future__ import annotations

import random

from vista_envs.robot.tasks.base import GRIPPER, Goal, Layout, Placement, Task, Vocabulary, register_task, zone_spec


@register_task
class Reach(Task):
    """One coloured zone (a flat square marker, 12 cm wide, that nothing collides with) at a random place on
    the table. Goal: the grasp point touches the zone, coming within 5 cm of its centre (an "at" goal on
    the gripper; once touched it stays done). The oracle plan is ``reach(zone)``.

    The zone's colour is the only thing that differs between splits (train: seen colours; eval and test:
    purple, orange or pink), so for state observations the splits differ only in the episodes drawn.
    """

    name = "reach"
    description = "Move the gripper onto a coloured zone on the table."
    templates = (
        "Move the gripper to the {zone}.",
        "Touch the middle of the {zone} with the gripper.",
        "Reach for the {zone}.",
        "Bring the gripper down onto the {zone}.",
    )

    def sample(self, rng: random.Random, vocabulary: Vocabulary) -> Layout:
        zone = zone_spec(rng.choice(vocabulary.colors))
        return Layout(
            placements=(Placement(zone),), goals=(Goal(GRIPPER, "at", zone.name),), fields={"zone": zone.name}
        )
