"""The maze family: answers checked by an independent breadth-first search, perfect mazes that gain loops, walls
drawn where the scene has them."""

import random
from collections import deque

import numpy as np
import pytest

from vista_envs.tasks import generate_task, get_family

from family_checks import DIFFICULTIES, SIZES, specs
from reasoning_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from reasoning_checks import RENDERED


def maze_distance(scene) -> int | None:
    """Breadth-first search over the scene's passages: steps from start to goal, None if unreachable."""
    rows, cols = scene["rows"], scene["cols"]
    east, south = scene["open_east"], scene["open_south"]
    start, goal = tuple(scene["start"]), tuple(scene["goal"])
    dist = {start: 0}
    queue = deque([start])
    while queue:
        r, c = queue.popleft()
        steps = []
        if c + 1 < cols and east[r][c]:
            steps.append((r, c + 1))
        if c > 0 and east[r][c - 1]:
            steps.append((r, c - 1))
        if r + 1 < rows and south[r][c]:
            steps.append((r + 1, c))
        if r > 0 and south[r - 1][c]:
            steps.append((r - 1, c))
        for cell in steps:
            if cell not in dist:
                dist[cell] = dist[(r, c)] + 1
                queue.append(cell)
    return dist.get(goal)


def passages(scene) -> int:
    return sum(map(sum, scene["open_east"])) + sum(map(sum, scene["open_south"]))


def test_config_knobs_change_the_questions():
    maze = get_family("maze", {"reachability_share": 1.0})
    assert all(maze.sample(random.Random(s), 3, (224, 224)).answer_type == "yes_no" for s in range(20))


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_maze_answer_matches_an_independent_breadth_first_search(difficulty):
    for spec in specs("maze", difficulty):
        distance = maze_distance(spec.scene)
        if spec.answer_type == "number":
            assert spec.answer == distance and isinstance(spec.answer, int)
        else:
            assert spec.answer_type == "yes_no"
            assert spec.answer == ("no" if distance is None else "yes")


def test_maze_asks_both_questions_and_reachability_answers_are_balanced():
    count = 60
    answers = [spec.answer for d in DIFFICULTIES for spec in specs("maze", d, count) if spec.answer_type == "yes_no"]
    number_share = 1 - len(answers) / (count * len(DIFFICULTIES))
    assert 0.5 < number_share < 0.9
    assert 0.3 < answers.count("yes") / len(answers) < 0.7


def test_maze_is_perfect_at_low_difficulty_and_has_loops_at_high_difficulty():
    def extra_passages(difficulty):
        shortest = [s.scene for s in specs("maze", difficulty) if s.answer_type == "number"]
        return [passages(scene) - (scene["rows"] * scene["cols"] - 1) for scene in shortest]

    assert set(extra_passages(1)) == {0} and set(extra_passages(2)) == {0}
    assert min(extra_passages(5)) > 0


def test_maze_grids_grow_and_walls_thin_with_difficulty():
    cells = [np.mean([s.scene["rows"] * s.scene["cols"] for s in specs("maze", d)]) for d in DIFFICULTIES]
    walls = [np.mean([s.scene["wall_px"] for s in specs("maze", d)]) for d in DIFFICULTIES]
    assert all(a < b for a, b in zip(cells, cells[1:]))
    assert all(a >= b for a, b in zip(walls, walls[1:])) and walls[0] > walls[-1]


@pytest.mark.parametrize("size", SIZES)
def test_maze_cells_stay_large_enough_to_see_the_walls(size):
    for difficulty in DIFFICULTIES:
        for spec in specs("maze", difficulty, 20, size):
            scene = spec.scene
            assert scene["cell_px"] >= 12
            assert scene["origin"][0] >= 0 and scene["origin"][0] + scene["cols"] * scene["cell_px"] < size[0]
            assert scene["origin"][1] >= 0 and scene["origin"][1] + scene["rows"] * scene["cell_px"] < size[1]
            assert scene["start"] != scene["goal"]


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_maze_image_shows_walls_where_the_scene_has_them(difficulty):
    fam = get_family("maze")
    for seed in range(RENDERED):
        task = generate_task(fam, seed, difficulty)
        pixels = np.asarray(task.image, dtype=float).mean(axis=2)
        scene = task.spec.scene
        x0, y0 = scene["origin"]
        cell = scene["cell_px"]
        for r, row in enumerate(scene["open_east"]):
            for c, is_open in enumerate(row):
                value = pixels[y0 + r * cell + cell // 2, x0 + (c + 1) * cell]
                assert value > 150 if is_open else value < 80
        for r, row in enumerate(scene["open_south"]):
            for c, is_open in enumerate(row):
                value = pixels[y0 + (r + 1) * cell, x0 + c * cell + cell // 2]
                assert value > 150 if is_open else value < 80
