"""VisPlay: Questioner throughput with diversity clustering on and off, and a scripted self-play curve.

1. *Throughput*: ``VisPlayQuestioner-v0`` with the scripted Reasoner, ``m = 10`` samples per question,
   questions from the scripted Questioner (written outside the timed region). Clustering *on* is
   ``diversity_weight=1`` over a full window of 256 questions (BLEU distance, threshold 0.5);
   *off* is ``diversity_weight=0``. Timed (medians): ``env.step`` alone, and a whole episode
   (``reset`` + ``step``). Target: clustering costs at most 2x (on / off <= 2). Pinned to one core.
2. *Self-play*: grounded ``VisPlayQuestioner-v0``; the scripted Questioner's difficulty knob starts
   at 0 (questions the Reasoner always gets right) and after each batch moves towards the
   Reasoner's 50% point: ``knob += step * (reasoner accuracy - 0.5)``. The Questioner's mean reward
   rises as the knob gets there. The curve is printed and saved as a PNG.

    python benchmarks/bench_visplay.py [--steps 2000] [--iterations 40] [--batch 32] [--knob-step 0.15] [--write]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np

import vista_envs  # noqa: F401
from vista_envs.visplay import ClusterWindow, ScriptedQuestioner, ScriptedReasoner

PLOT = Path(__file__).parent / "plots" / "visplay_selfplay.png"
WINDOW = 256
SAMPLES = 10


def questioner_rates(steps: int, size: int) -> dict[str, tuple[float, float]]:
    """Per setting: (env.step calls/s, reset + step episodes/s) from median times, after a full window of warm-up.

    Clustering "off" and "on" call the Reasoner inline (``reasoner_timeout=None``), so the comparison is
    of the env's own work; the third setting adds the default timeout's worker-thread handoff. The envs
    run interleaved on the same scenes and questions, and medians ignore the steps that another process
    preempted, so a change in machine load hits all settings alike.
    """
    settings = {"off": (0.0, None), "on": (1.0, None), "on, reasoner in a worker thread": (1.0, 300.0)}
    envs = {
        name: gym.make(
            "VisPlayQuestioner-v0",
            samples=SAMPLES,
            diversity_weight=weight,
            diversity_window=WINDOW,
            reasoner_timeout=timeout,
            image_size=size,
        )
        for name, (weight, timeout) in settings.items()
    }
    questioner = ScriptedQuestioner()
    step_times: dict[str, list[float]] = {name: [] for name in envs}
    episode_times: dict[str, list[float]] = {name: [] for name in envs}
    for episode in range(WINDOW + steps):
        question = None
        for name, env in envs.items():
            start = time.perf_counter()
            env.reset(seed=episode)
            reset_time = time.perf_counter() - start
            question = question or questioner.ask(env.unwrapped.scene, random.Random(episode))
            start = time.perf_counter()
            env.step(question)
            elapsed = time.perf_counter() - start
            if episode >= WINDOW:
                step_times[name].append(elapsed)
                episode_times[name].append(reset_time + elapsed)
    return {name: (1 / float(np.median(step_times[name])), 1 / float(np.median(episode_times[name]))) for name in envs}


def clustering_cost(steps: int) -> float:
    """Median microseconds to add one question to a full window of 256 scripted questions."""
    questioner = ScriptedQuestioner()
    env = gym.make("VisPlayQuestioner-v0", image_size=64).unwrapped
    questions = []
    for seed in range(WINDOW + steps):
        env.reset(seed=seed)
        questions.append(questioner.propose(env.scene, random.Random(seed))[0].text)
    window = ClusterWindow(WINDOW)
    for question in questions[:WINDOW]:
        window.add(question)
    times = []
    for question in questions[WINDOW:]:
        start = time.perf_counter()
        window.add(question)
        times.append(time.perf_counter() - start)
    return 1e6 * float(np.median(times))


def self_play(iterations: int, batch: int, knob_step: float, size: int) -> list[dict[str, float]]:
    """Per iteration: the knob, the Questioner's mean reward, mean confidence, pseudo-label accuracy."""
    reasoner = ScriptedReasoner(skill=0.5)
    env = gym.make("VisPlayQuestioner-v0", reasoner=reasoner, grounded=True, samples=SAMPLES, image_size=size)
    questioner = ScriptedQuestioner(difficulty=0.0)
    curve, episode = [], 0
    for iteration in range(iterations):
        rewards, confidences, correct, accuracies = [], [], [], []
        for _ in range(batch):
            env.reset(seed=episode)
            _, reward, _, _, info = env.step(questioner.ask(env.unwrapped.scene, random.Random(episode)))
            episode += 1
            rewards.append(reward)
            confidences.append(info["confidence"])
            correct.append(info["pseudo_label_correct"])
            accuracies.append(info["reasoner_accuracy"])
        row = {
            "iteration": iteration,
            "knob": questioner.difficulty,
            "reward": float(np.mean(rewards)),
            "confidence": float(np.mean(confidences)),
            "pseudo_label_accuracy": float(np.mean(correct)),
            "reasoner_accuracy": float(np.mean(accuracies)),
        }
        curve.append(row)
        print(
            f"iter {iteration:3d}  knob {row['knob']:.3f}  reward {row['reward']:+.3f}  confidence "
            f"{row['confidence']:.3f}  "
            f"pseudo-label acc {row['pseudo_label_accuracy']:.2f}  reasoner acc {row['reasoner_accuracy']:.2f}",
            flush=True,
        )
        questioner.difficulty = float(
            np.clip(questioner.difficulty + knob_step * (row["reasoner_accuracy"] - 0.5), 0.0, 1.0)
        )
    return curve


