"""Object-token warm start: the tiny seeing VLM learns to answer scene questions from one token per object, then
learns to give those tokens from pixels.

Why: the binding probe (``benchmarks/bench_binding_probe.py``, "Binding probe" in ``benchmarks/RESULTS.md``)
found that the recipe's 2-layer text tower learns the attributes questions ("what colour is the star?") to ~99%
when each object is one image token, ``E[shape] + E[colour]``, among ``E[<image>]`` placeholders, and to 38% when
the scene is written out in words; trained end to end from pixels, where an object spreads over 2-9 patches, it
never rose above the answer prior. So the warm start teaches the two halves apart, each with an exact target:

1. **Text stage** (:meth:`ObjectTokens.train_text`): the text tower (embeddings included) learns to answer the
   env's own prompts with the image tokens replaced by *slots* (one ``E[shape] + E[colour]`` token per object
   at a position drawn per task, ``E[<image>]`` elsewhere), with the loss on the answer word; then a few steps
   (``format_steps``) with the loss on the whole response, ``<answer>WORD</answer>`` and the end of turn, teach
   the answer format. (With the whole response in the loss from the start, the answers were still not learned
   after 3000 steps, 14% held-out, where the word alone reached 96-99.7%: the format tokens' large early gradients
   likely filled AdamW's second moments and so slowed every later step.) The stage runs a curriculum of
   ``(steps, tasks)`` stages: counting is learned only after attributes alone have built the "find the objects the
   question names" circuit (attributes, then attributes and counting mixed; counting from the start stayed at the
   answer prior in every variant tried).
2. **Vision stage** (:meth:`ObjectTokens.train_vision`): the vision tower and projector learn to give those
   tokens from the task's image (each object's centre patch regressed onto ``E[shape] + E[colour]``, every
   other patch onto ``E[<image>]``), the text tower left as stage 1 made it.

Both stages read the simulator's scene of the env's ``train`` tasks (:func:`scene_tasks`; for a VisPlay Reasoner,
also the VisPlay Questioner's template questions, :func:`visplay_scene_tasks`): privileged information, as a teacher
that knows the state trains a student that sees only pixels. Afterwards the model is an ordinary checkpoint: at run
time only the env's prompt and image reach it, and it is scored on the ``test`` split, whose tasks are disjoint by
content.

    from vista_agents.object_tokens import pretrain_object_tokens, scene_tasks
    from vista_agents.tiny_seeing import build_seeing_vlm

    path = build_seeing_vlm("/tmp/seeing-vlm")
    tasks = scene_tasks("attributes", "train", 8192, env_kwargs={"response_format": "answer_only"})
    pretrain_object_tokens(path, [(3000, tasks)], vision_steps=5000)   # ~9 CPU minutes
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from transformers import AutoProcessor, LlavaForConditionalGeneration

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.visplay_trainer import TRUE_ANSWER_REASONER
from vista_envs.tasks.drawing import COLORS, SHAPES
from vista_envs.visplay.scripted import ScriptedQuestioner

__all__ = ["ObjectTokens", "SceneTask", "pretrain_object_tokens", "scene_tasks", "visplay_scene_tasks"]

ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


@dataclass(frozen=True)
class SceneTask:
    """One env task as the warm start reads it.

    Attributes:
        messages: the conversation the env gives the agent (``info["messages"]``).
        image: the observed image, ``(H, W, 3)`` uint8.
        objects: ``(shape, colour)`` of every object in the scene (the simulator's, not the agent's).
        centres: each object's centre in pixels of ``image``, ``(x, y)``.
        answer: the oracle's answer text.
        seed: the reset seed; it also places the task's slots.
    """

    messages: list[dict[str, Any]]
    image: np.ndarray
    objects: tuple[tuple[str, str], ...]
    centres: tuple[tuple[float, float], ...]
    answer: str
    seed: int


def scene_tasks(
    family: str,
    split: str,
    count: int,
    *,
    first_seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> list[SceneTask]:
    """``count`` ``VisualQA-v0`` tasks of a shape-scene ``family`` (reset seeds ``first_seed``, ``first_seed + 1``,
    ...) of ``split``, with their scenes' objects.

    ``env_kwargs`` (default difficulty 1, 64 px images; e.g. ``{"response_format": "answer_only"}``) must match
    the env the model will meet, so that the warm start sees the same prompts; ``families`` and ``split`` are
    this function's.
    """
    kwargs = {"difficulty": 1, "image_size": 64, **(env_kwargs or {}), "families": [family], "split": split}
    return _collect(
        gym.make("VisualQA-v0", **kwargs),
        range(first_seed, first_seed + count),
        lambda env: env.unwrapped.task.spec.scene,
        f"family {family!r} has no answer tag in its oracle or no objects in its scene",
    )


def visplay_scene_tasks(
    count: int,
    *,
    first_seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    absent_counts: float = 0.0,
) -> list[SceneTask]:
    """``count`` questions of VisPlay's scripted Questioner (the templates its Questioner is warm started on:
    shape, colour and size of an object named with its size, counts, relations) in ``VisPlayReasoner-v0``
    ``train`` scenes, with their true answers and scenes.

    Why: the object-token Reasoner learns :func:`scene_tasks`' ``VisualQA-v0`` questions ("What shape is the cyan
    object?") and does not carry them over to these ("What shape is the small cyan object?": 5% right), so its
    majority votes in VisPlay are wrong. Mixing these into the text stage teaches it the VisPlay Reasoner's
    prompts. ``env_kwargs`` as in :func:`scene_tasks`.

    ``absent_counts`` (:class:`~vista_envs.visplay.scripted.ScriptedQuestioner`'s knob): the share of its "How many
    ...?" questions that name random attributes, mostly absent (answer 0). At 0 every count names an object in the
    scene, so a Reasoner taught on them answers "1" to any count, confidently, also about absent objects: a trained
    Questioner found that and asked nothing else (``benchmarks/RESULTS.md``, "VisPlay learning").
    """
    kwargs = {"difficulty": 1, "image_size": 64, **(env_kwargs or {}), "split": "train"}
    questioner = ScriptedQuestioner(absent_counts=absent_counts)
    return _collect(
        gym.make("VisPlayReasoner-v0", **kwargs, **TRUE_ANSWER_REASONER, questioner=questioner),
        range(first_seed, first_seed + count),
        lambda env: env.unwrapped.scene,
        "a VisPlay scene without objects, or an oracle without an answer tag",
    )


def _collect(env: gym.Env, seeds: range, scene_of: Callable[[gym.Env], dict[str, Any]], error: str) -> list[SceneTask]:
    """One :class:`SceneTask` per reset seed of ``env`` (closed afterwards): its prompt, image, oracle answer and the
    objects of ``scene_of(env)``; ``error`` is raised for a task without an answer tag or objects."""
    tasks = []
    try:
        for seed in seeds:
            observation, info = env.reset(seed=seed)
            answer = ANSWER.search(env.unwrapped.oracle())
            objects = scene_of(env).get("objects")
            if answer is None or objects is None:
                raise ValueError(error)
            tasks.append(
                SceneTask(
                    messages=info["messages"],
                    image=observation["image"],
                    objects=tuple((item["shape"], item["color"]) for item in objects),
                    centres=tuple((item["x"], item["y"]) for item in objects),
                    answer=answer.group(1).strip(),
                    seed=seed,
                )
            )
    finally:
        env.close()
    return tasks


class ObjectTokens:
    """A seeing VLM (``LlavaForConditionalGeneration`` and its processor) with the two stages of the warm start and
    the measures that check them."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.model = LlavaForConditionalGeneration.from_pretrained(path, dtype=torch.float32)
        self.processor = AutoProcessor.from_pretrained(path)
        self.tokenizer = self.processor.tokenizer
        self.embeddings = self.model.get_input_embeddings().weight
        vision = self.model.config.vision_config
        self.grid = vision.image_size // vision.patch_size
        self.image_size = vision.image_size
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

    def prompt(self, messages: list[dict[str, Any]]) -> str:
        """The chat template's text of ``messages`` with the generation prompt, as the learners render it."""
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    def response_ids(self, task: SceneTask) -> list[int]:
        """``<answer>``, the answer word, ``</answer>`` and the end of turn: the response of ``answer_only``."""
        return [self.token("<answer>"), self.token(task.answer), self.token("</answer>"), self.tokenizer.eos_token_id]

    # -- stage 1: the text tower on slots ---------------------------------------------------------------------

    def slot_row(self, task: SceneTask, prompt: str | None = None) -> torch.Tensor:
        """The input embeddings of ``prompt`` (default: the env's) followed by the response; an ``<image>``
        placeholder in it becomes the task's slots (see the module docstring)."""
        ids = self.tokenizer(prompt or self.prompt(task.messages), add_special_tokens=False)["input_ids"]
        ids = torch.tensor(ids + self.response_ids(task))
        placeholder = (ids == self.image_id).nonzero()
        if len(placeholder) == 0:
            return self.embeddings[ids]
        at = int(placeholder[0])
        image = [self.embeddings[self.image_id]] * self.grid**2
        # Positions drawn from the task's seed: the same for a task in every epoch, unrelated to the answer.
        positions = random.Random(task.seed).sample(range(self.grid**2), len(task.objects))
        for (shape, color), position in zip(task.objects, positions, strict=True):
            image[position] = self.embeddings[self.token(shape)] + self.embeddings[self.token(color)]
        return torch.cat([self.embeddings[ids[:at]], torch.stack(image), self.embeddings[ids[at + 1 :]]])

    def response_logits(self, rows: list[torch.Tensor]) -> torch.Tensor:
        """The text tower's logits predicting the 4 response tokens of each row (left-padded batch),
        ``(rows, 4, vocab)``."""
        length = max(len(row) for row in rows)
        width = self.embeddings.shape[1]
        inputs = torch.stack([torch.cat([row.new_zeros(length - len(row), width), row]) for row in rows])
        mask = torch.tensor([[0] * (length - len(row)) + [1] * len(row) for row in rows])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        hidden = self.model.model.language_model(inputs_embeds=inputs, attention_mask=mask, position_ids=positions)
        return self.model.lm_head(hidden.last_hidden_state[:, -5:-1])

    def text_loss(
        self, tasks: Sequence[SceneTask], row: Callable[[SceneTask], torch.Tensor], whole_response: bool = False
    ) -> torch.Tensor:
        """Mean cross-entropy of the answer words of ``tasks`` (``whole_response``: of every response token), each
        fed as ``row`` makes it."""
        logits = self.response_logits([row(task) for task in tasks])
        targets = torch.tensor([self.response_ids(task) for task in tasks])
        if not whole_response:
            logits, targets = logits[:, 1:2], targets[:, 1:2]
        return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())

    def text_accuracy(
        self, tasks: Sequence[SceneTask], row: Callable[[SceneTask], torch.Tensor] | None = None
    ) -> float:
        """Share of ``tasks`` whose answer word is the text tower's argmax, fed as ``row`` makes them (slots)."""
        row = row or self.slot_row
        return self._share_right(tasks, lambda batch: self.response_logits([row(task) for task in batch])[:, 1])

    def _share_right(
        self, tasks: Sequence[SceneTask], answer_logits: Callable[[Sequence[SceneTask]], torch.Tensor]
    ) -> float:
        """Share of ``tasks`` whose answer word is the argmax of ``answer_logits`` (run on batches of 100, no
        gradients)."""
        right = 0
        with torch.no_grad():
            for start in range(0, len(tasks), 100):
                batch = tasks[start : start + 100]
                predicted = answer_logits(batch).argmax(-1)
                right += sum(int(p) == self.token(task.answer) for p, task in zip(predicted, batch, strict=True))
        return right / len(tasks)

    def train_text(
        self,
        stages: Sequence[tuple[int, Sequence[SceneTask]]],
        *,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        seed: int = 0,
        row: Callable[[SceneTask], torch.Tensor] | None = None,
        whole_response: bool = False,
        on_step: Callable[[int, float], None] | None = None,
    ) -> None:
        """Stage 1: train the text tower (embeddings included; the head is tied), one optimiser throughout, on each
        ``(steps, tasks)`` of ``stages`` in turn: ``steps`` batches drawn at random from ``tasks``, fed as ``row``
        makes them (default: slots), the loss on the answer word (``whole_response``: on the whole response);
        ``on_step(step, loss)`` after each, ``step`` counted over all stages.

        Stages make a curriculum: counting is learned once the attributes questions have built the "find the object
        the question names" circuit (attributes alone, then attributes and counting mixed), not from the start."""
        row = row or self.slot_row
        rng = random.Random(seed)
        schedule = [tasks for steps, tasks in stages for _ in range(steps)]
        losses = (self.text_loss(rng.sample(tasks, batch_size), row, whole_response) for tasks in schedule)
        self._fit(list(self.model.model.language_model.parameters()), learning_rate, losses, on_step)

    # -- stage 2: the vision tower gives the slots -------------------------------------------------------------

    def centre_patches(self, task: SceneTask) -> list[int]:
        """The index of the image patch holding each object's centre (row-major)."""
        scale = self.image_size / task.image.shape[0]
        patch = self.image_size // self.grid
        cells = [
            (min(int(x * scale) // patch, self.grid - 1), min(int(y * scale) // patch, self.grid - 1))
            for x, y in task.centres
        ]
        return [row * self.grid + column for column, row in cells]

    def centre_targets(self, task: SceneTask) -> torch.Tensor:
        """What the vision path should give for ``task``'s image: ``E[shape] + E[colour]`` at each object's centre
        patch, ``E[<image>]`` elsewhere (the embeddings as they are now, held fixed)."""
        embeddings = self.embeddings.detach()
        targets = embeddings[self.image_id].repeat(self.grid**2, 1)
        for (shape, color), patch in zip(task.objects, self.centre_patches(task), strict=True):
            targets[patch] = embeddings[self.token(shape)] + embeddings[self.token(color)]
        return targets

    def image_tokens(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        """The projected patch tokens the VLM puts in place of ``<image>``, ``(images, patches, width)``."""
        pixels = self.processor.image_processor(list(images), return_tensors="pt")["pixel_values"]
        features = self.model.model.get_image_features(pixel_values=pixels)
        features = features.pooler_output if hasattr(features, "pooler_output") else features
        return torch.stack(list(features)) if isinstance(features, (list, tuple)) else features

    def vision_loss(self, tasks: Sequence[SceneTask]) -> torch.Tensor:
        """Squared error of the image tokens against :meth:`centre_targets`, relative to the embeddings' mean
        squared norm (so 1.0 is as far off as a token is long)."""
        targets = torch.stack([self.centre_targets(task) for task in tasks])
        error = (self.image_tokens([task.image for task in tasks]) - targets).pow(2).sum(-1).mean()
        return error / self.embeddings.detach().pow(2).sum(-1).mean()

    def train_vision(
        self,
        tasks: Sequence[SceneTask],
        *,
        steps: int,
        batch_size: int = 32,
        learning_rate: float = 3e-3,
        seed: int = 0,
        on_step: Callable[[int, float], None] | None = None,
    ) -> None:
        """Stage 2: train the vision tower and projector alone to give the slots of ``tasks``' images."""
        parameters = [*self.model.model.vision_tower.parameters(), *self.model.model.multi_modal_projector.parameters()]
        rng = random.Random(seed + 1)
        losses = (self.vision_loss(rng.sample(tasks, batch_size)) for _ in range(steps))
        self._fit(parameters, learning_rate, losses, on_step)

    def _fit(
        self,
        parameters: list[torch.nn.Parameter],
        learning_rate: float,
        losses: Iterator[torch.Tensor],
        on_step: Callable[[int, float], None] | None,
    ) -> None:
        """One AdamW step over ``parameters`` per loss that ``losses`` yields (computed lazily, in train mode),
        gradients clipped to norm 1."""
        optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=0.0)
        self.model.train()
        for step, loss in enumerate(losses, start=1):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parameters, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if on_step is not None:
                on_step(step, loss.item())
        self.model.eval()

    def reading(self, tasks: Sequence[SceneTask]) -> dict[str, float]:
        """Over the objects of ``tasks``: how often the centre patch token is nearest (dot product) to the object's
        shape among every shape's embedding, and to its colour among every colour's."""
        embeddings = self.embeddings.detach()
        shapes, colors = list(SHAPES), list(COLORS)
        shape_table = embeddings[torch.tensor([self.token(shape) for shape in shapes])]
        color_table = embeddings[torch.tensor([self.token(color) for color in colors])]
        shape_right = color_right = objects = 0
        with torch.no_grad():
            for start in range(0, len(tasks), 100):
                batch = tasks[start : start + 100]
                for task, tokens in zip(batch, self.image_tokens([task.image for task in batch]), strict=True):
                    for (shape, color), patch in zip(task.objects, self.centre_patches(task), strict=True):
                        shape_right += shapes[int((shape_table @ tokens[patch]).argmax())] == shape
                        color_right += colors[int((color_table @ tokens[patch]).argmax())] == color
                        objects += 1
        return {"shape": shape_right / max(objects, 1), "color": color_right / max(objects, 1)}

    def pixel_accuracy(self, tasks: Sequence[SceneTask], blank: bool = False) -> float:
        """Greedy accuracy of the whole VLM on ``tasks``' real images (``blank``: white ones), through its processor
        and forward pass as a learner calls it: the answer word predicted after the prompt and ``<answer>``."""
        self.tokenizer.padding_side = "left"

        def answer_logits(batch: Sequence[SceneTask]) -> torch.Tensor:
            images = [np.full_like(task.image, 255) if blank else task.image for task in batch]
            prompts = [self.prompt(task.messages) + "<answer>" for task in batch]
            inputs = self.processor(text=prompts, images=images, padding=True, return_tensors="pt")
            return self.model(**inputs).logits[:, -1]

        return self._share_right(tasks, answer_logits)

    def figures(self, held_out: Sequence[SceneTask]) -> dict[str, float]:
        """On ``held_out`` tasks: the text tower's accuracy on exact slots, how often a centre patch reads its
        object's shape and colour (:meth:`reading`), and the whole model's greedy accuracy on the real images and on
        blank ones (:meth:`pixel_accuracy`)."""
        return {
            "slots": self.text_accuracy(held_out),
            **self.reading(held_out),
            "pixels": self.pixel_accuracy(held_out),
            "blank": self.pixel_accuracy(held_out, blank=True),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model and processor to ``path`` (``from_pretrained`` loads them); returns ``path``."""
        self.model.save_pretrained(path)
        self.processor.save_pretrained(path)
        return Path(path)


def pretrain_object_tokens(
    path: str | os.PathLike[str],
    stages: Sequence[tuple[int, Sequence[SceneTask]]],
    *,
    format_steps: int = 100,
    vision_steps: int = 5000,
    batch_size: int = 32,
    text_learning_rate: float = 1e-3,
    vision_learning_rate: float = 3e-3,
    seed: int = 0,
    held_out: Sequence[SceneTask] = (),
    log_every: int = 0,
) -> dict[str, Any]:
    """Both stages of the warm start (module docstring) on the model at ``path``, in place: the text tower on each
    ``(steps, tasks)`` of ``stages`` in turn (tasks of the env's ``train`` split, :func:`scene_tasks`; see
    :meth:`ObjectTokens.train_text`), ``format_steps`` on the last stage's tasks, then the vision tower on them.

    Returns the CPU seconds spent (``text_cpu_s`` of them in the text stage) and, on ``held_out`` tasks if given,
    :meth:`ObjectTokens.figures`.
    """
    started = time.process_time()

    def log(stage: str) -> Callable[[int, float], None]:
        def on_step(step: int, loss: float) -> None:
            if log_every and step % log_every == 0:
                print(f"object tokens, {stage} step {step}: loss {loss:.3f}", flush=True)

        return on_step

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        warm = ObjectTokens(path)
        warm.train_text(stages, batch_size=batch_size, learning_rate=text_learning_rate, seed=seed, on_step=log("text"))
        tasks = stages[-1][1]
        warm.train_text(
            [(format_steps, tasks)],
            batch_size=batch_size,
            learning_rate=text_learning_rate,
            seed=seed + 1,
            whole_response=True,
            on_step=log("format"),
        )
        text_cpu_s = time.process_time() - started
        warm.train_vision(
            tasks,
            steps=vision_steps,
            batch_size=batch_size,
            learning_rate=vision_learning_rate,
            seed=seed,
            on_step=log("vision"),
        )
    warm.save(path)
    figures: dict[str, Any] = {"text_cpu_s": text_cpu_s, "cpu_s": time.process_time() - started}
    if held_out:
        figures |= warm.figures(held_out)
    return figures
