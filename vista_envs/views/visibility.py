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
from vista_envs.views.rig import project
from vista_envs.views.scene import Layout

__all__ = ["CLEAR", "Visibility", "measure_visibility", "sample_points", "seen_points"]

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


def seen_points(sim: PyBullet, cameras: Sequence[Camera], points: np.ndarray, bodies: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For points (n_bodies, n_points, 3) inside ``bodies``: which each camera sees (the ray from its eye hits
    that body first, and the point is inside the image), which lie inside the image, and where they project
    (shares of width and height); shapes (n_views, n_bodies, n_points[, 2]). One ``rayTestBatch`` call."""
    n_views, (n_bodies, n_points, _) = len(cameras), points.shape
    flat = points.reshape(-1, 3)
    # Shares of the image: project onto a unit image (the views are square).
    uv = np.stack([project(camera, flat, 1, 1) for camera in cameras])  # (views, bodies * points, 2)
    in_frame = np.all((uv > _FRAME_MARGIN) & (uv < 1 - _FRAME_MARGIN), axis=2)
    view_index, point_index = np.nonzero(in_frame)
    eyes = np.asarray([camera.eye for camera in cameras], dtype=float)
    first = np.full((n_views, n_bodies * n_points), -1, dtype=np.int64)
    if len(view_index):
        hits = sim.client.rayTestBatch(eyes[view_index], flat[point_index])
        first[view_index, point_index] = np.fromiter((hit[0] for hit in hits), dtype=np.int64, count=len(hits))
    shape = (n_views, n_bodies, n_points)
    seen = first.reshape(shape) == np.asarray(bodies, dtype=np.int64)[None, :, None]
    return seen, in_frame.reshape(shape), uv.reshape(*shape, 2)


def measure_visibility(sim: PyBullet, cameras: Sequence[Camera], layout: Layout, bodies: Sequence[int], points: np.ndarray) -> Visibility:
    """Ray-test every sample point of every object inside the image of every camera."""
    seen, in_frame, uv = seen_points(sim, cameras, points, bodies)
    counts = seen.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = (uv * seen[..., None]).sum(axis=2) / counts[..., None]
    top = np.stack([project(camera, points[:, _TOP_CENTRE], 1, 1) for camera in cameras])
    return Visibility(seen=counts / points.shape[1], in_frame=in_frame.mean(axis=2), centre=centre, projected=uv.mean(axis=2), top=top)
