"""The contract every registered robot task keeps, walked over the registry: a new task inherits these tests.

They need no simulator (only the task's sampler, its goals, instruction and oracle plan), so they are fast;
that the oracle plan and the scripted expert actually solve each task in PyBullet is tested per task in
``test_robot_plan.py`` and ``test_robot_ee.py``, which parametrize over the same registry.
"""

from __future__ import annotations

import random

import pytest

from vista_envs.robot.plan import parse_plan
from vista_envs.robot.tasks import GRIPPER, Layout, Task, get_task, task_names

TASKS = task_names()
SEEDS = range(12)
SPLITS = ("train", "eval", "test")


def layout_of(name: str, seed: int, split: str) -> tuple[Layout, str]:
    task = get_task(name)
    layout = task.sample_layout(random.Random(seed), split)
    return layout, task.instruction


def key(layout: Layout) -> tuple[str, ...]:
    """The layout's objects in order (what its held-out split is a hash of: order says which goes where)."""
    return tuple(spec.name for spec in layout.specs)


def test_the_registry_lists_every_task_module():
    assert {"pick_and_place", "reach", "stack"} <= set(TASKS) and list(TASKS) == sorted(TASKS)
    with pytest.raises(Exception, match="juggle"):
        get_task("juggle")


@pytest.mark.parametrize("name", TASKS)
def test_the_task_declares_its_name_description_and_instruction_templates(name):
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name
    assert isinstance(task.description, str) and len(task.description) > 10
    assert task.templates and all(isinstance(t, str) and t.strip() for t in task.templates)


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("split", SPLITS)
def test_the_same_seed_samples_the_same_layout_and_instruction(name, split):
    assert layout_of(name, 5, split) == layout_of(name, 5, split)
    if split == "train":  # a held-out vocabulary can be too small to vary (reach: one unseen zone colour in eval)
        variants = {(key(layout), instruction) for layout, instruction in (layout_of(name, s, split) for s in SEEDS)}
        assert len(variants) > 1, "the layout never changes"


@pytest.mark.parametrize("name", TASKS)
@pytest.mark.parametrize("split", SPLITS)
def test_goals_name_objects_of_the_layout_with_relations_their_kinds_allow(name, split):
    for seed in SEEDS:
        layout, instruction = layout_of(name, seed, split)
        names = [spec.name for spec in layout.specs]
        assert len(names) == len(set(names)), f"two objects share a name: {names}"
        assert layout.goals, "a task without goals is solved at reset"
        kinds = {spec.name: spec.kind for spec in layout.specs}
        for placement in layout.placements:
            assert placement.inside is None or kinds.get(placement.inside) == "container", placement
        for goal in layout.goals:
            if goal.relation == "at":
                assert goal.subject == GRIPPER and kinds[goal.target] == "zone", goal
                continue
            assert kinds[goal.subject] == "object", goal
            expected = {"on": {"object"}, "in": {"container", "zone"}, "out": {"container", "zone"}}
            assert kinds[goal.target] in expected[goal.relation], goal
        assert instruction.strip() and "{" not in instruction and "}" not in instruction, instruction


@pytest.mark.parametrize("name", TASKS)
def test_every_template_words_every_layout(name):
    task = get_task(name)
    for split in SPLITS:
        for seed in SEEDS:
            layout, _ = layout_of(name, seed, split)
            for template in task.instruction_templates(layout):
                assert template.format(**layout.fields).strip()


@pytest.mark.parametrize("name", TASKS)
def test_train_layouts_use_seen_attributes_and_held_out_layouts_an_unseen_one(name):
    for seed in SEEDS:
        train, _ = layout_of(name, seed, "train")
        assert all(spec.is_seen for spec in train.specs), [spec.name for spec in train.specs]
        for split in ("eval", "test"):
            held_out, _ = layout_of(name, seed, split)
            assert not all(spec.is_seen for spec in held_out.specs), (split, key(held_out))


@pytest.mark.parametrize("name", TASKS)
def test_eval_and_test_layouts_never_coincide(name):
    eval_keys = {key(layout_of(name, seed, "eval")[0]) for seed in SEEDS}
    test_keys = {key(layout_of(name, seed, "test")[0]) for seed in SEEDS}
    assert not eval_keys & test_keys


@pytest.mark.parametrize("name", TASKS)
def test_the_oracle_plan_of_each_goal_parses_back_and_names_only_layout_objects(name):
    task = get_task(name)
    for seed in SEEDS:
        layout, _ = layout_of(name, seed, "train")
        names = {spec.name for spec in layout.specs} | {"table"}
        plan = [primitive for goal in layout.goals for primitive in task.goal_plan(goal)]
        assert plan and parse_plan("; ".join(str(primitive) for primitive in plan), max_steps=len(plan)) == plan
        for primitive in plan:
            assert all(arg in names for arg in primitive.args if isinstance(arg, str)), primitive