def plot(curve: list[dict[str, float]], skill: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iterations = [row["iteration"] for row in curve]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    top.plot(iterations, [row["reward"] for row in curve], color="tab:blue", label="Questioner reward (batch mean)")
    top.plot(
        iterations,
        [row["pseudo_label_accuracy"] for row in curve],
        color="tab:green",
        lw=0.8,
        alpha=0.6,
        label="pseudo-label accuracy",
    )
    top.set_ylabel("per question")
    top.set_ylim(0, 1.3)  # headroom for the legend
    top.legend(loc="upper right", ncol=2, fontsize="small")
    top.set_title("Scripted VisPlay self-play: the Questioner's difficulty adapts to the Reasoner")
    bottom.plot(iterations, [row["knob"] for row in curve], color="tab:red", label="Questioner difficulty knob")
    bottom.plot(
        iterations,
        [row["reasoner_accuracy"] for row in curve],
        color="tab:gray",
        lw=0.8,
        alpha=0.6,
        label="Reasoner accuracy",
    )
    bottom.axhline(skill, color="tab:red", ls=":", label="Reasoner's 50% point (hardness)")
    bottom.set_xlabel("iteration (one batch of questions)")
    bottom.set_ylim(0, 1.3)
    bottom.legend(loc="upper right", ncol=2, fontsize="small")
    figure.tight_layout()
    PLOT.parent.mkdir(exist_ok=True)
    figure.savefig(PLOT, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2000, help="timed Questioner steps per setting")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--iterations", type=int, default=40, help="self-play iterations")
    parser.add_argument("--batch", type=int, default=32, help="questions per self-play iteration")
    parser.add_argument(
        "--knob-step", type=float, default=0.15, help="how far the knob moves per unit of (accuracy - 0.5)"
    )
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md and the plot")
    args = parser.parse_args()
    if hasattr(os, "sched_getaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    rates = questioner_rates(args.steps, args.size)
    (off_step, off_episode), (on_step, on_episode) = rates["off"], rates["on"]
    threaded_step, threaded_episode = rates["on, reasoner in a worker thread"]
    per_question = clustering_cost(args.steps)
    throughput = [
        f"| setting (m = {SAMPLES}, scripted Reasoner, {args.size}x{args.size}, one core) | env.step /s | reset + step "
        "/s |",
        "|---|---:|---:|",
        f"| clustering off (`diversity_weight=0`) | {off_step:,.0f} | {off_episode:,.0f} |",
        f"| clustering on, window {WINDOW} (full) | {on_step:,.0f} | {on_episode:,.0f} |",
        f"| **clustering overhead** (off rate / on rate; target <= 2x) | **{off_step / on_step:.2f}x** | "
        f"**{off_episode / on_episode:.2f}x** |",
        f"| clustering on, default `reasoner_timeout=300` (Reasoner called in a worker thread) | {threaded_step:,.0f} "
        f"| {threaded_episode:,.0f} |",
        "",
        f"Adding one question to a full window of {WINDOW} scripted questions: {per_question:.0f} us (median). Rates "
        "are from median times. The first two rows call the",
        "Reasoner inline (`reasoner_timeout=None`) to compare the env's own work; the thread handoff of the default "
        "timeout",
        "is a fixed cost per question (negligible next to a model's generation).",
    ]
    print("\n".join(throughput), flush=True)

    curve = self_play(args.iterations, args.batch, args.knob_step, args.size)
    first = curve[0]
    tail = curve[-10:]
    summary = [
        "",
        f"Scripted self-play (grounded, m = {SAMPLES}, {args.batch} questions per iteration, knob step "
        f"{args.knob_step}; "
        "Reasoner skill 0.5 = the hardness it gets right half the time):",
        "",
        "| | knob | Questioner reward | confidence | pseudo-label accuracy |",
        "|---|---:|---:|---:|---:|",
        f"| iteration 0 | {first['knob']:.2f} | {first['reward']:+.3f} | {first['confidence']:.2f} | "
        f"{first['pseudo_label_accuracy']:.2f} |",
        f"| last 10 iterations (mean) | {np.mean([r['knob'] for r in tail]):.2f} | "
        f"{np.mean([r['reward'] for r in tail]):+.3f} | "
        f"{np.mean([r['confidence'] for r in tail]):.2f} | {np.mean([r['pseudo_label_accuracy'] for r in tail]):.2f} |",
        "",
        f"![VisPlay self-play curve](plots/{PLOT.name})",
    ]
    print("\n".join(summary))
    if args.write:
        plot(curve, skill=0.5)
        sys.path.insert(0, os.path.dirname(__file__))
        from results_file import update_section

        update_section(
            "VisPlay",
            "\n".join(throughput + summary),
            f"python benchmarks/bench_visplay.py --steps {args.steps} --size {args.size} --iterations "
            f"{args.iterations} "
            f"--batch {args.batch} --knob-step {args.knob_step} --write",
        )


if __name__ == "__main__":
    main()
