"""The geometry family: answers recomputed from the figure (lengths, angles measured on the drawn rays, shoelace
areas), figures that stay on the grid, distractors clear of the target, a real difficulty ladder."""

import math
import random

import numpy as np
import pytest

from vista_envs.tasks import generate_task, get_family

from family_checks import DIFFICULTIES, specs
from reasoning_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)


def shoelace(points) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))) / 2


def perimeter(points) -> float:
    return sum(math.dist(a, b) for a, b in zip(points, points[1:] + points[:1]))


def pixel_angle(scene, label) -> float:
    """Direction of ray B-label measured on the drawn pixels, degrees counter-clockwise (y points up)."""
    vx, vy = scene["vertex"]
    ray = next(r for r in scene["rays"] if r["label"] == label)
    return math.degrees(math.atan2(vy - ray["end"][1], ray["end"][0] - vx))


def test_config_knobs_change_the_questions():
    geometry = get_family("geometry", {"fine_angle_tolerance": 2.0})
    angles = [
        t for t in (geometry.sample(random.Random(s), 5, (224, 224)) for s in range(40)) if t.scene["kind"] == "angle"
    ]
    assert angles and all(t.tolerance == 2.0 and "within 2 degrees" in t.question for t in angles)


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
