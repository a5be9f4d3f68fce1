"""Stable-Baselines3 PPO beside the project's PPO on ``VistaRobotEE-v0`` reach (state), at the same step budget.

Both learn from ``obs_mode="state"`` (``Dict(state=Box(36))``: proprioception + the zone's position), dense
reward, episodes of at most 50 steps, for ``--steps`` env steps each, one after the other in this process:

- SB3: ``PPO("MultiInputPolicy", env)`` exactly as its users write it: its default hyper-parameters, one env
  from ``gym.make``, no wrapper of ours (SB3 adds its own Monitor and DummyVecEnv).
- ``vista_agents.ppo``: the configuration of ``benchmarks/bench_ppo_robot.py`` (8 envs x 128 steps, observation
  and reward normalisation, annealed learning rate).

Evaluation is the same for both: the deterministic policy (the Gaussian's mean) on the same fixed-seed
``eval``-split episodes every ``--eval-every`` steps (``vista_agents.ppo`` evaluates at its iteration boundaries
nearest to that), and the final policy on ``test``-split episodes. CPU time is this process's
(``time.process_time()``, evaluation included), one torch thread.

    python benchmarks/bench_sb3_reach.py --write
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gymnasium as gym
import numpy as np
import stable_baselines3
import torch
from bench_ppo_robot import STATE
from results_file import update_section
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback

import vista_envs  # noqa: F401  (registers the ids)
from vista_agents.ppo import evaluate, load_agent, make_envs, train
from vista_agents.training import EVAL_SEED_OFFSET

SECTION = "Stable-Baselines3 PPO vs vista_agents.ppo on VistaRobotEE-v0 reach"
PLOT = Path(__file__).with_name("plots") / "sb3_reach.png"
ENV_KWARGS = {"tasks": ["reach"], "max_steps": 50, "reward_type": "dense", "obs_mode": "state"}
TARGET = 0.8


def sb3_success(model: PPO, split: str, episodes: int) -> float:
    """Success rate of the deterministic SB3 policy on ``episodes`` episodes of ``split``, on the seeds
    ``vista_agents.ppo.evaluate`` uses (``EVAL_SEED_OFFSET + i``), so both learners face the same episodes."""
    env = gym.make("VistaRobotEE-v0", **ENV_KWARGS)
    solved = 0
    try:
        for i in range(episodes):
            obs, _ = env.reset(seed=EVAL_SEED_OFFSET + i, options={"split": split})
            while True:
                action, _ = model.predict(obs, deterministic=True)
                obs, _, terminated, truncated, info = env.step(np.clip(action, -1.0, 1.0))
                if terminated or truncated:
                    solved += bool(info["is_success"])
                    break
    finally:
        env.close()
    return solved / episodes


class _Evaluations(BaseCallback):
    """Evaluate on the eval split every ``every`` env steps (and record the CPU time spent so far)."""

    def __init__(self, every: int, episodes: int, cpu_start: float):
        super().__init__()
        self.every, self.episodes, self.cpu_start = every, episodes, cpu_start
        self.rows: list[dict[str, float]] = []
        self._next = every

    def _on_training_start(self) -> None:
        self.record()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self.record()
            self._next += self.every
        return True

    def record(self) -> None:
        success = sb3_success(self.model, "eval", self.episodes)
        self.rows.append(
            {
                "global_step": self.num_timesteps,
                "eval/success_rate": success,
                "time/cpu_s": time.process_time() - self.cpu_start,
            }
        )


def run_sb3(
    steps: int, seed: int, eval_every: int, eval_episodes: int, test_episodes: int
) -> tuple[list[dict[str, float]], float, float]:
    """SB3 PPO with its defaults: (evaluation rows, test success, CPU seconds)."""
    cpu_start = time.process_time()
    env = gym.make("VistaRobotEE-v0", **ENV_KWARGS)
    model = PPO("MultiInputPolicy", env, seed=seed, device="cpu")
    evaluations = _Evaluations(eval_every, eval_episodes, cpu_start)
    model.learn(total_timesteps=steps, callback=evaluations)
    evaluations.record()
    env.close()
    test = sb3_success(model, "test", test_episodes)
    return evaluations.rows, test, time.process_time() - cpu_start


def run_project_ppo(
    steps: int, seed: int, eval_every: int, eval_episodes: int, test_episodes: int, work: Path
) -> tuple[list[dict[str, float]], float, float]:
    """``vista_agents.ppo`` with the reach benchmark's configuration: (evaluation rows, test success, CPU seconds)."""
    cpu_start = time.process_time()
    config = dataclasses.replace(
        STATE,
        env_kwargs=dict(ENV_KWARGS),
        total_timesteps=steps,
        seed=seed,
        output_dir=str(work),
        eval_episodes=eval_episodes,
        eval_every=max(1, round(eval_every / STATE.batch_size)),
        progress_bar=False,
    )
    result = train(config)
    rows = [
        {
            "global_step": row.get("global_step", 0),
            "eval/success_rate": row["eval/success_rate"],
            "time/cpu_s": row.get("time/cpu_s", 0.0),
        }
        for row in result.metrics
        if "eval/success_rate" in row
    ]
    test = dataclasses.replace(config, eval_split="test", eval_episodes=test_episodes)
    envs = make_envs(test, test.num_envs)
    try:
        success = evaluate(load_agent(result.checkpoint), envs, test)["eval/success_rate"]
    finally:
        envs.close()
    return rows, success, time.process_time() - cpu_start


