"""Domain randomisation of the robot envs' scenes and images (for sim-to-real transfer).

Ten knobs, each set to a level ``"none"``, ``"low"``, ``"medium"`` or ``"high"``:

================  ===========================================================================
knob              what varies (``none`` = the fixed default)
================  ===========================================================================
lighting          TinyRenderer light direction, light colour, ambient/diffuse/specular coefficients
object_colors     each object's RGB around its named colour (it stays recognisably that colour)
textures          share of objects drawn with a procedural texture (stripes, checks, dots, noise)
table_color       the table's colour (neutral tones, never an object colour)
object_poses      objects' yaw (``none``: every object square to the table's edges)
camera            camera position and aim jitter, and field of view
distractors       number of extra objects that no instruction mentions (0 / 1 / 2 / 3)
image_noise       Gaussian pixel noise (standard deviation 0 / 3 / 8 / 15 on the 0-255 scale)
zone_colors       a zone's colour off its name (high: any RGB), never near a test colour
zone_contrast     share of those zone colours drawn near the table's (0 / 20 / 35 / 50%): faint zones
================  ===========================================================================

``zone_colors`` is for pixel learners that do not read the instruction (a "red zone" may be drawn green).
``low`` and ``medium`` move a zone named with a seen colour around its name: hue :math:`h_0 + U(-a, a)` degrees
(:math:`h_0` its named colour's hue, gray counting as 0; :math:`a` = 20 / 60), saturation and value moved by up to
0.1 / 0.25, all within [0.3, 1]. ``high`` forgets the name: each channel is drawn uniformly in [0, 255], so the
draws fill the whole RGB cube, light and pastel colours, greys and near-blacks included (an HSV draw with
saturation and value in [0.3, 1] left the light corner, where pink lies, nearly empty). Every level redraws a
colour while it lies within RGB distance :data:`HELD_OUT_DISTANCE` (60 on the 0-255 scale) of the test split's
purple or pink (:func:`held_out_color`). Only that neighbourhood is held out: colours all around it (a darker or
paler purple, a magenta, a light rose) are drawn, so a policy trained with ``"high"`` and tested on purple and
pink is tested on colours *inside* its randomised range that it never saw as such (interpolation), not on a
region of colour it never saw. A zone named with an unseen colour (eval's orange, test's purple and pink) keeps
its colour, so held-out episodes look as they do without randomisation (when no other knob is on). With
``table_color`` and ``lighting`` on as well, the one cue that holds in every training episode is that the zone
differs from a table of some neutral tone under some light, not that it is darker than one fixed table in one
channel (``bench_domain_randomization.py`` trains with the three, and measures what a policy learns from them).

``zone_contrast`` (only with ``zone_colors`` on) weights that draw towards zones that are hard to see: that share of
the zone colours lies at RGB distance 25-90 from the episode's table colour (before lighting), in a uniform random
direction, the rest as ``zone_colors`` draws them; the held-out neighbourhoods are refused all the same. A uniform
draw over the cube puts about one zone in ten that near a light table, and a policy learns the plain contrasts
first (see "Domain randomisation" in ``benchmarks/RESULTS.md``).

``Randomization.preset("medium")`` sets every knob but ``zone_colors`` and ``zone_contrast`` to one level (a preset
keeps each colour word true); ``Randomization(lighting="high")`` sets one and leaves the rest at ``"none"``. The envs
take either, a preset name, or a dict of knobs.
Everything is drawn from the episode's RNG at reset (noise at every render), so a seed fixes it.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
import io
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vista_envs.robot.objects import UNSEEN_COLORS
from vista_envs.robot.sim import RGBA, Camera, Lighting, Vec3, generated_file
from vista_envs.tasks.drawing import COLORS, jitter_color

__all__ = [
    "DEFAULT_CAMERA",
    "DEFAULT_LIGHTING",
    "DEFAULT_TABLE_RGBA",
    "HELD_OUT_DISTANCE",
    "LEVELS",
    "Randomization",
    "SceneStyle",
    "held_out_color",
    "texture_files",
]

LEVELS: tuple[str, ...] = ("none", "low", "medium", "high")
_LEVEL_INDEX = {level: index for index, level in enumerate(LEVELS)}  # LEVELS.index, without its scan

DEFAULT_CAMERA = Camera(eye=(0.88, 0.0, 0.85), target=(0.52, 0.0, 0.0), fov=40.0)
DEFAULT_LIGHTING = Lighting()
DEFAULT_TABLE_RGBA: RGBA = (0.84, 0.82, 0.78, 1.0)

# Per level (none, low, medium, high).
_LIGHT_DIRECTION_JITTER = (0.0, 0.3, 0.8, 2.0)
_LIGHT_TINT = (0.0, 0.05, 0.15, 0.3)
_LIGHT_COEFFICIENT_JITTER = (0.0, 0.05, 0.1, 0.15)
# At most 26 per channel: a jittered colour stays nearer its own palette colour than any other
# (the closest pair, yellow and orange, is 71 apart).
_COLOR_JITTER = (0, 8, 16, 26)
_TEXTURE_SHARE = (0.0, 0.25, 0.5, 0.9)
_TABLE_SPREAD = (0.0, 0.06, 0.15, 0.3)
_MAX_YAW = (0.0, math.radians(15), math.radians(45), math.pi)
_CAMERA_EYE_JITTER = (0.0, 0.03, 0.07, 0.12)
_CAMERA_TARGET_JITTER = (0.0, 0.01, 0.03, 0.05)
_CAMERA_FOV_JITTER = (0.0, 2.0, 5.0, 8.0)
_DISTRACTORS = (0, 1, 2, 3)
_NOISE_SIGMA = (0.0, 3.0, 8.0, 15.0)
# low / medium move the named colour's hue (degrees) and saturation/value; high (None) draws over the RGB cube instead
_ZONE_HUE_SPREAD = (0.0, 20.0, 60.0, None)
_ZONE_SV_SPREAD = (0.0, 0.1, 0.25, None)
_ZONE_MIN_SV = 0.3
# zone_colors never draws a colour nearer than this (RGB, 0-255) to purple or pink, so that no training zone is
# (nearly) a test colour. Far enough that the nearest draw is still plainly another colour; near enough that the
# randomised range surrounds the test colours (the nearest seen colour is 93 from purple and 132 from pink).
HELD_OUT_DISTANCE = 60.0
# zone_contrast: the share of zone colours drawn near the table, and how near (RGB distance, 0-255): from barely
# visible to about the contrast of light grey on the default cream table.
_NEAR_TABLE_SHARE = (0.0, 0.2, 0.35, 0.5)
_NEAR_TABLE_DISTANCE = (25.0, 90.0)
_TEST_COLORS = ("purple", "pink")
_ZONE_ATTEMPTS = 100

N_TEXTURES = 6


@dataclass(frozen=True)
class SceneStyle:
    """Everything randomised about one episode's look (drawn at reset)."""

    camera: Camera
    lighting: Lighting
    table_rgba: RGBA
    noise_sigma: float


