"""The maze, geometry and temporal_order task families: determinism, exact answers, difficulty, rendering."""

import json
import math
import random
import re
from collections import deque

import numpy as np
import pytest

from vista_envs.answers import format_answer, score_answer
from vista_envs.tasks import generate_task, get_family
from vista_envs.tasks.drawing import COLORS

FAMILIES = ("maze", "geometry", "temporal_order")
DIFFICULTIES = (1, 2, 3, 4, 5)
SIZES = ((224, 224), (128, 128), (336, 336), (320, 240))
SEEDS = 60  # sampled specs per family and difficulty
RENDERED = 6  # rendered images per family, difficulty and size


def specs(family: str, difficulty: int, count: int = SEEDS, size=(224, 224)):
    fam = get_family(family)
    return [fam.sample(random.Random(seed), difficulty, size) for seed in range(count)]


def wrong_answer(spec) -> str:
    """An answer that must score 0."""
    if spec.answer_type == "number":
        return str(spec.answer + spec.tolerance + 1)
    if spec.answer_type == "yes_no":
        return "no" if spec.answer == "yes" else "yes"
    if spec.answer_type == "sequence":
        return ", ".join(reversed(spec.answer))
    if spec.answer_type == "choice":
        return next(letter for letter in "ABCDEFGH" if letter != spec.answer)
    raise AssertionError(f"unexpected answer type {spec.answer_type}")


def rationale_conclusion(spec) -> str:
    """What the rationale concludes: its last number, yes/no, or letters, in the answer's canonical form."""
    if spec.answer_type == "number":
        return re.findall(r"\d+(?:\.\d+)?", spec.rationale)[-1]
    if spec.answer_type == "yes_no":
        return re.findall(r"\b(yes|no)\b", spec.rationale)[-1]
    if spec.answer_type == "choice":
        return re.findall(r"\b[A-H]\b", spec.rationale)[-1]
    return re.search(r"((?:[A-H], )*[A-H])\.$", spec.rationale).group(1)


# All families ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", SIZES)
def test_images_are_rgb_at_the_requested_size_for_every_difficulty(family, size):
    fam = get_family(family)
    for difficulty in DIFFICULTIES:
        for seed in range(RENDERED):
            task = generate_task(fam, seed, difficulty, size=size)
            assert task.image.mode == "RGB" and task.image.size == size


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_oracle_answer_scores_one_and_a_wrong_answer_scores_zero(family, difficulty):
    for spec in specs(family, difficulty):
        assert score_answer(format_answer(spec), spec) == 1.0
        assert score_answer(wrong_answer(spec), spec) == 0.0


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_scene_is_json_and_the_rationale_ends_at_the_answer(family, difficulty):
    for spec in specs(family, difficulty):
        assert json.loads(json.dumps(spec.scene)) == spec.scene
        assert rationale_conclusion(spec) == format_answer(spec)
        assert len(spec.rationale) < 600


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("difficulty", [0, 6, 2.5])
def test_an_invalid_difficulty_is_rejected(family, difficulty):
    with pytest.raises(ValueError, match="difficulty"):
        get_family(family).sample(random.Random(0), difficulty, (224, 224))


def test_config_knobs_change_the_questions():
    maze = get_family("maze", {"reachability_share": 1.0})
    assert all(maze.sample(random.Random(s), 3, (224, 224)).answer_type == "yes_no" for s in range(20))
    geometry = get_family("geometry", {"fine_angle_tolerance": 2.0})
    angles = [
        t for t in (geometry.sample(random.Random(s), 5, (224, 224)) for s in range(40)) if t.scene["kind"] == "angle"
    ]
    assert angles and all(t.tolerance == 2.0 and "within 2 degrees" in t.question for t in angles)
    temporal = get_family("temporal_order", {"first_appearance_share": 1.0})
    appear = [
        t for t in (temporal.sample(random.Random(s), 3, (224, 224)) for s in range(40)) if t.scene["event"] == "appear"
    ]
    assert appear and all(t.answer_type == "choice" for t in appear)


