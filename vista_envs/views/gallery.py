"""Contact sheets of ``VistaViews-v0`` for a person to check by eye that every question is answerable.

One PNG per question family: a row per difficulty, a column per seed. Each tile is the mosaic the agent sees
(every view, with its marks) captioned with the question, the ground truth and the oracle's reasoning,
which names the views that decide the answer.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
from PIL import Image

from vista_envs.answers import format_answer
from vista_envs.rendering import caption_image

__all__ = ["views_gallery"]


def views_gallery(out: Path, seeds: int, size: int, split: str) -> list[Path]:
    """Write one sheet per question family into ``out``; returns their paths."""
    from vista_envs.views.questions import FAMILIES

    # Through the registry, not the env class: the env is built on this package, so this package never imports it.
    env = gym.make("VistaViews-v0", image_size=size, split=split).unwrapped
    paths = []
    try:
        for family in FAMILIES:
            tiles = []
            for difficulty in range(1, 6):
                for seed in range(seeds):
                    obs, _ = env.reset(seed=seed, options={"family": family, "difficulty": difficulty})
                    spec = env.question.spec
                    lines = [
                        f"d{difficulty} s{seed}: {spec.question}",
                        f"A: {format_answer(spec)}",
                        f"Why: {spec.rationale}",
                    ]
                    tiles.append(caption_image(Image.fromarray(obs["image"]), lines, caption_lines=14))
            tile_w, tile_h = tiles[0].size
            sheet = Image.new("RGB", (tile_w * seeds, tile_h * 5), (200, 200, 200))
            for i, tile in enumerate(tiles):
                sheet.paste(tile, ((i % seeds) * tile_w, (i // seeds) * tile_h))
            path = out / f"VistaViews-{family}.png"
            sheet.save(path)
            paths.append(path)
    finally:
        env.close()
    return paths
