"""What each camera sees of each object, checked in the simulator with ray tests.

Every object carries a fixed set of sample points inside its volume: at three heights, the centre and a
ring of six at 85% of the shape's radius at that height (near the surface, so that an object showing only
its edge is not taken for hidden). A sample point is *seen* by a camera when it lies in
the camera's image and the ray from the camera's eye to it hits that object first (not a screen, the
pedestal or another object): PyBullet's ``rayTestBatch`` on the bodies' collision shapes, which are the
shapes drawn. The share of seen points is the object's visibility in that view:

- *clear* (>= :data:`CLEAR`): most of it is in view; a person can name and locate it;
- *hidden* (0 points seen): it is out of sight in that view; *occluded* if it is hidden though its
  points lie inside the image (something stands between the camera and it).

Visibility is independent of the image size, so the same seed asks the same question at 128 or 224 px.

Why rays and not the renderer's segmentation mask: the env must know what a rig shows *before* it draws it,
to pick a question the rig can answer and to reject the rig otherwise (about 1.2-1.8 rigs per episode);
drawing every candidate rig costs more than its ray tests, and a mask would tie the question to the image
size. Most rays need no PyBullet call at all: a ray that crosses no other body's box hits its own body
first (:func:`seen_points`); only the rest go to one ``rayTestBatch``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vista_envs.robot.objects import (
    CUBE_HALF,
    CYLINDER_RADIUS,
    PRISM_SIDE,
    PYRAMID_SIDE,
    SPHERE_RADIUS,
)
from vista_envs.robot.sim import Camera, PyBullet
from vista_envs.views.rig import project, project_with_depth
from vista_envs.views.scene import Layout

__all__ = ["CLEAR", "Visibility", "measure_visibility", "sample_points", "scene_boxes", "seen_points"]

CLEAR = 0.6
_HEIGHTS = (0.12, 0.5, 0.88)
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


def sample_points(layout: Layout) -> np.ndarray:
    """Sample points (n_objects, n_points, 3) inside each object of ``layout``, world frame."""
    per_object = []
    for placed in layout.objects:
        height = placed.spec.height
        points = []
        for t in _HEIGHTS:
            z = t * height
            points.append((placed.x, placed.y, z))
            for scale in _RING_SCALES:
                radius = scale * _radius_at(placed.spec.shape, t)
                for k in range(_RING):
                    angle = placed.yaw + 2 * math.pi * k / _RING
                    points.append((placed.x + radius * math.cos(angle), placed.y + radius * math.sin(angle), z))
        per_object.append(points)
    return np.asarray(per_object, dtype=float)


@dataclass(frozen=True)
class Visibility:
    """Per view and object: the share of sample points seen (n_views, n_objects), whether the points lie in
    the image (same shape), the seen points' mean position in the image as shares of width and height
    (n_views, n_objects, 2; NaN where nothing is seen), where all its points project, seen or not
    (n_views, n_objects, 2), and where the centre of its top projects (n_views, n_objects, 2: labels go above it)."""

    seen: np.ndarray
    in_frame: np.ndarray
    centre: np.ndarray
    projected: np.ndarray
    top: np.ndarray

    def clear(self, view: int, obj: int) -> bool:
        return bool(self.seen[view, obj] >= CLEAR)

    def hidden(self, view: int, obj: int) -> bool:
        return bool(self.seen[view, obj] == 0.0)

    def occluded(self, view: int, obj: int) -> bool:
        """Hidden although it stands inside the image: something blocks the camera's line of sight."""
        return self.hidden(view, obj) and bool(self.in_frame[view, obj] >= 0.99)

    def clear_views(self, obj: int) -> list[int]:
        return [v for v in range(self.seen.shape[0]) if self.clear(v, obj)]


