"""The odd_one_out family: the answer labels the only item that looks different, the difference stays visible (turns
are not hidden by symmetry), items and labels keep to their grid cells, a real difficulty ladder."""

import math
from collections import Counter

import numpy as np
import pytest

from vista_envs.tasks import generate_task, get_family
from vista_envs.tasks.drawing import font
from vista_envs.tasks.families.odd_one_out import SYMMETRY_PERIOD, OddOneOutConfig, grid_shape

from family_checks import DIFFICULTIES, SIZES, specs

# Its shapes sit on a grid, not in a scene: of the shape-scene families' shared checks, these three hold for it.
from scene_checks import (  # noqa: F401
    test_answer_type_is_the_familys_and_oracle_scores_one_and_wrong_scores_zero,
    test_images_are_rgb_at_the_requested_size_with_every_object_inside,
    test_scene_is_json_serialisable_and_has_the_object_keys,
)


def odd_item(spec) -> dict:
    """The one object whose look (shape, colour, size, rotation) no other object shares."""
    looks = Counter((o["shape"], tuple(o["rgb"]), o["radius"], o["rotation"]) for o in spec.scene["objects"])
    (odd_look,) = [look for look, count in looks.items() if count == 1]
    assert len(looks) == 2
    return next(
        o for o in spec.scene["objects"] if (o["shape"], tuple(o["rgb"]), o["radius"], o["rotation"]) == odd_look
    )


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_odd_one_out_answer_is_the_label_of_the_only_different_item(difficulty):
    letters = Counter()
    for spec in specs("odd_one_out", difficulty):
        index = spec.scene["objects"].index(odd_item(spec))
        assert spec.answer == spec.scene["labels"][index]["text"] == spec.choices[index]
        assert spec.choices == tuple("ABCDEFGHIJKLMNOP"[: len(spec.scene["objects"])])
        letters[spec.answer] += 1
    assert len(letters) >= 4


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_odd_one_out_differences_are_visible_and_turns_are_not_hidden_by_symmetry(difficulty):
    for spec in specs("odd_one_out", difficulty):
        odd = odd_item(spec)
        base = next(o for o in spec.scene["objects"] if o is not odd)
        kind = spec.scene["difference"]
        if kind == "size":
            assert abs(odd["radius"] - base["radius"]) >= 2.5 - 1e-9
        elif kind == "hue":
            assert odd["color"] == base["color"] and math.dist(odd["rgb"], base["rgb"]) >= 40
        elif kind == "rotation":
            turn = abs(odd["rotation"] - base["rotation"]) % SYMMETRY_PERIOD[odd["shape"]]
            assert min(turn, SYMMETRY_PERIOD[odd["shape"]] - turn) >= 15


def test_odd_one_out_grows_and_gets_subtler_with_difficulty():
    items = [len(specs("odd_one_out", d, count=5)[0].scene["objects"]) for d in DIFFICULTIES]
    assert items == sorted(items) and items[0] == 4 and items[-1] == 16
    config = OddOneOutConfig()
    assert list(config.size_ratio) == sorted(config.size_ratio, reverse=True)
    assert list(config.rotation_change) == sorted(config.rotation_change, reverse=True)
    assert list(config.hue_shift) == sorted(config.hue_shift, reverse=True)
    # The subtlest hue shifts still come in most colours.
    for difficulty in (4, 5):
        hue_specs = [spec for spec in specs("odd_one_out", difficulty, count=300) if spec.scene["difference"] == "hue"]
        assert len({spec.scene["objects"][0]["color"] for spec in hue_specs}) >= 7


@pytest.mark.parametrize("size", SIZES)
def test_odd_one_out_items_and_labels_stay_in_their_own_cells(size):
    for difficulty in DIFFICULTIES:
        for spec in specs("odd_one_out", difficulty, count=10, size=size):
            columns, rows, cell = grid_shape(len(spec.scene["objects"]), size)
            assert columns * rows >= len(spec.scene["objects"])
            for index, (obj, label) in enumerate(zip(spec.scene["objects"], spec.scene["labels"])):
                row, column = divmod(index, columns)
                left, top = (size[0] - columns * cell) / 2 + column * cell, (size[1] - rows * cell) / 2 + row * cell
                _, glyph_top, _, glyph_bottom = font(label["size"]).getbbox(label["text"], anchor="mm")
                # Item above its label, both inside the cell.
                assert left <= obj["bbox"][0] and obj["bbox"][2] <= left + cell and top <= obj["bbox"][1]
                assert obj["bbox"][3] <= label["y"] + glyph_top
                assert label["y"] + glyph_bottom <= top + cell + 0.5


def test_labels_are_drawn_where_the_scene_puts_them():
    task = generate_task(get_family("odd_one_out"), 0, 1)
    pixels = np.asarray(task.image.convert("L"))
    for label in task.spec.scene["labels"]:
        x, y = round(label["x"]), round(label["y"])
        assert pixels[y - 4 : y + 5, x - 4 : x + 5].min() < 100
