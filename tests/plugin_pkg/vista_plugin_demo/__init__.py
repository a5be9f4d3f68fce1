"""A demo vista-envs plugin: the ``demo_dots`` family, the ``demo-counter`` agent and the ``demo`` suites."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vista_envs.tasks import TaskFamily, TaskSpec

__all__ = ["SUITE", "DemoDots", "make_counter", "suite_file"]

_CELL = 28  # dots sit on a grid of cells this many pixels wide at 224 px, one dot per cell at most


class DemoDots(TaskFamily):
    """Count the black dots on a white canvas: 1-3 dots at difficulty 1, up to 2 + 3·difficulty at 5."""

    name = "demo_dots"
    description = "How many black dots are there?"

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        columns, rows = size[0] // _CELL, size[1] // _CELL
        count = rng.randint(1, 2 + 3 * difficulty - 2)
        cells = rng.sample(range(columns * rows), count)
        return TaskSpec(
            question="How many black dots are there?",
            answer=count,
            answer_type="number",
            scene={"cells": sorted(cells), "columns": columns},
            rationale=f"I count the dots: there are {count}.",
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        image = Image.new("RGB", size, (255, 255, 255))
        draw = ImageDraw.Draw(image)
        columns = spec.scene["columns"]
        for cell in spec.scene["cells"]:
            x, y = (cell % columns) * _CELL + _CELL // 2, (cell // columns) * _CELL + _CELL // 2
            draw.ellipse((x - 8, y - 8, x + 8, y + 8), fill=(0, 0, 0))
        return image


class DotCounter:
    """Counts dark blobs row by row (dots never touch), and answers in the default format."""

    def act(self, observations, infos):
        return [f"<think>I count the dots.</think><answer>{self.count(o['image'])}</answer>" for o in observations]

    @staticmethod
    def count(image: np.ndarray) -> int:
        dark = image.mean(axis=2) < 100
        height, width = dark.shape
        seen = np.zeros_like(dark)
        blobs = 0
        for y in range(height):
            for x in range(width):
                if dark[y, x] and not seen[y, x]:
                    blobs += 1
                    stack = [(y, x)]
                    seen[y, x] = True
                    while stack:
                        cy, cx = stack.pop()
                        for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                            if 0 <= ny < height and 0 <= nx < width and dark[ny, nx] and not seen[ny, nx]:
                                seen[ny, nx] = True
                                stack.append((ny, nx))
        return blobs


def make_counter(argument: str) -> DotCounter:
    """``demo-counter`` (no argument)."""
    if argument:
        raise ValueError(f"demo-counter takes no argument, got {argument!r}")
    return DotCounter()


SUITE = {
    "name": "demo",
    "version": 1,
    "description": "the demo plugin's family beside a built-in one",
    "split": "test",
    "seed": 11,
    "entries": [
        {
            "env": "VisualQA-v0",
            "grid": {"family": ["demo_dots", "counting"], "difficulty": [1, 2]},
            "episodes_per_cell": 2,
        }
    ],
}


def suite_file() -> Path:
    return Path(__file__).with_name("demo_file.json")
