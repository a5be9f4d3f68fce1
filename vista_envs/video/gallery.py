"""Contact sheets of ``VistaVideo-v0`` for a person to check by eye that every question is answerable.

One sheet per question kind; one row per episode (difficulties 1, 3 and 5, a few seeds each). A row
shows exactly what the oracle saw, in order: the reset overview, then each grid of frames it asked
for, with the question, the answer and the deciding frames written beneath. If the answer cannot be
read off those images, the question is not answerable from what an agent can see.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import gymnasium as gym
from PIL import Image, ImageDraw

from vista_envs.tasks.drawing import font
from vista_envs.video.questions import KINDS

__all__ = ["episode_row", "write_video_gallery"]

GALLERY_DIFFICULTIES = (1, 3, 5)


def episode_row(env: gym.Env, seed: int, kind: str, difficulty: int, split: str, height: int = 336) -> Image.Image:
    """The images of one oracle episode side by side (each ``height`` px tall), captioned."""
    _, info = env.reset(seed=seed, options={"family": kind, "difficulty": difficulty, "split": split})
    video = env.unwrapped
    for _ in range(50):
        _, _, terminated, truncated, info = env.step(video.oracle())
        if terminated or truncated:
            break
    images = [Image.fromarray(image) for image in info["images"]]
    scaled = [
        image.resize((round(image.width * height / image.height), height), Image.Resampling.BILINEAR)
        for image in images
    ]
    strip = Image.new("RGB", (sum(image.width + 6 for image in scaled), height), (255, 255, 255))
    x = 0
    for image in scaled:
        strip.paste(image, (x, 0))
        x += image.width + 6
    lines = [
        f"{kind} d{difficulty} s{seed} ({info['n_frames']} frames): {video.episode.question.text}",
        (
            f"A: {info['answer']}   oracle: {'right' if info['is_success'] else 'WRONG'}, "
            f"deciding frames {list(video.episode.deciding_frames)}; images: the overview {info['overview_frames']}, "
            "then the oracle's grids"
        ),
    ]
    return _captioned(strip, lines)


def _captioned(image: Image.Image, lines: list[str], size: int = 15) -> Image.Image:
    """``image`` above ``lines`` in a fixed-size font, wrapped to the image's width (question lines kept)."""
    per_line = max(40, int(image.width / (size * 0.55)))
    wrapped = [
        piece for line in lines for part in line.split("\n") for piece in (textwrap.wrap(part, per_line) or [""])
    ]
    panel = Image.new("RGB", (image.width, image.height + len(wrapped) * (size + 4) + 8), (255, 255, 255))
    panel.paste(image, (0, 0))
    draw = ImageDraw.Draw(panel)
    for i, line in enumerate(wrapped):
        draw.text((6, image.height + 4 + i * (size + 4)), line, font=font(size), fill=(0, 0, 0))
    return panel


def write_video_gallery(out: Path, seeds: int, split: str, image_size: int = 448) -> list[Path]:
    """One PNG per question kind under ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    env = gym.make("VistaVideo-v0", image_size=image_size)
    paths = []
    try:
        for kind in KINDS:
            rows = [
                episode_row(env, seed, kind, difficulty, split)
                for difficulty in GALLERY_DIFFICULTIES
                for seed in range(seeds)
            ]
            sheet = Image.new(
                "RGB", (max(row.width for row in rows), sum(row.height + 10 for row in rows)), (200, 200, 200)
            )
            y = 0
            for row in rows:
                sheet.paste(row, (0, y))
                y += row.height + 10
            path = out / f"video_{kind}.png"
            sheet.save(path)
            paths.append(path)
    finally:
        env.close()
    return paths
