"""VistaTool-v0: oracle episodes/s, and success with tools vs without on the tool-needing families.

For every family with ``tools_help``, in the same run and on the same test-split tasks:
- *oracle with tools*: the env's oracle trajectory (tool calls, then the answer);
- *no tools, chance*: an immediate answer by a guesser that knows only the answer type;
- *no tools, oracle prior*: an immediate answer of the most common ground truth of the family
  (the best a tool-less agent could do by memorising the answer distribution of the train split).

    python benchmarks/bench_vista_tool.py [--episodes 100] [--write]
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import sys
import time

import gymnasium as gym

import vista_envs  # noqa: F401
from vista_envs.answers import format_answer
from vista_envs.tasks import family_names, get_family

sys.path.insert(0, os.path.dirname(__file__))
from results_file import update_section  # noqa: E402


def guess(rng: random.Random, answer_type: str) -> str:
    """A guess that knows only the answer type."""
    return {
        "yes_no": lambda: rng.choice(["yes", "no"]),
        "choice": lambda: rng.choice("ABCD"),
        "text": lambda: rng.choice(["paris", "euro", "europe", "red", "asia"]),
        "time": lambda: f"{rng.randint(1, 12)}:{rng.randrange(60):02d}",
        "sequence": lambda: "A, B, C",
        "box": lambda: "[0, 0, 10, 10]",
    }.get(answer_type, lambda: str(rng.randint(0, 100)))()


def run_family(family: str, episodes: int) -> dict[str, float]:
    env = gym.make("VistaTool-v0", families=[family]).unwrapped
    train_answers = collections.Counter()
    for seed in range(200):
        env.reset(seed=10_000 + seed, options={"split": "train"})
        train_answers[format_answer(env.task.spec)] += 1
    prior = train_answers.most_common(1)[0][0]
    rng = random.Random(0)
    wins = collections.Counter()
    tool_calls = 0
    start = time.perf_counter()
    for seed in range(episodes):
        env.reset(seed=seed, options={"split": "test"})
        for turn in env.oracle_trajectory():
            _, _, terminated, truncated, info = env.step(turn)
            tool_calls -= int(info["reward_terms"]["tools"])
            if terminated or truncated:
                break
        wins["oracle"] += info["is_success"]
    oracle_rate = episodes / (time.perf_counter() - start)
    for name, answer in (("chance", lambda info: guess(rng, info["answer_type"])), ("prior", lambda info: prior)):
        for seed in range(episodes):
            _, info = env.reset(seed=seed, options={"split": "test"})
            _, _, _, _, end = env.step(f"<think>I answer without tools.</think><answer>{answer(info)}</answer>")
            wins[name] += end["is_success"]
    env.close()
    return {
        "oracle": wins["oracle"] / episodes,
        "chance": wins["chance"] / episodes,
        "prior": wins["prior"] / episodes,
        "episodes_per_s": oracle_rate,
        "tool_calls": tool_calls / episodes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    rows = [
        "| family | oracle with tools | no tools: chance | no tools: most common answer | tool calls / episode | "
        "oracle episodes/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for family in (name for name in family_names() if get_family(name).tools_help):
        r = run_family(family, args.episodes)
        rows.append(
            f"| {family} | {r['oracle']:.0%} | {r['chance']:.0%} | {r['prior']:.0%} | {r['tool_calls']:.1f} | "
            f"{r['episodes_per_s']:,.0f} |"
        )
        print(rows[-1], flush=True)
    if args.write:
        update_section(
            "VistaTool-v0: tools vs no tools",
            "\n".join(rows) + f"\n\n{args.episodes} test-split episodes per family; the Python tool runs under the "
            "sandbox in force (bwrap here).",
            f"python benchmarks/bench_vista_tool.py --episodes {args.episodes} --write",
        )


if __name__ == "__main__":
    main()
