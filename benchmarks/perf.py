"""The performance suite: one table of every env's throughput, tool latency and render speed.

Each figure is a short measurement taken here, in one run, through the same helpers as the
detailed benchmarks beside this file (which compare against baselines and explain each number):

    python benchmarks/perf.py [--seconds 3] [--write]

The GRPO-vs-TRL ratio comes from ``bench_grpo_throughput.py`` when that benchmark and TRL are
available; otherwise the table says how to obtain it.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import vista_envs  # noqa: F401

sys.path.insert(0, os.path.dirname(__file__))
from bench_python_tool import bench_sandbox, percentiles_ms  # noqa: E402
from bench_search import benchmark_queries, latencies_ms  # noqa: E402
from bench_visual_qa import best_rates, env_runner  # noqa: E402
from results_file import update_section  # noqa: E402


def rate(step: Callable[[], int], seconds: float) -> float:
    """Calls of ``step`` per second (each call reports how many units it did), over ``seconds``."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step()
    return done / (time.perf_counter() - start)


def oracle_episode(env: gym.Env, seed: int) -> int:
    """Play one episode with ``env.unwrapped.oracle()``; returns 1."""
    env.reset(seed=seed)
    while True:
        *_, terminated, truncated, _ = env.step(env.unwrapped.oracle())
        if terminated or truncated:
            return 1


def measure(seconds: float) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    visual_qa = gym.make("VisualQA-v0")
    (mixed,) = best_rates([env_runner(visual_qa, 2000)], 2000, rounds=4)
    rows.append(("VisualQA-v0", "reset + step, default family mix, 224 px", f"{mixed:,.0f} episodes/s"))

    render_env = gym.make("VisualQA-v0", render_mode="rgb_array")
    render_env.reset(seed=0)
    rows.append(
        (
            "VisualQA-v0",
            "render() (image + caption)",
            f"{rate(lambda: (render_env.render(), 1)[1], seconds):,.0f} frames/s",
        )
    )

    seeds = iter(range(10**9))
    tool = gym.make("VistaTool-v0")
    rows.append(
        (
            "VistaTool-v0",
            "oracle episodes, all families (Python tool in the sandbox)",
            f"{rate(lambda: oracle_episode(tool, next(seeds)), seconds):,.1f} episodes/s",
        )
    )
    tool.close()

    visplay = gym.make("VisPlayQuestioner-v0", reasoner_timeout=None)
    rows.append(
        (
            "VisPlayQuestioner-v0",
            "oracle question, scripted reasoner, m = 10, clustering on",
            f"{rate(lambda: oracle_episode(visplay, next(seeds)), seconds):,.0f} episodes/s",
        )
    )

    from bench_vista_gui import env_rates, record_episodes

    gui_episodes = record_episodes((320, 512), 20)
    rows.append(
        (
            "VistaGUI-v0",
            "step, oracle turns replayed, 512x320",
            f"{env_rates((320, 512), gui_episodes, seconds)['step']:,.0f} steps/s",
        )
    )

    if importlib.util.find_spec("pybullet") is not None:
        from bench_robot import frame_milliseconds

        ee = gym.make("VistaRobotEE-v0", image_size=128)
        ee.reset(seed=0)
        action_rng = np.random.default_rng(0)

        def ee_step() -> int:
            *_, terminated, truncated, _ = ee.step(action_rng.uniform(-1, 1, 4).astype(np.float32))
            if terminated or truncated:
                ee.reset()
            return 1

        rows.append(("VistaRobotEE-v0", "step, random actions, 128 px", f"{rate(ee_step, seconds):,.0f} steps/s"))
        for size in (128, 224):
            frame_ms = frame_milliseconds("tiny", size, rounds=3)
            rows.append(
                ("VistaRobotEE-v0", f"camera frame, TinyRenderer, {size} px", f"{1000 / frame_ms:,.0f} frames/s")
            )
        plan = gym.make("VistaRobot-v0", image_size=128)
        rows.append(
            (
                "VistaRobot-v0",
                "oracle plan episodes, 128 px",
                f"{rate(lambda: oracle_episode(plan, next(seeds)), seconds):,.1f} episodes/s",
            )
        )

    from vista_envs.knowledge_base import load_knowledge_base
    from vista_envs.tools.sandbox import PythonSandbox
    from vista_envs.tools.search import get_local_search

    image = np.zeros((224, 224, 3), np.uint8)
    with PythonSandbox("auto") as sandbox:
        p50, p99 = percentiles_ms(bench_sandbox(sandbox, image, "print(1+1)", 200))
        rows.append(
            ("python tool", f"print(1+1), {sandbox.isolation} isolation", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms")
        )
    engine = get_local_search()
    latencies = latencies_ms(lambda q: engine.search(q, 3), benchmark_queries(load_knowledge_base()), 1)
    rows.append(("search tool", "local BM25, k = 3", f"p50 {np.percentile(latencies, 50):.3f} ms"))

    rows.append(("GRPO", "our step vs TRL GRPOTrainer (completions/s)", grpo_ratio()))
    return rows


def grpo_ratio() -> str:
    if importlib.util.find_spec("trl") is None or not os.path.exists(
        os.path.join(os.path.dirname(__file__), "bench_grpo_throughput.py")
    ):
        return "not measured here: `pip install trl` and run benchmarks/bench_grpo_throughput.py"
    from bench_grpo_throughput import measure_ratio

    return measure_ratio()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per rate")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    random.seed(0)
    rows = measure(args.seconds)
    table = "\n".join(
        ["| env / tool | what | figure |", "|---|---|---:|", *(f"| {a} | {b} | {c} |" for a, b, c in rows)]
    )
    print(table)
    if args.write:
        update_section("Performance summary", table, f"python benchmarks/perf.py --seconds {args.seconds:g} --write")


if __name__ == "__main__":
    main()
