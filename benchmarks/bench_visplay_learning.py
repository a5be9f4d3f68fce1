"""VisPlay with a model that can see: grounded VisPlay on attribute scenes with the seeing VLM of
``vista_agents.tiny_seeing``.

``bench_visplay_training.py`` showed the loop working with a model that cannot see (pseudo-label accuracy
near 0). This benchmark runs the same alternation with the recipe of ``vista_agents.tiny_seeing`` (64 px, 8 px
patches, one token per answer, ``answer_only`` responses, unit-gain projector) and its whole-model caption
warm start (``pretrain_captions``; ``--pretrain-steps`` adds the older vision-tower one) or the object-token warm
start (``--object-text-steps``, ``vista_agents.object_tokens``, on attributes ``train`` tasks), on attributes
scenes (difficulty 1), so that the Reasoner's majority answers can be right. Per iteration it logs, and
plots like ``bench_visplay_training.py``: the Reasoner's greedy accuracy against the ground truth on
held-out ``VisualQA-v0`` attributes tasks, the pseudo-labels' accuracy against the programs' answers, and
the Questioner's valid-question rate and difficulty (the uncertainty term of its reward). Each iteration is
a resume of the last, so the loop stops when the CPU budget is spent. ``--warm-start-roles questioner`` limits the
role SFT to the Questioner, so the Reasoner starts from the object-token checkpoint as it is; ``--start DIR`` keeps
the model after the perception, caption and object-token warm starts in DIR and reuses it on the next run. Writes
``benchmarks/plots/visplay_learning.png`` and, with ``--write``, the "VisPlay learning (seeing VLM,
grounded)" section of ``benchmarks/RESULTS.md``.

    python benchmarks/bench_visplay_learning.py --budget-minutes 15 --write
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers.utils import logging as transformers_logging

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_visplay_training as loop
from results_file import update_section

from vista_agents.object_tokens import pretrain_object_tokens, scene_tasks, visplay_scene_tasks
from vista_agents.run_log import read_metrics
from vista_agents.tiny_seeing import build_seeing_vlm, pretrain_captions, pretrain_vision
from vista_agents.visplay_trainer import ROLES, train

SECTION = "VisPlay learning (seeing VLM, grounded)"
PLOT = Path(__file__).with_name("plots") / "visplay_learning.png"
# The options that make the seeing VLM before VisPlay (what --start keeps).
STARTS = (
    "pretrain_steps",
    "caption_steps",
    "object_text_steps",
    "object_vision_steps",
    "object_visplay_tasks",
    "object_visplay_absent_counts",
)
# Reset seeds of the VisPlay questions mixed into the object-token warm start: apart from the VisualQA tasks' 0..8191.
VISPLAY_TASK_SEEDS = 100_000
SCENES = {"families": ["attributes"], "difficulty": 1, "image_size": 64, "response_format": "answer_only"}
# The training benchmark's panels, and the Reasoner on held-out questions of VisPlay's own templates.
PANELS = {
    **loop.PANELS,
    "Reasoner": [*loop.PANELS["Reasoner"], ("eval_templates/success_rate", "right (held-out template questions)")],
}
# The figures the issue asks for, per iteration: (metric, label).
REPORTED = [
    ("eval/success_rate", "Reasoner, held-out accuracy (greedy)"),
    ("eval_templates/success_rate", "Reasoner, held-out template questions (greedy)"),
    ("dataset/pseudo_label_accuracy", "pseudo-label accuracy (kept questions)"),
    ("dataset/kept", "questions kept"),
    ("dataset/snapshot_accuracy", "snapshot's answers right (valid questions)"),
    ("reasoner/accuracy", "Reasoner, training questions right"),
    ("questioner/valid_rate", "Questioner: valid questions"),
    ("questioner/uncertainty", "Questioner: difficulty (uncertainty term)"),
    ("dataset/confidence", "confidence of the majority"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget-minutes", type=float, default=15.0, help="CPU minutes of this process, warm starts included"
    )
    parser.add_argument("--max-iterations", type=int, default=60)
    parser.add_argument(
        "--pretrain-steps", type=int, default=0, help="vision-tower warm-start steps (pretrain_vision, the older one)"
    )
    parser.add_argument(
        "--caption-steps", type=int, default=1500, help="whole-model caption warm-start steps (pretrain_captions)"
    )
    parser.add_argument(
        "--object-text-steps",
        type=int,
        default=0,
        help="object-token warm start (vista_agents.object_tokens) on attributes train tasks, text steps (0: none)",
    )
    parser.add_argument(
        "--object-vision-steps", type=int, default=2000, help="object-token warm start, vision-tower steps"
    )
    parser.add_argument(
        "--object-visplay-tasks",
        type=int,
        default=0,
        help="VisPlay scripted-Questioner questions (with true answers) mixed into the object-token warm start, so the "
        "Reasoner learns the questions VisPlay asks, not only VisualQA's (0: none)",
    )
    parser.add_argument(
        "--object-visplay-absent-counts",
        type=float,
        default=0.0,
        help="share of those questions' counts that name random attributes, mostly absent (answer 0); at 0 every "
        "count names an object that is there (ScriptedQuestioner.absent_counts)",
    )
    parser.add_argument(
        "--warm-start", type=int, default=512, help="oracle demonstrations per role of the SFT warm start"
    )
    parser.add_argument("--warm-start-epochs", type=int, default=4)
    parser.add_argument(
        "--warm-start-learning-rate", type=float, default=3e-3, help="learning rate of the role SFT warm start"
    )
    parser.add_argument(
        "--warm-start-roles",
        nargs="+",
        choices=ROLES,
        default=list(ROLES),
        help="the roles the SFT warm start trains; the others start from the seeing VLM as its warm starts left it",
    )
    parser.add_argument(
        "--start",
        type=Path,
        default=None,
        help="a folder for the seeing VLM after its warm starts: reused when it holds one (the warm-start options are "
        "then those it was made with), else made and saved there",
    )
    parser.add_argument("--learning-rate", type=float, default=5e-4, help="VisPlay learning rate of both roles")
    parser.add_argument(
        "--kl-coef",
        type=float,
        default=0.0,
        help="KL penalty of both roles' GRPO steps towards each role's start (the Reasoner's: the seeing VLM as its "
        "warm starts left it, when --warm-start-roles leaves it out)",
    )
    parser.add_argument(
        "--diversity-weight", type=float, default=1.0, help="weight of the Questioner's diversity penalty (lambda_div)"
    )
    parser.add_argument(
        "--diversity-threshold",
        type=float,
        default=0.5,
        help="BLEU-distance threshold of the diversity clustering (0.5 as published; questions of one template about "
        "different objects lie about 0.65 apart, so 0.75 clusters them)",
    )
    parser.add_argument("--eval-episodes", type=int, default=128, help="held-out VisualQA-v0 tasks per evaluation")
    parser.add_argument(
        "--eval-template-episodes",
        type=int,
        default=128,
        help="held-out questions of the scripted Questioner (VisPlay's own templates) per evaluation",
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    transformers_logging.disable_progress_bar()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-visplay-learning-"))
    wall, cpu = time.perf_counter(), time.process_time()

    model, (warm, captions, objects), reused = seeing_model(work, args)
    config = loop.schedule(
        model,
        work,
        args,
        env_kwargs=SCENES,
        eval_episodes=args.eval_episodes,
        eval_template_episodes=args.eval_template_episodes,
        progress_bar=False,
        warm_start_roles=tuple(args.warm_start_roles),
        kl_coef=args.kl_coef,
        diversity_weight=args.diversity_weight,
        diversity_threshold=args.diversity_threshold,
    )
    budget_s = 60 * args.budget_minutes
    iteration_cpu: list[float] = []
    while len(iteration_cpu) < args.max_iterations:
        started = time.process_time()
        result = train(dataclasses.replace(config, total_steps=len(iteration_cpu) + 1, resume=bool(iteration_cpu)))
        iteration_cpu.append(time.process_time() - started)
        for checkpoints in Path(config.output_dir).glob("*/checkpoints"):  # the next call resumes from the latest only
            for older in sorted(checkpoints.iterdir())[:-1]:
                shutil.rmtree(older)
        row = result.metrics[-1]
        print(
            f"iteration {row['step']}: " + ", ".join(f"{label} {row.get(name)}" for name, label in REPORTED), flush=True
        )
        # Stop when one more iteration (as long as the last; the first one holds the warm start) would overrun the
        # budget.
        next_cpu = iteration_cpu[-1] if len(iteration_cpu) > 1 else 0.0
        if time.process_time() - cpu + next_cpu > budget_s:
            break
    rows = read_metrics(config.output_dir)
    cpu_min, wall_min = (time.process_time() - cpu) / 60, (time.perf_counter() - wall) / 60
    loop.plot(rows, PLOT, PANELS)
    table = per_iteration_table(rows)
    print(table)
    print(template_kinds(rows))
    print(f"{len(iteration_cpu)} iterations; CPU {cpu_min:.1f} min, wall {wall_min:.1f} min")
    if args.write:
        figures = (warm, captions, objects)
        body = section_body(args, figures, reused, rows, len(iteration_cpu), cpu_min, wall_min)
        update_section(
            SECTION,
            body,
            "python benchmarks/bench_visplay_learning.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        )


def section_body(
    args: argparse.Namespace,
    figures: tuple[dict, dict, dict],
    reused: bool,
    rows: list[dict],
    iterations: int,
    cpu_min: float,
    wall_min: float,
) -> str:
    """The RESULTS.md section (without its heading and command line): the recipe, the run's cost and its table;
    ``figures`` are the perception, caption and object-token warm starts' (as :func:`seeing_model` returns them)."""
    warm, captions, objects = figures
    object_tokens = _object_tokens(args, objects)
    table = per_iteration_table(rows)
    return f"""The recipe of `vista_agents.tiny_seeing` (the model of "GRPO learning (seeing VLM)"; its tokenizer
also trained on the VisPlay instruction and oracle questions; unit-gain projector), vision-tower warm start
{args.pretrain_steps} steps ({warm["cpu_s"] / 60:.1f} CPU min), caption warm start (`pretrain_captions`)
{args.caption_steps} steps ({captions["cpu_s"] / 60:.1f} CPU min{_caption_losses(captions)}){object_tokens},
then grounded VisPlay on attributes scenes (difficulty 1, 64 px, `answer_only`): SFT warm start of
{_roles(args.warm_start_roles)} on {args.warm_start} oracle demonstrations per role x
{args.warm_start_epochs} epochs (lr {args.warm_start_learning_rate:g}), then per iteration Questioner 2 GRPO steps
x 8 images x G = 4, Reasoner snapshot m = 8 answers per question, dataset 16 images x 4 questions, band
0.25..0.75, Reasoner 2 GRPO steps x 8 questions x G = 4; lr {args.learning_rate:g}, KL coefficient
{args.kl_coef:g}, diversity penalty weight {args.diversity_weight:g} with BLEU-distance threshold
{args.diversity_threshold:g}. Held-out, greedy, every iteration (iteration 0: after the warm starts):
{args.eval_episodes} `VisualQA-v0` attributes tasks of the `eval` split, and {args.eval_template_episodes} questions
of the scripted Questioner (VisPlay's own templates, the ones its Questioner is warm started on) about `eval`-split
scenes, checked against their true answers. {iterations} iterations in {cpu_min:.1f} CPU min{_reused(args, reused)}
({wall_min:.1f} min wall, 1 thread, 2-core machine shared with other work, load {os.getloadavg()[1]:.0f} at the end).
Pseudo-label accuracy is over the questions the band kept (the labels the Reasoner trains on; "questions kept" says
how many), the snapshot's accuracy over all its answers to valid questions.

{table}

{template_kinds(rows)}

![VisPlay learning curves](plots/{PLOT.name})
"""


