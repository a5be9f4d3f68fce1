"""Contact sheets of the GUI apps: a row per difficulty, a column per seed, each screen captioned with its task."""

from __future__ import annotations

from PIL import Image

from vista_envs.gui.goals import format_value
from vista_envs.gui.render import render_app
from vista_envs.gui.task import generate_gui_task
from vista_envs.rendering import caption_image

__all__ = ["gui_contact_sheet"]


def gui_contact_sheet(kind: str, seeds: int, split: str, size: tuple[int, int]) -> Image.Image:
    """The sheet of app kind ``kind``: ``seeds`` screens at each difficulty 1..5 (``size`` is ``(width, height)``)."""
    tiles = []
    for difficulty in range(1, 6):
        for seed in range(seeds):
            task = generate_gui_task(kind, seed, difficulty, split, size)
            answer = f" A: {format_value(task.goal.answer)}" if task.goal.asks_question else ""
            tiles.append(
                caption_image(
                    render_app(task.app), [f"d{difficulty} s{seed}: {task.goal.instruction}{answer}"], caption_lines=4
                )
            )
    tile_w, tile_h = tiles[0].size
    sheet = Image.new("RGB", (tile_w * seeds, tile_h * 5), (200, 200, 200))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, ((i % seeds) * tile_w, (i // seeds) * tile_h))
    return sheet
