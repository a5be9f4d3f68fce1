"""PPO learning benchmark: ``VistaRobotEE-v0`` reach, from the state vector, then from pixels.

1. State: ``obs_mode="state"`` (proprioception + the zone's position, 36 numbers), dense reward, episodes of
   at most 50 steps, an MLP policy. Target: >= 80% success on the held-out ``eval`` split within 20 CPU
   minutes of this process.
2. Pixels: ``obs_mode="rgb"``, 64x64 camera image + 8-number proprioception (the zone is only in the
   image), the CNN policy, for ``--pixel-steps`` env steps or as long as ``--pixel-cpu-minutes`` allows.

Evaluation: every few iterations, fixed-seed ``eval``-split episodes with the deterministic policy (the
Gaussian's mean); at the end, the final policy on ``test``-split episodes as well. CPU time is this
process's (``time.process_time()``, evaluation included; envs run in-process), one torch thread.
Writes ``benchmarks/plots/ppo_reach.png`` and, with ``--write``, the "PPO on VistaRobotEE-v0 reach" section of
``benchmarks/RESULTS.md``.

    python benchmarks/bench_ppo_robot.py --write
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results_file import update_section

from vista_agents.ppo import PPOConfig, evaluate_agent, load_agent, train
from vista_agents.training import make_envs

SECTION = "PPO on VistaRobotEE-v0 reach"
PLOT = Path(__file__).with_name("plots") / "ppo_reach.png"
TARGET = 0.8
REACH = {"tasks": ["reach"], "max_steps": 50, "reward_type": "dense"}
STATE = PPOConfig(
    env_kwargs={**REACH, "obs_mode": "state"},
    num_envs=8,
    num_steps=128,
    total_timesteps=100_000,
    num_minibatches=8,
    update_epochs=10,
    learning_rate=3e-4,
    eval_every=5,
    eval_episodes=64,
)
PIXELS = PPOConfig(
    env_kwargs={**REACH, "obs_mode": "rgb", "image_size": 64},
    num_envs=8,
    num_steps=128,
    total_timesteps=240_000,  # about what 10 CPU minutes allow here: the learning rate anneals to about 0 by the end
    num_minibatches=4,
    update_epochs=4,
    learning_rate=2.5e-4,
    image_features=256,
    eval_every=10,
    eval_episodes=32,
)
TEST_EPISODES = 100


def run(
    config: PPOConfig, output_dir: Path, cpu_minutes: float, seed: int, **overrides: Any
) -> tuple[list[dict[str, Any]], float]:
    """Train within the CPU budget; returns the metric rows and the final policy's success on the test split."""
    config = dataclasses.replace(
        config, output_dir=str(output_dir), seed=seed, cpu_time_limit_s=60 * cpu_minutes, **overrides
    )
    result = train(config)
    agent = load_agent(result.checkpoint)
    test = dataclasses.replace(config, eval_split="test", eval_episodes=TEST_EPISODES)
    envs = make_envs(test)
    try:
        success = evaluate_agent(agent, envs, test)["eval/success_rate"]
    finally:
        envs.close()
    return result.metrics, success


