"""GRPO throughput against TRL: our GRPO step and TRL's ``GRPOTrainer`` on the same tiny VLM, prompts and lengths.

Both learners train the same weights (one tiny LLaVA-style VLM built by ``vista_agents.tiny``) on ``VisualQA-v0``
counting tasks (image + question, rendered with the model's chat template), with G = 8 completions per
prompt, every completion forced to the same length (``min_new_tokens = max_new_tokens``), one optimiser
step per batch, no KL term, float32 on CPU. Each side runs in its own subprocess (so that its peak memory
is its own): one warm-up step, then the measured steps. Completions/s = completions per step / the median
wall time of the measured steps (generation + loss + backward + optimiser step; the median, because the
CPU is shared). Peak memory is the process's peak resident set size (``ru_maxrss``), and its growth over
the RSS measured after the learner's imports, before the model is loaded.

Rewards: ours is the env's reward; TRL gets a trivial reward function, since the reward computation is
not what is measured. TRL is needed only here (``pip install trl``; it is not a project dependency).

    python benchmarks/bench_grpo_throughput.py --write
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import update_section  # noqa: E402

SECTION = "GRPO throughput vs TRL"
ENV_KWARGS = {"families": ["counting"], "difficulty": 1, "image_size": 64}
SEED = 0


@dataclass
class Setup:
    """What both learners share."""

    model: str
    num_tasks: int = 4
    """prompts per optimiser step"""
    group_size: int = 8
    """G: completions per prompt"""
    completion_length: int = 32
    """every completion is exactly this many tokens"""
    steps: int = 20
    """measured optimiser steps (after one warm-up step)"""
    threads: int = 2
    """torch CPU threads"""

    @property
    def batch(self) -> int:
        return self.num_tasks * self.group_size


@dataclass
class SideResult:
    """One learner's figures."""

    completions_per_s: float
    step_s: float
    peak_rss_mb: float
    rss_growth_mb: float
    completion_tokens: float


