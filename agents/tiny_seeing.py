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
- **An image path that is open at the start** (:func:`build_seeing_vlm`, ``projector_gain``): the projector
  is re-initialised at unit gain, so that the image tokens of a scene differ as much as text tokens do. With
  the default initialisation they were nearly alike and training learned to ignore them entirely (the
  earlier recipe's answers did not change when the image was blanked).
- **A whole-model warm start built offline** (:func:`pretrain_captions`, optional): real VLMs are
  pre-trained on image-caption pairs before any task; here the vision tower, projector and text tower are
  trained together for a few CPU minutes to caption synthetic scenes of coloured shapes that this module
  draws itself (``circle:2:red,blue;star:1:green``: per shape, how many and their colours; no questions and
  no env tasks). :func:`pretrain_vision` (the vision tower alone, per-patch shape and colour labels) is the
  cheaper one and, measured, the better start: 2000 steps (about one CPU minute) teach the tower to read the
  shape of ~3 objects in 4 and the colour of ~9 in 10, and from it SFT on the attributes questions beats the
  no-image ablation, where after the caption warm start it barely did (``benchmarks/RESULTS.md``).
- **The warm start that sees** is in :mod:`vista_agents.object_tokens`: the text tower first learns an env's
  ``train`` tasks from one token per object of the simulator's scene, then the vision tower learns to give those
  tokens; on attributes questions the model then answers most held-out tasks from the image alone, which neither
  warm start above achieved.

The directory loads back through ``from_pretrained`` like any other::

    from vista_agents.tiny_seeing import build_seeing_vlm, pretrain_captions
    path = build_seeing_vlm("/tmp/seeing-vlm", seed=0)   # architecture, tokenizer, unit-gain projector
    pretrain_captions(path, steps=1500, seed=0)          # optional warm start, ~6 CPU minutes

From a shell: ``python -m vista_agents.tiny_seeing /tmp/seeing-vlm --caption-steps 1500``.
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
from transformers import AutoImageProcessor, AutoProcessor, LlavaForConditionalGeneration

from vista_agents.tiny import build_tiny_vlm
from vista_envs.tasks.drawing import COLORS, SHAPES, blank, draw_shape

__all__ = [
    "ANSWER_WORDS",
    "SEEING_DEFAULTS",
    "answer_corpus",
    "build_seeing_vlm",
    "caption",
    "caption_scenes",
    "pretrain_captions",
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
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    corpus: Iterable[str] = (),
    projector_gain: float | None = 0.1,
    **overrides: int,
) -> Path:
    """Build the recipe's model (``SEEING_DEFAULTS``, with ``overrides``) at ``path``; returns ``path``.

    Args:
        path: output directory; loads back with ``from_pretrained`` (``LlavaForConditionalGeneration``,
            ``AutoProcessor``).
        seed: seeds the weight initialisation (and the projector's re-initialisation).
        corpus: more tokenizer training text (e.g. an env's instructions), besides :func:`answer_corpus`.
        projector_gain: the projector re-initialised at unit gain, its output layer scaled by this (see
            :func:`_open_the_image_path`); ``None`` keeps ``build_tiny_vlm``'s initialisation.
        overrides: keyword arguments of :func:`vista_agents.tiny.build_tiny_vlm` replacing ``SEEING_DEFAULTS``.
    """
    path = build_tiny_vlm(path, seed=seed, corpus=[*answer_corpus(), *corpus], **{**SEEING_DEFAULTS, **overrides})
    if projector_gain is not None:
        _open_the_image_path(path, seed, projector_gain)
    return path


def _open_the_image_path(path: Path, seed: int, gain: float) -> None:
    """Re-initialise the projector so that image tokens differ from one another as much as text tokens do.

    With the default initialisation (normal, std 0.02, in both 64-wide projector layers) the projected image
    tokens of a scene differ from one another by a std of ~0.006 against ~0.02 between text embeddings, and
    mostly by position, not content (a blank image gives nearly the same tokens). The text tower then learns
    the answer prior from the question alone and training drives the image path to a constant: after the
    earlier recipe's caption or SFT training, blanking the image moved the loss by less than 1e-6. Here both
    layers start at unit gain (std ``1 / sqrt(fan_in)``), the output layer scaled by ``gain`` (0.1: a spread
    of ~0.026, like the text embeddings').
    """
    model = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    projector = model.model.multi_modal_projector
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer, scale in ((projector.linear_1, 1.0), (projector.linear_2, gain)):
            fan_in = layer.weight.shape[1]
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * scale / fan_in**0.5)
            layer.bias.zero_()
    model.save_pretrained(path)