def seeing_model(work: Path, args: argparse.Namespace) -> tuple[Path, list[dict], bool]:
    """The seeing VLM after its perception, caption and object-token warm starts, their figures, and whether it was
    reused: copied from ``args.start`` when it holds one (the warm starts take minutes; each try of VisPlay needs the
    same start), else made, and saved there when ``args.start`` is set."""
    model = work / "seeing-vlm"
    if args.start is not None and (args.start / "warm_starts.json").exists():
        shutil.copytree(args.start, model, dirs_exist_ok=True)
        made = json.loads((model / "warm_starts.json").read_text())
        for name in STARTS:  # the figures written are those of the start's own options (absent: not used)
            setattr(args, name, made["options"].get(name, 0))
        print(f"seeing VLM reused from {args.start}: {made}", flush=True)
        return model, made["figures"], True
    build_seeing_vlm(model, seed=0, corpus=loop.tokenizer_corpus())
    warm = pretrain_vision(model, steps=args.pretrain_steps) if args.pretrain_steps else {"cpu_s": 0.0}
    print(f"perception warm start: {warm}", flush=True)
    captions = pretrain_captions(model, steps=args.caption_steps) if args.caption_steps else {"cpu_s": 0.0}
    print(f"caption warm start: {captions}", flush=True)
    objects = {"cpu_s": 0.0}
    if args.object_text_steps:
        tasks = scene_tasks("attributes", "train", 8192, env_kwargs=SCENES)
        if args.object_visplay_tasks:
            tasks += visplay_scene_tasks(
                args.object_visplay_tasks,
                first_seed=VISPLAY_TASK_SEEDS,
                env_kwargs=SCENES,
                absent_counts=args.object_visplay_absent_counts,
            )
        stages = [(args.object_text_steps, tasks)]
        objects = pretrain_object_tokens(model, stages, vision_steps=args.object_vision_steps, log_every=500)
    print(f"object-token warm start: {objects}", flush=True)
    figures = [warm, captions, objects]
    if args.start is not None:
        options = {name: getattr(args, name) for name in STARTS}
        (model / "warm_starts.json").write_text(json.dumps({"options": options, "figures": figures}, default=float))
        shutil.copytree(model, args.start, dirs_exist_ok=True)
    return model, figures, False