@pytest.mark.parametrize("family", FAMILIES)
def test_tiny_images_still_render(family):
    fam = get_family(family)
    for difficulty in DIFFICULTIES:
        assert generate_task(fam, 0, difficulty, size=(64, 64)).image.size == (64, 64)


# Maze ------------------------------------------------------------------------------------------


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
    answers = [spec.answer for d in DIFFICULTIES for spec in specs("maze", d) if spec.answer_type == "yes_no"]
    number_share = 1 - len(answers) / (SEEDS * len(DIFFICULTIES))
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


# Geometry --------------------------------------------------------------------------------------


def shoelace(points) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))) / 2


def perimeter(points) -> float:
    return sum(math.dist(a, b) for a, b in zip(points, points[1:] + points[:1]))


def pixel_angle(scene, label) -> float:
    """Direction of ray B-label measured on the drawn pixels, degrees counter-clockwise (y points up)."""
    vx, vy = scene["vertex"]
    ray = next(r for r in scene["rays"] if r["label"] == label)
    return math.degrees(math.atan2(vy - ray["end"][1], ray["end"][0] - vx))


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_geometry_answer_follows_from_the_figure(difficulty):
    for spec in specs("geometry", difficulty, 100):
        scene = spec.scene
        assert spec.answer_type == "number"
        if scene["kind"] == "segment":
            (ax, ay), (bx, by) = scene["segments"][0]["points"]
            assert scene["segments"][0]["label"] == "AB"
            assert spec.answer == math.hypot(bx - ax, by - ay) and isinstance(spec.answer, int)
        elif scene["kind"] == "angle":
            drawn = abs((pixel_angle(scene, "C") - pixel_angle(scene, "A") + 180) % 360 - 180)
            assert abs(drawn - spec.answer) < 0.5
            assert 0 < spec.answer < 180
        elif scene["measure"] == "area":
            assert spec.answer == shoelace(scene["polygon"])
        else:
            assert spec.answer == pytest.approx(perimeter(scene["polygon"])) and spec.answer == int(spec.answer)


def test_geometry_exact_answers_at_low_difficulty_and_a_stated_tolerance_for_fine_angles():
    for difficulty in DIFFICULTIES:
        for spec in specs("geometry", difficulty):
            if spec.scene["kind"] == "angle" and difficulty >= 4:
                assert spec.tolerance == 5.0 and "within 5 degrees" in spec.question
            else:
                assert spec.tolerance == 0.0
            if spec.scene["kind"] == "angle" and difficulty <= 3:
                step = 45 if difficulty == 1 else 15
                assert spec.answer % step == 0 and f"multiple of {step} degrees" in spec.question


def point_segment_distance(p, a, b) -> float:
    p, a, b = (np.array(v, dtype=float) for v in (p, a, b))
    t = np.clip(np.dot(p - a, b - a) / np.dot(b - a, b - a), 0, 1)
    return float(np.linalg.norm(p - (a + t * (b - a))))


def test_geometry_figures_stay_on_the_grid_and_distractors_keep_clear_of_the_target():
    for difficulty in DIFFICULTIES:
        for spec in specs("geometry", difficulty, 100, (320, 240)):
            scene = spec.scene
            if scene["kind"] == "angle":
                continue
            nx, ny = scene["grid"]["units"]
            points = scene["polygon"] if "polygon" in scene else [p for s in scene["segments"] for p in s["points"]]
            assert all(1 <= x <= nx - 1 and 1 <= y <= ny - 1 for x, y in points)
            if scene["kind"] == "segment":
                labels = [p for s in scene["segments"] for p in s["label_points"]]
                assert all(0.5 <= x <= nx - 0.5 and 0.5 <= y <= ny - 0.5 for x, y in labels)
                target, *distractors = scene["segments"]
                for other in distractors:
                    for point in other["points"] + other["label_points"]:
                        assert point_segment_distance(point, *target["points"]) >= 1.0
                    for point in target["points"] + target["label_points"]:
                        assert point_segment_distance(point, *other["points"]) >= 1.0


