"""Drawing frames on request: one frame, a grid of frames, a zoom into a frame.

Nothing is drawn at reset: a frame exists only when a tool (or the overview) asks for it, so a
1,800-frame clip costs no more to start than a 16-frame one. A frame shows, back to front: the floor
and its walls, the visible objects (shape, colour, their number), the opaque box (objects whose centre
is inside it are hidden), a yellow spark where a hit or a wall touch happens on this very frame, and
the frame's index and time in the top-left corner, so every image says which moment it shows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from PIL import Image, ImageDraw

from vista_envs.tasks.drawing import COLORS, draw_shape, font
from vista_envs.video.clip import Clip

__all__ = ["FLOOR", "FrameRenderer", "grid_shape"]

FLOOR = (236, 232, 222)
WALL = (70, 70, 70)
BOX_FILL, BOX_EDGE = (150, 105, 60), (90, 60, 30)
SPARK = (250, 215, 0)
LABEL_BAR = (30, 30, 30)


def grid_shape(n: int) -> tuple[int, int]:
    """``(columns, rows)`` of the squarest grid that holds ``n`` tiles."""
    columns = max(1, math.ceil(math.sqrt(n)))
    return columns, max(1, math.ceil(n / columns))


@functools.lru_cache(maxsize=4096)
def _glyph(size: int, stroke: int, char: str) -> tuple[Image.Image, Image.Image | None, tuple[int, int]]:
    """The fill mask and (with ``stroke``) the outline mask of one character, shared by every renderer,
    so a new episode's renderer draws no glyph twice. Every character sits on one baseline: a canvas
    of the font's full height, drawn at the ascender."""
    face = font(size)
    ascent, descent = face.getmetrics()
    extent = (math.ceil(face.getlength(char)) + 2 * stroke, ascent + descent + 2 * stroke)
    fill = Image.new("L", extent, 0)
    ImageDraw.Draw(fill).text((stroke, stroke), char, font=face, fill=255)
    outline = None
    if stroke:
        outline = Image.new("L", extent, 0)
        ImageDraw.Draw(outline).text((stroke, stroke), char, font=face, fill=255, stroke_width=stroke, stroke_fill=255)
    return fill, outline, extent


class _Stamps:
    """Text as pre-drawn masks pasted through a colour: drawing text with FreeType costs ~250 us a
    call, four times a whole frame's shapes; a paste through a cached mask costs a few us."""

    def __init__(self, size: int, stroke: int = 0):
        self._size = size
        self._stroke = stroke

    def _masks(self, char: str) -> tuple[Image.Image, Image.Image | None, tuple[int, int]]:
        return _glyph(self._size, self._stroke, char)

    def paste(
        self,
        image: Image.Image,
        xy: tuple[float, float],
        text: str,
        colour: tuple[int, int, int],
        outline_colour=(0, 0, 0),
        centred: bool = False,
    ) -> None:
        """Draw ``text`` with its top-left (or, ``centred``, its centre) at ``xy``; one cache entry per character."""
        masks = [self._masks(char) for char in text]
        width = sum(size[0] - 2 * self._stroke for _, _, size in masks)
        height = max(size[1] for _, _, size in masks)
        x, y = (xy[0] - width / 2, xy[1] - height / 2) if centred else xy
        x, y = round(x), round(y)
        for fill, outline, size in masks:
            if outline is not None:
                image.paste(outline_colour, (x, y), outline)
            image.paste(colour, (x, y), fill)
            x += size[0] - 2 * self._stroke


