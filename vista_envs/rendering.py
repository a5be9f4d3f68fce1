"""Human-facing renders: an env image with text written beneath it, at a fixed frame size."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from PIL import Image, ImageDraw

from vista_envs.tasks.drawing import font

__all__ = ["caption_image"]


def caption_image(image: Image.Image, lines: Sequence[str], caption_lines: int = 8) -> Image.Image:
    """``image`` above a white panel holding ``lines`` (wrapped, cut to ``caption_lines`` lines).

    The frame size depends only on the image size and ``caption_lines``, never on the text, so
    every frame of an episode has the same shape (as video recorders require).
    """
    width, height = image.size
    font_size = max(9, width // 28)
    line_height = font_size + 3
    chars_per_line = max(8, int(width / (font_size * 0.55)))
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line.replace("\n", " "), chars_per_line) or [""]
    if len(wrapped) > caption_lines:
        wrapped = wrapped[: caption_lines - 1] + ["…"]
    frame = Image.new("RGB", (width, height + caption_lines * line_height + 6), (255, 255, 255))
    frame.paste(image, (0, 0))
    draw = ImageDraw.Draw(frame)
    for i, line in enumerate(wrapped):
        draw.text((4, height + 3 + i * line_height), line, font=font(font_size), fill=(0, 0, 0))
    return frame
