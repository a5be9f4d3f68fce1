"""The shape-scene families (counting, attributes, spatial, comparison, grounding, odd_one_out) and
the scene model they share: determinism, exact answers recomputed from the scene, difficulty, rendering."""

import json
import math
import random
import statistics
from collections import Counter

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vista_envs.answers import format_answer, score_answer
from vista_envs.tasks import generate_task, get_family
from vista_envs.tasks.drawing import COLOR_NAMES, COLORS, SHAPES, draw_shape, font
from vista_envs.tasks.families.odd_one_out import SYMMETRY_PERIOD, OddOneOutConfig, grid_shape
from vista_envs.tasks.shape_scene import (
    OUTLINE,
    SCENE_LEVELS,
    SceneLevel,
    SceneObject,
    Traits,
    add_headroom_noise,
    describe,
    matching,
    near_miss,
    object_radii,
    place_objects,
    render_scene,
    scene_dict,
    unique_referents,
)

SCENE_FAMILIES = ("counting", "attributes", "spatial", "comparison", "grounding")
FAMILIES = (*SCENE_FAMILIES, "odd_one_out")
DIFFICULTIES = (1, 2, 3, 4, 5)
SIZES = ((224, 224), (128, 128), (336, 336), (320, 240))
SEEDS = 60  # sampled specs per family and difficulty
ANSWER_TYPES = {
    "counting": {"number"},
    "attributes": {"text"},
    "spatial": {"yes_no", "text"},
    "comparison": {"yes_no", "text"},
    "grounding": {"box"},
    "odd_one_out": {"choice"},
}


def specs(family: str, difficulty: int, count: int = SEEDS, size=(224, 224)):
    fam = get_family(family)
    return [fam.sample(random.Random(seed), difficulty, size) for seed in range(count)]


def has_values(obj: dict, query: dict) -> bool:
    return all(obj[key] == value for key, value in query.items())


def members(spec, query: dict) -> list[dict]:
    return [obj for obj in spec.scene["objects"] if has_values(obj, query)]


def the_one(spec, query: dict) -> dict:
    found = members(spec, query)
    assert len(found) == 1, f"{query} names {len(found)} objects in {spec.question!r}"
    return found[0]


def wrong_answer(spec) -> str:
    """An answer that must score 0."""
    if spec.answer_type == "number":
        return str(spec.answer + 1)
    if spec.answer_type == "yes_no":
        return "no" if spec.answer == "yes" else "yes"
    if spec.answer_type == "choice":
        return next(letter for letter in spec.choices if letter != spec.answer)
    if spec.answer_type == "box":
        x0, y0, x1, y1 = spec.answer
        width = x1 - x0
        return f"[{x0 + 2 * width}, {y0}, {x1 + 2 * width}, {y1}]"
    return "zebra"


def solo_pixels(obj: dict, size=(224, 224)) -> Image.Image:
    """``obj`` drawn alone, in white on black (outline included), as rendering draws it."""
    image = Image.new("L", size, 0)
    rotation = math.radians(obj["rotation"])
    draw_shape(
        ImageDraw.Draw(image), obj["shape"], (obj["x"], obj["y"]), obj["radius"], 255, outline=255, rotation=rotation
    )
    return image


# All families ----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("size", SIZES)
def test_images_are_rgb_at_the_requested_size_with_every_object_inside(family, size):
    fam = get_family(family)
    width, height = size
    for difficulty in DIFFICULTIES:
        for seed in range(4):
            task = generate_task(fam, seed, difficulty, size=size)
            assert task.image.mode == "RGB" and task.image.size == size
            for obj in task.spec.scene["objects"]:
                x0, y0, x1, y1 = obj["bbox"]
                assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_scene_is_json_serialisable_and_has_the_object_keys(family, difficulty):
    for spec in specs(family, difficulty, count=10):
        assert json.loads(json.dumps(spec.scene)) == spec.scene
        for obj in spec.scene["objects"]:
            assert {"shape", "color", "size", "x", "y", "bbox"} <= set(obj)
            assert obj["shape"] in SHAPES and obj["color"] in COLOR_NAMES and obj["size"] in ("small", "large")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_answer_type_is_the_familys_and_oracle_scores_one_and_wrong_scores_zero(family, difficulty):
    for spec in specs(family, difficulty):
        assert spec.answer_type in ANSWER_TYPES[family]
        assert score_answer(format_answer(spec), spec) == 1.0, spec.question
        assert score_answer(wrong_answer(spec), spec) == 0.0, spec.question
        assert spec.rationale and len(spec.rationale) < 300