def scene_boxes(sim: PyBullet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every body's collision bounding box as PyBullet's broadphase has it (collision margins included):
    body ids (B,), lows (B, 3), highs (B, 3). A ray cannot hit a body whose box it does not cross."""
    client = sim.client
    ids = [client.getBodyUniqueId(k) for k in range(client.getNumBodies())]
    boxes = np.array([client.getAABB(body) for body in ids], dtype=float).reshape(len(ids), 2, 3)
    return np.asarray(ids, dtype=np.int64), boxes[:, 0], boxes[:, 1]


# Boxes are widened by this much (metres) before the test: PyBullet reports hits up to ~0.6 mm outside a box it
# gives (its convex ray casts stop within a tolerance of the surface), and a wider box only sends more rays to it.
_BOX_SLACK = 0.005
_CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=float)


def _may_be_blocked(
    cameras: Sequence[Camera],
    views: np.ndarray,
    points: np.ndarray,
    uv: np.ndarray,
    depth: np.ndarray,
    owners: np.ndarray,
    boxes: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> np.ndarray:
    """For rays from the eye of ``cameras[views]`` (R,) to points (R, 3) that lie inside bodies ``owners`` (R,),
    seen at image positions ``uv`` (R, 2) and depths ``depth`` (R,): whether the ray crosses another body's box.

    All of a view's rays leave its eye, so a ray can cross a box only where its point's image position falls
    inside the box's image (the rectangle around its projected corners) and the box's nearest corner is not
    farther than the point: a cheap test on every (ray, box) pair. The few pairs it keeps (and every pair
    with a box reaching behind the camera) get the exact segment-box test.
    """
    ids, low, high = boxes
    # Boxes wholly below the table (the parked pool, 50 m down) are below every ray: the eyes are above it.
    keep = high[:, 2] >= -_BOX_SLACK
    ids, low, high = ids[keep], low[keep] - _BOX_SLACK, high[keep] + _BOX_SLACK
    corners = (low[:, None, :] + _CORNERS[None] * (high - low)[:, None, :]).reshape(-1, 3)  # (B * 8, 3)
    projected = [project_with_depth(camera, corners, 1, 1) for camera in cameras]
    image = np.stack([pixels for pixels, _ in projected]).reshape(len(cameras), len(ids), 8, 2)
    near = np.stack([corner_depth for _, corner_depth in projected]).reshape(len(cameras), len(ids), 8).min(axis=2)
    low_uv, high_uv = image.min(axis=2)[views], image.max(axis=2)[views]  # (R, B, 2)
    maybe = ((uv[:, None, :] >= low_uv) & (uv[:, None, :] <= high_uv)).all(axis=2) & (depth[:, None] >= near[views])
    maybe |= near[views] <= 1e-3  # a box reaching behind the camera: its image rectangle means nothing
    maybe &= ids[None, :] != owners[:, None]
    ray, box = np.nonzero(maybe)
    blocked = np.zeros(len(points), dtype=bool)
    if len(ray):
        # Slab test of the segment eye -> point against each kept box.
        eyes = np.asarray([camera.eye for camera in cameras], dtype=float)[views[ray]]
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = 1.0 / (points[ray] - eyes)  # +-inf along an axis the ray does not move on
            t0, t1 = (low[box] - eyes) * inverse, (high[box] - eyes) * inverse
            enter = np.minimum(t0, t1).max(axis=1)
            leave = np.maximum(t0, t1).min(axis=1)
            # 0 * inf gives NaN (a ray in the plane of a box face): count it as crossing, PyBullet decides.
            crosses = ((leave >= np.maximum(enter, 0.0)) & (enter <= 1.0)) | np.isnan(enter) | np.isnan(leave)
        blocked[ray[crosses]] = True
    return blocked


def seen_points(
    sim: PyBullet,
    cameras: Sequence[Camera],
    points: np.ndarray,
    bodies: Sequence[int],
    boxes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For points (n_bodies, n_points, 3) inside ``bodies``: which each camera sees (the ray from its eye hits
    that body first, and the point is inside the image), which lie inside the image, and where they project
    (shares of width and height); shapes (n_views, n_bodies, n_points[, 2]). One ``rayTestBatch`` call.

    With ``boxes`` (:func:`scene_boxes` of the current scene), a ray that crosses no other body's box is not
    sent to PyBullet: it ends inside its own (convex) body and nothing else can stand in its way, so the
    body is what it hits first. That is exact, not an estimate (``tests/test_vista_views_parts.py``
    compares it with PyBullet's answer for every ray), and spares most rays of a scene.
    """
    n_views, (n_bodies, n_points, _) = len(cameras), points.shape
    flat = points.reshape(-1, 3)
    # Shares of the image: project onto a unit image (the views are square).
    projected = [project_with_depth(camera, flat, 1, 1) for camera in cameras]
    uv = np.stack([pixels for pixels, _ in projected])  # (views, bodies * points, 2)
    in_frame = np.all((uv > _FRAME_MARGIN) & (uv < 1 - _FRAME_MARGIN), axis=2)
    view_index, point_index = np.nonzero(in_frame)
    owners = np.repeat(np.asarray(bodies, dtype=np.int64), n_points)  # the body each point lies in
    first = np.full((n_views, n_bodies * n_points), -1, dtype=np.int64)
    if boxes is not None and len(view_index):
        depth = np.stack([point_depth for _, point_depth in projected])
        targets = owners[point_index]
        test = _may_be_blocked(
            cameras,
            view_index,
            flat[point_index],
            uv[view_index, point_index],
            depth[view_index, point_index],
            targets,
            boxes,
        )
        first[view_index[~test], point_index[~test]] = targets[~test]
        view_index, point_index = view_index[test], point_index[test]
    if len(view_index):
        eyes = np.asarray([camera.eye for camera in cameras], dtype=float)
        hits = sim.client.rayTestBatch(eyes[view_index], flat[point_index])
        first[view_index, point_index] = np.fromiter((hit[0] for hit in hits), dtype=np.int64, count=len(hits))
    shape = (n_views, n_bodies, n_points)
    return (first == owners[None, :]).reshape(shape), in_frame.reshape(shape), uv.reshape(*shape, 2)


def measure_visibility(
    sim: PyBullet,
    cameras: Sequence[Camera],
    layout: Layout,
    bodies: Sequence[int],
    points: np.ndarray,
    boxes: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Visibility:
    """Ray-test every sample point of every object inside the image of every camera (``boxes``: see :func:`seen_points`)."""
    seen, in_frame, uv = seen_points(sim, cameras, points, bodies, boxes)
    counts = seen.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (uv * seen[..., None]).sum(axis=2) / counts[..., None]
    top = np.stack([project(camera, points[:, _TOP_CENTRE], 1, 1) for camera in cameras])
    return Visibility(
        seen=counts / points.shape[1], in_frame=in_frame.mean(axis=2), centre=centre, projected=uv.mean(axis=2), top=top
    )
