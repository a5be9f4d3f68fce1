"""What each camera sees of each object, read off the segmentation masks of the views the agent is shown.

Every object carries a fixed set of sample points inside its volume: at four heights (the last just under
its top, so that an object showing only its top is not taken for hidden), the centre and a ring of six at
85% of the shape's radius at that height (near the surface, so that an object showing only its edge is not
taken for hidden). A sample point is *seen* in a view when it projects inside the image
and the view's segmentation mask (PyBullet's, drawn with the view's pixels by the same ``getCameraImage``
call) holds that object at the point's pixel: the first surface along that pixel's line of sight belongs
to the object, not to a screen, the pedestal or another object. The share of seen points is the object's
visibility in that view:

- *clear* (>= :data:`CLEAR`): most of it is in view; a person can name and locate it;
- *hidden* (0 points seen): it is out of sight in that view; *occluded* if it is hidden though its
  points lie inside the image (something stands between the camera and it).

Reading the masks of the very views shown makes every question answerable from exactly what the agent
sees, at the cost of one more buffer per ``getCameraImage`` call; the price is that visibility (and so
the question) is that of the pixel grid: the same seeds can ask another question at another image size.
Until suite version 4 visibility was ray-tested in the simulator before anything was drawn (exact in
continuous space, independent of the image size, and about half of a small view's rendering time).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from vista_envs.robot.objects import (
    CUBE_HALF,
    CYLINDER_RADIUS,
    PRISM_SIDE,
    PYRAMID_SIDE,
    SPHERE_RADIUS,
)
from vista_envs.robot.sim import Camera
from vista_envs.views.rig import _basis_rows, camera_coordinates
from vista_envs.views.scene import SCREEN_HALF, Layout

__all__ = ["CLEAR", "Visibility", "measure_visibility", "sample_points", "screened", "seen_counts", "seen_points"]

CLEAR = 0.4
_HEIGHTS = (0.12, 0.5, 0.88, 0.97)
_RING = 6
_RING_SCALES = (0.85,)
_TOP_CENTRE = (len(_HEIGHTS) - 1) * (1 + _RING)  # index of the centre point at the highest sample height
_FRAME_MARGIN = 0.01  # share of the image side a point must stay inside the frame by


def _radius_at(shape: str, t: float) -> float:
    """Half-width of ``shape`` at the share ``t`` of its height (inscribed, so ring points stay inside)."""
    if shape == "cube":
        return CUBE_HALF
    if shape == "cylinder":
        return CYLINDER_RADIUS
    if shape == "sphere":
        return SPHERE_RADIUS * math.sqrt(max(0.0, 1.0 - (2 * t - 1) ** 2))
    if shape == "pyramid":
        return PYRAMID_SIDE / 2 * (1.0 - t)
    return PRISM_SIDE / (2 * math.sqrt(3))  # prism: the inscribed circle of its triangle


@functools.lru_cache(maxsize=None)
def _local_points(shape: str, height: float) -> np.ndarray:
    """A shape's sample points around its foot, before its yaw: (n_points, 3) x, y, z (read-only)."""
    points = []
    for t in _HEIGHTS:
        points.append((0.0, 0.0, t * height))
        for scale in _RING_SCALES:
            radius = scale * _radius_at(shape, t)
            for k in range(_RING):
                angle = 2 * math.pi * k / _RING
                points.append((radius * math.cos(angle), radius * math.sin(angle), t * height))
    array = np.asarray(points, dtype=float)
    array.flags.writeable = False
    return array


