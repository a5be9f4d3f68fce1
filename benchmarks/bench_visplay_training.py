"""VisPlay training benchmark: a tiny VLM plays Questioner and Reasoner in grounded VisPlay on CPU.

1. Build a tiny LLaVA-style VLM (``vista_agents.tiny``; its tokenizer also learns the envs' prompts and oracle outputs).
2. Warm start (SFT) on oracle demonstrations of both roles, so that some questions parse and some
   answers are well formed: a random model writes no valid question and every signal would be 0.
3. VisPlay iterations (:mod:`vista_agents.visplay_trainer`, grounded mode, counting scenes) until the CPU
   budget is spent: each iteration is run as a resume of the last one, so the loop stops on time.

Per iteration it prints and plots the Questioner's reward and valid-question rate, the confidence and
the share of questions the band keeps, the pseudo-labels' accuracy against the programs' answers, and
the Reasoner's agreement with the pseudo-labels and accuracy against the truth (training questions,
and held-out ``VisualQA-v0`` counting tasks). Writes ``benchmarks/plots/visplay_training.png`` and, with
``--write``, the "VisPlay training (tiny VLM, grounded)" section of ``benchmarks/RESULTS.md``.

    python benchmarks/bench_visplay_training.py --budget-minutes 15 --write
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import gymnasium as gym
import torch
from transformers.utils import logging as transformers_logging

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import update_section

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.run_log import read_metrics
from vista_agents.tiny import build_tiny_vlm
from vista_agents.visplay_trainer import VisPlayConfig, train
from vista_envs.envs.visplay import questioner_instruction

SECTION = "VisPlay training (tiny VLM, grounded)"
PLOT = Path(__file__).with_name("plots") / "visplay_training.png"
SCENES = {"families": ["counting"], "difficulty": 1, "image_size": 64}
# (metric, label) per panel of the plot and column of the table.
PANELS = {
    "Questioner": [
        ("questioner/reward", "reward"),
        ("questioner/valid_rate", "valid questions"),
        ("questioner/uncertainty", "uncertainty term"),
    ],
    "Reasoner's data": [
        ("dataset/confidence", "confidence"),
        ("dataset/kept_share", "kept by the band"),
        ("dataset/pseudo_label_accuracy", "pseudo-label accuracy"),
    ],
    "Reasoner": [
        ("reasoner/agreement", "agrees with pseudo-label"),
        ("reasoner/accuracy", "right (training questions)"),
        ("eval/success_rate", "right (held-out VisualQA)"),
    ],
}


def tokenizer_corpus(count: int = 300) -> list[str]:
    """The envs' own text (the grounded instruction and oracle questions), so the tiny tokenizer writes it in fewer
    tokens."""
    env = gym.make("VisPlayQuestioner-v0", grounded=True, **SCENES)
    questions = []
    for seed in range(count):
        env.reset(seed=seed)
        questions.append(env.unwrapped.oracle())
    return [questioner_instruction(True)] * 20 + questions


def plot(rows: list[dict], path: Path, panels: dict[str, list[tuple[str, str]]] = PANELS) -> None:
    """One panel per entry of ``panels`` (title: its (metric, label) series); a metric no row logs is left out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(15, 4), sharey=True)
    for axis, (title, series) in zip(axes, panels.items()):
        for name, label in series:
            logged = [row for row in rows if name in row]
            if not logged:
                continue
            # NaN (not measured: nothing kept, no evaluation) breaks the line instead of bridging the gap.
            values = [math.nan if row[name] is None else row[name] for row in logged]
            axis.plot([row["step"] for row in logged], values, "o-", markersize=3, label=label)
        axis.set(title=title, xlabel="iteration", ylim=(-0.05, 1.05))
        axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def table(rows: list[dict], every: int = 1) -> str:
    """A Markdown row per ``every``-th iteration (and the first and last) with every plotted metric and the questions
    kept."""
    columns = [(name, label) for series in PANELS.values() for name, label in series]
    iterations = [row for row in rows if "questioner/reward" in row]
    shown = [row for row in iterations if row["step"] == 1 or row["step"] % every == 0 or row is iterations[-1]]
    lines = [
        "| iteration | " + " | ".join(label for _, label in columns) + " | kept / asked |",
        "|---:" * (len(columns) + 2) + "|",
    ]
    for row in shown:
        cells = ["-" if row.get(name) is None else f"{row[name]:.2f}" for name, _ in columns]
        lines.append(
            f"| {row['step']} | " + " | ".join(cells) + f" | {row['dataset/kept']} / {row['dataset/questions']} |"
        )
    return "\n".join(lines)