@dataclass(frozen=True)
class Randomization:
    """Domain randomisation levels, one per knob (see the module docstring); all ``"none"`` by default."""

    lighting: str = "none"
    object_colors: str = "none"
    textures: str = "none"
    table_color: str = "none"
    object_poses: str = "none"
    camera: str = "none"
    distractors: str = "none"
    image_noise: str = "none"
    zone_colors: str = "none"
    zone_contrast: str = "none"

    def __post_init__(self) -> None:
        for knob in dataclasses.fields(self):
            level = getattr(self, knob.name)
            if level not in LEVELS:
                raise ValueError(f"randomization {knob.name}={level!r}: the level must be one of {LEVELS}")
        if self.zone_contrast != "none" and self.zone_colors == "none":
            raise ValueError(
                f"randomization zone_contrast={self.zone_contrast!r} weights the zone colours that zone_colors draws; "
                "set zone_colors too"
            )

    @classmethod
    def preset(cls, level: str) -> Randomization:
        """Every knob but ``zone_colors`` and ``zone_contrast`` at ``level`` (drawing a "red zone" green would make the
        instruction lie)."""
        zone_knobs = ("zone_colors", "zone_contrast")
        return cls(**{knob.name: level for knob in dataclasses.fields(cls) if knob.name not in zone_knobs})

    @classmethod
    def from_any(cls, value: str | Mapping[str, str] | Randomization | None) -> Randomization:
        """Accept a preset name, a dict of knobs (the rest ``"none"``), a Randomization, or None (no randomisation)."""
        if value is None:
            return cls()
        if isinstance(value, Randomization):
            return value
        if isinstance(value, str):
            return cls.preset(value)
        if isinstance(value, Mapping):
            known = {knob.name for knob in dataclasses.fields(cls)}
            unknown = set(value) - known
            if unknown:
                raise ValueError(f"unknown randomization knobs {sorted(unknown)}; known: {sorted(known)}")
            return cls(**value)
        raise TypeError(
            f"randomization must be a level name, a dict of knobs or a Randomization, got {type(value).__name__}"
        )

    def _index(self, knob: str) -> int:
        return _LEVEL_INDEX[getattr(self, knob)]

    # ------------------------------------------------------------ sampling

    @property
    def n_distractors(self) -> int:
        return _DISTRACTORS[self._index("distractors")]

    def max_yaw(self) -> float:
        return _MAX_YAW[self._index("object_poses")]

    def object_rgba(
        self, rng: random.Random, color: str, kind: str = "object", table_rgba: RGBA = DEFAULT_TABLE_RGBA
    ) -> RGBA:
        """The rendered colour of an object named ``color`` (``kind`` as :attr:`ObjectSpec.kind`) on a table of
        ``table_rgba`` (the episode's :attr:`SceneStyle.table_rgba`; only ``zone_contrast`` reads it)."""
        r, g, b = jitter_color(rng, COLORS[color], _COLOR_JITTER[self._index("object_colors")])
        if kind == "zone" and self.zone_colors != "none" and color not in UNSEEN_COLORS:
            # Drawn after the jitter and only when the knob is on, so that every other episode is unchanged.
            return self._zone_rgba(rng, color, table_rgba)
        return (r / 255.0, g / 255.0, b / 255.0, 1.0)

    def _zone_rgba(self, rng: random.Random, color: str, table_rgba: RGBA) -> RGBA:
        level = self._index("zone_colors")
        hue, saturation, value = colorsys.rgb_to_hsv(*(c / 255.0 for c in COLORS[color]))
        spread = _ZONE_HUE_SPREAD[level]
        sv_spread = _ZONE_SV_SPREAD[level]
        # Decided once per zone (no draw when the knob is off, so other episodes are unchanged).
        near_table = self.zone_contrast != "none" and rng.random() < _NEAR_TABLE_SHARE[self._index("zone_contrast")]
        for _ in range(_ZONE_ATTEMPTS):
            if near_table:
                rgb = _near(rng, tuple(255.0 * c for c in table_rgba[:3]), *_NEAR_TABLE_DISTANCE)
            elif self.zone_colors == "high":  # anywhere in the RGB cube
                rgb = tuple(rng.uniform(0.0, 255.0) for _ in range(3))
            else:
                drawn = (360.0 * hue + rng.uniform(-spread, spread)) % 360.0
                s, v = (
                    min(1.0, max(_ZONE_MIN_SV, x + rng.uniform(-sv_spread, sv_spread))) for x in (saturation, value)
                )
                rgb = tuple(255.0 * c for c in colorsys.hsv_to_rgb(drawn / 360.0, s, v))
            if all(0.0 <= c <= 255.0 for c in rgb) and not held_out_color(rgb):
                return (rgb[0] / 255.0, rgb[1] / 255.0, rgb[2] / 255.0, 1.0)
        # Only narrow spreads near the held-out colours could get here (none does): a named colour is never held out.
        r, g, b = COLORS[color]
        return (r / 255.0, g / 255.0, b / 255.0, 1.0)

    def texture_index(self, rng: random.Random) -> int | None:
        """Which procedural texture an object wears (None: plain colour)."""
        share = _TEXTURE_SHARE[self._index("textures")]
        if share == 0.0 or rng.random() >= share:
            return None
        return rng.randrange(N_TEXTURES)

    def style(self, rng: random.Random) -> SceneStyle:
        """Draw the camera, light, table colour and noise level of an episode."""
        if self._constant_style is not None:
            return self._constant_style
        return SceneStyle(
            self._camera(rng), self._lighting(rng), self._table_rgba(rng), _NOISE_SIGMA[self._index("image_noise")]
        )

    @functools.cached_property
    def _constant_style(self) -> SceneStyle | None:
        """The style when none of its knobs draws (camera, lighting and table colour at ``"none"``: no draw from the
        rng), built once: multi-view rigs ask for it once per camera."""
        if self.camera == self.lighting == self.table_color == "none":
            noise = _NOISE_SIGMA[self._index("image_noise")]
            return SceneStyle(DEFAULT_CAMERA, DEFAULT_LIGHTING, DEFAULT_TABLE_RGBA, noise)
        return None

    def _camera(self, rng: random.Random) -> Camera:
        level = self._index("camera")
        if level == 0:
            return DEFAULT_CAMERA
        eye = _jitter(rng, DEFAULT_CAMERA.eye, _CAMERA_EYE_JITTER[level])
        target = _jitter(rng, DEFAULT_CAMERA.target, _CAMERA_TARGET_JITTER[level])
        fov = DEFAULT_CAMERA.fov + rng.uniform(-1.0, 1.0) * _CAMERA_FOV_JITTER[level]
        return Camera(eye=eye, target=target, fov=fov)

    def _lighting(self, rng: random.Random) -> Lighting:
        level = self._index("lighting")
        if level == 0:
            return DEFAULT_LIGHTING
        x, y, z = _jitter(rng, DEFAULT_LIGHTING.direction, _LIGHT_DIRECTION_JITTER[level])
        direction = (x, y, max(0.2, z))  # keep the light above the table
        tint = _LIGHT_TINT[level]
        color = tuple(1.0 - rng.uniform(0.0, tint) for _ in range(3))
        spread = _LIGHT_COEFFICIENT_JITTER[level]
        return Lighting(
            direction=direction,
            color=color,  # type: ignore[arg-type]
            ambient=DEFAULT_LIGHTING.ambient + rng.uniform(-spread, spread),
            diffuse=DEFAULT_LIGHTING.diffuse + rng.uniform(-spread, spread),
            specular=max(0.0, DEFAULT_LIGHTING.specular + rng.uniform(-spread, spread)),
        )

    def _table_rgba(self, rng: random.Random) -> RGBA:
        spread = _TABLE_SPREAD[self._index("table_color")]
        if spread == 0.0:
            return DEFAULT_TABLE_RGBA
        # A neutral tone: a clear brightness shift either way plus a faint tint, so that no object colour
        # appears on the table.
        brightness = rng.choice((-1.0, 1.0)) * rng.uniform(spread / 3, spread)
        return tuple(
            min(0.95, max(0.2, c + brightness + rng.uniform(-spread, spread) * 0.2)) for c in DEFAULT_TABLE_RGBA[:3]
        ) + (1.0,)  # type: ignore[return-value]


