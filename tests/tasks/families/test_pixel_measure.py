"""The pixel_measure family: answers are measured on the rendered image, and harder tasks have more and more similar
distractors."""

import math

import numpy as np

from tool_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from tool_checks import all_tasks, mean_per_difficulty, strictly_rising


def test_pixel_answers_are_measured_on_the_rendered_image():
    kinds = set()
    for _, _, generated in all_tasks("pixel_measure"):
        scene, spec = generated.spec.scene, generated.spec
        pixels = np.asarray(generated.image)
        kind, names = scene["query"]["kind"], scene["query"]["colors"]
        measured = [s for s in scene["shapes"] if s["color"] in names]
        others = [s for s in scene["shapes"] if s["color"] not in names]
        assert not {tuple(s["rgb"]) for s in measured} & {tuple(s["rgb"]) for s in others}
        for i, a in enumerate(scene["shapes"]):
            for b in scene["shapes"][i + 1 :]:
                assert (
                    a["box"][2] <= b["box"][0]
                    or b["box"][2] <= a["box"][0]
                    or a["box"][3] <= b["box"][1]
                    or b["box"][3] <= a["box"][1]
                )
        masks = [
            np.all(pixels == measured_rgb, axis=-1) for measured_rgb in dict.fromkeys(tuple(s["rgb"]) for s in measured)
        ]
        if kind in ("width", "height"):
            ys, xs = np.nonzero(masks[0])
            assert spec.answer == (np.ptp(xs) if kind == "width" else np.ptp(ys)) + 1
        elif kind == "area":
            assert spec.answer == int(masks[0].sum())
        else:
            (ay, ax), (by, bx) = (np.argwhere(mask).mean(axis=0) for mask in masks)
            exact = math.hypot(ax - bx, ay - by)
            assert abs(exact - round(exact)) != 0.5 and spec.answer == round(exact) and spec.tolerance == 0.5
        kinds.add(kind)
    assert kinds == {"width", "height", "area", "distance"}


def test_harder_pixel_tasks_have_more_and_more_similar_distractors():
    shapes = mean_per_difficulty("pixel_measure", lambda s: len(s["shapes"]))
    assert shapes[0] == 1 and strictly_rising(shapes[1:]) and shapes[1] > shapes[0]
    # Look-alike shades (no palette name) appear only at difficulty 4 and 5.
    unnamed = mean_per_difficulty("pixel_measure", lambda s: sum(shape["color"] is None for shape in s["shapes"]))
    assert unnamed[:3] == [0, 0, 0] and unnamed[3] > 0 and unnamed[4] > 0
