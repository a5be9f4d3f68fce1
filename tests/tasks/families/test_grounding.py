"""The grounding family: the answer is the tight box of the only object the question describes, drawn on top."""

import numpy as np
import pytest

from vista_envs.tasks import generate_task, get_family
from vista_envs.tasks.shape_scene import OUTLINE

from family_checks import DIFFICULTIES, specs
from scene_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from scene_checks import solo_pixels, test_harder_questions_name_more_attributes, the_one  # noqa: F401


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_grounding_answer_is_the_tight_box_of_the_only_described_object_drawn_on_top(difficulty):
    for spec in specs("grounding", difficulty):
        target = the_one(spec, spec.scene["query"])
        assert spec.answer == tuple(target["bbox"]) and all(isinstance(v, int) for v in spec.answer)
        assert spec.scene["objects"][-1] is target
        assert solo_pixels(target).getbbox() == spec.answer


def test_grounding_box_is_tight_around_the_target_in_the_rendered_image():
    fam = get_family("grounding")
    for seed in range(10):
        task = generate_task(fam, seed, 2)
        x0, y0, x1, y1 = task.answer
        target = task.spec.scene["objects"][-1]
        pixels = np.asarray(task.image, dtype=int)
        is_target = (pixels == target["rgb"]).all(axis=-1) | (pixels == OUTLINE).all(axis=-1)
        inside = is_target[y0:y1, x0:x1]
        # Each edge row and column of the box touches the target; most of the box is the target.
        assert inside[0].any() and inside[-1].any() and inside[:, 0].any() and inside[:, -1].any()
        assert inside.mean() > 0.3