def held_out_color(rgb: tuple[float, ...]) -> bool:
    """Whether ``zone_colors`` refuses a colour (``rgb`` on the 0-255 scale): it lies within
    :data:`HELD_OUT_DISTANCE` of a test colour (purple or pink)."""
    return any(math.dist(rgb, COLORS[name]) < HELD_OUT_DISTANCE for name in _TEST_COLORS)


def _near(rng: random.Random, centre: tuple[float, ...], low: float, high: float) -> tuple[float, ...]:
    """A colour at RGB distance ``low``-``high`` from ``centre`` in a uniform random direction (possibly outside the
    cube: the caller redraws it then, as clipping would bring it nearer than ``low``)."""
    direction = [rng.gauss(0.0, 1.0) for _ in centre]
    norm = math.sqrt(sum(d * d for d in direction)) or 1.0
    distance = rng.uniform(low, high)
    return tuple(c + distance * d / norm for c, d in zip(centre, direction))


def _jitter(rng: random.Random, vector: Vec3, amount: float) -> Vec3:
    return tuple(v + rng.uniform(-amount, amount) for v in vector)  # type: ignore[return-value]


def _texture_image(index: int, size: int = 64) -> np.ndarray:
    """Procedural greyscale texture ``index``: light patterns that keep the object's hue (the renderer
    multiplies the texture by the object's colour)."""
    y, x = np.mgrid[0:size, 0:size]
    pattern = {
        0: (x // 8) % 2 == 0,  # stripes
        1: ((x // 8) + (y // 8)) % 2 == 0,  # checks
        2: ((x % 16 - 8) ** 2 + (y % 16 - 8) ** 2) < 16,  # dots
        3: ((x + y) // 6) % 2 == 0,  # diagonal stripes
        4: (x // 16 + y // 16) % 2 == 0,  # large checks
        5: np.random.default_rng(index).random((size, size)) < 0.5,  # noise
    }[index]
    grey = np.where(pattern, 255, 150).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def texture_files() -> tuple[str, ...]:
    """Paths of the procedural textures as PNG files (PyBullet loads textures from files only)."""
    paths = []
    for i in range(N_TEXTURES):
        png = io.BytesIO()
        Image.fromarray(_texture_image(i)).save(png, format="PNG")
        paths.append(generated_file(f"texture_{i}.png", png.getvalue()))
    return tuple(paths)