def first_at_target(rows: list[dict[str, float]]) -> str:
    row = next((row for row in rows if row["eval/success_rate"] >= TARGET), None)
    return (
        "not reached"
        if row is None
        else f"{row['global_step'] / 1000:.0f}k steps ({row['time/cpu_s'] / 60:.1f} CPU min)"
    )


def summary_row(label: str, rows: list[dict[str, float]], test: float, cpu_s: float) -> str:
    best = max(row["eval/success_rate"] for row in rows)
    final = rows[-1]
    return (
        f"| {label} | {final['global_step'] / 1000:.0f}k | {first_at_target(rows)} | {final['eval/success_rate']:.0%} "
        f"(best {best:.0%}) | "
        f"{test:.0%} | {cpu_s / 60:.1f} |"
    )


def plot(runs: dict[str, list[dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 4))
    for label, rows in runs.items():
        axis.plot(
            [row["global_step"] / 1000 for row in rows],
            [row["eval/success_rate"] for row in rows],
            "o-",
            ms=3,
            label=label,
        )
    axis.axhline(TARGET, color="gray", linestyle="--", linewidth=1)
    axis.set(
        title="PPO on VistaRobotEE-v0 reach (state)",
        xlabel="env steps (thousands)",
        ylabel="eval success rate",
        ylim=(-0.02, 1.02),
    )
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100_000, help="env steps of each learner")
    parser.add_argument("--eval-every", type=int, default=10_000, help="env steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=32, help="eval-split episodes per evaluation")
    parser.add_argument("--test-episodes", type=int, default=64, help="test-split episodes for each final policy")
    parser.add_argument("--seed", type=int, default=1, help="both runs' seed")
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="bench-sb3-"))
    common = (args.steps, args.seed, args.eval_every, args.eval_episodes, args.test_episodes)
    sb3_rows, sb3_test, sb3_cpu = run_sb3(*common)
    own_rows, own_test, own_cpu = run_project_ppo(*common, work=work / "ppo")
    table = [
        summary_row('SB3 `PPO("MultiInputPolicy", env)`, defaults, 1 env', sb3_rows, sb3_test, sb3_cpu),
        summary_row("`vista_agents.ppo`, 8 envs x 128 steps, normalised", own_rows, own_test, own_cpu),
    ]
    plot({"Stable-Baselines3 PPO (defaults)": sb3_rows, "vista_agents.ppo": own_rows}, PLOT)
    print("\n".join(table))
    if args.write:
        learned = [
            label
            for label, rows in (("SB3", sb3_rows), ("vista_agents.ppo", own_rows))
            if max(r["eval/success_rate"] for r in rows) >= TARGET
        ]
        verdict = (
            f"At this budget {' and '.join(learned)} reached {TARGET:.0%} eval success."
            if learned
            else f"Neither learner reached {TARGET:.0%} eval success at this budget."
        )
        body = f"""Stable-Baselines3 {stable_baselines3.__version__} PPO and the project's PPO (`vista_agents.ppo`) on
`VistaRobotEE-v0(tasks=["reach"], obs_mode="state", max_steps=50, reward_type="dense")`, {args.steps // 1000}k env steps
each, seed {args.seed}, one after the other in one process (2-core CPU, shared and noisy; one torch thread). SB3 runs as
its users write it: `PPO("MultiInputPolicy", gym.make(...))` with its default hyper-parameters (2048 steps per
update, 10 epochs of minibatches of 64, lr 3e-4, no observation or reward normalisation) and no wrapper of ours;
`vista_agents.ppo` uses the reach benchmark's configuration (8 envs x 128 steps, 8 minibatches x 10 epochs, observation
and
reward normalisation, annealed lr). Both are evaluated with the deterministic policy on the same fixed-seed episodes:
{args.eval_episodes} `eval`-split episodes every ~{args.eval_every // 1000}k steps, {args.test_episodes} `test`-split
episodes for the
final policy. CPU minutes include the evaluations.

| learner | env steps | first eval >= {TARGET:.0%} | final eval success | final test success | CPU min |
|---|---:|---|---:|---:|---:|
{chr(10).join(table)}

{verdict} Evaluations come every ~{args.eval_every // 1000}k steps, so when {TARGET:.0%} was first reached is known only
to that
resolution. One seed each: the table shows that SB3's default PPO runs and learns on this env with no wrapper, not
which learner is better in general (their hyper-parameters differ, and runs with other seeds would differ).

![SB3 vs vista_agents.ppo on reach](plots/{PLOT.name})
"""
        command = " ".join(["python benchmarks/bench_sb3_reach.py", *(argv if argv is not None else sys.argv[1:])])
        update_section(SECTION, body, command)


if __name__ == "__main__":
    main()
