"""The scene model the shape families share (``vista_envs/tasks/shape_scene.py``): exact object boxes, placement
within the allowed overlap, radii, descriptions, referents, and noise that never wraps around."""

import math
import random

import numpy as np
import pytest
from PIL import Image

from vista_envs.tasks.drawing import COLOR_NAMES, COLORS, SHAPES
from vista_envs.tasks.shape_scene import (
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

from family_checks import SIZES
from scene_checks import solo_pixels


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