@pytest.mark.parametrize("family", SCENE_FAMILIES)
def test_harder_scenes_hold_more_and_smaller_objects_with_noise_at_the_top(family):
    objects = [statistics.mean(len(spec.scene["objects"]) for spec in specs(family, d)) for d in DIFFICULTIES]
    radius = [
        statistics.mean(obj["radius"] for spec in specs(family, d) for obj in spec.scene["objects"])
        for d in DIFFICULTIES
    ]
    noise = [specs(family, d, count=1)[0].scene["noise"] for d in DIFFICULTIES]
    assert objects == sorted(objects) and objects[-1] > 2 * objects[0]
    assert radius == sorted(radius, reverse=True)
    assert noise[:3] == [0, 0, 0] and 0 < noise[3] < noise[4]


@pytest.mark.parametrize("family", SCENE_FAMILIES)
def test_hardest_scenes_have_partly_overlapping_objects_and_easiest_none(family):
    def overlapping_pairs(difficulty):
        return sum(
            math.dist((a["x"], a["y"]), (b["x"], b["y"])) < a["radius"] + b["radius"]
            for spec in specs(family, difficulty, count=20)
            for i, a in enumerate(spec.scene["objects"])
            for b in spec.scene["objects"][:i]
        )

    assert overlapping_pairs(1) == 0 and overlapping_pairs(3) == 0
    assert overlapping_pairs(5) > 20


@pytest.mark.parametrize("family", ("counting", "attributes", "grounding"))
def test_harder_questions_name_more_attributes(family):
    per_level = [statistics.mean(len(spec.scene["query"]) for spec in specs(family, d)) for d in DIFFICULTIES]
    assert per_level == sorted(per_level) and per_level[0] == 1 and per_level[-1] >= 2


# Answers recomputed from the scene -------------------------------------------------------------


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_counting_answer_is_the_number_of_objects_matching_the_question(difficulty):
    answers = Counter()
    for spec in specs("counting", difficulty):
        query = spec.scene["query"]
        assert spec.answer == len(members(spec, query))
        assert spec.question == f"How many {describe(query, plural=True)} are there?"
        assert len(members(spec, query)) < len(spec.scene["objects"])
        if "size" in query:
            assert {obj["size"] for obj in spec.scene["objects"]} == {"small", "large"}
        answers[spec.answer] += 1
    assert len(answers) >= 3


def test_counting_respects_max_count_from_a_dict_config():
    fam = get_family("counting", {"max_count": 2})
    assert {fam.sample(random.Random(seed), 5, (224, 224)).answer for seed in range(50)} <= {0, 1, 2}


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_attributes_answer_is_the_asked_attribute_of_the_only_described_object(difficulty):
    asked = Counter()
    for spec in specs("attributes", difficulty):
        target = the_one(spec, spec.scene["query"])
        assert spec.answer == target[spec.scene["asked"]]
        assert spec.scene["asked"] not in spec.scene["query"]
        if spec.scene["asked"] == "size":
            assert {obj["size"] for obj in spec.scene["objects"]} == {"small", "large"}
        asked[spec.scene["asked"]] += 1
    assert len(asked) >= 2


def test_attributes_gray_answer_also_accepts_grey():
    fam = get_family("attributes")
    spec = next(
        spec for seed in range(500) if (spec := fam.sample(random.Random(seed), 1, (224, 224))).answer == "gray"
    )
    assert score_answer("grey", spec) == 1.0


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


def spatial_truth(spec):
    """The answer to a spatial question, recomputed from object centres and edges."""
    query = spec.scene["query"]
    axis_of = {"left": ("x", 1), "right": ("x", -1), "above": ("y", 1), "below": ("y", -1)}

    def before(a, b, axis, sign):  # a wholly before b, in the direction of `sign`
        return sign * (b[axis] - a[axis]) >= a["radius"] + b["radius"]

    if query["form"] == "relation":
        a, b = the_one(spec, query["subject"]), the_one(spec, query["reference"])
        axis, sign = axis_of[query["relation"]]
        assert before(a, b, axis, 1) or before(b, a, axis, 1), "the two objects overlap along the asked axis"
        return "yes" if before(a, b, axis, sign) else "no"
    if query["form"] == "exists":
        b = the_one(spec, query["reference"])
        group = members(spec, query["group"])
        axis, sign = axis_of[query["relation"]]
        assert group and b not in group
        assert all(before(obj, b, axis, 1) or before(b, obj, axis, 1) for obj in group)
        return "yes" if any(before(obj, b, axis, sign) for obj in group) else "no"
    axis, sign = {"leftmost": ("x", 1), "rightmost": ("x", -1), "topmost": ("y", 1), "bottommost": ("y", -1)}[
        query["extreme"]
    ]
    group = sorted(members(spec, query["group"]), key=lambda obj: sign * obj[axis])
    assert len(group) >= 2
    winner, runner_up = group[0], group[1]
    for offset in (-1, 0, 1):  # near edge, centre and far edge all clearly ahead
        assert (
            sign * ((runner_up[axis] + offset * runner_up["radius"]) - (winner[axis] + offset * winner["radius"]))
            >= 0.04 * 224
        )
    return winner[query["asked"]]


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_spatial_answer_follows_from_positions_with_a_clear_margin(difficulty):
    answers = Counter()
    for spec in specs("spatial", difficulty):
        assert spec.answer == spatial_truth(spec), spec.question
        answers[spec.answer if spec.answer_type == "yes_no" else "text"] += 1
    yes_no = answers["yes"] + answers["no"]
    assert yes_no == 0 or min(answers["yes"], answers["no"]) >= 0.2 * yes_no