def schedule(model: Path, work: Path, args: argparse.Namespace, **settings) -> VisPlayConfig:
    """The VisPlay schedule the VisPlay benchmarks share (this one and ``bench_visplay_learning.py``): per iteration
    2 Questioner steps x 8 images x G = 4, m = 8 answers, a 16 x 4 dataset in the 0.25..0.75 band, 2 Reasoner steps
    x 8 questions x G = 4, after an SFT warm start of ``args.warm_start`` demonstrations per role; ``settings``
    (env kwargs, evaluation, ...) are each benchmark's own."""
    return VisPlayConfig(
        model=str(model),
        output_dir=str(work / "visplay"),
        grounded=True,
        total_steps=1,
        questioner_steps=2,
        reasoner_steps=2,
        images_per_step=8,
        questions_per_image=4,
        samples=8,
        dataset_images=16,
        questions_per_step=8,
        answers_per_question=4,
        confidence_band=(0.25, 0.75),
        num_envs=32,
        max_new_tokens=64,
        generation_batch_size=64,
        micro_batch_size=32,
        learning_rate=args.learning_rate,
        checkpoint_every=1,
        warm_start_demonstrations=args.warm_start,
        warm_start_epochs=args.warm_start_epochs,
        warm_start_learning_rate=args.warm_start_learning_rate,
        **settings,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=15.0,
        help="CPU minutes of this process, warm start included (default 15)",
    )
    parser.add_argument(
        "--max-iterations", type=int, default=100, help="stop after this many iterations even within budget"
    )
    parser.add_argument(
        "--warm-start", type=int, default=512, help="oracle demonstrations per role of the warm start (default 512)"
    )
    parser.add_argument("--warm-start-epochs", type=int, default=8, help="passes over them (default 8)")
    parser.add_argument(
        "--warm-start-learning-rate", type=float, default=3e-3, help="learning rate of the SFT warm start of both roles"
    )
    parser.add_argument("--learning-rate", type=float, default=5e-4, help="VisPlay learning rate of both roles")
    parser.add_argument(
        "--diversity-weight", type=float, default=1.0, help="lambda_div of the Questioner's reward (default 1)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where the model and the run go (default: a temporary directory)"
    )
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    transformers_logging.disable_progress_bar()  # every resumed iteration loads and saves both models
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-visplay-"))
    wall, cpu = time.perf_counter(), time.process_time()

    model = build_tiny_vlm(
        work / "tiny-vlm", seed=0, image_size=32, hidden_size=64, num_layers=2, corpus=tokenizer_corpus()
    )
    config = schedule(model, work, args, env_kwargs=SCENES, diversity_weight=args.diversity_weight, eval_episodes=128)
    budget_s = 60 * args.budget_minutes
    iteration_cpu: list[float] = []
    while len(iteration_cpu) < args.max_iterations:
        started = time.process_time()
        result = train(
            dataclasses.replace(
                config, total_steps=len(iteration_cpu) + 1, resume=bool(iteration_cpu), progress_bar=False
            )
        )
        iteration_cpu.append(time.process_time() - started)
        for checkpoints in Path(config.output_dir).glob("*/checkpoints"):  # the next call resumes from the latest only
            for older in sorted(checkpoints.iterdir())[:-1]:
                shutil.rmtree(older)
        row = result.metrics[-1]
        print(
            f"iteration {row['step']}: "
            + ", ".join(f"{name} {row[name]}" for series in PANELS.values() for name, _ in series),
            flush=True,
        )
        # Stop when one more iteration (as long as the last one) would overrun the budget.
        if time.process_time() - cpu + iteration_cpu[-1] > budget_s:
            break
    rows = read_metrics(config.output_dir)
    cpu_min, wall_min = (time.process_time() - cpu) / 60, (time.perf_counter() - wall) / 60
    plot(rows, PLOT)
    print(table(rows))
    print(
        f"{len(iteration_cpu)} iterations; CPU {cpu_min:.1f} min (first call, warm start included: "
        f"{iteration_cpu[0] / 60:.1f} min), wall {wall_min:.1f} min"
    )
    if args.write:
        update_section(
            SECTION,
            body(rows, args, len(iteration_cpu), cpu_min, wall_min, iteration_cpu),
            "python benchmarks/bench_visplay_training.py --write",
        )