def _reused(args: argparse.Namespace, reused: bool) -> str:
    return (
        f", the warm starts before VisPlay not counted (their model reused from `--start {args.start}`)"
        if reused
        else ""
    )


def _visplay_tasks(args: argparse.Namespace) -> str:
    count, absent = args.object_visplay_tasks, args.object_visplay_absent_counts
    if not count:
        return ""
    absent_text = f", {absent:.0%} of their counts about random, mostly absent objects" if absent else ""
    return f" and {count} VisPlay scripted-Questioner questions (`visplay_scene_tasks`{absent_text})"


def _roles(roles: list[str]) -> str:
    return "both roles" if set(roles) == set(ROLES) else "the " + " and ".join(role.capitalize() for role in roles)


def _caption_losses(captions: dict) -> str:
    if "loss" not in captions:
        return ""
    return f"; caption loss on fresh scenes {captions['loss']:.2f} with the image, {captions['blank_loss']:.2f} blanked"


def _object_tokens(args: argparse.Namespace, objects: dict) -> str:
    if not args.object_text_steps:
        return ""
    return (
        f", object-token warm start (`vista_agents.object_tokens` on 8192 attributes `train` tasks"
        f"{_visplay_tasks(args)}: text tower "
        f"{args.object_text_steps} + 100 format steps, vision tower {args.object_vision_steps} steps; "
        f"{objects['cpu_s'] / 60:.1f} CPU min)"
    )