OUTLINE = (40, 40, 40)


def _place_objects(
    rng: random.Random, draw: Any, size: int, kinds: list[tuple[int, int]]
) -> list[tuple[int, int, float, float]]:
    """Draw each ``(shape index, colour index)`` of ``kinds`` at a random free place; returns ``(shape, colour, x, y)``
    of those drawn (an object that finds no free place in 20 tries is left out)."""
    color_names = list(COLORS)
    placed: list[tuple[float, float, float]] = []
    drawn = []
    for shape, color in kinds:
        radius = rng.uniform(0.05, 0.11) * size
        for _attempt in range(20):  # rejection sampling: objects never touch
            x, y = rng.uniform(radius + 1, size - radius - 1), rng.uniform(radius + 1, size - radius - 1)
            if all((x - px) ** 2 + (y - py) ** 2 > (radius + pr + 1) ** 2 for px, py, pr in placed):
                break
        else:
            continue
        placed.append((x, y, radius))
        draw_shape(
            draw, SHAPES[shape], (x, y), radius, COLORS[color_names[color]], OUTLINE, rotation=rng.uniform(-0.2, 0.2)
        )
        drawn.append((shape, color, x, y))
    return drawn


def synthetic_scenes(
    rng: random.Random, count: int, size: int = 64, patch_size: int = 8
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` white scenes of 2-8 coloured, outlined shapes, and per-patch labels of the object centred in
    each patch.

    Returns ``(images, shapes, colors)``: ``images`` is ``(count, size, size, 3)`` uint8; ``shapes`` and
    ``colors`` are ``(count, (size // patch_size) ** 2)`` int64 in row-major patch order, 0 for "no object
    centred here", else 1 + the index in ``SHAPES`` / ``COLORS``.
    """
    grid = size // patch_size
    images = np.empty((count, size, size, 3), np.uint8)
    shapes = np.zeros((count, grid * grid), np.int64)
    colors = np.zeros((count, grid * grid), np.int64)
    for index in range(count):
        image, draw = blank((size, size))
        kinds = [(rng.randrange(len(SHAPES)), rng.randrange(len(COLORS))) for _ in range(rng.randint(2, 8))]
        for shape, color, x, y in _place_objects(rng, draw, size, kinds):
            cell = int(y // patch_size) * grid + int(x // patch_size)
            shapes[index, cell], colors[index, cell] = shape + 1, color + 1
        images[index] = np.asarray(image)
    return images, shapes, colors


def caption(objects: Iterable[tuple[int, int]]) -> str:
    """A scene's caption from its ``(shape index, colour index)`` objects: per shape present, in ``SHAPES`` order,
    the shape, how many there are and their colours (in ``COLORS`` order), e.g. ``circle:2:red,blue;star:1:green``.

    No spaces: every word is then the same single token as the answer words (see :func:`answer_corpus`).
    """
    color_names = list(COLORS)
    groups: dict[int, list[int]] = {}
    for shape, color in objects:
        groups.setdefault(shape, []).append(color)
    return ";".join(
        f"{SHAPES[shape]}:{len(colors)}:" + ",".join(color_names[color] for color in sorted(colors))
        for shape, colors in sorted(groups.items())
    )


def caption_scenes(rng: random.Random, count: int, size: int = 64) -> tuple[np.ndarray, list[str]]:
    """``count`` white scenes of 2-8 outlined shapes of 1-4 kinds (so kinds repeat) in random colours, and their
    :func:`caption`. Drawn by this module for the warm start: they are no env's tasks and carry no questions."""
    images = np.empty((count, size, size, 3), np.uint8)
    captions = []
    for index in range(count):
        image, draw = blank((size, size))
        kinds = rng.sample(range(len(SHAPES)), rng.randint(1, 4))
        objects = [(rng.choice(kinds), rng.randrange(len(COLORS))) for _ in range(rng.randint(2, 8))]
        drawn = _place_objects(rng, draw, size, objects)
        images[index] = np.asarray(image)
        captions.append(caption((shape, color) for shape, color, _, _ in drawn))
    return images, captions


def pretrain_vision(
    path: str | os.PathLike[str], *, steps: int = 600, batch_size: int = 32, learning_rate: float = 3e-3, seed: int = 0
) -> dict[str, Any]:
    """Pre-train the vision tower of the model at ``path`` in place on :func:`synthetic_scenes` (see the module
    docstring).

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


CAPTION_SYSTEM = "You describe an image."
CAPTION_REQUEST = "Describe the image."


def _caption_batch(
    processor: Any, images: np.ndarray, captions: list[str]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Model inputs of chats "system, user (image + request), assistant (caption)" and the loss mask of the captions
    (their tokens and the end of turn)."""
    tokenizer = processor.tokenizer
    prompt = processor.apply_chat_template(
        [
            {"role": "system", "content": CAPTION_SYSTEM},
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": CAPTION_REQUEST}]},
        ],
        add_generation_prompt=True,
        tokenize=False,
    )
    encoded = processor(text=[prompt] * len(images), images=list(images), return_tensors="pt")
    prompt_ids = encoded["input_ids"][0]
    answers = [tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text in captions]
    length = len(prompt_ids) + max(map(len, answers))
    input_ids = torch.full((len(images), length), tokenizer.pad_token_id)
    attention = torch.zeros_like(input_ids)
    mask = torch.zeros_like(input_ids, dtype=torch.bool)
    for row, answer in enumerate(answers):
        end = len(prompt_ids) + len(answer)
        input_ids[row, :end] = torch.cat([prompt_ids, torch.tensor(answer)])
        attention[row, :end] = 1
        mask[row, len(prompt_ids) : end] = True
    return {"input_ids": input_ids, "attention_mask": attention, "pixel_values": encoded["pixel_values"]}, mask


def _caption_loss(model: Any, inputs: dict[str, torch.Tensor], mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean token loss over the captions, and per row whether every caption token was the argmax."""
    logits = model(**inputs).logits[:, :-1]
    targets = inputs["input_ids"][:, 1:]
    losses = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none")
    target_mask = mask[:, 1:]
    loss = (losses.view_as(targets) * target_mask).sum() / target_mask.sum()
    exact = ((logits.argmax(-1) == targets) | ~target_mask).all(dim=1)
    return loss, exact


def pretrain_captions(
    path: str | os.PathLike[str],
    *,
    steps: int = 2000,
    batch_size: int = 32,
    learning_rate: float = 2e-3,
    seed: int = 0,
    log_every: int = 0,
) -> dict[str, Any]:
    """Warm-start the WHOLE model at ``path`` (vision tower, projector and text tower) in place on captioning
    :func:`caption_scenes`, as real VLMs are pre-trained on image-caption pairs before any task.

    The caption names, per shape present, how many there are and their colours, so the text tower learns to
    read the image tokens (which shapes are there, how many of each, which colour each has) without ever seeing
    an env's question. Returns, on 256 fresh scenes, the caption loss with the real image and with a blank one
    (what the text alone predicts), the share of captions right token for token, and the CPU seconds spent.
    """
    started = time.process_time()
    model = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(path)
    size = model.config.vision_config.image_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.0)
    warmup = max(1, steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.1, (steps - step) / max(1, steps - warmup)))
    )
    rng = random.Random(seed)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for step in range(steps):
            images, captions = caption_scenes(rng, batch_size, size)
            loss, _ = _caption_loss(model, *_caption_batch(processor, images, captions))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            schedule.step()
            if log_every and step % log_every == 0:
                print(f"caption warm start step {step}: loss {loss.item():.3f}", flush=True)
    model.eval()
    images, captions = caption_scenes(random.Random(seed + 1), 256, size)
    with torch.no_grad():
        loss, exact = _caption_loss(model, *_caption_batch(processor, images, captions))
        blank_loss, _ = _caption_loss(model, *_caption_batch(processor, np.full_like(images, 255), captions))
    model.save_pretrained(path)
    return {
        "loss": float(loss),
        "blank_loss": float(blank_loss),
        "exact": float(exact.float().mean()),
        "cpu_s": time.process_time() - started,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vista_agents.tiny_seeing", description="Build the tiny VLM recipe of the learning benchmarks."
    )
    parser.add_argument("out_dir", help="directory to write the model and processor to")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    parser.add_argument(
        "--caption-steps", type=int, default=0, help="whole-model caption warm-start steps (default 0: none)"
    )
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
    if args.caption_steps:
        print(pretrain_captions(path, steps=args.caption_steps, seed=args.seed))
    print(f"tiny seeing VLM written to {path}")


if __name__ == "__main__":
    main()