def _spark(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    points = []
    for i in range(16):
        angle = math.pi * i / 8
        reach = r if i % 2 == 0 else r * 0.45
        points.append((cx + reach * math.cos(angle), cy + reach * math.sin(angle)))
    return points


class FrameRenderer:
    """Draws the frames of one clip at ``size = (width, height)`` pixels."""

    def __init__(self, clip: Clip, size: tuple[int, int]):
        self.clip = clip
        self.size = (int(size[0]), int(size[1]))
        width, height = self.size
        self._scale = (width, height)
        self._radius = clip.radius * min(width, height)
        self._labels = _Stamps(max(8, int(self._radius * 1.1)), stroke=1)
        self._stamp = _Stamps(max(8, height // 18))
        x0, y0, x1, y1 = clip.box
        self._box = (x0 * width, y0 * height, x1 * width, y1 * height)

    def _xy(self, point: tuple[float, float]) -> tuple[float, float]:
        return point[0] * self._scale[0], point[1] * self._scale[1]

    def frame(self, index: int, stamp: bool = True) -> Image.Image:
        """Frame ``index`` (0-based) as an RGB image of :attr:`size`; ``stamp`` writes its index and time in a
        corner."""
        clip = self.clip
        width, height = self.size
        image = Image.new("RGB", self.size, FLOOR)
        draw = ImageDraw.Draw(image)
        draw.rectangle((0, 0, width - 1, height - 1), outline=WALL, width=2)
        radius = self._radius
        for track in clip.tracks:
            if clip.status(track.ident, index) != "visible":
                continue
            centre = self._xy(track.position(index))
            draw_shape(draw, track.shape, centre, radius, COLORS[track.colour(index)], outline=(20, 20, 20))
            self._labels.paste(image, centre, str(track.ident), (255, 255, 255), centred=True)
        draw.rectangle(self._box, fill=BOX_FILL, outline=BOX_EDGE, width=2)
        for event in clip.contacts(index):
            if event.kind == "hit":
                a, b = clip.track(event.obj).position(index), clip.track(event.other).position(index)
                where, size = self._xy(((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)), radius * 0.8
            else:
                # On the wall itself half the spark is cut off by the frame's edge: draw it larger.
                x, y = clip.track(event.obj).position(index)
                x = {"left": 0.0, "right": 1.0}.get(event.value, x)
                y = {"top": 0.0, "bottom": 1.0}.get(event.value, y)
                where, size = self._xy((x, y)), radius * 1.3
            draw.polygon(_spark(where[0], where[1], size), fill=SPARK, outline=(120, 90, 0))
        if stamp:
            self._stamp.paste(image, (4, 4), f"#{index}  {index / clip.fps:.2f}s", LABEL_BAR)
        return image

    def zoom(self, index: int, box: Sequence[float], out_size: tuple[int, int]) -> Image.Image:
        """The region ``box = (x0, y0, x1, y1)`` (pixels of a frame) of frame ``index``, scaled to ``out_size``.

        The region is drawn again at up to 4x the frame's scale (sharper than enlarging its pixels, and
        a bounded cost: at most 16x a frame's area), then scaled to fit.
        """
        x0, y0, x1, y1 = box
        scale = max(1.0, min(out_size[0] / (x1 - x0), out_size[1] / (y1 - y0), 4.0))
        big = FrameRenderer(self.clip, (round(self.size[0] * scale), round(self.size[1] * scale)))
        crop = big.frame(index).crop((round(x0 * scale), round(y0 * scale), round(x1 * scale), round(y1 * scale)))
        return crop.resize(out_size, Image.Resampling.BILINEAR)

    def grid(self, indices: Sequence[int], out_size: tuple[int, int]) -> Image.Image:
        """Frames ``indices`` tiled in reading order into one image of ``out_size``, each under a band with its index.

        Tiles keep the frames' aspect ratio. A frame's own corner stamp would shrink with its tile, and a
        label drawn over the frame could hide an object, so tiles are drawn without the stamp and the
        index goes in a band above each tile.
        """
        columns, rows = grid_shape(len(indices))
        cell = (out_size[0] // columns, out_size[1] // rows)
        band = max(10, cell[1] // 10)
        scale = min((cell[0] - 2) / self.size[0], (cell[1] - band - 2) / self.size[1])
        tile = (max(1, int(self.size[0] * scale)), max(1, int(self.size[1] * scale)))
        sheet = Image.new("RGB", out_size, (255, 255, 255))
        labels = _Stamps(max(8, band - 5))
        for k, index in enumerate(indices):
            x, y = (k % columns) * cell[0], (k // columns) * cell[1]
            frame = self.frame(index, stamp=False)
            sheet.paste(
                frame if frame.size == tile else frame.resize(tile, Image.Resampling.BILINEAR),
                (x + (cell[0] - tile[0]) // 2, y + band),
            )
            labels.paste(sheet, (x + (cell[0] - tile[0]) // 2, y + 1), f"#{index}", LABEL_BAR)
        return sheet
