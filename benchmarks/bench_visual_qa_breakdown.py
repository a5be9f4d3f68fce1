"""Where a VisualQA-v0 episode's time goes in the default family mix, and what bounds the mixed rate.

Stages, timed by wrapping the env's own objects (each wrapper adds well under a microsecond per call):
- *sampling*: every ``family.sample`` call of an episode, including the re-samples that the split
  assignment rejects (a train task takes 1.25 samples on average: train owns 80% of the content hashes);
- *split check*: ``split_of`` (the content key and its hash) of every sample;
- *drawing*: ``family.render``;
- *conversion*: the observation array (``vista_envs.pixels.image_array``);
- *step*: parsing, verifying, reward terms, info;
- *rest of reset*: seeding the task's RNG, choosing the family/difficulty/seed, the wrappers.

Then, side by side in alternating rounds, the mix's rate as it is and with the split check switched off
(every first sample accepted as train). The second is not a valid env, since its train tasks may be eval or test
tasks: it is the ceiling of any cheaper split rule, the largest single lever on the mixed rate.

    python benchmarks/bench_visual_qa_breakdown.py [--episodes 4000] [--size 224] [--rounds 4] [--write]
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import gymnasium as gym

import vista_envs  # noqa: F401
import vista_envs.envs.visual_qa as visual_qa_module
import vista_envs.tasks.base as task_base

sys.path.insert(0, os.path.dirname(__file__))
from bench_visual_qa import RESPONSE, WARMUP_SHARE, best_rates, env_runner  # noqa: E402

STAGES = ("sampling", "split check", "drawing", "conversion", "step", "rest of reset")


def timed(function: Callable, totals: collections.Counter, stage: str) -> Callable:
    """``function``, adding the seconds of each call to ``totals[stage]`` and counting calls in ``totals[stage + '
    calls']``."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[stage] += time.perf_counter() - start
            totals[stage + " calls"] += 1

    return wrapper


@contextmanager
def patched(module, name: str, replacement) -> Iterator[None]:
    """``module.name`` replaced by ``replacement`` inside the block."""
    original = getattr(module, name)
    setattr(module, name, replacement)
    try:
        yield
    finally:
        setattr(module, name, original)


def stage_breakdown(size: int, episodes: int) -> tuple[dict[str, float], float]:
    """Microseconds per episode of each stage, and samples drawn per episode, over ``episodes`` mixed episodes."""
    totals: collections.Counter = collections.Counter()
    env = gym.make("VisualQA-v0", image_size=size)
    for family in env.unwrapped.sampler.families.values():  # instance attributes shadow the methods
        family.sample = timed(family.sample, totals, "sampling")
        family.render = timed(family.render, totals, "drawing")
    with (
        patched(task_base, "split_of", timed(task_base.split_of, totals, "split check")),
        patched(visual_qa_module, "image_array", timed(visual_qa_module.image_array, totals, "conversion")),
    ):
        env.reset(seed=0)
        for _ in range(episodes // WARMUP_SHARE):
            env.reset()
            env.step(RESPONSE)
        totals.clear()
        for _ in range(episodes):
            start = time.perf_counter()
            env.reset()
            totals["reset"] += time.perf_counter() - start
            start = time.perf_counter()
            env.step(RESPONSE)
            totals["step"] += time.perf_counter() - start
    # A stage that no longer runs through the wrapped names would silently read zero.
    if not (
        totals["conversion calls"] == totals["drawing calls"] == episodes
        and totals["split check calls"] == totals["sampling calls"]
    ):
        raise RuntimeError(f"the wrappers did not see every stage of every episode: {dict(totals)}")
    inner = sum(totals[stage] for stage in ("sampling", "split check", "drawing", "conversion"))
    totals["rest of reset"] = totals["reset"] - inner
    micros = {stage: totals[stage] / episodes * 1e6 for stage in STAGES}
    return micros, totals["sampling calls"] / episodes


def split_check_off(run: Callable[[int], None]) -> Callable[[int], None]:
    """``run`` with every first sample accepted as a train task (the split check and its re-samples skipped)."""

    def run_without_split_check(n: int) -> None:
        with patched(task_base, "split_of", lambda family, spec: "train"):
            run(n)

    return run_without_split_check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=4000, help="episodes per measurement")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=4, help="alternating timings per measurement; the best is kept")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core, as the throughput target is per core
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    micros, samples = stage_breakdown(args.size, args.episodes)
    total = sum(micros.values())
    rows = ["| stage | us per episode | share |", "|---|---:|---:|"]
    rows += [f"| {stage} | {micros[stage]:.1f} | {micros[stage] / total:.0%} |" for stage in STAGES]
    rows.append(f"| **episode** | **{total:.1f}** | {samples:.2f} samples per task |")
    print("\n".join(rows), flush=True)

    as_is = env_runner(gym.make("VisualQA-v0", image_size=args.size), args.episodes)
    ceiling = split_check_off(env_runner(gym.make("VisualQA-v0", image_size=args.size), args.episodes))
    rate, ceiling_rate = best_rates([as_is, ceiling], args.episodes, args.rounds)
    summary = [
        "",
        "| default family mix, one core | episodes/s |",
        "|---|---:|",
        f"| as it is | {rate:,.0f} |",
        f"| split check off (ceiling of any cheaper split rule; not a valid env) | {ceiling_rate:,.0f} "
        f"({ceiling_rate / rate:.2f}x) |",
    ]
    print("\n".join(summary))
    if args.write:
        from results_file import update_section

        update_section(
            f"VisualQA-v0 episode breakdown ({args.size}x{args.size})",
            "\n".join(rows + summary),
            f"python benchmarks/bench_visual_qa_breakdown.py --episodes {args.episodes} --size {args.size} --rounds "
            f"{args.rounds} --write",
        )


if __name__ == "__main__":
    main()
