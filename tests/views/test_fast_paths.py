"""VistaViews-v0's fast paths give the very numbers and pixels of the plain code they replace: the background
fill, the mosaic's way out of Pillow, marks drawn into the renderer's buffer, layout placement and the aim
check (each against a plain reference written here)."""

import math
import random

import numpy as np
import pytest

pytest.importorskip("pybullet")

from PIL import Image

from vista_envs.robot.randomization import Randomization
from vista_envs.robot.sim import Lighting, PyBullet, tiny_renderer_image
from vista_envs.views import scene as scene_module
from vista_envs.views.marks import Mark, _rgb_array, marked_mosaic, marked_view
from vista_envs.views.rig import project_with_depth, render_view, sample_rig
from vista_envs.views.scene import SceneBuilder, sample_layout
from vista_envs.views.visibility import _SCREEN_CORNERS, sample_points, screened

BACKGROUND = (123, 45, 67)


@pytest.fixture(scope="module")
def sim_and_rig():
    sim = PyBullet()
    layout = sample_layout(random.Random(3), 4, "train", Randomization())
    SceneBuilder(sim).build(layout, random.Random(4), Randomization())
    yield sim, sample_rig(random.Random(5), 3, 4, Randomization())
    sim.close()


def test_the_background_fill_equals_putmask_on_the_raw_render_at_every_size(sim_and_rig):
    sim, cameras = sim_and_rig
    client = sim.client
    for size in (64, 96, 64, 130):  # back to an earlier size: the kept work buffers must not leak pixels
        camera = cameras[size % len(cameras)]
        rgba, mask = render_view(sim, camera, Lighting(), size, size, BACKGROUND)
        view = client.computeViewMatrix(camera.eye, camera.target, camera.up)
        projection = client.computeProjectionMatrixFOV(camera.fov, 1.0, camera.near, camera.far)
        raw = np.array(tiny_renderer_image(client, size, size, view, projection, Lighting(), True)[2])
        raw = raw.reshape(size, size, 4)
        raw_mask = np.asarray(mask).reshape(size, size)
        assert (raw_mask < 0).any() and (raw_mask >= 0).any()  # both kinds of pixel are tested
        assert (raw[raw_mask < 0] == 255).all()  # what the fill relies on: TinyRenderer clears to opaque white
        raw[raw_mask < 0] = (*BACKGROUND, 255)
        np.testing.assert_array_equal(rgba, raw)


@pytest.mark.parametrize("size", [(1, 1), (37, 5), (256, 128), (448, 448)])
def test_the_mosaic_leaves_pillow_with_the_pixels_np_asarray_gives(size):
    pixels = np.random.default_rng(sum(size)).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    out = _rgb_array(image)
    np.testing.assert_array_equal(out, np.asarray(image))
    assert out.shape == (size[1], size[0], 3) and out.dtype == np.uint8 and not out.flags.writeable


def test_marks_drawn_into_the_rgba_buffer_give_the_mosaic_of_marks_drawn_on_an_rgb_copy():
    rng = np.random.default_rng(0)
    buffers = [rng.integers(0, 256, (96, 96, 4), dtype=np.uint8) for _ in range(3)]
    marks = [
        Mark("ring", "A", (0.5, 0.45)),
        Mark("label", "2", (0.2, 0.8)),
        Mark("ring", "B", (0.97, 0.02)),
        Mark("label", "7", (0.005, 0.99)),  # clipped at the left and bottom borders
        Mark("label", "12", (1.02, -0.03)),  # mostly outside: clipped at the right and top
    ]
    copies = [np.ascontiguousarray(b[:, :, :3]) for b in buffers]
    expected, _ = marked_mosaic([marked_view(c, f"View {k + 1}", marks) for k, c in enumerate(copies)], (2, 2))
    shared = [marked_view(b, f"View {k + 1}", marks) for k, b in enumerate(buffers)]
    assert all(view.mode == "RGBA" for view in shared)
    got, tiles = marked_mosaic(shared, (2, 2))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(buffers[0][:, :, :3], tiles[0])  # drawn in place, then copied once
    assert (got[96:, 96:] == 40).all()  # the tile without a view stays dark gray