def evaluations(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with an evaluation, the one before training as CPU minute 0."""
    return [
        {"time/cpu_s": 0.0, "time/wall_s": 0.0, "global_step": 0, **row} for row in rows if "eval/success_rate" in row
    ]


def first_at_target(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((row for row in evaluations(rows) if row["eval/success_rate"] >= TARGET), None)


def plot(runs: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (by_cpu, by_steps) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for (label, rows), color in zip(runs.items(), ("tab:blue", "tab:orange")):
        evaluated = evaluations(rows)
        trained = [row for row in rows if row.get("success_rate") is not None]
        by_cpu.plot(
            [row["time/cpu_s"] / 60 for row in evaluated],
            [row["eval/success_rate"] for row in evaluated],
            "o-",
            ms=3,
            color=color,
            label=f"{label}: eval split",
        )
        by_cpu.plot(
            [row["time/cpu_s"] / 60 for row in trained],
            [row["success_rate"] for row in trained],
            color=color,
            alpha=0.3,
            label=f"{label}: training episodes",
        )
        by_steps.plot(
            [row["global_step"] / 1000 for row in evaluated],
            [row["eval/success_rate"] for row in evaluated],
            "o-",
            ms=3,
            color=color,
            label=label,
        )
    for axis in (by_cpu, by_steps):
        axis.axhline(TARGET, color="gray", linestyle="--", linewidth=1)
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    by_cpu.set(
        title="PPO on VistaRobotEE-v0 reach",
        xlabel="CPU minutes (this process, evaluation included)",
        ylabel="success rate",
    )
    by_steps.set(title="the same runs by env steps", xlabel="env steps (thousands)")
    by_cpu.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def summary_row(label: str, rows: list[dict[str, Any]], test_success: float, budget: float) -> str:
    reached = first_at_target(rows)
    final = evaluations(rows)[-1]
    best = max(row["eval/success_rate"] for row in evaluations(rows))
    if reached is None:
        to_target = "not reached"
    else:
        to_target = (
            f"{reached['time/cpu_s'] / 60:.1f} CPU min / {reached['time/wall_s'] / 60:.1f} wall min / "
            f"{reached['global_step'] / 1000:.0f}k steps"
        )
    return (
        f"| {label} | {budget:g} | {to_target} | {final['eval/success_rate']:.0%} (best {best:.0%}) | "
        f"{test_success:.0%} | "
        f"{final['global_step'] / 1000:.0f}k | {final['time/cpu_s'] / 60:.1f} / {final['time/wall_s'] / 60:.1f} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--state-cpu-minutes",
        type=float,
        default=20.0,
        help="CPU budget of the state run (it stops earlier at total_timesteps)",
    )
    parser.add_argument("--pixel-cpu-minutes", type=float, default=10.0, help="CPU budget of the pixel run; 0 skips it")
    parser.add_argument(
        "--pixel-steps",
        type=int,
        default=PIXELS.total_timesteps,
        help="env steps of the pixel run (its learning-rate schedule)",
    )
    parser.add_argument("--seed", type=int, default=1, help="the runs' seed")
    parser.add_argument(
        "--work-dir", type=Path, default=None, help="where the runs go (default: a temporary directory)"
    )
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-ppo-"))

    runs: dict[str, list[dict[str, Any]]] = {}
    table = []
    state_rows, state_test = run(STATE, work / "state", args.state_cpu_minutes, args.seed)
    runs["state"] = state_rows
    table.append(summary_row("state (36 numbers), MLP", state_rows, state_test, args.state_cpu_minutes))
    if args.pixel_cpu_minutes > 0:
        pixel_rows, pixel_test = run(
            PIXELS, work / "pixels", args.pixel_cpu_minutes, args.seed, total_timesteps=args.pixel_steps
        )
        runs["pixels"] = pixel_rows
        table.append(summary_row("64x64 image + proprioception, CNN", pixel_rows, pixel_test, args.pixel_cpu_minutes))
    plot(runs, PLOT)
    print("\n".join(table))
    print(f"runs in {work}; plot {PLOT}")
    if args.write:
        reached = first_at_target(state_rows)
        body = f"""PPO (`vista_agents.ppo`) on `VistaRobotEE-v0` with `tasks=["reach"]` (bring the grasp point within 5
cm of the
centre of a coloured zone at a random place on the table), `max_steps=50`, dense reward (success 10, 10 x the
change of the shaped progress, -10 per collision, -0.01 per step). Hyper-parameters: 8 sync envs x 128 steps per
iteration, GAE (0.99, 0.95), clip 0.2 with value clipping, observation and reward normalisation, annealed
learning rate; state: MLP 64-64, lr 3e-4, 8 minibatches x 10 epochs, {STATE.total_timesteps // 1000}k steps at most;
pixels: Nature CNN (256 features) + the same MLP, lr 2.5e-4, 4 minibatches x 4 epochs, {args.pixel_steps // 1000}k steps
at most. Success is measured with the deterministic policy on fixed held-out episodes: {STATE.eval_episodes} (state) /
{PIXELS.eval_episodes} (pixels) `eval`-split episodes during training, {TEST_EPISODES} `test`-split episodes for the
final
policy (the splits differ from training in the zone's colour only: `eval` orange, `test` purple or pink, training the
seven seen colours). CPU time is the process's, evaluations included, one torch thread, on a machine shared with other
jobs.

| observations | CPU budget (min) | first eval >= {TARGET:.0%} | final eval | final test | env steps | CPU / wall min |
|---|---:|---|---:|---:|---:|---:|
{chr(10).join(table)}

Target (state, >= {TARGET:.0%} eval success within {args.state_cpu_minutes:g} CPU minutes):
{"met" if reached is not None and reached["time/cpu_s"] <= 60 * args.state_cpu_minutes else "not met"}.

The state policy is given the zone's position; the pixel policy must find the zone in the image (its state vector is
the arm's own), so its success on `eval` (orange zones) and on `test` (purple and pink zones) shows how far what it
learned from the seven training colours carries over to colours it never saw.

![PPO reach learning curves](plots/{PLOT.name})
"""
        command = " ".join(["python benchmarks/bench_ppo_robot.py", *(argv if argv is not None else sys.argv[1:])])
        update_section(SECTION, body, command)


if __name__ == "__main__":
    main()
