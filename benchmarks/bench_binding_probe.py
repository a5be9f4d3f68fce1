"""Can the seeing VLM's text tower learn the scene questions when seeing is perfect, and then from pixels? Issue #20.

The learning benchmarks (``bench_grpo_learning_visual.py``) plateau far below their targets. This probe takes
the vision tower out of the question: it trains the text tower of a fresh ``vista_agents.tiny_seeing`` model
on VisualQA-v0 tasks (the env's own prompts, scenes and answers, ``train`` split) with the scene handed over
exactly, in one of three forms, and scores held-out ``test`` tasks greedily:

- **slots**: the 64 image tokens are ``E[<image>]`` (the embedding of the image placeholder) except one token
  per object, ``E[shape] + E[colour]`` (the answer words' embeddings), at random image positions: a perfect,
  one-token-per-object vision tower. The embeddings train with the tower.
- **slots_question_first**: the same, with the question before the image (the env puts the image first): each
  object token can then attend to the question, so "is this the object asked about?" is one attention hop away
  from every token instead of two from the last one.
- **words**: no image; the scene is written out before the question ("red circle. blue star. ...").

Every condition trains all text-tower weights (embeddings included) with cross-entropy on the one answer token,
batch 32, AdamW; the majority-answer prior (the commonest training answer, scored on the same held-out tasks)
is printed beside. A condition that stays near the prior says the text tower itself does not learn the lookup
("find the object the question names, answer its other attribute") in that many steps, whatever the vision
tower does.

Then, from pixels (``--pixels-steps``): the vision tower and projector of the model the *slots* condition trained
learn to give those tokens from the env's images (each object's centre patch onto ``E[shape] + E[colour]``, the
rest onto ``E[<image>]``), and the whole VLM answers the held-out tasks from their real images and from blank ones.

With ``--write`` the figures replace the "Binding probe (seeing VLM's text tower)" section of
``benchmarks/RESULTS.md`` (the reading under its table is written by hand for the run it describes; a rerun drops
it).

    python benchmarks/bench_binding_probe.py --conditions slots words --write
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from transformers import AutoProcessor, LlavaForConditionalGeneration
from transformers.utils import logging as transformers_logging

import vista_envs  # noqa: F401  (registers the ids)
from vista_agents.tiny_seeing import build_seeing_vlm
from vista_envs.tasks.drawing import COLORS as COLOR_RGB
from vista_envs.tasks.drawing import SHAPES as SHAPE_NAMES

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import update_section

SECTION = "Binding probe (seeing VLM's text tower)"
SHAPES, COLORS = list(SHAPE_NAMES), list(COLOR_RGB)
CONDITIONS = {
    "slots": "one image token per object, `E[shape] + E[colour]`, at random image positions, the other image tokens "
    "`E[<image>]`",
    "slots_question_first": "the same, after the question",
    "words": "the scene written before the question, no image",
}


def load_tasks(family: str, split: str, count: int, first_seed: int) -> list[dict]:
    """``count`` VisualQA-v0 tasks of ``family`` (difficulty 1, 64 px, ``answer_only``): messages, objects, their
    centres (pixels), the image and the answer."""
    env = gym.make(
        "VisualQA-v0", families=[family], difficulty=1, image_size=64, response_format="answer_only", split=split
    )
    tasks = []
    for seed in range(first_seed, first_seed + count):
        observation, info = env.reset(seed=seed)
        answer = env.unwrapped.oracle().split("<answer>")[1].split("</answer>")[0]
        scene = env.unwrapped.task.spec.scene["objects"]
        tasks.append(
            {
                "messages": info["messages"],
                "objects": [(item["shape"], item["color"]) for item in scene],
                "centres": [(item["x"], item["y"]) for item in scene],
                "image": observation["image"],
                "answer": answer,
                "seed": seed,
            }
        )
    env.close()
    return tasks


class Probe:
    """One fresh seeing VLM: its text tower fed a scene as slots or words, its vision tower taught to give the slots
    (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.model = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
        self.processor = AutoProcessor.from_pretrained(path)
        self.tokenizer = self.processor.tokenizer
        self.embeddings = self.model.get_input_embeddings().weight
        vision = self.model.config.vision_config
        self.image_tokens = (vision.image_size // vision.patch_size) ** 2
        self._ids: dict[str, int] = {}  # token() runs for every object of every task of every step
        self.image_id = self.token("<image>")

    def token(self, word: str) -> int:
        """The id of ``word``, which the recipe's tokenizer keeps as one token (answers and scene words)."""
        if word not in self._ids:
            ids = self.tokenizer(word, add_special_tokens=False)["input_ids"]
            if len(ids) != 1:
                raise ValueError(f"{word!r} is {len(ids)} tokens for this tokenizer, not one")
            self._ids[word] = ids[0]
        return self._ids[word]

    def prompt(self, task: dict, condition: str) -> str:
        messages = [dict(message) for message in task["messages"]]
        if condition == "slots_question_first":
            messages[1] = {**messages[1], "content": messages[1]["content"][::-1]}
        if condition == "words":
            scene = " ".join(f"{color} {shape}." for shape, color in task["objects"])
            content = [part for part in messages[1]["content"] if part["type"] == "text"]
            messages[1] = {**messages[1], "content": [{"type": "text", "text": scene + "\n"}, *content]}
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False) + "<answer>"

    def row(self, task: dict, condition: str) -> torch.Tensor:
        """The input embeddings of one task: the prompt, its image placeholder expanded and filled for slots."""
        ids = torch.tensor(self.tokenizer(self.prompt(task, condition), add_special_tokens=False)["input_ids"])
        if condition == "words":
            return self.embeddings[ids]
        at = int((ids == self.image_id).nonzero()[0])
        before, after = self.embeddings[ids[:at]], self.embeddings[ids[at + 1 :]]
        image = [self.embeddings[self.image_id]] * self.image_tokens
        # Positions drawn from the task's seed: the same for a task in every epoch, unrelated to the answer.
        positions = random.Random(task["seed"]).sample(range(self.image_tokens), len(task["objects"]))
        for (shape, color), position in zip(task["objects"], positions, strict=True):
            image[position] = self.embeddings[self.token(shape)] + self.embeddings[self.token(color)]
        return torch.cat([before, torch.stack(image), after])

    def logits(self, tasks: list[dict], condition: str) -> torch.Tensor:
        """Next-token logits after ``<answer>`` for each task (left-padded batch)."""
        rows = [self.row(task, condition) for task in tasks]
        length = max(len(row) for row in rows)
        width = self.embeddings.shape[1]
        inputs = torch.stack([torch.cat([torch.zeros(length - len(row), width), row]) for row in rows])
        mask = torch.tensor([[0] * (length - len(row)) + [1] * len(row) for row in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        hidden = self.model.model.language_model(inputs_embeds=inputs, attention_mask=mask, position_ids=positions)
        return self.model.lm_head(hidden.last_hidden_state[:, -1])

    def centre_patches(self, task: dict) -> list[int]:
        """The index of the image patch holding each object's centre."""
        vision = self.model.config.vision_config
        grid = vision.image_size // vision.patch_size
        scale = vision.image_size / task["image"].shape[0]
        cell = [
            (min(int(x * scale) // vision.patch_size, grid - 1), min(int(y * scale) // vision.patch_size, grid - 1))
            for x, y in task["centres"]
        ]
        return [row * grid + column for column, row in cell]

    def centre_targets(self, task: dict) -> torch.Tensor:
        """What the vision tower should give for ``task``'s image: ``E[shape] + E[colour]`` at each object's centre
        patch, ``E[<image>]`` elsewhere (the embeddings as they are now, held fixed)."""
        embeddings = self.embeddings.detach()
        targets = embeddings[self.image_id].repeat(self.image_tokens, 1)
        for (shape, color), patch in zip(task["objects"], self.centre_patches(task), strict=True):
            targets[patch] = embeddings[self.token(shape)] + embeddings[self.token(color)]
        return targets

    def image_tokens_of(self, images: list[np.ndarray]) -> torch.Tensor:
        """The projected patch tokens the VLM puts in place of ``<image>`` (the model's own vision path)."""
        pixels = self.processor.image_processor(images, return_tensors="pt")["pixel_values"]
        features = self.model.model.get_image_features(pixel_values=pixels)
        features = features.pooler_output if hasattr(features, "pooler_output") else features
        return torch.stack(list(features)) if isinstance(features, (list, tuple)) else features

    def pixel_accuracy(self, tasks: list[dict], blank: bool = False) -> float:
        """Held-out greedy accuracy through the whole VLM on the real images (``blank``: white images instead)."""
        self.tokenizer.padding_side = "left"
        correct = 0
        with torch.no_grad():
            for start in range(0, len(tasks), 100):
                batch = tasks[start : start + 100]
                images = [np.full_like(task["image"], 255) if blank else task["image"] for task in batch]
                prompts = [self.prompt(task, "slots") for task in batch]  # the env's own prompt
                inputs = self.processor(text=prompts, images=images, padding=True, return_tensors="pt")
                predicted = self.model(**inputs).logits[:, -1].argmax(-1)
                correct += sum(int(p) == self.token(task["answer"]) for p, task in zip(predicted, batch, strict=True))
        return correct / len(tasks)

    def accuracy(self, tasks: list[dict], condition: str) -> float:
        """Held-out greedy accuracy with the scene handed over as ``condition`` says."""
        with torch.no_grad():
            predicted = torch.cat(
                [self.logits(tasks[i : i + 100], condition).argmax(-1) for i in range(0, len(tasks), 100)]
            )
        targets = torch.tensor([self.token(task["answer"]) for task in tasks])
        return float((predicted == targets).float().mean())


def train(
    path: Path, condition: str, train_tasks: list[dict], test_tasks: list[dict], args: argparse.Namespace
) -> dict:
    """Train the text tower of the model at ``path`` on one condition; returns its held-out accuracy curve."""
    torch.manual_seed(args.seed)
    probe = Probe(path)
    parameters = list(probe.model.model.language_model.parameters())  # embeddings included (tied head)
    optimizer = torch.optim.AdamW(parameters, lr=args.learning_rate, weight_decay=0.0)
    rng = random.Random(args.seed)
    started = time.process_time()
    curve = [(0, probe.accuracy(test_tasks, condition))]
    for step in range(1, args.steps + 1):
        batch = rng.sample(train_tasks, args.batch_size)
        targets = torch.tensor([probe.token(task["answer"]) for task in batch])
        loss = torch.nn.functional.cross_entropy(probe.logits(batch, condition), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step % args.eval_every == 0 or step == args.steps:
            curve.append((step, probe.accuracy(test_tasks, condition)))
            print(f"{condition} step {step}: loss {loss.item():.3f}, held-out accuracy {curve[-1][1]:.1%}", flush=True)
    return {"condition": condition, "curve": curve, "cpu_min": (time.process_time() - started) / 60, "probe": probe}


def align_vision(probe: Probe, train_tasks: list[dict], test_tasks: list[dict], args: argparse.Namespace) -> dict:
    """Train the vision tower and projector so that an image gives :meth:`Probe.centre_targets` (mean squared
    error over the patch tokens, relative to the embeddings' mean squared norm), the text tower as the slots
    condition left it; returns how often a centre patch reads its object's shape and colour (nearest answer word)
    and the whole VLM's held-out accuracy on the real images and on blank ones."""
    started = time.process_time()
    parameters = [*probe.model.model.vision_tower.parameters(), *probe.model.model.multi_modal_projector.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=args.pixels_learning_rate, weight_decay=0.0)
    mean_square_norm = float(probe.embeddings.detach().pow(2).sum(-1).mean())
    rng = random.Random(args.seed + 1)
    for _ in range(args.pixels_steps):
        batch = rng.sample(train_tasks, args.batch_size)
        targets = torch.stack([probe.centre_targets(task) for task in batch])
        loss = (probe.image_tokens_of([task["image"] for task in batch]) - targets).pow(2).sum(
            -1
        ).mean() / mean_square_norm
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    embeddings = probe.embeddings.detach()
    shapes = torch.tensor([probe.token(shape) for shape in SHAPES])
    colors = torch.tensor([probe.token(color) for color in COLORS])
    shape_right = color_right = objects = 0
    with torch.no_grad():
        for start in range(0, len(test_tasks), 100):
            batch = test_tasks[start : start + 100]
            tokens = probe.image_tokens_of([task["image"] for task in batch])
            for task, task_tokens in zip(batch, tokens, strict=True):
                for (shape, color), patch in zip(task["objects"], probe.centre_patches(task), strict=True):
                    token = task_tokens[patch]
                    shape_right += SHAPES[int((embeddings[shapes] @ token).argmax())] == shape
                    color_right += COLORS[int((embeddings[colors] @ token).argmax())] == color
                    objects += 1
    return {
        "steps": args.pixels_steps,
        "shape": shape_right / objects,
        "color": color_right / objects,
        "pixels": probe.pixel_accuracy(test_tasks),
        "blank": probe.pixel_accuracy(test_tasks, blank=True),
        "cpu_min": (time.process_time() - started) / 60,
    }


def section(rows: list[dict], prior: float, majority: str, args: argparse.Namespace, pixels: dict | None = None) -> str:
    steps = [step for step, _ in rows[0]["curve"]]
    header = "| condition | " + " | ".join(f"step {step}" for step in steps) + " | CPU min |"
    lines = [header, "|---|" + "---:|" * (len(steps) + 1)]
    for row in rows:
        figures = " | ".join(f"{accuracy:.1%}" for _, accuracy in row["curve"])
        lines.append(f"| {row['condition']} | {figures} | {row['cpu_min']:.1f} |")
    conditions = "; ".join(f"*{row['condition']}*: {CONDITIONS[row['condition']]}" for row in rows)
    text = (
        f"The text tower of a fresh `vista_agents.tiny_seeing` model (Qwen2, 2 layers x 64) trained on VisualQA-v0 "
        f"`{args.family}` tasks (difficulty 1; {args.train_tasks} `train` tasks, batch {args.batch_size}, lr "
        f"{args.learning_rate}, seed {args.seed}) with the scene given exactly, held-out greedy accuracy on "
        f"{args.test_tasks} `test` tasks. {conditions}. Majority-answer prior: {prior:.1%} (`{majority}`). One "
        f"process, one torch thread.\n\n" + "\n".join(lines)
    )
    if pixels is not None:
        text += (
            f"\n\n**From pixels.** After the *slots* training, {pixels['steps']} steps (batch {args.batch_size}, lr "
            f"{args.pixels_learning_rate}, {pixels['cpu_min']:.1f} CPU min) train the vision tower and projector "
            f"alone to give those tokens from the `train` images: each object's centre patch regressed onto "
            f"`E[shape] + E[colour]`, every other patch onto `E[<image>]`. On the held-out images a centre patch "
            f"reads its object's shape right {pixels['shape']:.1%} and colour {pixels['color']:.1%} of the time "
            f"(nearest answer word), and the whole VLM, through its processor and forward pass as any learner "
            f"calls it, answers **{pixels['pixels']:.1%}** of the held-out tasks right, greedily, against "
            f"{pixels['blank']:.1%} with a blank (white) image and the {prior:.1%} prior."
        )
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--family", default="attributes", choices=["attributes", "counting"])
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS), choices=CONDITIONS)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--train-tasks", type=int, default=8192)
    parser.add_argument("--test-tasks", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pixels-steps", type=int, default=5000, help="steps aligning the vision tower after slots (0: none)"
    )
    parser.add_argument("--pixels-learning-rate", type=float, default=3e-3)
    parser.add_argument(
        "--save", type=Path, default=None, help="save the model after the pixel stage here (from_pretrained loads it)"
    )
    parser.add_argument("--work-dir", type=Path, default=Path("/tmp/vista-binding-probe"))
    parser.add_argument("--write", action="store_true", help=f"replace the '{SECTION}' section of RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    transformers_logging.disable_progress_bar()
    train_tasks = load_tasks(args.family, "train", args.train_tasks, 0)
    test_tasks = load_tasks(args.family, "test", args.test_tasks, 10**6)
    majority = Counter(task["answer"] for task in train_tasks).most_common(1)[0][0]
    prior = sum(task["answer"] == majority for task in test_tasks) / len(test_tasks)
    print(f"majority-answer prior: {prior:.1%} ({majority!r})", flush=True)
    path = build_seeing_vlm(args.work_dir / "seeing-vlm", seed=args.seed)
    rows = [train(path, condition, train_tasks, test_tasks, args) for condition in args.conditions]
    slots = next((row for row in rows if row["condition"] == "slots"), None)
    pixels = None
    if slots is not None and args.pixels_steps:
        pixels = align_vision(slots["probe"], train_tasks, test_tasks, args)
        print(f"pixels: {pixels}", flush=True)
        if args.save is not None:  # a start for the learners: `vista-agents train grpo --model <this>`
            slots["probe"].model.save_pretrained(args.save)
            slots["probe"].processor.save_pretrained(args.save)
    body = section(rows, prior, majority, args, pixels)
    print(body)
    if args.write:
        command = "python benchmarks/bench_binding_probe.py " + " ".join(argv if argv is not None else sys.argv[1:])
        update_section(SECTION, body, command.strip())


if __name__ == "__main__":
    main()
