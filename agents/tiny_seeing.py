"""A tiny VLM recipe meant to learn to see on a CPU: small images, one token per answer, short answers.

:func:`vista_agents.tiny.build_tiny_vlm` makes a model that runs everywhere; this module picks its knobs so that
the learning benchmarks (``benchmarks/bench_grpo_learning_visual.py``, ``benchmarks/bench_visplay_learning.py``)
can teach it the envs' scene questions within minutes of one CPU core:

- **64 px images, 8 px patches**: the envs' scenes are drawn at 64 px (their smallest size), and an
  object (10-18 px) covers a few patches; an image is 64 tokens.
- **One token per answer**: the tokenizer's corpus repeats every answer word of the scene families
  (counts, colours, shapes, yes/no) inside ``<answer>...</answer>``, so BPE merges each into one token,
  and with ``response_format="answer_only"`` a whole response is four tokens
  (``<answer>``, the word, ``</answer>``, end of turn): an answer is a single decision.
- **A perception warm start built offline** (:func:`pretrain_vision`, optional): real VLMs start from a
  pre-trained vision encoder; here the vision tower is pre-trained for a few CPU minutes on synthetic
  scenes of coloured shapes that this module draws itself (random shapes, colours, sizes and places, no
  questions and no env tasks), to name, for each patch, the shape and the colour of the object centred in
  it. The projector and the text tower stay random: turning those features into answers is left to SFT
  and GRPO on the envs.

The directory loads back through ``from_pretrained`` like any other::

    from vista_agents.tiny_seeing import build_seeing_vlm
    path = build_seeing_vlm("/tmp/seeing-vlm", seed=0)

From a shell: ``python -m vista_agents.tiny_seeing /tmp/seeing-vlm``.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoImageProcessor, LlavaForConditionalGeneration

from vista_agents.tiny import build_tiny_vlm
from vista_envs.tasks.drawing import COLORS, SHAPES, blank, draw_shape

__all__ = [
    "ANSWER_WORDS",
    "SEEING_DEFAULTS",
    "answer_corpus",
    "build_seeing_vlm",
    "pretrain_vision",
    "synthetic_scenes",
]

# Every answer of the counting, attributes and spatial families at low difficulty, and a few more.
ANSWER_WORDS = (
    *map(str, range(10)),
    "yes",
    "no",
    "red",
    "green",
    "blue",
    "yellow",
    "orange",
    "purple",
    "pink",
    "brown",
    "gray",
    "cyan",
    "black",
    "white",
    "circle",
    "square",
    "triangle",
    "star",
    "hexagon",
    "diamond",
    "pentagon",
    "cross",
    "small",
    "large",
)

# The architecture the benchmarks use (keyword arguments of build_tiny_vlm).
SEEING_DEFAULTS = {
    "image_size": 64,
    "patch_size": 8,
    "vision_hidden_size": 64,
    "hidden_size": 64,
    "num_layers": 2,
    "vision_num_layers": 2,
    "vision_num_attention_heads": 4,
}


def answer_corpus(repeats: int = 200) -> list[str]:
    """Each answer word inside the answer tags, ``repeats`` times: frequent enough for BPE to make it one token."""
    return [f"<answer>{word}</answer>" for word in ANSWER_WORDS for _ in range(repeats)]


def build_seeing_vlm(
    path: str | os.PathLike[str], *, seed: int = 0, corpus: Iterable[str] = (), **overrides: int
) -> Path:
    """Build the recipe's model (``SEEING_DEFAULTS``, with ``overrides``) at ``path``; returns ``path``.

    ``corpus``: more tokenizer training text (e.g. an env's instructions), besides :func:`answer_corpus`.
    """
    return build_tiny_vlm(path, seed=seed, corpus=[*answer_corpus(), *corpus], **{**SEEING_DEFAULTS, **overrides})


OUTLINE = (40, 40, 40)


def synthetic_scenes(
    rng: random.Random, count: int, size: int = 64, patch_size: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` white scenes of 2-8 coloured, outlined shapes, and per-patch labels of the object centred in each patch.

    Returns ``(images, shapes, colors)``: ``images`` is ``(count, size, size, 3)`` uint8; ``shapes`` and
    ``colors`` are ``(count, (size // patch_size) ** 2)`` int64 in row-major patch order, 0 for "no object
    centred here", else 1 + the index in ``SHAPES`` / ``COLORS``.
    """
    grid = size // patch_size
    images = np.empty((count, size, size, 3), np.uint8)
    shapes = np.zeros((count, grid * grid), np.int64)
    colors = np.zeros((count, grid * grid), np.int64)
    color_names = list(COLORS)
    for index in range(count):
        image, draw = blank((size, size))
        placed: list[tuple[float, float, float]] = []
        for _ in range(rng.randint(2, 8)):
            radius = rng.uniform(0.05, 0.11) * size
            for _attempt in range(20):  # rejection sampling: objects never touch
                x, y = rng.uniform(radius + 1, size - radius - 1), rng.uniform(radius + 1, size - radius - 1)
                if all((x - px) ** 2 + (y - py) ** 2 > (radius + pr + 1) ** 2 for px, py, pr in placed):
                    break
            else:
                continue
            placed.append((x, y, radius))
            shape, color = rng.randrange(len(SHAPES)), rng.randrange(len(color_names))
            draw_shape(
                draw,
                SHAPES[shape],
                (x, y),
                radius,
                COLORS[color_names[color]],
                OUTLINE,
                rotation=rng.uniform(-0.2, 0.2),
            )
            cell = int(y // patch_size) * grid + int(x // patch_size)
            shapes[index, cell], colors[index, cell] = shape + 1, color + 1
        images[index] = np.asarray(image)
    return images, shapes, colors


def pretrain_vision(
    path: str | os.PathLike[str], *, steps: int = 600, batch_size: int = 32, learning_rate: float = 3e-3, seed: int = 0
) -> dict[str, Any]:
    """Pre-train the vision tower of the model at ``path`` in place on :func:`synthetic_scenes` (see the module docstring).

    Two linear heads on the patch features the VLM reads (the vision tower's last hidden states, CLS
    dropped) classify each patch's centred object's shape and colour; the heads are thrown away and the
    model is saved back to ``path``. Returns, on 256 fresh scenes, the heads' summed loss and their
    per-object accuracy (patches holding an object centre), and the CPU seconds spent.
    """
    started = time.process_time()
    model = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    processor = AutoImageProcessor.from_pretrained(path)
    tower = model.model.vision_tower
    config = model.config
    size, patch_size = config.vision_config.image_size, config.vision_config.patch_size
    mean = torch.tensor(processor.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(processor.image_std).view(1, 3, 1, 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        heads = torch.nn.Linear(config.vision_config.hidden_size, 1 + len(SHAPES) + 1 + len(COLORS))
    parameters = [*tower.parameters(), *heads.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate)
    rng = random.Random(seed)

    def logits(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        pixels = (torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
        features = tower(pixels, output_hidden_states=True).hidden_states[config.vision_feature_layer][:, 1:]
        out = heads(features)
        return out[..., : 1 + len(SHAPES)], out[..., 1 + len(SHAPES) :]

    tower.train()
    for _ in range(steps):
        images, shapes, colors = synthetic_scenes(rng, batch_size, size, patch_size)
        shape_logits, color_logits = logits(images)
        loss = torch.nn.functional.cross_entropy(
            shape_logits.flatten(0, 1), torch.from_numpy(shapes).flatten()
        ) + torch.nn.functional.cross_entropy(color_logits.flatten(0, 1), torch.from_numpy(colors).flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    tower.eval()
    with torch.no_grad():
        images, shapes, colors = synthetic_scenes(random.Random(seed + 1), 256, size, patch_size)
        shape_logits, color_logits = logits(images)
        loss = torch.nn.functional.cross_entropy(
            shape_logits.flatten(0, 1), torch.from_numpy(shapes).flatten()
        ) + torch.nn.functional.cross_entropy(color_logits.flatten(0, 1), torch.from_numpy(colors).flatten())
    objects = torch.from_numpy(shapes) > 0
    model.save_pretrained(path)
    return {
        "loss": float(loss.detach()),
        "shape_accuracy": float((shape_logits.argmax(-1) == torch.from_numpy(shapes))[objects].float().mean()),
        "color_accuracy": float((color_logits.argmax(-1) == torch.from_numpy(colors))[objects].float().mean()),
        "cpu_s": time.process_time() - started,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vista_agents.tiny_seeing", description="Build the tiny VLM recipe of the learning benchmarks."
    )
    parser.add_argument("out_dir", help="directory to write the model and processor to")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    parser.add_argument(
        "--pretrain-steps",
        type=int,
        default=0,
        help="vision warm-start steps on synthetic scenes (default 0: random init)",
    )
    args = parser.parse_args(argv)
    path = build_seeing_vlm(args.out_dir, seed=args.seed)
    if args.pretrain_steps:
        print(pretrain_vision(path, steps=args.pretrain_steps, seed=args.seed))
    print(f"tiny seeing VLM written to {path}")


if __name__ == "__main__":
    main()
