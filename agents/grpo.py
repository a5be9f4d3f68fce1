r"""GRPO for vision-language policies in vista-envs, readable top to bottom.

Each step samples ``group_size`` episodes of each of ``num_tasks`` training tasks from the current policy
(:class:`~agents.rollout.RolloutCollector`), turns each episode's return into a group-normalised
advantage, and minimises, over the policy's own tokens only,

.. math::

    \mathcal{L} = \operatorname{agg}_{i,t}\Big[-\min\big(r_{i,t} A_i,\;
        \mathrm{clip}(r_{i,t}, 1-\epsilon_{low}, 1+\epsilon_{high})\,A_i\big)
        + \beta\,\widehat{\mathrm{KL}}_{i,t}(\pi_\theta \,\|\, \pi_{ref})\Big],
    \qquad A_i = \frac{R_i - \mathrm{mean}_{g(i)} R}{\mathrm{std}_{g(i)} R + \epsilon}

with :math:`r_{i,t} = \pi_\theta(o_{i,t}) / \pi_{old}(o_{i,t})`, the aggregation ``agg`` one of
sequence-mean (GRPO), token-mean (DAPO) or a constant normaliser (Dr.GRPO), the KL estimator one of
k1/k2/k3/low-variance (:mod:`agents.losses` has the formulas). Every hyper-parameter is a field of
:class:`GRPOConfig`. Run it with ``vista-agents train grpo --env VisualQA-v0 --model PATH`` or
:func:`train`.

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
from transformers import AutoModelForImageTextToText

from agents.losses import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    aggregate,
    clipped_surrogate,
    group_advantages,
    kl_penalty,
    masked_mean,
    zero_variance_groups,
)
from agents.policies.hf import HFPolicy
from agents.rollout import Batch, RolloutCollector, Trajectory, collate, sequence_logprobs, summarize
from agents.training import LoadedModel, RunConfig, Session, TrainResult, autocast, chunks, optimizer_step

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
# Token-weighted statistics of an update, in the order processes reduce them.
UPDATE_STATS = ("kl", "ratio", "clip_low_fraction", "clip_high_fraction", "entropy")


@dataclass
class GRPOConfig(RunConfig):
    """GRPO hyper-parameters; the env, model, hardware, LoRA, evaluation and logging settings come from :class:`RunConfig`."""

    total_steps: int = 100
    """policy updates; each samples a fresh batch of num_tasks x group_size episodes"""
    num_tasks: int = 8
    """training tasks (prompts) per step, over all processes of a multi-GPU run"""
    group_size: int = 8
    """G: episodes per task; an episode's advantage compares it with the others of its task"""
    temperature: float = 1.0
    """sampling temperature (log-probabilities in the loss use the same)"""
    top_p: float = 1.0
    """nucleus sampling mass"""
    scale_rewards: bool = True
    """divide advantages by the group's reward std (GRPO); off: mean baseline only (Dr.GRPO)"""
    filter_zero_variance_groups: bool = True
    """leave out groups whose rewards are all equal (zero advantage, no signal) from the update"""
    loss_aggregation: str = "token_mean"
    """'token_mean' (DAPO), 'sequence_mean' (GRPO) or 'dr_grpo' (sum / (sequences x max_new_tokens))"""
    clip_low: float = 0.2
    """epsilon_low: the ratio is clipped below at 1 - clip_low"""
    clip_high: float = 0.28
    """epsilon_high: the ratio is clipped above at 1 + clip_high (DAPO's clip-higher when > clip_low)"""
    kl_coef: float = 0.0
    """beta: weight of the KL penalty to the initial model; 0 disables it and loads no reference"""
    kl_estimator: str = "k3"
    """'k1', 'k2', 'k3' or 'low_var_kl' (k3 clamped)"""
    num_epochs: int = 1
    """passes over each batch of episodes; above 1 the samples go off-policy and the clipping acts"""
    num_minibatches: int = 1
    """optimiser steps per epoch (each accumulated from micro-batches of micro_batch_size)"""
    learning_rate: float = 1e-6
    """AdamW learning rate (constant)"""
    output_dir: str = "runs/grpo"
    """where metrics (metrics.jsonl, metrics.csv), checkpoints and the final model go"""

    def __post_init__(self) -> None:
        if self.loss_aggregation not in AGGREGATIONS:
            raise ValueError(f"loss_aggregation must be one of {AGGREGATIONS}, got {self.loss_aggregation!r}")
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {self.kl_estimator!r}")
        if self.group_size < 2:
            raise ValueError("group_size must be >= 2: advantages compare the episodes of a group")
        if min(self.total_steps, self.num_tasks, self.num_epochs, self.num_minibatches, self.micro_batch_size) < 1:
            raise ValueError("total_steps, num_tasks, num_epochs, num_minibatches and micro_batch_size must be >= 1")