def test_geometry_difficulty_adds_grid_units_distractors_and_harder_figures():
    def stats(difficulty):
        tasks = specs("geometry", difficulty, 150)
        units = np.mean([s.scene["grid"]["units"][0] for s in tasks if "grid" in s.scene])
        distractors = np.mean(
            [len(s.scene.get("segments", "A")) - 1 + len(s.scene.get("rays", "AC")) - 2 for s in tasks]
        )
        # Figures that take several steps (cut-away polygons, shoelace) or fine angle estimates.
        hard = np.mean([s.scene["kind"] in ("rectilinear", "lattice_polygon") or s.tolerance > 0 for s in tasks])
        return units, distractors, hard

    units, distractors, hard = zip(*(stats(d) for d in DIFFICULTIES))
    assert all(a < b for a, b in zip(units, units[1:]))
    assert distractors[:3] == (0, 0, 0) and 0 < distractors[3] < distractors[4]
    assert hard[:3] == (0, 0, 0) and hard[3] > 0.5 and hard[4] > 0.5


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4])
def test_geometry_image_draws_the_figure_where_the_scene_says(difficulty):
    fam = get_family("geometry")
    figure, fill = np.array((40, 80, 220)), np.array((185, 205, 245))
    for seed in range(20):
        task = generate_task(fam, seed, difficulty)
        scene, pixels = task.spec.scene, np.asarray(task.image, dtype=int)
        if scene["kind"] == "angle":
            continue
        grid = scene["grid"]

        def color_at(x, y):
            px, py = grid["origin"][0] + x * grid["cell_px"], grid["origin"][1] - y * grid["cell_px"]
            return pixels[round(py), round(px)]

        if scene["kind"] == "segment":
            a, b = np.array(scene["segments"][0]["points"], dtype=float)
            for point in (a, b, (a + b) / 2):
                assert np.abs(color_at(*point) - figure).max() < 10
            continue
        # Just inside every side of the polygon is shaded; just outside is not.
        polygon = np.array(scene["polygon"], dtype=float)
        counter_clockwise = (
            sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(polygon, np.roll(polygon, -1, axis=0))) > 0
        )
        for start, end in zip(polygon, np.roll(polygon, -1, axis=0)):
            direction = (end - start) / np.linalg.norm(end - start)
            inward = np.array((-direction[1], direction[0])) * (1 if counter_clockwise else -1)
            middle = (start + end) / 2
            assert np.abs(color_at(*(middle + 0.3 * inward)) - fill).max() < 10
            assert np.abs(color_at(*(middle - 0.3 * inward)) - fill).max() > 20


# Temporal order --------------------------------------------------------------------------------


def chronological(spec) -> tuple[str, ...]:
    """The frame order recovered from the drawn items and the monotone change the question states."""
    frames = spec.scene["frames"]
    if match := re.search(r"The (\w+) ball only moves (\w+)", spec.question):
        color, direction = match.groups()
        axis, sign = {"right": (0, 1), "left": (0, -1), "down": (1, 1), "up": (1, -1)}[direction]

        def key(frame):
            (ball,) = [i for i in frame["items"] if i.get("shape") == "circle" and i["color"] == color]
            return sign * ball["center"][axis]
    elif match := re.search(r"The (\w+) bar only fills up", spec.question):

        def key(frame):
            (bar,) = [i for i in frame["items"] if i["type"] == "bar" and i["color"] == match.group(1)]
            return bar["fill"]
    elif "glass is only being emptied" in spec.question:

        def key(frame):
            return -next(i["level"] for i in frame["items"] if i["type"] == "glass")
    else:
        assert "only added" in spec.question

        def key(frame):
            return len(frame["items"])

    return tuple(frame["label"] for frame in sorted(frames, key=key))


