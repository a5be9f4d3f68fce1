"""The parts of VistaViews-v0: projection, ray-tested visibility against the renderer's own segmentation mask,
layouts and their splits, marks and the mosaic, and the group consistency reward."""

import itertools
import math
import random

import numpy as np
import pytest

pytest.importorskip("pybullet")


from vista_envs.robot.randomization import Randomization
from vista_envs.robot.sim import Lighting, PyBullet
from vista_envs.views.consistency import answer_key, consistency_rewards
from vista_envs.views.marks import RING_RGB, Mark, draw_marks, mosaic, mosaic_grid
from vista_envs.views.rig import MIN_AZIMUTH_GAP, project, render_view, sample_rig
from vista_envs.views.scene import COLORS, SHAPES, SceneBuilder, objects_split, sample_layout
from vista_envs.views.visibility import measure_visibility, sample_points, screened, seen_points

SIZE = 160


def _mask(sim, camera, size=SIZE):
    """The segmentation mask drawn with ``camera``'s view (body id per pixel, -1 for none)."""
    return render_view(sim, camera, Lighting(), size, size, (0, 0, 0))[1]


@pytest.fixture(scope="module")
def scenes():
    """(sim, layout, bodies, cameras, visibility, masks) for a few difficult scenes."""
    sim = PyBullet()
    builder = SceneBuilder(sim)
    found = []
    rng = random.Random(5)
    for difficulty in (3, 4, 5):
        for _ in range(2):
            layout = sample_layout(rng, difficulty, "train", Randomization())
            bodies, _ = builder.build(layout, rng, Randomization())
            cameras = sample_rig(rng, 4, difficulty, Randomization())
            masks = [_mask(sim, c) for c in cameras]
            visibility = measure_visibility(masks, cameras, bodies, sample_points(layout))
            aabbs = [sim.aabb(body) for body in bodies]
            found.append((layout, bodies, cameras, visibility, masks, aabbs, sim))
    yield found
    sim.close()


def test_projection_matches_where_pybullet_draws_each_object(scenes):
    checked = 0
    for layout, bodies, cameras, visibility, masks, sim_aabbs, _ in scenes:
        for v, (camera, mask) in enumerate(zip(cameras, masks)):
            for i, body in enumerate(bodies):
                ys, xs = np.nonzero(mask == body)
                if visibility.seen[v, i] == 1.0 and len(xs) > 30:  # fully in view
                    low, high = sim_aabbs[i]
                    corners = np.array(
                        [[x, y, z] for x in (low[0], high[0]) for y in (low[1], high[1]) for z in (low[2], high[2])]
                    )
                    projected = project(camera, corners, SIZE, SIZE)
                    # Every drawn pixel lies inside the projected bounding box (PyBullet pads it), which it largely
                    # fills.
                    assert xs.min() >= projected[:, 0].min() - 1.5 and xs.max() <= projected[:, 0].max() + 0.5
                    assert ys.min() >= projected[:, 1].min() - 1.5 and ys.max() <= projected[:, 1].max() + 0.5
                    assert xs.max() - xs.min() >= 0.4 * np.ptp(projected[:, 0])
                    checked += 1
    assert checked >= 20


def test_clear_objects_are_plainly_drawn_and_occluded_ones_at_most_a_sliver(scenes):
    checked = {"clear": 0, "occluded": 0}
    for layout, bodies, cameras, visibility, masks, _, _ in scenes:
        full = {}
        for v, mask in enumerate(masks):
            for i, body in enumerate(bodies):
                pixels = int((mask == body).sum())
                if visibility.clear(v, i):
                    checked["clear"] += 1
                    assert pixels >= 25, (v, i, pixels)
                    full[i] = max(full.get(i, 0), pixels)
        for v, mask in enumerate(masks):
            for i, body in enumerate(bodies):
                if visibility.occluded(v, i) and i in full:
                    checked["occluded"] += 1
                    # At most a sliver of an occluded object is drawn: under a tenth of what a clear view shows.
                    assert int((mask == body).sum()) <= 0.1 * full[i], (v, i)
    assert checked["clear"] >= 30 and checked["occluded"] >= 3, checked