def test_spatial_moves_from_pairwise_relations_to_group_questions_with_difficulty():
    forms = [{spec.scene["query"]["form"] for spec in specs("spatial", d)} for d in DIFFICULTIES]
    assert forms == [
        {"relation"},
        {"relation"},
        {"relation", "extreme"},
        {"relation", "extreme", "exists"},
        {"extreme", "exists"},
    ]


@pytest.mark.parametrize("difficulty", DIFFICULTIES)
def test_comparison_answer_follows_from_the_two_counts_and_which_is_never_a_tie(difficulty):
    forms = Counter()
    for spec in specs("comparison", difficulty):
        query = spec.scene["query"]
        first, second = (
            len(members(spec, {**query["context"], query["attribute"]: value})) for value in query["values"]
        )
        if query["form"] == "which":
            assert first != second
            assert spec.answer == (query["values"][0] if first > second else query["values"][1])
        else:
            truth = {"more": first > second, "fewer": first < second, "same": first == second}[query["form"]]
            assert spec.answer == ("yes" if truth else "no")
        if difficulty == 1:
            assert abs(first - second) >= 2
        forms[query["form"]] += 1
    assert set(forms) == (
        {"more"} if difficulty == 1 else {"more", "fewer"} if difficulty == 2 else {"more", "fewer", "same", "which"}
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


# The shared scene model ------------------------------------------------------------------------


def test_object_bbox_is_exactly_the_rendered_pixel_box_for_every_shape_and_rotation():
    rng = random.Random(7)
    for _ in range(1500):
        # Whole-pixel centres and radii put vertices exactly on pixel edges, the hardest case.
        x, y, radius = (
            rng.choice((round(rng.uniform(a, b), 1), rng.randint(a, b))) for a, b in ((40, 90), (40, 90), (5, 30))
        )
        obj = SceneObject(
            rng.choice(SHAPES), "red", "large", x, y, radius, rng.choice((0, rng.randint(-30, 30))), COLORS["red"]
        )
        assert solo_pixels(obj.to_dict(0), (128, 128)).getbbox() == obj.bbox, obj


def test_placed_objects_stay_inside_and_intrude_at_most_the_allowed_share():
    rng = random.Random(3)
    for level in SCENE_LEVELS:
        for size in SIZES:
            traits = [
                Traits(rng.choice(SHAPES), rng.choice(COLOR_NAMES), rng.choice(("small", "large")))
                for _ in range(level.objects[1])
            ]
            objects = place_objects(rng, traits, size, level)
            assert [obj.traits for obj in objects] == traits
            for i, a in enumerate(objects):
                assert a.radius <= a.x <= size[0] - a.radius and a.radius <= a.y <= size[1] - a.radius
                for b in objects[:i]:
                    intrusion = a.radius + b.radius - math.dist((a.x, a.y), (b.x, b.y))
                    assert intrusion <= level.overlap * min(a.radius, b.radius) + 1e-9


def test_overlapping_objects_keep_a_good_part_of_their_pixels_in_view():
    rng = random.Random(11)
    level = SCENE_LEVELS[-1]

    def own_pixels(objects, index):
        image = render_scene(scene_dict(objects, background=(255, 255, 255), noise=0.0), (224, 224), rng)
        return int((np.asarray(image, dtype=int) == (index + 1, 0, 0)).all(axis=-1).sum())

    for _ in range(20):
        traits = [Traits(rng.choice(SHAPES), "red", rng.choice(("small", "large"))) for _ in range(15)]
        # Each object gets its own colour so that its visible pixels can be counted.
        objects = [
            obj._replace(rgb=(i + 1, 0, 0)) for i, obj in enumerate(place_objects(rng, traits, (224, 224), level))
        ]
        for i, obj in enumerate(objects):
            assert own_pixels(objects, i) >= 0.4 * own_pixels([obj._replace(rgb=(i + 1, 0, 0))], i), obj


def test_crowded_scenes_shrink_objects_instead_of_failing():
    level = SceneLevel(objects=(40, 40), large_radius=0.12)
    objects = place_objects(random.Random(0), [Traits("circle", "red", "large")] * 40, (128, 128), level)
    assert len(objects) == 40 and objects[0].radius < object_radii((128, 128), level)[1]


def test_level_rejects_an_overlap_that_could_hide_objects():
    with pytest.raises(ValueError):
        SceneLevel(objects=(3, 5), large_radius=0.1, overlap=0.8)


def test_radii_scale_with_the_image_but_never_fall_below_the_legible_minimum():
    small, large = object_radii((224, 224), SCENE_LEVELS[0])
    assert large == pytest.approx(22.4) and small == pytest.approx(13.4)
    assert object_radii((448, 448), SCENE_LEVELS[0])[1] == pytest.approx(2 * large)
    assert object_radii((96, 96), SCENE_LEVELS[-1]) == (5.5, 9.0)


def test_describe_builds_noun_phrases_in_size_colour_shape_order():
    assert describe({"shape": "circle", "color": "red", "size": "small"}) == "small red circle"
    assert describe({"color": "red"}, plural=True) == "red objects"
    assert describe({"shape": "star"}, plural=True) == "stars"


def test_near_miss_differs_in_exactly_one_named_attribute():
    rng = random.Random(5)
    query = {"size": "small", "color": "red", "shape": "circle"}
    for _ in range(100):
        traits = near_miss(rng, query, [query])
        assert sum(getattr(traits, key) != value for key, value in query.items()) == 1


def test_unique_referents_make_each_description_fit_exactly_one_object():
    rng = random.Random(9)
    descriptions = [{"color": "red", "shape": "circle"}, {"color": "blue"}]
    for _ in range(50):
        referents, others = unique_referents(rng, descriptions, 12, near_share=0.8)
        everything = referents + others
        for description in descriptions:
            assert sum(all(getattr(t, k) == v for k, v in description.items()) for t in everything) == 1


def test_matching_selects_objects_with_every_named_value():
    objects = [
        SceneObject("circle", "red", "small", 10.0, 10.0, 5.0, 0, COLORS["red"]),
        SceneObject("circle", "blue", "small", 30.0, 10.0, 5.0, 0, COLORS["blue"]),
        SceneObject("square", "red", "large", 50.0, 10.0, 8.0, 0, COLORS["red"]),
    ]
    assert matching(objects, {"color": "red"}) == [objects[0], objects[2]]
    assert matching(objects, {"color": "red", "shape": "circle"}) == [objects[0]]
    assert matching(objects, {"shape": "star"}) == []


def test_noise_free_scene_draws_exact_palette_colours():
    obj = SceneObject("circle", "green", "large", 50.0, 50.0, 20.0, 0, COLORS["green"])
    image = render_scene(scene_dict([obj], background=(255, 255, 255), noise=0.0), (100, 100), random.Random(0))
    assert image.getpixel((50, 50)) == COLORS["green"] and image.getpixel((2, 2)) == (255, 255, 255)


def test_noise_has_the_asked_spread_and_never_wraps_around():
    obj = SceneObject("circle", "yellow", "large", 50.0, 50.0, 30.0, 0, COLORS["yellow"])
    clean = np.asarray(
        render_scene(scene_dict([obj], background=(255, 255, 255), noise=0.0), (100, 100), random.Random(0)), dtype=int
    )
    noisy = np.asarray(
        render_scene(scene_dict([obj], background=(255, 255, 255), noise=8.0), (100, 100), random.Random(0)), dtype=int
    )
    # The noisy image keeps 24 levels of headroom, so white is drawn as 231 and noise stays within it.
    assert noisy.min() >= 0 and noisy.max() <= 255
    assert 6 < (noisy[:5, :5] - 231).std() < 10
    assert np.abs(noisy - clean).max() < 60


def test_noise_tile_offset_comes_from_the_rng():
    image = Image.new("RGB", (64, 64), (128, 128, 128))
    first = add_headroom_noise(image, 5.0, random.Random(1)).tobytes()
    assert first == add_headroom_noise(image, 5.0, random.Random(1)).tobytes()
    assert first != add_headroom_noise(image, 5.0, random.Random(2)).tobytes()