def smallest_change_px(spec) -> float:
    """The smallest change of the monotone quantity between frames adjacent in time, in rendered pixels."""
    frames = sorted(spec.scene["frames"], key=lambda f: f["time"])
    side = frames[0]["box"][2] - frames[0]["box"][0]
    event = spec.scene["event"]
    if event == "appear":
        return math.inf
    if event == "ball":
        values = [f["items"][-1]["center"] for f in frames]
        return side * min(max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(values, values[1:]))
    kind = "bar" if event == "bar" else "glass"
    values = [next(i for i in f["items"] if i["type"] == kind)["fill" if kind == "bar" else "level"] for f in frames]
    length = 0.8 if kind == "bar" else 0.6  # bar width and glass height, as shares of the frame
    return side * length * min(abs(a - b) for a, b in zip(values, values[1:]))


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_temporal_order_is_recoverable_from_the_frames_alone(difficulty):
    for spec in specs("temporal_order", difficulty):
        order = chronological(spec)
        labels = tuple(f["label"] for f in spec.scene["frames"])
        assert sorted(order) == sorted(labels) and order != tuple(sorted(labels))
        if spec.answer_type == "sequence":
            assert spec.answer == order
        else:
            assert spec.answer_type == "choice" and spec.scene["event"] == "appear"
            assert spec.choices == labels
            color, shape = re.search(r"does the (\w+) (\w+) first appear", spec.question).groups()
            frames = {frame["label"]: frame["items"] for frame in spec.scene["frames"]}
            present = [any(i["color"] == color and i["shape"] == shape for i in frames[label]) for label in order]
            first = present.index(True)
            assert all(present[first:]) and order[first] == spec.answer and first > 0


@pytest.mark.parametrize("size", SIZES)
def test_temporal_changes_between_frames_stay_visible(size):
    for difficulty in DIFFICULTIES:
        for spec in specs("temporal_order", difficulty, 30, size):
            assert smallest_change_px(spec) >= 2.99


def test_temporal_difficulty_adds_frames_and_makes_changes_subtler():
    frames = [np.mean([len(s.scene["frames"]) for s in specs("temporal_order", d)]) for d in DIFFICULTIES]
    gradual = [[s for s in specs("temporal_order", d, 100) if s.scene["event"] != "appear"] for d in DIFFICULTIES]
    changes = [np.median([smallest_change_px(s) for s in level]) for level in gradual]
    assert frames[0] == 3 and frames[-1] == 5 and all(a <= b for a, b in zip(frames, frames[1:]))
    assert all(a > b for a, b in zip(changes, changes[1:]))


@pytest.mark.parametrize("size", SIZES)
def test_temporal_frames_lie_inside_the_image_without_overlapping(size):
    for difficulty in (1, 5):
        for spec in specs("temporal_order", difficulty, 5, size):
            boxes = [f["box"] for f in spec.scene["frames"]]
            assert all(0 <= x0 < x1 <= size[0] and 0 <= y0 < y1 <= size[1] for x0, y0, x1, y1 in boxes)
            for i, a in enumerate(boxes):
                for b in boxes[i + 1 :]:
                    assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4])
def test_temporal_image_draws_the_moving_ball_where_the_scene_says(difficulty):
    fam = get_family("temporal_order")
    checked = 0
    for seed in range(40):
        task = generate_task(fam, seed, difficulty)
        if task.spec.scene["event"] != "ball":
            continue
        pixels = np.asarray(task.image, dtype=int)
        for frame in task.spec.scene["frames"]:
            x0, y0, x1, _ = frame["box"]
            ball = frame["items"][-1]
            u, v = ball["center"]
            drawn = pixels[round(y0 + v * (x1 - x0)), round(x0 + u * (x1 - x0))]
            assert np.abs(drawn - np.array(COLORS[ball["color"]])).max() < 10
        checked += 1
    assert checked > 0