def test_points_read_off_the_masks_as_seen_are_the_ones_a_ray_from_the_eye_reaches_first():
    """The masks decide at the pixel, rays in continuous space: they must agree on nearly every point (they
    differ only where a point's pixel straddles a silhouette edge)."""
    sim = PyBullet()
    builder = SceneBuilder(sim)
    rng = random.Random(7)
    agree = total = 0
    for difficulty in (1, 3, 5, 5):
        layout = sample_layout(rng, difficulty, "train", Randomization())
        bodies, _ = builder.build(layout, rng, Randomization())
        points = sample_points(layout)
        owners = np.repeat(np.asarray(bodies), points.shape[1])
        flat = points.reshape(-1, 3)
        for camera in sample_rig(rng, 4, difficulty, Randomization()):
            seen, in_frame, _ = seen_points([_mask(sim, camera)], [camera], points, bodies)
            inside = in_frame[0].reshape(-1)
            hits = sim.client.rayTestBatch([camera.eye] * int(inside.sum()), flat[inside])
            by_ray = np.array([hit[0] for hit in hits]) == owners[inside]
            agree += int((by_ray == seen[0].reshape(-1)[inside]).sum())
            total += int(inside.sum())
    sim.close()
    assert total > 1000 and agree >= 0.95 * total, (agree, total)


def test_the_aim_check_predicts_the_screen_hides_the_object_in_view_1():
    sim = PyBullet()
    builder = SceneBuilder(sim)
    rng = random.Random(3)
    predicted = hidden = 0
    for _ in range(40):
        layout = sample_layout(rng, 3, "train", Randomization())
        bodies, _ = builder.build(layout, rng, Randomization())
        points = sample_points(layout)
        target = rng.randrange(len(layout.objects))
        obj = layout.objects[target]
        screen = min(layout.screens, key=lambda s: math.hypot(s[0] - obj.x, s[1] - obj.y))
        cameras = sample_rig(rng, 2, 3, Randomization(), ((obj.x, obj.y), screen[:2]))
        if screened(cameras[0], points[target], screen):
            predicted += 1
            visibility = measure_visibility([_mask(sim, cameras[0])], cameras[:1], bodies, points)
            hidden += visibility.hidden(0, target)
    sim.close()
    assert predicted >= 8 and hidden >= 0.8 * predicted, (predicted, hidden)


def test_marks_on_the_renderers_rgba_buffer_match_marks_on_its_rgb_copy():
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (96, 96, 4), dtype=np.uint8)
    marks = [Mark("ring", "?", (0.4, 0.5)), Mark("label", "7", (0.7, 0.3))]
    before = rgba.copy()
    marked = draw_marks(rgba, "View 2", marks)
    np.testing.assert_array_equal(marked, draw_marks(np.ascontiguousarray(rgba[:, :, :3]), "View 2", marks))
    assert marked.shape == (96, 96, 3) and marked.flags.writeable and (rgba == before).all()


def test_rigs_spread_their_cameras_around_the_table():
    rng = random.Random(0)
    for n in (2, 3, 4):
        for _ in range(20):
            cameras = sample_rig(rng, n, 3, Randomization())
            azimuths = sorted(math.atan2(c.eye[1] - c.target[1], c.eye[0] - c.target[0]) for c in cameras)
            gaps = [b - a for a, b in itertools.pairwise(azimuths)] + [2 * math.pi - azimuths[-1] + azimuths[0]]
            assert len(cameras) == n and min(gaps) >= MIN_AZIMUTH_GAP - 0.05
            assert all(c.eye[2] > 0.1 for c in cameras)


def test_layouts_are_pure_functions_of_their_rng_and_keep_footprints_apart():
    for seed in range(10):
        first = sample_layout(random.Random(seed), 5, "eval", Randomization())
        assert first == sample_layout(random.Random(seed), 5, "eval", Randomization()) and first.split() == "eval"
        spots = [(o.x, o.y, o.spec.radius) for o in first.objects]
        for n, (x, y, r) in enumerate(spots):
            assert all(math.hypot(x - x2, y - y2) >= r + r2 for x2, y2, r2 in spots[n + 1 :])
        assert max(first.count(o.name) for o in first.objects) <= 3


def test_scene_builder_reuses_bodies_and_parks_the_rest_out_of_sight():
    sim = PyBullet()
    builder = SceneBuilder(sim)
    rng = random.Random(1)
    big = sample_layout(rng, 5, "train", Randomization())
    builder.build(big, rng, Randomization())
    n_bodies = sim.client.getNumBodies()
    small = sample_layout(rng, 1, "train", Randomization())
    bodies, screens = builder.build(small, rng, Randomization())
    assert sim.client.getNumBodies() <= n_bodies + len(small.objects)
    in_use = set(bodies) | set(screens) | {builder.pedestal, builder.robot_bar}
    for index in range(sim.client.getNumBodies()):
        body = sim.client.getBodyUniqueId(index)
        assert (body in in_use) == (sim.position(body)[2] > -1.0)
    sim.close()