def sample_points(layout: Layout) -> np.ndarray:
    """Sample points (n_objects, n_points, 3) inside each object of ``layout``, world frame.

    The array is a view of a point-major (n_points, n_objects, 3) one: :func:`seen_points` projects the points in
    that order, so that the sums over each object's points run along the first axis (see :class:`Visibility`).
    """
    objects = layout.objects
    local = np.array([_local_points(o.spec.shape, o.spec.height) for o in objects]).transpose(1, 0, 2)
    yaw = np.array([o.yaw for o in objects])
    cos, sin = np.cos(yaw), np.sin(yaw)
    points = np.empty(local.shape)
    points[..., 0] = np.array([o.x for o in objects]) + cos * local[..., 0] - sin * local[..., 1]
    points[..., 1] = np.array([o.y for o in objects]) + sin * local[..., 0] + cos * local[..., 1]
    points[..., 2] = local[..., 2]
    return points.transpose(1, 0, 2)


class Visibility:
    """Per view and object: the share of sample points seen (``seen``, (n_views, n_objects)), whether the points
    lie in the image (``in_frame``, same shape), the seen points' mean position in the image as shares of width and
    height (``centre``, (n_views, n_objects, 2); NaN where nothing is seen), where all its points project, seen or
    not (``projected``, (n_views, n_objects, 2)), and where the centre of its top projects (``top``, (n_views,
    n_objects, 2): labels go above it).

    Built from the per-point arrays of :func:`seen_points` in point-major order ((n_views, n_points, n_objects[,
    2])): the sums over an object's points then run along axis 1 over rows of every object at once, in the same
    order and so to the same numbers as along the points of each object (NumPy loops over a trailing axis of two
    coordinates one pair at a time, which cost three times as much). Each table is worked out when first read (a
    family reads only some of them, and a rig no question fits is dropped before most are read).
    """

    def __init__(self, seen_points: np.ndarray, in_frame_points: np.ndarray, uv: np.ndarray):
        self._seen_points, self._in_frame_points, self._uv = seen_points, in_frame_points, uv

    @functools.cached_property
    def _counts(self) -> np.ndarray:
        return np.add.reduce(self._seen_points, axis=1)

    @functools.cached_property
    def seen(self) -> np.ndarray:
        return self._counts / self._seen_points.shape[1]

    # Sums over the points, then a division: what .mean() over them computes, without its wrapper.
    @functools.cached_property
    def in_frame(self) -> np.ndarray:
        return np.add.reduce(self._in_frame_points, axis=1, dtype=float) / self._in_frame_points.shape[1]

    @functools.cached_property
    def centre(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.add.reduce(self._uv * self._seen_points[..., None], axis=1) / self._counts[..., None]

    @functools.cached_property
    def projected(self) -> np.ndarray:
        return np.add.reduce(self._uv, axis=1) / self._uv.shape[1]

    @functools.cached_property
    def top(self) -> np.ndarray:
        return self._uv[:, _TOP_CENTRE]

    # The predicates families ask object by object, as nested lists: indexing an array for one number costs more
    # than the comparison.
    @functools.cached_property
    def _clear(self) -> list[list[bool]]:
        return (self.seen >= CLEAR).tolist()

    @functools.cached_property
    def _hidden(self) -> list[list[bool]]:
        return (self._counts == 0).tolist()

    def clear(self, view: int, obj: int) -> bool:
        return self._clear[view][obj]

    def hidden(self, view: int, obj: int) -> bool:
        return self._hidden[view][obj]

    def occluded(self, view: int, obj: int) -> bool:
        """Hidden although it stands inside the image: something blocks the camera's line of sight."""
        return self.hidden(view, obj) and bool(self.in_frame[view, obj] >= 0.99)

    def clear_views(self, obj: int) -> list[int]:
        return [v for v, row in enumerate(self._clear) if row[obj]]


def seen_points(
    masks: Sequence[np.ndarray], cameras: Sequence[Camera], points: np.ndarray, bodies: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For points (n_bodies, n_points, 3) inside ``bodies``: which each view shows (the point projects inside
    the image, in front of the camera, onto a pixel of its body in the view's segmentation mask ``masks[v]``,
    (size, size) body ids), which lie inside the image, and where they project (shares of width and height);
    shapes (n_views, n_bodies, n_points[, 2]). Every view at once: a handful of NumPy calls."""
    seen, in_frame, uv = _seen_by_point(masks, cameras, points, bodies)
    return seen.transpose(0, 2, 1), in_frame.transpose(0, 2, 1), uv.transpose(0, 2, 1, 3)


def seen_counts(
    masks: Sequence[np.ndarray], cameras: Sequence[Camera], points: np.ndarray, bodies: Sequence[int]
) -> np.ndarray:
    """How many of each body's points (as :func:`seen_points` takes them) each view shows: (n_views, n_bodies)."""
    return np.add.reduce(_seen_by_point(masks, cameras, points, bodies)[0], axis=1)


def _seen_by_point(
    masks: Sequence[np.ndarray], cameras: Sequence[Camera], points: np.ndarray, bodies: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`seen_points` in point-major order: (n_views, n_points, n_bodies[, 2])."""
    n_bodies, n_points, _ = points.shape
    rig = _rig_arrays(cameras)
    # Point-major rows (free for sample_points' arrays). The rows' order does not change what matmul gives each
    # row (their number would: BLAS picks its kernels by the matrices' sizes).
    uv, depth = _project(rig, points.transpose(1, 0, 2).reshape(-1, 3))
    inside = (uv > _FRAME_MARGIN) & (uv < 1 - _FRAME_MARGIN)
    in_frame = inside[..., 0] & inside[..., 1] & (depth > rig[3])  # (not .all(axis=2): a reduction costs more here)
    size = masks[0].shape[0]
    pixels = (uv * size).astype(np.int64)
    # np.clip(pixels, 0, size - 1)'s numbers without np.clip's Python wrapper (which costs more than the clipping).
    np.minimum(pixels, size - 1, out=pixels)
    np.maximum(pixels, 0, out=pixels)
    flat = pixels[..., 1] * size
    flat += pixels[..., 0]  # each point's pixel in the flattened mask
    # The body drawn at each point's pixel, view by view (stacking the masks would copy them all).
    under = np.empty(in_frame.shape, dtype=masks[0].dtype)
    for v, mask in enumerate(masks):
        mask.reshape(-1).take(flat[v], out=under[v])
    shape = (len(cameras), n_points, n_bodies)
    seen = in_frame.reshape(shape) & (under.reshape(shape) == np.asarray(bodies, dtype=under.dtype))
    return seen, in_frame.reshape(shape), uv.reshape(*shape, 2)


def _project(
    rig: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_project_all` with the rig's arrays at hand."""
    eyes, bases_t, focal, _ = rig
    local = np.matmul(points[None] - eyes[:, None], bases_t)
    scale = focal / np.maximum(local[..., 2], 1e-6)
    uv = np.empty(local.shape[:2] + (2,))
    uv[..., 0] = 0.5 + local[..., 0] * scale
    uv[..., 1] = 0.5 - local[..., 1] * scale
    return uv, local[..., 2]


def _project_all(cameras: Sequence[Camera], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`~vista_envs.views.rig.project_with_depth` onto a unit image for every camera at once: (V, N, 2), (V,
    N)."""
    return _project(_rig_arrays(cameras), points)


def _rig_arrays(cameras: Sequence[Camera]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A rig's eyes (V, 3), camera bases transposed (V, 3, 3: a view of the stacked bases, as ``matmul`` took them
    before), unit-image focal lengths (V, 1) and near planes (V, 1), read-only: built once per rig, which is
    projected onto several times (its objects' points, the robot's); built anew for cameras that cannot be hashed
    (lists for vectors)."""
    try:
        return _cached_rig_arrays(tuple(cameras))
    except TypeError:
        return _stacked_rig_arrays(cameras)


def _stacked_rig_arrays(cameras: Sequence[Camera]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    # Two array calls per rig: the eyes, focal lengths and near planes are columns of one table, and the bases'
    # rows are worked out in plain floats (the same arithmetic as rig._basis_of) rather than stacked per camera.
    table = np.array([(*c.eye, 0.5 / math.tan(math.radians(c.fov) / 2), c.near) for c in cameras], dtype=float)
    bases = np.array([_basis_rows(tuple(c.eye), tuple(c.target), tuple(c.up)) for c in cameras])
    table.flags.writeable = False
    bases.flags.writeable = False
    return table[:, :3], bases.transpose(0, 2, 1), table[:, 3:4], table[:, 4:5]


_cached_rig_arrays = functools.lru_cache(maxsize=16)(_stacked_rig_arrays)


def measure_visibility(
    masks: Sequence[np.ndarray], cameras: Sequence[Camera], bodies: Sequence[int], points: np.ndarray
) -> Visibility:
    """Every sample point of every object looked up in the segmentation mask of every view (see :func:`seen_points`)."""
    return Visibility(*_seen_by_point(masks, cameras, points, bodies))


# The corners of a screen's two broad faces (its thin local x axis at -/+ half thickness), each in order around it.
_SCREEN_CORNERS = (
    np.array([[sx, sy, sz] for sx in (-1, 1) for sy, sz in ((-1, 0), (1, 0), (1, 2), (-1, 2))], dtype=float)
    * SCREEN_HALF
)
_NEXT_CORNER = np.array([1, 2, 3, 0, 5, 6, 7, 4])  # the next corner around each face


def screened(camera: Camera, points: np.ndarray, screen: tuple[float, float, float]) -> bool:
    """Whether ``screen`` ``(x, y, yaw)`` stands in front of every one of ``points`` (n, 3) as ``camera`` sees
    them: each projects inside the image of one of the screen's two broad faces, nearer than them.

    A prediction from geometry alone, for the rigs that aim View 1 past a screen at an object: a rig that
    fails it is drawn again before it is rendered (the segmentation mask then has the last word).
    """
    cos, sin = math.cos(screen[2]), math.sin(screen[2])
    world = np.empty((8 + len(points), 3))  # the corners, then the points: one projection for all
    world[:8, 0] = screen[0] + cos * _SCREEN_CORNERS[:, 0] - sin * _SCREEN_CORNERS[:, 1]
    world[:8, 1] = screen[1] + sin * _SCREEN_CORNERS[:, 0] + cos * _SCREEN_CORNERS[:, 1]
    world[:8, 2] = _SCREEN_CORNERS[:, 2]
    world[8:] = points
    # project_with_depth(camera, world, 1, 1)'s arithmetic, the depth test first: a rig that fails it needs no more.
    local = camera_coordinates(camera, world)
    depth = local[:, 2]
    # Plain floats for the depth test: NumPy's reductions cost more than the comparisons on a few dozen points.
    depths = depth.tolist()
    if max(depths[:8]) >= min(depths[8:]) or min(depths) <= camera.near:
        return False
    scale = (0.5 / math.tan(math.radians(camera.fov) / 2)) / np.maximum(depth, 1e-6)
    u = 0.5 + local[:, 0] * scale
    v = 0.5 - local[:, 1] * scale
    # Each face's edges (corner to next corner) and each point's offset from each corner, as (corner, point)
    # tables: the same products and differences as with (face, point, corner, xy) arrays, whose trailing axes of
    # two and four NumPy loops over a few numbers at a time.
    du, dv = u[_NEXT_CORNER] - u[:8], v[_NEXT_CORNER] - v[:8]
    cross = du[:, None] * (v[None, 8:] - v[:8, None]) - dv[:, None] * (u[None, 8:] - u[:8, None])
    # Inside a convex quad: on the same side of all four edges, whichever way round it projects.
    faces = cross.reshape(2, 4, -1)
    inside = np.logical_and.reduce(faces >= 0, axis=1) | np.logical_and.reduce(faces <= 0, axis=1)
    return bool(np.logical_and.reduce(np.logical_or.reduce(inside, axis=0)))