def _rss_mb() -> float:
    """The current resident set size in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def build_model(path: Path, completion_length: int) -> Path:
    """The tiny VLM both sides train (the GRPO learning benchmark's size), its completions forced to
    ``completion_length``."""
    from transformers import GenerationConfig

    from vista_agents.tiny import build_tiny_vlm

    path = build_tiny_vlm(path, seed=SEED, image_size=64, hidden_size=64, num_layers=2)
    # Our HFPolicy takes the sampling settings it does not set from the model's generation config.
    generation = GenerationConfig.from_pretrained(path)
    generation.min_new_tokens = completion_length
    generation.save_pretrained(path)
    return path


def run_ours(setup: Setup, work: Path) -> SideResult:
    """Our GRPO (``vista_agents.grpo.train``): the steps' own rollout + update times, the first step left out."""
    from vista_agents import grpo

    baseline = _rss_mb()
    config = grpo.GRPOConfig(
        model=setup.model,
        output_dir=str(work / "ours"),
        env_kwargs=ENV_KWARGS,
        seed=SEED,
        device="cpu",
        total_steps=1 + setup.steps,
        num_tasks=setup.num_tasks,
        group_size=setup.group_size,
        num_envs=setup.batch,
        max_new_tokens=setup.completion_length,
        generation_batch_size=setup.batch,
        micro_batch_size=setup.batch,
        filter_zero_variance_groups=False,  # train on every completion, as TRL does
        kl_coef=0.0,
        learning_rate=1e-5,
        eval_episodes=setup.group_size,  # the learner evaluates before and after: kept small, and not timed
        progress_bar=False,
    )
    rows = [row for row in grpo.train(config).metrics if "time/rollout_s" in row][1:]
    step_s = statistics.median(row["time/rollout_s"] + row["time/update_s"] for row in rows)
    tokens = sum(row["policy_tokens"] for row in rows) / len(rows)
    return SideResult(setup.batch / step_s, step_s, _peak_rss_mb(), _peak_rss_mb() - baseline, tokens)


def trl_prompts(setup: Setup) -> list[dict[str, Any]]:
    """The training tasks our learner draws (same seeds and split), as TRL dataset rows: chat prompt and image."""
    import gymnasium as gym

    from vista_agents.grpo import task_seeds
    from vista_agents.policies.chat import ChatBuilder

    env = gym.make("VisualQA-v0", **ENV_KWARGS)
    rows = []
    for step in range(1 + setup.steps):
        for seed in task_seeds(SEED, step, setup.num_tasks):
            observation, info = env.reset(seed=seed, options={"split": "train"})
            chat = ChatBuilder().build([observation], [info])[0]
            rows.append({"prompt": chat.messages, "image": chat.images[0]})
    env.close()
    return rows


def run_trl(setup: Setup, work: Path) -> SideResult:
    """TRL's ``GRPOTrainer``: wall time of each optimiser step, through a callback, the first left out."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    baseline = _rss_mb()

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.durations: list[float] = []

        def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.durations.append(time.perf_counter() - self.started)

    def parity_reward(completions: list[Any], **kwargs: Any) -> list[float]:
        """A cheap stand-in reward that varies within a group (the reward is not what is measured)."""
        return [float(len(str(completion)) % 2) for completion in completions]

    model = AutoModelForImageTextToText.from_pretrained(setup.model, dtype=torch.float32)
    processor = AutoProcessor.from_pretrained(setup.model)
    config = GRPOConfig(
        output_dir=str(work / "trl"),
        seed=SEED,
        use_cpu=True,
        bf16=False,
        gradient_checkpointing=False,
        per_device_train_batch_size=setup.batch,
        num_generations=setup.group_size,
        steps_per_generation=1,  # one generation batch per optimiser step, as ours
        max_completion_length=setup.completion_length,
        generation_kwargs={"min_new_tokens": setup.completion_length},  # TRL overrides the model's generation config
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        beta=0.0,
        loss_type="dapo",
        learning_rate=1e-5,
        lr_scheduler_type="constant",  # as ours
        max_steps=1 + setup.steps,
        shuffle_dataset=False,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    timer = StepTimer()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=parity_reward,
        args=config,
        train_dataset=Dataset.from_list(trl_prompts(setup)),
        processing_class=processor,
        callbacks=[timer],
    )
    trainer.train()
    lengths = [row["completions/mean_length"] for row in trainer.state.log_history if "completions/mean_length" in row][
        1:
    ]
    step_s = statistics.median(timer.durations[1:])
    return SideResult(
        setup.batch / step_s, step_s, _peak_rss_mb(), _peak_rss_mb() - baseline, sum(lengths) / len(lengths)
    )


def run_side(side: str, setup: Setup, work: Path) -> SideResult:
    """Run one learner in a fresh Python process (its own peak memory); returns its figures."""
    result = work / f"{side}.json"
    command = [
        sys.executable,
        __file__,
        "--side",
        side,
        "--model",
        setup.model,
        "--result",
        str(result),
        "--num-tasks",
        str(setup.num_tasks),
        "--group-size",
        str(setup.group_size),
        "--completion-length",
        str(setup.completion_length),
        "--steps",
        str(setup.steps),
        "--threads",
        str(setup.threads),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # TRL prints a dict per step; errors go to stderr
    return SideResult(**json.loads(result.read_text()))


def compare(setup_kwargs: dict[str, Any]) -> tuple[Setup, SideResult, SideResult]:
    """Build the model once, then run our GRPO and TRL's on it; returns (setup, ours, trl)."""
    work = Path(tempfile.mkdtemp(prefix="bench-grpo-throughput-"))
    setup = Setup(model="", **setup_kwargs)
    setup.model = str(build_model(work / "tiny-vlm", setup.completion_length))
    return setup, run_side("ours", setup, work), run_side("trl", setup, work)


def measure_ratio() -> str:
    """A quick comparison (5 measured steps) for ``benchmarks/perf.py``: "1.8x (ours 40.1 vs TRL 22.3
    completions/s)"."""
    _, ours, trl = compare({"steps": 5})
    return (
        f"{ours.completions_per_s / trl.completions_per_s:.2f}x (ours {ours.completions_per_s:.1f} vs TRL "
        f"{trl.completions_per_s:.1f} completions/s)"
    )


def table(setup: Setup, ours: SideResult, trl: SideResult) -> str:
    rows = [
        (
            "completions/s",
            f"{ours.completions_per_s:.1f}",
            f"{trl.completions_per_s:.1f}",
            f"{ours.completions_per_s / trl.completions_per_s:.2f}x",
        ),
        ("seconds per step", f"{ours.step_s:.2f}", f"{trl.step_s:.2f}", f"{ours.step_s / trl.step_s:.2f}x"),
        ("mean completion tokens", f"{ours.completion_tokens:.1f}", f"{trl.completion_tokens:.1f}", ""),
        (
            "peak RSS (MiB)",
            f"{ours.peak_rss_mb:.0f}",
            f"{trl.peak_rss_mb:.0f}",
            f"{ours.peak_rss_mb / trl.peak_rss_mb:.2f}x",
        ),
        (
            "peak RSS over post-import baseline (MiB)",
            f"{ours.rss_growth_mb:.0f}",
            f"{trl.rss_growth_mb:.0f}",
            f"{ours.rss_growth_mb / trl.rss_growth_mb:.2f}x",
        ),
    ]
    lines = [
        "| per step: "
        + f"{setup.num_tasks} prompts x G = {setup.group_size}, {setup.completion_length} tokens | ours | TRL "
        "GRPOTrainer | ours / TRL |",
        "|---|---:|---:|---:|",
    ]
    return "\n".join(lines + [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-tasks", type=int, default=4, help="prompts per step")
    parser.add_argument("--group-size", type=int, default=8, help="G: completions per prompt")
    parser.add_argument("--completion-length", type=int, default=32, help="tokens of every completion (forced)")
    parser.add_argument("--steps", type=int, default=20, help="measured steps, after one warm-up step")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    parser.add_argument("--side", choices=["ours", "trl"], help=argparse.SUPPRESS)  # the subprocesses' entry point
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    shared = {
        name: getattr(args, name) for name in ("num_tasks", "group_size", "completion_length", "steps", "threads")
    }

    if args.side:
        import torch

        torch.set_num_threads(args.threads)
        run = run_ours if args.side == "ours" else run_trl
        figures = run(Setup(model=args.model, **shared), args.result.parent)
        args.result.write_text(json.dumps(figures.__dict__))
        return

    setup, ours, trl = compare(shared)
    text = table(setup, ours, trl)
    print(text)
    if args.write:
        import trl as trl_package

        speed_met = ours.completions_per_s >= 1.5 * trl.completions_per_s
        memory_met = ours.peak_rss_mb <= trl.peak_rss_mb
        body = f"""Our GRPO step (`vista_agents.grpo.train`) against TRL {trl_package.__version__}'s `GRPOTrainer`, one
run, the same tiny
LLaVA-style VLM (`vista_agents.tiny`: 2-layer CLIP and Qwen2 towers, width 64, 64 px images = 64 image tokens),
the same `VisualQA-v0` counting prompts (the chat template's image + question + answer-format instruction),
{setup.num_tasks} prompts x G = {setup.group_size} completions per optimiser step, every completion forced to
{setup.completion_length} tokens (`min_new_tokens = max_new_tokens`), sampling at temperature 1, token-mean
(DAPO) loss, no KL, float32, {setup.threads} torch threads on CPU. Each side runs in its own process; one
warm-up step, then {setup.steps} measured steps: completions/s = completions per step / the median step wall time
(generation + log-probabilities + backward + optimiser). Peak memory is the process's peak RSS (`ru_maxrss`),
and its growth over the RSS after the learner's imports (TRL's imports bring `datasets`, `pandas` and `pyarrow`).
Rewards: the env's for ours, a trivial stand-in function for TRL; the reward is not what is measured.

{text}

Target: >= 1.5x TRL's completions/s ({"met" if speed_met else "not met"} in this run) and no more peak memory
({"met" if memory_met else "not met"}). The CPU is shared with other work, so the speed ratio moves by about
+-0.1 between runs; a step is about 0.2 s, most of it generating 32 tokens for 32 sequences.
"""
        update_section(SECTION, body, "python benchmarks/bench_grpo_throughput.py --write")


if __name__ == "__main__":
    main()