def test_marks_are_drawn_on_a_copy_and_the_mosaic_fills_its_grid_row_by_row():
    view = np.full((64, 64, 3), 200, np.uint8)
    marked = draw_marks(view, "View 1", [Mark("ring", "?", (0.5, 0.5)), Mark("label", "3", (0.2, 0.8))])
    assert (view == 200).all() and not np.array_equal(marked, view)
    ring = np.all(marked == RING_RGB, axis=2)
    ys, xs = np.nonzero(ring)
    assert len(xs) and abs(xs.mean() - 32) < 3 and ys.max() > 32 + 3  # a ring around the centre (its tag above)
    assert (marked[48:56, 9:17] == 255).all(axis=2).any()  # the white label at (0.2, 0.8)
    assert mosaic_grid(2) == (1, 2) and mosaic_grid(3) == mosaic_grid(4) == (2, 2)
    tiles = [np.full((8, 8, 3), k, np.uint8) for k in (10, 20, 30)]
    grid = mosaic(tiles, (2, 2))
    assert grid.shape == (16, 16, 3) and grid[0, 8, 0] == 20 and grid[8, 0, 0] == 30 and grid[8, 8, 0] == 40


@pytest.mark.parametrize(
    ("responses", "answer_type", "expected"),
    [
        (
            [
                "<think>a</think><answer>3</answer>",
                "<think>b</think><answer>three</answer>",
                "<think>c</think><answer>4</answer>",
            ],
            "number",
            [0.5, 0.5, 0.0],
        ),
        (["<answer>Left.</answer>", "<think>x</think><answer>left</answer>"], "text", [1.0, 1.0]),
        (["<answer>yes</answer>", "no answer here", 42, "<answer>Yes</answer>"], "yes_no", [1 / 3, 0.0, 0.0, 1 / 3]),
        (["<answer>1</answer>"], "number", [0.0]),
        ([], "number", []),
    ],
)
def test_consistency_rewards_pay_the_share_of_the_group_that_agrees(responses, answer_type, expected):
    assert consistency_rewards(responses, answer_type) == pytest.approx(expected)


def test_answer_keys_normalise_by_answer_type():
    assert answer_key("<answer>3.0</answer>", "number") == answer_key("<answer> three </answer>", "number") == 3
    assert answer_key("<answer>The red cube</answer>", "text") == "red cube"
    assert answer_key("<answer></answer>", "text") is None and answer_key(None, "number") is None
    assert answer_key("\\boxed{2}", "number", "boxed") == 2


def test_train_and_test_scenes_never_share_a_set_of_objects_nor_their_colours_with_their_shapes():
    looks, palettes = {}, {}
    for split in ("train", "test"):
        rng = random.Random(split)
        layouts = [sample_layout(rng, d, split, Randomization()) for d in (1, 2, 5) for _ in range(100)]
        assert all(layout.split() == split for layout in layouts)
        looks[split] = {tuple(sorted(o.name for o in layout.objects)) for layout in layouts}
        palettes[split] = {
            (frozenset(o.spec.color for o in layout.objects), frozenset(o.spec.shape for o in layout.objects))
            for layout in layouts
        }
    assert len(looks["train"]) > 250 and len(looks["test"]) > 250 and not looks["train"] & looks["test"]
    assert len(palettes["test"]) > 50 and not palettes["train"] & palettes["test"]


def test_a_scene_uses_every_colour_and_shape_of_its_palette_and_at_most_three_look_alikes():
    from vista_envs.views.scene import _PALETTE_SIZES

    rng = random.Random(0)
    for difficulty in range(1, 6):
        for _ in range(50):
            layout = sample_layout(rng, difficulty, "eval", Randomization())
            colours = {o.spec.color for o in layout.objects}
            shapes = {o.spec.shape for o in layout.objects}
            assert (len(colours), len(shapes)) == _PALETTE_SIZES[difficulty] and colours <= set(COLORS)
            assert shapes <= set(SHAPES) and max(layout.count(o.name) for o in layout.objects) <= 3
            assert objects_split(tuple(o.spec for o in layout.objects)) == "eval"
