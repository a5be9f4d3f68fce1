"""VisualQA-v0 throughput: episodes/s per family against the bare cost of drawing the same scenes.

For each family, in the same run:
- *bare*: ``family.render(spec)`` (at the family's ``detail_scale``, reduced to the image size) and a
  conversion to an array, on specs sampled beforehand: the Pillow drawing and array conversion an env cannot
  avoid. Two conversions, each its own baseline: ``np.asarray(image)``, the plain way, and ``image_array``,
  the env's own one-call encoder (about 4 us faster at 224 px, so its ratios are the stricter);
- *env*: ``env.reset(options={"family": ...})`` + ``env.step(response)`` through ``gym.make``
  (sampling, split assignment, drawing, parsing, verifying, reward terms, wrappers).
Then the default family mix (every family that needs no tools), and SyncVectorEnv / AsyncVectorEnv with 2 envs.
Single-env figures are pinned to one core. Every measurement follows unmeasured warm-up episodes (half as many), so that
the font and glyph caches are in the steady state of a training run; a family's bare and env timings alternate in rounds
and the best of each is kept, so that a slow spell of the machine cannot skew their ratio.

    python benchmarks/bench_visual_qa.py [--episodes 2000] [--size 224] [--rounds 4] [--write]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Sequence

import gymnasium as gym
import numpy as np
from PIL import Image

import vista_envs  # noqa: F401
from vista_envs.pixels import image_array
from vista_envs.tasks import family_names, generate_task, get_family

# Unmeasured warm-up episodes, as a share of the measured ones: a training run is in the steady state.
WARMUP_SHARE = 2
RESPONSE = "<think>I look at the image and work it out step by step.</think><answer>3</answer>"


def bare_drawer(
    family_name: str,
    episodes: int,
    size: tuple[int, int],
    convert: Callable[[Image.Image], np.ndarray] = image_array,
    first_seed: int = 0,
) -> Callable[[int], None]:
    """``draw(n)``: draws the next ``n`` of the pre-sampled specs as the env would (at the family's detail scale,
    reduced to ``size``) and converts them to arrays with ``convert``; after ``episodes // WARMUP_SHARE`` unmeasured
    ones.

    Drawers measured side by side need different ``first_seed``: a drawer that draws tasks another has drawn
    finds their text already in the glyph caches.
    """
    family = get_family(family_name)
    # Each spec is drawn once (warm-up included), as the env draws each task once.
    seeds = range(first_seed, first_seed + episodes + episodes // WARMUP_SHARE)
    specs = [generate_task(family, seed, 1 + seed % 5, "train", size).spec for seed in seeds]
    scale = family.detail_scale
    drawn_size = (size[0] * scale, size[1] * scale)
    rng = random.Random(0)
    position = 0

    def draw(n: int) -> None:
        nonlocal position
        for _ in range(n):
            spec = specs[position % len(specs)]
            position += 1
            image = family.render(spec, drawn_size, rng)
            convert(image.reduce(scale) if scale > 1 else image)

    draw(episodes // WARMUP_SHARE)
    return draw


def env_runner(env: gym.Env, episodes: int) -> Callable[[int], None]:
    """``run(n)``: ``n`` episodes of reset + step, after ``episodes // WARMUP_SHARE`` unmeasured ones fill the font and
    glyph caches."""
    env.reset(seed=0)  # seeded once, as in training; later resets continue the env's RNG

    def run(n: int) -> None:
        for _ in range(n):
            env.reset()
            env.step(RESPONSE)

    run(episodes // WARMUP_SHARE)
    return run


def best_rates(runners: Sequence[Callable[[int], None]], episodes: int, rounds: int) -> list[float]:
    """Episodes/s of each runner: ``rounds`` alternating timings of ``episodes // rounds`` episodes each, the best
    kept, so that a slow spell of a shared machine falls on every runner alike instead of skewing a ratio."""
    chunk = max(1, episodes // rounds)
    best = [0.0] * len(runners)
    for _ in range(rounds):
        for i, run in enumerate(runners):
            start = time.perf_counter()
            run(chunk)
            best[i] = max(best[i], chunk / (time.perf_counter() - start))
    return best


def vector_rate(vector_cls, episodes: int, size: int) -> float:
    envs = vector_cls([lambda: gym.make("VisualQA-v0", image_size=size) for _ in range(2)])
    envs.reset(seed=0)
    actions = (RESPONSE, RESPONSE)
    for _ in range(episodes // 2 // WARMUP_SHARE):
        envs.step(actions)
    start = time.perf_counter()
    for _ in range(episodes // 2):
        envs.step(actions)  # every step ends the episodes; autoreset starts the next ones
    rate = 2 * (episodes // 2) / (time.perf_counter() - start)
    envs.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=2000, help="episodes per measurement")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=4, help="alternating timings per measurement; the best is kept")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    all_cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    if all_cores:  # single-env figures are per core
        os.sched_setaffinity(0, {min(all_cores)})
    size = (args.size, args.size)

    # The mix first, in a fresh process as a training run has it: after the per-family runs, the tool families'
    # text would fill the glyph caches that the mix's own families then have to refill.
    (mixed,) = best_rates(
        [env_runner(gym.make("VisualQA-v0", image_size=args.size), args.episodes)], args.episodes, args.rounds
    )
    print(f"default families mixed: {mixed:,.0f} episodes/s", flush=True)
    rows = [
        "| family | bare, np.asarray (ep/s) | bare, image_array (ep/s) | env reset+step (ep/s) | env / bare "
        "(np.asarray) | env / bare (image_array) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in family_names():
        env = gym.make("VisualQA-v0", families=[name], image_size=args.size)
        runners = [
            bare_drawer(name, args.episodes, size, np.asarray),
            bare_drawer(name, args.episodes, size, image_array, first_seed=10**6),
            env_runner(env, args.episodes),
        ]
        plain, strict, full = best_rates(runners, args.episodes, args.rounds)
        rows.append(
            f"| {name} | {plain:,.0f} | {strict:,.0f} | {full:,.0f} | {plain / full:.2f}x | {strict / full:.2f}x |"
        )
        print(rows[-1], flush=True)
    if all_cores:  # vector envs may use every core
        os.sched_setaffinity(0, all_cores)
    sync = vector_rate(gym.vector.SyncVectorEnv, args.episodes, args.size)
    async_ = vector_rate(gym.vector.AsyncVectorEnv, args.episodes, args.size)
    summary = [
        "",
        "| setting | episodes/s |",
        "|---|---:|",
        f"| default families mixed (those needing no tools), one env, one core | {mixed:,.0f} |",
        f"| SyncVectorEnv, 2 envs | {sync:,.0f} |",
        f"| AsyncVectorEnv, 2 envs (2 worker processes) | {async_:,.0f} |",
    ]
    body = "\n".join(rows + summary)
    print("\n".join(summary))
    if args.write:
        sys.path.insert(0, os.path.dirname(__file__))
        from results_file import update_section

        update_section(
            f"VisualQA-v0 throughput ({args.size}x{args.size})",
            body
            + "\n\nTargets: >= 5,000 episodes/s mixed on one core; env cost within 3x of the bare drawing cost per "
            "family.",
            f"python benchmarks/bench_visual_qa.py --episodes {args.episodes} --size {args.size} --rounds "
            f"{args.rounds} --write",
        )


if __name__ == "__main__":
    main()