def per_iteration_table(rows: list[dict]) -> str:
    lines = ["| iteration | " + " | ".join(label for _, label in REPORTED) + " |", "|---:" * (len(REPORTED) + 1) + "|"]
    for row in rows:
        if not any(row.get(name) is not None for name, _ in REPORTED):
            continue
        cells = [
            "-" if row.get(name) is None else f"{row[name]:.0f}" if name == "dataset/kept" else f"{row[name]:.2f}"
            for name, _ in REPORTED
        ]
        lines.append(f"| {row['step']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def template_kinds(rows: list[dict]) -> str:
    """The Reasoner's held-out template accuracy by question kind at the first and the last evaluation, in a line."""
    evaluated = [row for row in rows if row.get("eval_templates/success_rate") is not None]
    if not evaluated:
        return "No held-out template questions were asked (`--eval-template-episodes 0`)."
    first, last = evaluated[0], evaluated[-1]
    kinds = [
        name.removeprefix("eval_templates/").removesuffix("_questions")
        for name in first
        if name.startswith("eval_templates/") and name.endswith("_questions")
    ]
    parts = [
        f"{kind} {first[f'eval_templates/{kind}_success_rate']:.2f} -> "
        f"{last[f'eval_templates/{kind}_success_rate']:.2f} ({first[f'eval_templates/{kind}_questions']:.0f} questions)"
        for kind in kinds
    ]
    head = f"Held-out template questions right by kind, iteration {first['step']} -> {last['step']}: "
    return head + ", ".join(parts) + "."


if __name__ == "__main__":
    main()
