"""Camera rigs around the tabletop: where the cameras stand, what they see, and where a world point lands.

A rig is 2-4 :class:`~vista_envs.robot.sim.Camera` poses spread around the objects' area: azimuths at
least :data:`MIN_AZIMUTH_GAP` apart (so every pair of views differs by a real change of viewpoint),
elevations and distances drawn per camera, and the domain-randomisation ``camera`` knob of
:class:`~vista_envs.robot.randomization.Randomization` adding its eye/aim/field-of-view jitter on top.

:func:`project` maps world points to image coordinates (the same pinhole model as PyBullet's
``computeViewMatrix``/``computeProjectionMatrixFOV``); :func:`render_view` draws a view.
"""

from __future__ import annotations

import functools
import math
import random
import threading
from collections.abc import Sequence

import numpy as np

from vista_envs.robot.randomization import DEFAULT_CAMERA, Randomization
from vista_envs.robot.sim import Camera, Lighting, PyBullet, tiny_renderer_image

__all__ = [
    "AREA_CENTER",
    "MIN_AZIMUTH_GAP",
    "camera_coordinates",
    "project",
    "project_with_depth",
    "render_view",
    "sample_rig",
]

# The middle of the area where objects stand (robot frame, metres): cameras aim near it.
AREA_CENTER = (0.51, 0.0)
MIN_AZIMUTH_GAP = math.radians(60)
_DISTANCE = (0.55, 0.70)
_FOV = 48.0
# Per difficulty 1..5: the range of camera elevations (degrees). Lower cameras see more occlusion.
_MIN_HIDE_ELEVATION = math.radians(12)
_SCREEN_TOP = 0.12
_ELEVATION = {1: (40, 60), 2: (35, 55), 3: (28, 50), 4: (22, 45), 5: (18, 40)}