def _place_reference(rng, specs, difficulty, max_yaw):
    """Placement as first written: rng.uniform and all() on every try."""
    taken = []

    def spot(radius):
        for _ in range(scene_module._PLACEMENT_TRIES):
            x = rng.uniform(scene_module.AREA_LOW[0] + radius, scene_module.AREA_HIGH[0] - radius)
            y = rng.uniform(scene_module.AREA_LOW[1] + radius, scene_module.AREA_HIGH[1] - radius)
            if all((x - tx) ** 2 + (y - ty) ** 2 >= (radius + tr + scene_module.SPACING) ** 2 for tx, ty, tr in taken):
                taken.append((x, y, radius))
                return x, y
        return None

    screens = []
    for _ in range(min(3, 1 + (difficulty + 1) // 2)):
        point = spot(math.hypot(scene_module.SCREEN_HALF[0], scene_module.SCREEN_HALF[1]))
        if point is None:
            return None
        screens.append((point[0], point[1], rng.uniform(-math.pi, math.pi)))
    objects = []
    for spec in specs:
        point = spot(spec.radius)
        if point is None:
            return None
        objects.append(scene_module.Placed(spec, point[0], point[1], rng.uniform(-max_yaw, max_yaw)))
    return scene_module.Layout(tuple(objects), tuple(screens), difficulty)


def test_layout_placement_draws_and_places_exactly_as_the_plain_version():
    placed = failed = 0
    for seed in range(300):
        difficulty = 1 + seed % 5
        specs = scene_module._draw_specs(random.Random(seed), difficulty, 3 * (seed % 2), "train")
        ours, reference = random.Random(seed), random.Random(seed)
        for _ in range(3):  # several layouts from one rng: the rngs must stay in step too
            got = scene_module._place(ours, specs, difficulty, 0.4)
            assert got == _place_reference(reference, specs, difficulty, 0.4)
            placed, failed = placed + (got is not None), failed + (got is None)
        assert ours.random() == reference.random()
    assert placed > 100


def _screened_reference(camera, points, screen):
    """The aim check as first written (np.roll, NumPy reductions)."""
    cos, sin = math.cos(screen[2]), math.sin(screen[2])
    corners = np.empty((8, 3))
    corners[:, 0] = screen[0] + cos * _SCREEN_CORNERS[:, 0] - sin * _SCREEN_CORNERS[:, 1]
    corners[:, 1] = screen[1] + sin * _SCREEN_CORNERS[:, 0] + cos * _SCREEN_CORNERS[:, 1]
    corners[:, 2] = _SCREEN_CORNERS[:, 2]
    image, depth = project_with_depth(camera, np.vstack([corners, points]), 1, 1)
    if depth[:8].max() >= depth[8:].min() or depth.min() <= camera.near:
        return False
    faces = image[:8].reshape(2, 4, 2)
    edges = np.roll(faces, -1, axis=1) - faces
    offsets = image[None, 8:, None, :] - faces[:, None]
    cross = edges[:, None, :, 0] * offsets[..., 1] - edges[:, None, :, 1] * offsets[..., 0]
    inside = (cross >= 0).all(axis=2) | (cross <= 0).all(axis=2)
    return bool(inside.any(axis=0).all())


def test_the_aim_check_answers_as_the_plain_version_on_aimed_and_free_rigs():
    answers = []
    for seed in range(150):
        rng = random.Random(seed)
        layout = sample_layout(rng, 1 + seed % 5, "train", Randomization())
        points = sample_points(layout)
        for index, obj in enumerate(layout.objects[:3]):
            screen = layout.screens[index % len(layout.screens)]
            behind = ((obj.x, obj.y), screen[:2]) if index % 2 == 0 else None
            camera = sample_rig(rng, 2, 1 + seed % 5, Randomization(), behind)[0]
            answers.append(screened(camera, points[index], screen))
            assert answers[-1] == _screened_reference(camera, points[index], screen)
    assert 0 < sum(answers) < len(answers)  # both answers are compared


def test_points_project_the_same_through_a_cached_rig_and_through_cameras_with_list_vectors():
    from vista_envs.robot.sim import Camera
    from vista_envs.views.visibility import _project_all

    rig = sample_rig(random.Random(8), 3, 2, Randomization())
    as_lists = [Camera(eye=list(c.eye), target=list(c.target), fov=c.fov) for c in rig]  # unhashable: not cached
    points = sample_points(sample_layout(random.Random(9), 3, "train", Randomization())).reshape(-1, 3)
    for got, expected in zip(_project_all(as_lists, points), _project_all(rig, points)):
        np.testing.assert_array_equal(got, expected)
    for got, expected in zip(_project_all(rig, points), _project_all(rig, points)):  # the second from the cache
        np.testing.assert_array_equal(got, expected)


def test_visibility_tables_are_the_per_object_sums_of_the_plain_version_bit_for_bit():
    from vista_envs.views.visibility import _TOP_CENTRE, measure_visibility, seen_counts, seen_points

    sim = PyBullet()
    builder = SceneBuilder(sim)
    try:
        compared = 0
        for seed in range(6):
            layout = sample_layout(random.Random(seed), 1 + seed % 5, "train", Randomization())
            bodies, _ = builder.build(layout, random.Random(seed), Randomization())
            cameras = sample_rig(random.Random(100 + seed), 2 + seed % 3, 1 + seed % 5, Randomization())
            masks = [render_view(sim, camera, Lighting(), 64, 64, BACKGROUND)[1] for camera in cameras]
            points = sample_points(layout)
            seen, in_frame, uv = seen_points(masks, cameras, points, bodies)  # (views, objects, points[, 2])
            got = measure_visibility(masks, cameras, bodies, points)
            counts = seen.sum(axis=2)
            with np.errstate(invalid="ignore", divide="ignore"):
                centre = (uv * seen[..., None]).sum(axis=2) / counts[..., None]
            n = points.shape[1]
            for table, expected in (
                (got.seen, counts / n),
                (got.in_frame, in_frame.mean(axis=2)),
                (got.centre, centre),
                (got.projected, uv.mean(axis=2)),
                (got.top, uv[:, :, _TOP_CENTRE]),
            ):
                assert table.tobytes() == np.ascontiguousarray(expected).tobytes()  # NaN where nothing is seen too
            np.testing.assert_array_equal(seen_counts(masks, cameras, points, bodies), counts)
            for v in range(len(cameras)):
                for i in range(len(bodies)):
                    assert got.clear(v, i) == bool(got.seen[v, i] >= 0.4)
                    assert got.hidden(v, i) == bool(got.seen[v, i] == 0.0)
            compared += int((counts > 0).sum())
        assert compared > 20  # objects seen, so the centres compared are numbers, not only NaN
    finally:
        sim.close()


def test_a_view_drawn_and_marked_in_a_kept_buffer_equals_one_drawn_in_the_renderers_array(sim_and_rig):
    import copy

    from vista_envs.views.marks import ViewBuffer, mark_view

    sim, cameras = sim_and_rig
    buffer = ViewBuffer(np.empty((96, 96, 4), np.uint8))
    marks = [Mark("ring", "A", (0.4, 0.5)), Mark("label", "3", (0.7, 0.2))]
    for k, camera in enumerate(cameras):  # the same buffer again and again, as the env uses it
        fresh, fresh_mask = render_view(sim, camera, Lighting(), 96, 96, BACKGROUND)
        kept, kept_mask = render_view(sim, camera, Lighting(), 96, 96, BACKGROUND, out=buffer.pixels)
        assert kept is buffer.pixels
        np.testing.assert_array_equal(kept, fresh)
        np.testing.assert_array_equal(kept_mask, fresh_mask)
        expected = np.asarray(marked_view(fresh, f"View {k + 1}", marks))
        np.testing.assert_array_equal(np.asarray(mark_view(buffer, f"View {k + 1}", marks)), expected)
    twin = copy.deepcopy(buffer)  # a copy draws into its own pixels, not the original's
    before = buffer.pixels.copy()
    mark_view(twin, "View 9", [Mark("ring", "B", (0.2, 0.8))])
    np.testing.assert_array_equal(buffer.pixels, before)
    assert (twin.pixels != before).any()
    np.testing.assert_array_equal(np.asarray(twin.image), twin.pixels)
