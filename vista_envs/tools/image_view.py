"""What the agent sees of the task image: a region of the full-resolution source, shown at a fixed size.

Crop and zoom choose a new region (in pixels of the current view) and re-render it from the source,
so zooming reveals real detail. The region keeps its aspect ratio: it is fitted inside the view and
padded with gray. Annotations (boxes, points, grids) are drawn on the current view and last until the
next crop or zoom.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from vista_envs.tasks.drawing import COLORS, draw_text

__all__ = ["ImageView", "ViewError"]

_PAD_COLOR = (128, 128, 128)
MIN_REGION_SOURCE_PX = 4.0
MAX_ZOOM_FACTOR = 16.0


class ViewError(ValueError):
    """Bad coordinates or arguments for a view operation; the message is fit to show the model."""


@dataclass(frozen=True)
class ImageView:
    """A ``region`` ``(x0, y0, x1, y1)`` of ``source`` (source pixels), drawn as ``image`` of ``size``."""

    source: Image.Image
    region: tuple[float, float, float, float]
    image: Image.Image

    @classmethod
    def full(cls, source: Image.Image, size: tuple[int, int]) -> ImageView:
        """The whole source image at ``size``."""
        return cls._render(source, (0.0, 0.0, float(source.width), float(source.height)), size)

    @classmethod
    def _render(
        cls, source: Image.Image, region: tuple[float, float, float, float], size: tuple[int, int]
    ) -> ImageView:
        scale, (offset_x, offset_y), (width, height) = cls._fit(region, size)
        whole = region == (0.0, 0.0, float(source.width), float(source.height))
        if (
            whole
            and (width, height) == size
            and source.width % width == 0
            and source.width // width == source.height // height
        ):
            # The whole source at a whole-number scale: a box filter (reduce) is exact and fast.
            factor = source.width // width
            return cls(source, region, source if factor == 1 else source.reduce(factor))
        patch = source.resize(
            (width, height), Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.BICUBIC, box=region
        )
        image = Image.new("RGB", size, _PAD_COLOR)
        image.paste(patch, (offset_x, offset_y))
        return cls(source, region, image)

    @staticmethod
    def _fit(
        region: tuple[float, float, float, float], size: tuple[int, int]
    ) -> tuple[float, tuple[int, int], tuple[int, int]]:
        """Scale (view px per source px), paste offset and patch size of ``region`` fitted into ``size``."""
        region_w, region_h = region[2] - region[0], region[3] - region[1]
        scale = min(size[0] / region_w, size[1] / region_h)
        width, height = max(1, min(size[0], round(region_w * scale))), max(1, min(size[1], round(region_h * scale)))
        return scale, ((size[0] - width) // 2, (size[1] - height) // 2), (width, height)

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def scale(self) -> float:
        """View pixels per source pixel."""
        return self._fit(self.region, self.size)[0]

    def to_source(self, x: float, y: float) -> tuple[float, float]:
        """Source coordinates of the view pixel ``(x, y)``."""
        scale, (offset_x, offset_y), _ = self._fit(self.region, self.size)
        return self.region[0] + (x - offset_x) / scale, self.region[1] + (y - offset_y) / scale

    def describe(self) -> str:
        """One line telling the agent what the view shows."""
        x0, y0, x1, y1 = (round(v) for v in self.region)
        return (
            f"The view shows region [{x0}, {y0}, {x1}, {y1}] of the {self.source.width}x{self.source.height} source "
            f"image at {self.scale:.2f}x."
        )

    def _check_box(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        x0, y0, x1, y1 = (float(v) for v in box)
        x0, x1 = sorted((x0, x1))
        y0, y1 = sorted((y0, y1))
        width, height = self.size
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(width), x1), min(float(height), y1)
        if x1 - x0 < 1 or y1 - y0 < 1:
            raise ViewError(f"the box {list(box)} does not overlap the {width}x{height} view")
        return x0, y0, x1, y1

    def crop(self, box: Sequence[float]) -> ImageView:
        """A new view of the part of this view inside ``box`` (view pixels; clipped to the view)."""
        x0, y0, x1, y1 = self._check_box(box)
        sx0, sy0 = self.to_source(x0, y0)
        sx1, sy1 = self.to_source(x1, y1)
        region = (
            max(0.0, sx0),
            max(0.0, sy0),
            min(float(self.source.width), sx1),
            min(float(self.source.height), sy1),
        )
        if region[2] - region[0] < MIN_REGION_SOURCE_PX or region[3] - region[1] < MIN_REGION_SOURCE_PX:
            raise ViewError(
                f"the box {list(box)} covers less than {MIN_REGION_SOURCE_PX:g} source pixels or only padding"
            )
        return self._render(self.source, region, self.size)

    def zoom(self, x: float, y: float, factor: float) -> ImageView:
        """Magnify this view ``factor`` times around the view pixel ``(x, y)``."""
        if not 1.0 <= factor <= MAX_ZOOM_FACTOR:
            raise ViewError(f"factor must be within [1, {MAX_ZOOM_FACTOR:g}], got {factor:g}")
        width, height = self.size
        if not (0 <= x <= width and 0 <= y <= height):
            raise ViewError(f"the point ({x:g}, {y:g}) is outside the {width}x{height} view")
        half_w, half_h = width / (2 * factor), height / (2 * factor)
        # Slide the window back inside the view rather than shrink it at the edges.
        cx, cy = min(max(x, half_w), width - half_w), min(max(y, half_h), height - half_h)
        return self.crop((cx - half_w, cy - half_h, cx + half_w, cy + half_h))

    def annotated(
        self,
        boxes: Sequence[tuple[Sequence[float], str, str]] = (),
        points: Sequence[tuple[float, float, str, str]] = (),
        grid_step: int | None = None,
    ) -> ImageView:
        """This view with ``boxes`` (box, colour, label), ``points`` (x, y, colour, label) and/or a labelled grid."""
        image = self.image.copy()
        draw = ImageDraw.Draw(image)
        width, height = self.size
        label_size = max(8, width // 28)
        if grid_step is not None:
            for x in range(grid_step, width, grid_step):
                draw.line((x, 0, x, height), fill=(255, 0, 255), width=1)
                draw_text(draw, (x + 1, 1), str(x), label_size, fill=(255, 0, 255), anchor="la")
            for y in range(grid_step, height, grid_step):
                draw.line((0, y, width, y), fill=(255, 0, 255), width=1)
                draw_text(draw, (1, y + 1), str(y), label_size, fill=(255, 0, 255), anchor="la")
        for box, color, label in boxes:
            x0, y0, x1, y1 = self._check_box(box)
            draw.rectangle((x0, y0, x1, y1), outline=_color(color), width=2)
            if label:
                draw_text(
                    draw, (x0 + 2, max(0, y0 - label_size - 1)), label, label_size, fill=_color(color), anchor="la"
                )
        for x, y, color, label in points:
            if not (0 <= x <= width and 0 <= y <= height):
                raise ViewError(f"the point ({x:g}, {y:g}) is outside the {width}x{height} view")
            radius = max(3, width // 80)
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=_color(color), outline=(255, 255, 255))
            if label:
                draw_text(draw, (x + radius + 2, y - radius), label, label_size, fill=_color(color), anchor="la")
        return ImageView(self.source, self.region, image)


def _color(name: str) -> tuple[int, int, int]:
    try:
        return COLORS[name.lower()]
    except KeyError:
        raise ViewError(f"unknown colour {name!r}; use one of {', '.join(COLORS)}") from None