def sample_rig(
    rng: random.Random,
    n_views: int,
    difficulty: int,
    randomization: Randomization,
    hide: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> list[Camera]:
    """``n_views`` cameras around the table, azimuths spread evenly then jittered (gaps >= 60 degrees).

    ``hide = (object_xy, screen_xy)`` aims the first camera along the line from the object through the
    screen, beyond the screen, so that the screen likely hides the object in View 1 (the view's segmentation
    mask decides whether it does); the other cameras keep their even spread from there.
    """
    low, high = _ELEVATION[difficulty]
    elevations = [math.radians(rng.uniform(low, high)) for _ in range(n_views)]
    distances = [rng.uniform(*_DISTANCE) for _ in range(n_views)]
    targets = [
        (AREA_CENTER[0] + rng.uniform(-0.04, 0.04), AREA_CENTER[1] + rng.uniform(-0.04, 0.04), 0.0)
        for _ in range(n_views)
    ]
    start = rng.uniform(0.0, 2 * math.pi)
    if hide is not None:
        (ox, oy), (sx, sy) = hide
        # Low enough that the line of sight from the far side of the screen passes below its top edge.
        reach = math.hypot(sx - ox, sy - oy) + 0.03
        elevations[0] = max(_MIN_HIDE_ELEVATION, min(elevations[0], 0.8 * math.atan2(_SCREEN_TOP - 0.03, reach)))
        start = _azimuth_through(hide[0], hide[1], targets[0], distances[0] * math.cos(elevations[0]))
    step = 2 * math.pi / n_views
    # Jitter each azimuth by up to half the slack its even spacing leaves above the minimum gap.
    slack = max(0.0, (step - MIN_AZIMUTH_GAP) / 2)
    cameras = []
    for i in range(n_views):
        azimuth = start + i * step + (rng.uniform(-slack, slack) if (i > 0 or hide is None) else 0.0)
        elevation, distance, target = elevations[i], distances[i], targets[i]
        eye = (
            target[0] + distance * math.cos(elevation) * math.cos(azimuth),
            target[1] + distance * math.cos(elevation) * math.sin(azimuth),
            distance * math.sin(elevation),
        )
        # The ``camera`` knob's jitter: the offsets its level draws around the robot envs' default camera.
        jitter = randomization.style(rng).camera
        eye = tuple(e + j - d for e, j, d in zip(eye, jitter.eye, DEFAULT_CAMERA.eye))
        target = tuple(t + j - d for t, j, d in zip(target, jitter.target, DEFAULT_CAMERA.target))
        cameras.append(Camera(eye=eye, target=target, fov=_FOV + jitter.fov - DEFAULT_CAMERA.fov))  # type: ignore[arg-type]
    return cameras


def _azimuth_through(
    obj: tuple[float, float], screen: tuple[float, float], centre: Sequence[float], radius: float
) -> float:
    """Azimuth (about ``centre``) of the point at ``radius`` from ``centre`` on the ray from ``obj`` through
    ``screen``."""
    ox, oy = obj[0] - centre[0], obj[1] - centre[1]
    ux, uy = screen[0] - obj[0], screen[1] - obj[1]
    norm = math.hypot(ux, uy) or 1.0
    ux, uy = ux / norm, uy / norm
    # |o + t u| = radius, t > 0 (the object stands inside the circle, so one root is positive).
    b = ox * ux + oy * uy
    t = -b + math.sqrt(max(0.0, b * b - (ox * ox + oy * oy - radius * radius)))
    return math.atan2(oy + t * uy, ox + t * ux)


def render_view(
    sim: PyBullet,
    camera: Camera,
    lighting: Lighting,
    width: int,
    height: int,
    background: Sequence[int],
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One view through TinyRenderer: its RGBA pixels (height, width, 4) uint8, ``background`` filling the pixels
    where no body was drawn (the table is drawn as background, as in the robot envs), and the segmentation mask
    drawn with it (height, width): the body id of each pixel, -1 for the background. The pixels are the renderer's
    own buffer, or ``out`` (a C-contiguous uint8 array of that shape, e.g. a kept
    :class:`~vista_envs.views.marks.ViewBuffer`'s) where given: filled there at no extra cost.

    RGBA, not RGB: dropping the alpha channel is a full strided copy; the marks are drawn into this buffer and
    Pillow drops the alpha channel as it pastes the view into the mosaic
    (:func:`~vista_envs.views.marks.marked_mosaic`), so the view's pixels are copied once. The alpha channel's
    values mean nothing.
    """
    client = sim.client
    view = client.computeViewMatrix(camera.eye, camera.target, camera.up)
    projection = client.computeProjectionMatrixFOV(camera.fov, width / height, camera.near, camera.far)
    _, _, rgba, _, mask = tiny_renderer_image(client, width, height, view, projection, lighting, segmentation=True)
    rgba = np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)
    if out is None:
        if not (rgba.flags.writeable and rgba.flags.c_contiguous):
            rgba = np.array(rgba)
        out = rgba
    elif not rgba.flags.c_contiguous:
        rgba = np.ascontiguousarray(rgba)
    mask = np.asarray(mask, dtype=np.int32).reshape(height, width)
    # One 32-bit word per pixel: a quarter of the work of masking the channels one by one. TinyRenderer clears its
    # buffer to opaque white and draws nothing where the mask holds no body (-1), so the background pixels are all
    # ones there: xor with (white ^ fill) turns them into the fill, and ``mask >> 31`` (all ones on the background,
    # zero on bodies) picks them: out = pixels ^ ((mask >> 31) & (white ^ fill)). Branch-free, three passes over
    # the view (twice as fast as putmask at 224 px, and than copyto(where=) or boolean indexing).
    flips = _scratch(height, width)
    np.right_shift(mask, 31, out=flips)
    np.bitwise_and(flips, _flip_word(tuple(int(v) for v in background)), out=flips)
    words = (height, width)
    np.bitwise_xor(rgba.view(np.uint32).reshape(words), flips.view(np.uint32), out=out.view(np.uint32).reshape(words))
    return out, mask


_SCRATCH = threading.local()


def _scratch(height: int, width: int) -> np.ndarray:
    """A (height, width) int32 work buffer of this thread, kept between calls: a new temporary of a view's size
    costs page faults on every call (about as much as the arithmetic at 224 px)."""
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    if (height, width) not in buffers:
        buffers[(height, width)] = np.empty((height, width), np.int32)
    return buffers[(height, width)]


@functools.lru_cache(maxsize=64)
def _flip_word(background: tuple[int, ...]) -> np.int32:
    """The bits that turn TinyRenderer's opaque white into ``background`` (opaque), as one 32-bit word."""
    return np.array([255 ^ background[0], 255 ^ background[1], 255 ^ background[2], 0], np.uint8).view(np.int32)[0]


def _cross(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _unit(v: Sequence[float]) -> tuple[float, float, float]:
    norm = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    return (v[0] / norm, v[1] / norm, v[2] / norm)


def _basis(camera: Camera) -> np.ndarray:
    """The camera's right, up and forward unit vectors as the rows of a 3x3 matrix (read-only)."""
    return _basis_of(tuple(camera.eye), tuple(camera.target), tuple(camera.up))


@functools.lru_cache(maxsize=256)
def _basis_of(eye: tuple[float, ...], target: tuple[float, ...], up: tuple[float, ...]) -> np.ndarray:
    # Cached: a rig's cameras are projected onto many times (sample points, bodies' boxes, labels), and building
    # the basis costs more than using it.
    basis = np.array(_basis_rows(eye, target, up))
    basis.flags.writeable = False
    return basis


def _basis_rows(
    eye: Sequence[float], target: Sequence[float], up: Sequence[float]
) -> tuple[tuple[float, float, float], ...]:
    """The camera's right, up and forward unit vectors, in plain floats: these 3-vectors are too small for NumPy's
    per-call overhead."""
    forward = _unit([t - e for t, e in zip(target, eye)])
    right = _unit(_cross(forward, up))
    return right, _cross(right, forward), forward


def camera_coordinates(camera: Camera, points: np.ndarray) -> np.ndarray:
    """World points (N, 3) in the camera's frame: (right, up, forward) metres."""
    offsets = np.atleast_2d(points) - np.asarray(camera.eye, dtype=float)
    return offsets @ _basis(camera).T


def project(camera: Camera, points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel coordinates (N, 2) of world points (N, 3) in a ``width`` x ``height`` view (points in front)."""
    return project_with_depth(camera, points, width, height)[0]


def project_with_depth(camera: Camera, points: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`project`'s pixel coordinates (N, 2) and the points' depths (N,): metres along the camera's axis."""
    local = camera_coordinates(camera, points)
    focal = (height / 2) / math.tan(math.radians(camera.fov) / 2)
    scale = focal / np.maximum(local[:, 2], 1e-6)
    pixels = np.empty((len(local), 2))
    pixels[:, 0] = width / 2 + local[:, 0] * scale
    pixels[:, 1] = height / 2 - local[:, 1] * scale
    return pixels, local[:, 2]