def task_seeds(seed: int, step: int, num_tasks: int) -> list[int]:
    """The reset seeds of a step's training tasks: a function of (seed, step) only, so a resumed run draws the same tasks."""
    return np.random.default_rng([seed, step]).integers(2**31 - 1, size=num_tasks).tolist()


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    config: GRPOConfig,
    totals: tuple[int, int],
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The GRPO loss of one micro-batch (its share of the minibatch loss) and per-token statistics.

    Args:
        logprobs, old_logprobs, ref_logprobs: ``(sequences, length)`` under the current, sampling and reference policies.
        advantages: ``(sequences,)``.
        mask: ``(sequences, length)`` the policy's tokens.
        totals: sequences and policy tokens of the whole minibatch (aggregation normalisers).
    """
    per_token, clipped_low, clipped_high = clipped_surrogate(logprobs, old_logprobs, advantages[:, None], config.clip_low, config.clip_high)
    kl = kl_penalty(logprobs, ref_logprobs, config.kl_estimator) if ref_logprobs is not None else torch.zeros_like(logprobs)
    per_token = per_token + config.kl_coef * kl
    loss = aggregate(
        per_token, mask, config.loss_aggregation, total_sequences=totals[0], total_tokens=totals[1], max_tokens=config.max_new_tokens
    )
    stats = {
        "kl": masked_mean(kl.detach(), mask),
        "ratio": masked_mean(torch.exp(logprobs - old_logprobs).detach(), mask),
        "clip_low_fraction": masked_mean(clipped_low.float(), mask),
        "clip_high_fraction": masked_mean(clipped_high.float(), mask),
    }
    return loss, stats


def train(config: GRPOConfig) -> TrainResult:
    """Run GRPO as configured; returns the logged metric rows and the final checkpoint."""
    # -- setup: model, optimiser, envs, logging (resumed from the latest checkpoint if asked) -------------
    session = Session.start(config, config.total_steps)
    loaded, device, bf16, parallel = session.loaded, session.device, session.bf16, session.parallel
    model, processor = loaded.model, loaded.processor
    reference = None
    if config.kl_coef > 0 and not loaded.lora:  # with LoRA the reference is the base model, adapters off
        reference = AutoModelForImageTextToText.from_pretrained(config.model, dtype=torch.float32).to(device).eval().requires_grad_(False)
    policy = HFPolicy(
        model,
        processor,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature,
        top_p=config.top_p,
        batch_size=config.generation_batch_size,
    )
    # With one optimiser step per batch the sampling policy is the current one: old log-probs need no extra pass.
    reuses_samples = config.num_epochs > 1 or config.num_minibatches > 1
    collector = RolloutCollector(session.envs, policy, record_logprobs=reuses_samples)

    steps = range(session.start_step, config.total_steps)
    progress = tqdm(
        steps, initial=session.start_step, total=config.total_steps, desc="GRPO", disable=not (config.progress_bar and parallel.is_main)
    )
    for step in progress:
        # -- 1. rollouts: G episodes of each of this process's training tasks, sampled from the current policy
        started = time.perf_counter()
        parallel.reseed(config.seed, step)
        tasks = parallel.shard(task_seeds(config.seed, step, config.num_tasks), "tasks")
        model.eval()
        with torch.no_grad(), autocast(device, bf16), parallel.generating(model):
            trajectories = collector.collect(tasks, config.group_size, options={"split": "train"})
        rollout_s = time.perf_counter() - started

        # -- 2. advantages: returns normalised within each task's group ---------------------------------
        rewards = torch.tensor([t.reward for t in trajectories], dtype=torch.float32).view(len(tasks), config.group_size)
        advantages = group_advantages(rewards, scale=config.scale_rewards)
        zero_variance = zero_variance_groups(rewards)
        kept_groups = ~zero_variance if config.filter_zero_variance_groups else torch.ones_like(zero_variance)
        kept = kept_groups.repeat_interleave(config.group_size)
        samples = [(t, float(a)) for t, a, k in zip(trajectories, advantages.flatten(), kept) if k]
        trained_sequences = int(parallel.sum([len(samples)])[0])

        # -- 3. update: num_epochs passes, num_minibatches optimiser steps each ---------------------------
        started = time.perf_counter()
        session.training_model.train()
        update = _update(config, session, reference, samples, trajectories[0], step) if trained_sequences else {}
        update_s = time.perf_counter() - started

        # -- 4. log, evaluate, checkpoint (metrics over every process's episodes) ------------------------
        rollout_s = parallel.max([rollout_s])[0]
        row = session.end_step(
            step + 1,
            {
                **parallel.mean(summarize(trajectories), weight=len(trajectories)),
                "reward_std": float(torch.tensor(parallel.gather(rewards.flatten().tolist())).std()),
                **parallel.mean({"zero_variance_groups": float(zero_variance.float().mean())}, weight=len(tasks)),
                "trained_sequences": trained_sequences,
                **{
                    name: update.get(name, float("nan"))
                    for name in ("loss", "kl", "entropy", "ratio", "clip_low_fraction", "clip_high_fraction", "grad_norm")
                },
                "learning_rate": session.optimizer.param_groups[0]["lr"],
                "completions_per_s": parallel.sum([sum(len(t.turns) for t in trajectories)])[0] / rollout_s,
                "time/rollout_s": rollout_s,
                "time/update_s": update_s,
            },
        )
        progress.set_postfix(reward=f"{row['reward']:.3f}", success=f"{row['success_rate']:.2f}")
    return session.close()


def _update(
    config: GRPOConfig,
    session: Session,
    reference: torch.nn.Module | None,
    samples: list[tuple[Trajectory, float]],
    placeholder: Trajectory,
    step: int,
) -> dict[str, float]:
    """Optimise the GRPO loss on one batch of ``(episode, advantage)`` pairs; returns the loss statistics
    (token-weighted means; ``loss`` and ``grad_norm`` averaged over optimiser steps).

    In a launched run ``samples`` are this process's: each minibatch joins every process's share, whose
    sizes normalise the loss, and the statistics cover them all. ``placeholder`` is the episode a process
    runs with zero weight while it waits for processes with more micro-batches.
    """
    loaded, bf16, parallel = session.loaded, session.bf16, session.parallel
    model, device = session.training_model, loaded.model.device
    pad_token_id = loaded.processor.tokenizer.pad_token_id
    temperature = config.temperature if config.temperature > 0 else 1.0  # the distribution the samples came from
    losses, grad_norms = [], []
    stat_sums = dict.fromkeys(UPDATE_STATS, 0.0)
    n_tokens = 0.0
    shuffle = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
    for _ in range(config.num_epochs):
        order = torch.randperm(len(samples), generator=shuffle).tolist()
        for minibatch in np.array_split(order, config.num_minibatches):
            chosen = [samples[i] for i in minibatch]
            totals = tuple(int(total) for total in parallel.sum([len(chosen), sum(t.num_policy_tokens for t, _ in chosen)]))
            if not totals[0]:
                continue
            minibatch_loss = 0.0
            for micro, weight in parallel.accumulate(model, list(chunks(chosen, config.micro_batch_size)), [(placeholder, 0.0)]):
                batch = collate([t for t, _ in micro], pad_token_id).to(device)
                advantages = torch.tensor([a for _, a in micro], device=device)
                with autocast(device, bf16):
                    logprobs, entropy = sequence_logprobs(model, batch, temperature, with_entropy=True)
                    old_logprobs = batch.logprobs if batch.logprobs is not None else logprobs.detach()
                    ref_logprobs = _reference_logprobs(loaded, reference, batch, temperature) if config.kl_coef > 0 else None
                    loss, stats = policy_loss(logprobs, old_logprobs, ref_logprobs, advantages, batch.loss_mask, config, totals)
                # Micro-batch losses are shares of the minibatch loss: gradients accumulate to its gradient.
                parallel.backward(loss * weight)
                minibatch_loss += float(loss.detach()) * weight
                stats["entropy"] = masked_mean(entropy, batch.loss_mask)
                tokens = float(batch.loss_mask.sum()) * weight
                for name in UPDATE_STATS:
                    stat_sums[name] += float(stats[name]) * tokens
                n_tokens += tokens
            losses.append(minibatch_loss)
            grad_norms.append(optimizer_step(session.parameters, session.optimizer, config.max_grad_norm))
    # Every process's share: token-weighted sums and token counts add up, and so do the shares of each minibatch loss.
    reduced = parallel.sum([*stat_sums.values(), n_tokens, *losses])
    n_tokens, losses = reduced[len(UPDATE_STATS)], reduced[len(UPDATE_STATS) + 1 :]
    means = {name: total / max(n_tokens, 1.0) for name, total in zip(UPDATE_STATS, reduced)}
    return {**means, "loss": float(np.mean(losses)), "grad_norm": float(np.mean(grad_norms))}


@torch.no_grad()
def _reference_logprobs(loaded: LoadedModel, reference: torch.nn.Module | None, batch: Batch, temperature: float) -> torch.Tensor:
    if reference is not None:
        return sequence_logprobs(reference, batch, temperature)[0]
    with loaded.adapters_disabled():
        return sequence_logprobs(loaded.model, batch, temperature)[0]
