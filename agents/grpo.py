r"""GRPO for vision-language policies in vista-envs, readable top to bottom.

Each step samples ``group_size`` episodes of each of ``num_tasks`` training tasks from the current policy
(:class:`~vista_agents.rollout.RolloutCollector`), turns each episode's return into a group-normalised
advantage, and minimises, over the policy's own tokens only,

.. math::

    \mathcal{L} = \operatorname{agg}_{i,t}\Big[-\min\big(r_{i,t} A_i,\;
        \mathrm{clip}(r_{i,t}, 1-\epsilon_{low}, 1+\epsilon_{high})\,A_i\big)
        + \beta\,\widehat{\mathrm{KL}}_{i,t}(\pi_\theta \,\|\, \pi_{ref})\Big],
    \qquad A_i = \frac{R_i - \mathrm{mean}_{g(i)} R}{\mathrm{std}_{g(i)} R + \epsilon}

with :math:`r_{i,t} = \pi_\theta(o_{i,t}) / \pi_{old}(o_{i,t})`, the aggregation ``agg`` one of
sequence-mean (GRPO), token-mean (DAPO) or a constant normaliser (Dr.GRPO), the KL estimator one of
k1/k2/k3/low-variance (:mod:`vista_agents.losses` has the formulas). The step itself (advantages and update)
is :mod:`vista_agents.grpo_step`, shared with VisPlay's roles. Every hyper-parameter is a field of
:class:`GRPOConfig`. Run it with ``vista-agents train grpo --env VisualQA-v0 --model PATH`` or :func:`train`.

Under ``accelerate launch`` (``docs/multi_gpu.md``) each process samples the groups of its own share of
the step's ``num_tasks`` tasks; a group never spans processes, so advantages need no communication. The
loss is normalised over every process's minibatch, and the metrics are means over every episode.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from vista_agents.config import VLMRunConfig, at_least
from vista_agents.grpo_step import GroupedEpisodes, GRPOLossConfig, group_episodes, grpo_update, load_reference
from vista_agents.policies.hf import HFPolicy
from vista_agents.rollout import RolloutCollector, Trajectory, summarize
from vista_agents.run_session import TrainResult
from vista_agents.training import Session

__all__ = ["GRPOConfig", "GRPO_METRICS", "task_seeds", "train"]

# Every metric a training step logs (evaluation rows add eval/* keys).
GRPO_METRICS = (
    "reward",
    "reward_std",
    "success_rate",
    "policy_tokens",
    "turns",
    "truncated",
    "zero_variance_groups",
    "trained_sequences",
    "loss",
    "kl",
    "entropy",
    "ratio",
    "clip_low_fraction",
    "clip_high_fraction",
    "grad_norm",
    "learning_rate",
    "completions_per_s",
    "time/rollout_s",
    "time/update_s",
)
_UPDATE_METRICS = ("loss", "kl", "entropy", "ratio", "clip_low_fraction", "clip_high_fraction", "grad_norm")


@dataclass
class GRPOConfig(GRPOLossConfig, VLMRunConfig):
    """GRPO hyper-parameters: the step's settings come from :class:`~vista_agents.grpo_step.GRPOLossConfig`; the run,
    env and model layers from :class:`~vista_agents.config.VLMRunConfig`."""

    total_steps: int = 100
    """policy updates; each samples a fresh batch of num_tasks x group_size episodes"""
    num_tasks: int = 8
    """training tasks (prompts) per step, over all processes of a multi-GPU run"""
    group_size: int = 8
    """G: episodes per task; an episode's advantage compares it with the others of its task"""
    learning_rate: float = 1e-6
    """AdamW learning rate (its peak when lr_scheduler is not 'constant')"""
    output_dir: str = "runs/grpo"
    """where metrics (metrics.jsonl, metrics.csv), checkpoints and the final model go"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.group_size < 2:
            raise ValueError("group_size must be >= 2: advantages compare the episodes of a group")
        at_least(self, 1, "total_steps", "num_tasks")


def task_seeds(seed: int, step: int, num_tasks: int) -> list[int]:
    """The reset seeds of a step's training tasks: a function of (seed, step) only, so a resumed run draws the same
    tasks."""
    return np.random.default_rng([seed, step]).integers(2**31 - 1, size=num_tasks).tolist()


def train(config: GRPOConfig) -> TrainResult:
    """Run GRPO as configured; returns the logged metric rows and the final checkpoint."""
    # -- setup: model, optimiser, envs, logging (resumed from the latest checkpoint if asked) -------------
    session = Session.start(config, config.total_steps)
    loaded = session.loaded
    reference = load_reference(config, loaded, config.model)
    policy = HFPolicy(
        loaded.model,
        loaded.processor,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        batch_size=config.generation_batch_size,
    )
    collector = RolloutCollector(session.envs, policy, record_logprobs=config.reuses_samples)

    steps = range(session.start_step, config.total_steps)
    shown = config.progress_bar and session.parallel.is_main
    progress = tqdm(steps, initial=session.start_step, total=config.total_steps, desc="GRPO", disable=not shown)
    for step in progress:
        # -- 1. rollouts: G episodes of each training task, sampled from the current policy --------------
        started = time.perf_counter()
        tasks = session.share_of_tasks(task_seeds(config.seed, step, config.num_tasks), step)
        with session.sampling():
            trajectories = collector.collect(tasks, config.group_size, options={"split": "train"})
        rollout_s = time.perf_counter() - started

        # -- 2. advantages: returns normalised within each task's group ---------------------------------
        groups = group_episodes(trajectories, config.group_size, config)
        trained_sequences = int(session.parallel.sum([len(groups.samples)])[0])  # over every process

        # -- 3. update: num_epochs passes, num_minibatches optimiser steps each ---------------------------
        started = time.perf_counter()
        update = {}
        if trained_sequences:
            update = grpo_update(
                session,
                config,
                groups.samples,
                reference=reference,
                placeholder=trajectories[0],
                micro_batch_size=config.micro_batch_size,
                max_grad_norm=config.max_grad_norm,
                max_new_tokens=config.max_new_tokens,
                shuffle_seed=config.seed * 1_000_003 + step,
            )
        update_s = time.perf_counter() - started

        # -- 4. log, evaluate, checkpoint ----------------------------------------------------------------
        metrics = _step_metrics(session, trajectories, groups, trained_sequences, update, rollout_s, update_s)
        row = session.end_step(step + 1, metrics)
        progress.set_postfix(reward=f"{row['reward']:.3f}", success=f"{row['success_rate']:.2f}")
    return session.close()


def _step_metrics(
    session: Session,
    trajectories: list[Trajectory],
    groups: GroupedEpisodes,
    trained_sequences: int,
    update: dict[str, float],
    rollout_s: float,
    update_s: float,
) -> dict[str, float]:
    """A step's :data:`GRPO_METRICS`, over every process's episodes in a launched run."""
    parallel = session.parallel
    rollout_s = parallel.max([rollout_s])[0]
    return {
        **parallel.mean(summarize(trajectories), weight=len(trajectories)),
        "reward_std": float(torch.tensor(parallel.gather(groups.rewards.flatten().tolist())).std()),
        **parallel.mean(
            {"zero_variance_groups": float(groups.zero_variance.float().mean())}, weight=len(groups.zero_variance)
        ),
        "trained_sequences": trained_sequences,
        **{name: update.get(name, float("nan")) for name in _UPDATE_METRICS},
        "learning_rate": session.optimizer.param_groups[0]["lr"],
        "completions_per_s": parallel.sum([sum(len(t.turns) for t in trajectories)])[0] / rollout_s,
        "time/rollout_s": rollout_s,
        "time/update_s": update_s,
    }
