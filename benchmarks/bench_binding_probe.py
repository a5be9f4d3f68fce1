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
batch 32, AdamW (``vista_agents.object_tokens``); the majority-answer prior (the commonest training answer, scored
on the same held-out tasks) is printed beside. A condition that stays near the prior says the text tower itself
does not learn the lookup ("find the object the question names, answer its other attribute") in that many steps,
whatever the vision tower does.

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
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch
from transformers.utils import logging as transformers_logging

from vista_agents.object_tokens import ObjectTokens, SceneTask, scene_tasks
from vista_agents.tiny_seeing import build_seeing_vlm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import update_section

SECTION = "Binding probe (seeing VLM's text tower)"
ENV_KWARGS = {"difficulty": 1, "image_size": 64, "response_format": "answer_only"}
CONDITIONS = {
    "slots": "one image token per object, `E[shape] + E[colour]`, at random image positions, the other image tokens "
    "`E[<image>]`",
    "slots_question_first": "the same, after the question",
    "words": "the scene written before the question, no image",
}


class Probe(ObjectTokens):
    """One fresh seeing VLM: its text tower fed a scene as slots or words, its vision tower taught to give the slots
    (see the module docstring); the stages themselves are ``vista_agents.object_tokens``'."""

    def condition_prompt(self, task: SceneTask, condition: str) -> str:
        """The env's prompt of ``task`` as ``condition`` hands the scene over (the response follows it)."""
        messages = [dict(message) for message in task.messages]
        if condition == "slots_question_first":
            messages[1] = {**messages[1], "content": messages[1]["content"][::-1]}
        if condition == "words":
            scene = " ".join(f"{color} {shape}." for shape, color in task.objects)
            content = [part for part in messages[1]["content"] if part["type"] == "text"]
            messages[1] = {**messages[1], "content": [{"type": "text", "text": scene + "\n"}, *content]}
        return self.prompt(messages)

    def row_of(self, condition: str) -> Callable[[SceneTask], torch.Tensor]:
        """How a task is fed under ``condition``: its prompt, the image placeholder (if any) filled with slots."""
        return lambda task: self.slot_row(task, self.condition_prompt(task, condition))


def train(
    path: Path, condition: str, train_tasks: list[SceneTask], test_tasks: list[SceneTask], args: argparse.Namespace
) -> dict:
    """Train the text tower of the model at ``path`` on one condition; returns its held-out accuracy curve."""
    torch.manual_seed(args.seed)
    probe = Probe(path)
    row = probe.row_of(condition)
    started = time.process_time()
    curve = [(0, probe.text_accuracy(test_tasks, row))]

    def evaluate(step: int, loss: float) -> None:
        if step % args.eval_every == 0 or step == args.steps:
            curve.append((step, probe.text_accuracy(test_tasks, row)))
            print(f"{condition} step {step}: loss {loss:.3f}, held-out accuracy {curve[-1][1]:.1%}", flush=True)

    probe.train_text(
        [(args.steps, train_tasks)],
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        seed=args.seed,
        row=row,
        on_step=evaluate,
    )
    return {"condition": condition, "curve": curve, "cpu_min": (time.process_time() - started) / 60, "probe": probe}


def align_vision(
    probe: Probe, train_tasks: list[SceneTask], test_tasks: list[SceneTask], args: argparse.Namespace
) -> dict:
    """Train the vision tower and projector so that an image gives the slots, the text tower as the slots condition
    left it; returns how often a centre patch reads its object's shape and colour (nearest answer word) and the
    whole VLM's held-out accuracy on the real images and on blank ones."""
    started = time.process_time()
    probe.train_vision(
        train_tasks,
        steps=args.pixels_steps,
        batch_size=args.batch_size,
        learning_rate=args.pixels_learning_rate,
        seed=args.seed,
    )
    return {
        "steps": args.pixels_steps,
        **probe.reading(test_tasks),
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
    train_tasks = scene_tasks(args.family, "train", args.train_tasks, env_kwargs=ENV_KWARGS)
    test_tasks = scene_tasks(args.family, "test", args.test_tasks, first_seed=10**6, env_kwargs=ENV_KWARGS)
    majority = Counter(task.answer for task in train_tasks).most_common(1)[0][0]
    prior = sum(task.answer == majority for task in test_tasks) / len(test_tasks)
    print(f"majority-answer prior: {prior:.1%} ({majority!r})", flush=True)
    path = build_seeing_vlm(args.work_dir / "seeing-vlm", seed=args.seed)
    rows = [train(path, condition, train_tasks, test_tasks, args) for condition in args.conditions]
    slots = next((row for row in rows if row["condition"] == "slots"), None)
    pixels = None
    if slots is not None and args.pixels_steps:
        pixels = align_vision(slots["probe"], train_tasks, test_tasks, args)
        print(f"pixels: {pixels}", flush=True)
        if args.save is not None:  # a start for the learners: `vista-agents train grpo --model <this>`
            slots["probe"].save(args.save)
    body = section(rows, prior, majority, args, pixels)
    print(body)
    if args.write:
        command = "python benchmarks/bench_binding_probe.py " + " ".join(argv if argv is not None else sys.argv[1:])
        update_section(SECTION, body, command.strip())


if __name__ == "__main__":
    main()