# (label, metric) of the first-vs-late table.
TRENDS = [
    ("Questioner: valid questions", "questioner/valid_rate"),
    ("confidence of the snapshot's majority", "dataset/confidence"),
    ("share of questions kept by the band", "dataset/kept_share"),
    ("Reasoner agrees with the pseudo-label", "reasoner/agreement"),
]


def mean(rows: list[dict], name: str) -> str:
    """The mean of a metric over the rows where it was measured, as text ("-" where it never was)."""
    values = [row[name] for row in rows if row.get(name) is not None]
    return f"{sum(values) / len(values):.2f}" if values else "-"


def body(
    rows: list[dict],
    args: argparse.Namespace,
    iterations: int,
    cpu_min: float,
    wall_min: float,
    iteration_cpu: list[float],
) -> str:
    per_iteration = sum(iteration_cpu[1:]) / max(len(iteration_cpu) - 1, 1) / 60
    trained = [row for row in rows if "questioner/reward" in row]
    peak = max(trained, key=lambda row: row["questioner/valid_rate"])
    trends = "\n".join(
        f"| {label} | {mean(trained[:1], name)} | {mean(trained[-10:], name)} |" for label, name in TRENDS
    )
    evaluations = [row["eval/success_rate"] for row in rows if row.get("eval/success_rate") is not None]
    return f"""Tiny LLaVA-style VLM (`vista_agents.tiny`, random init, width 64, 2 + 2 layers, 32 px vision input; its
BPE
tokenizer also trained on the envs' instruction and oracle questions), grounded VisPlay on counting scenes
(difficulty 1, 64 px). Warm start: SFT on {args.warm_start} oracle demonstrations per role x {args.warm_start_epochs}
epochs
(template questions with programs; true answers). Then per iteration: Questioner 2 GRPO steps x 8 images x G = 4
questions, each answered m = 8 times by the Reasoner snapshot; dataset 16 images x 4 questions, band 0.25..0.75;
Reasoner 2 GRPO steps x 8 questions x G = 4 answers; lr {args.learning_rate:g}, lambda_div {args.diversity_weight:g},
temperature 1, one optimiser step per batch. Held-out: 128 `VisualQA-v0` counting `test` tasks, greedy.

{iterations} iterations in {cpu_min:.1f} CPU min ({wall_min:.1f} min wall, {args.threads} thread; warm start and first
iteration {iteration_cpu[0] / 60:.1f} CPU min, then {per_iteration:.2f} CPU min per iteration).

| | first iteration | last 10 iterations |
|---|---:|---:|
{trends}

Valid questions peaked at {peak["questioner/valid_rate"]:.2f} (iteration {peak["step"]}). Over the whole run: mean
pseudo-label
accuracy {mean(trained, "dataset/pseudo_label_accuracy")}, the Reasoner's accuracy against the programs' answers
{mean(trained, "reasoner/accuracy")}; held-out accuracy {evaluations[0]:.2f} before, {evaluations[-1]:.2f} after. Every
10th
iteration ("-": not measured, e.g. no question kept, so no Reasoner step):

{table(rows, every=10)}

What it shows. The loop runs end to end on CPU, resumes every iteration from its checkpoints, and every
metric is measured. The learning signals work as designed: the validity gate of the Questioner's reward
raises the share of valid grounded questions (programs that run on the scene) above the warm start's, and
the Reasoner's GRPO raises its agreement with the pseudo-labels. What the tiny model learns, though, is
self-agreement, not vision: a width-64 model with a 32 px vision tower cannot count 64 px scenes, so the
majority answer it is trained towards is mostly wrong (pseudo-label accuracy above), its answers converge
(confidence towards 1), the band then keeps few or no questions, and the uncertainty term pays little.
The Questioner's reward is clipped at 0, so a valid question never earns less than an invalid one and the
valid rate keeps climbing after the Reasoner is confident (without the clip, an earlier run's valid rate
fell from 0.59 to 0 once every answer agreed). Grounded mode is what makes this visible: without the programs' answers,
rising agreement
and confidence would look like progress. Held-out accuracy sits at the share of the most frequent count.
This benchmark shows that the alternation and its metrics work; it is not evidence that VisPlay improves a
real VLM, which needs a model that can see.

![VisPlay training curves](plots/{PLOT.name})
"""


if __name__ == "__main__":
    main()
