r"""One GRPO step on a batch of episode groups, the one both :mod:`vista_agents.grpo` and the VisPlay roles
(:mod:`vista_agents.visplay_trainer`) take: group-normalised advantages, then ``num_epochs`` passes of
``num_minibatches`` optimiser steps on the clipped policy loss with an optional KL penalty,

.. math::

    \mathcal{L} = \mathrm{agg}_{i,t}\Big[-\min\big(r_{i,t} A_i,\ \mathrm{clip}(r_{i,t}, 1-\epsilon_{low},
    1+\epsilon_{high})\,A_i\big)
        + \beta\,\widehat{\mathrm{KL}}_{i,t}(\pi_\theta \,\|\, \pi_{ref})\Big],
    \qquad A_i = \frac{R_i - \mathrm{mean}_{g(i)} R}{\mathrm{std}_{g(i)} R + \epsilon}

Every setting of that step is a field of :class:`GRPOLossConfig`, which both trainers' configs extend, so
a GRPO loss setting means the same and is settable in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from transformers import AutoModelForImageTextToText

from vista_agents.config import ConfigLayer
from vista_agents.distributed import DataParallel
from vista_agents.losses import (
    AGGREGATIONS,
    KL_ESTIMATORS,
    aggregate,
    clipped_surrogate,
    group_advantages,
    kl_penalty,
    masked_mean,
    zero_variance_groups,
)
from vista_agents.rollout import Batch, Trajectory, collate, sequence_logprobs
from vista_agents.training import LoadedModel, autocast, chunks, optimizer_step

__all__ = [
    "GRPOLossConfig",
    "GRPOLearner",
    "GroupedEpisodes",
    "group_episodes",
    "grpo_update",
    "load_reference",
    "policy_loss",
]

# Token-weighted statistics of an update, in the order processes reduce them.
UPDATE_STATS = ("kl", "ratio", "clip_low_fraction", "clip_high_fraction", "entropy")


@dataclass
class GRPOLossConfig(ConfigLayer):
    """The settings of a GRPO step: sampling, advantages, the clipped loss, KL to the reference, epochs and
    minibatches."""

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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss_aggregation not in AGGREGATIONS:
            raise ValueError(f"loss_aggregation must be one of {AGGREGATIONS}, got {self.loss_aggregation!r}")
        if self.kl_estimator not in KL_ESTIMATORS:
            raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {self.kl_estimator!r}")
        if min(self.num_epochs, self.num_minibatches) < 1:
            raise ValueError("num_epochs and num_minibatches must be >= 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"temperature must be >= 0 and top_p in (0, 1], got {self.temperature} and {self.top_p}")
        if min(self.clip_low, self.clip_high, self.kl_coef) < 0:
            raise ValueError("clip_low, clip_high and kl_coef must be >= 0")

    @property
    def reuses_samples(self) -> bool:
        """Whether a batch feeds more than one optimiser step, so the sampling policy's log-probs must be recorded
        (with one step per batch the sampling policy is the current one: old log-probs need no extra pass)."""
        return self.num_epochs > 1 or self.num_minibatches > 1


class GRPOLearner(Protocol):
    """What a GRPO step trains: a :class:`~vista_agents.training.Session` or a VisPlay role.

    ``training_model`` runs the loss's forward passes (the DDP/FSDP-wrapped model in a launched run,
    else ``loaded.model``); ``parameters`` are the trainable ones it holds.
    """

    loaded: LoadedModel
    optimizer: torch.optim.Optimizer
    parameters: list[torch.nn.Parameter]
    bf16: bool
    parallel: DataParallel

    @property
    def training_model(self) -> torch.nn.Module: ...


@dataclass
class GroupedEpisodes:
    """A batch of episode groups, ready for :func:`grpo_update`.

    Attributes:
        samples: the ``(episode, advantage)`` pairs trained on (zero-variance groups left out when configured).
        rewards: ``(groups, group_size)`` the episodes' rewards.
        zero_variance: ``(groups,)`` bool, the groups whose rewards are all equal.
    """

    samples: list[tuple[Trajectory, float]]
    rewards: torch.Tensor
    zero_variance: torch.Tensor


def group_episodes(trajectories: list[Trajectory], group_size: int, config: GRPOLossConfig) -> GroupedEpisodes:
    """Advantages of consecutive groups of ``group_size`` episodes, each normalised within its group."""
    rewards = torch.tensor([t.reward for t in trajectories], dtype=torch.float32).view(-1, group_size)
    advantages = group_advantages(rewards, scale=config.scale_rewards)
    zero_variance = zero_variance_groups(rewards)
    kept_groups = ~zero_variance if config.filter_zero_variance_groups else torch.ones_like(zero_variance)
    kept = kept_groups.repeat_interleave(group_size)
    samples = [(t, float(a)) for t, a, k in zip(trajectories, advantages.flatten(), kept) if k]
    return GroupedEpisodes(samples, rewards, zero_variance)


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    config: GRPOLossConfig,
    totals: tuple[int, int],
    max_tokens: int,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The GRPO loss of one micro-batch (its share of the minibatch loss) and per-token statistics.

    Args:
        logprobs, old_logprobs, ref_logprobs: ``(sequences, length)`` under the current, sampling and reference
            policies.
        advantages: ``(sequences,)``.
        mask: ``(sequences, length)`` the policy's tokens.
        totals: sequences and policy tokens of the whole minibatch (aggregation normalisers).
        max_tokens: the generation budget (``dr_grpo``'s constant normaliser).
    """
    per_token, clipped_low, clipped_high = clipped_surrogate(
        logprobs, old_logprobs, advantages[:, None], config.clip_low, config.clip_high
    )
    kl = (
        kl_penalty(logprobs, ref_logprobs, config.kl_estimator)
        if ref_logprobs is not None
        else torch.zeros_like(logprobs)
    )
    per_token = per_token + config.kl_coef * kl
    loss = aggregate(
        per_token,
        mask,
        config.loss_aggregation,
        total_sequences=totals[0],
        total_tokens=totals[1],
        max_tokens=max_tokens,
    )
    stats = {
        "kl": masked_mean(kl.detach(), mask),
        "ratio": masked_mean(torch.exp(logprobs - old_logprobs).detach(), mask),
        "clip_low_fraction": masked_mean(clipped_low.float(), mask),
        "clip_high_fraction": masked_mean(clipped_high.float(), mask),
    }
    return loss, stats


def load_reference(config: GRPOLossConfig, loaded: LoadedModel, model_path: str) -> torch.nn.Module | None:
    """The frozen KL reference: None without a KL penalty, or with LoRA (the base model, adapters off, is the
    reference)."""
    if config.kl_coef <= 0 or loaded.lora:
        return None
    reference = AutoModelForImageTextToText.from_pretrained(model_path, dtype=torch.float32)
    return reference.to(loaded.model.device).eval().requires_grad_(False)


def grpo_update(
    learner: GRPOLearner,
    config: GRPOLossConfig,
    samples: list[tuple[Trajectory, float]],
    *,
    reference: torch.nn.Module | None,
    placeholder: Trajectory,
    micro_batch_size: int,
    max_grad_norm: float,
    max_new_tokens: int,
    shuffle_seed: int,
) -> dict[str, float]:
    """Optimise the GRPO loss on one batch of ``(episode, advantage)`` pairs; returns the loss statistics
    (token-weighted means; ``loss`` and ``grad_norm`` averaged over optimiser steps).

    In a launched run ``samples`` are this process's: each minibatch joins every process's share, whose
    sizes normalise the loss, and the statistics cover them all. ``placeholder`` is the episode a process
    runs with zero weight while it waits for processes with more micro-batches.
    """
    loaded, bf16, parallel = learner.loaded, learner.bf16, learner.parallel
    model, device = learner.training_model, loaded.model.device
    model.train()
    pad_token_id = loaded.processor.tokenizer.pad_token_id
    temperature = config.temperature if config.temperature > 0 else 1.0  # the distribution the samples came from
    losses, grad_norms = [], []
    stat_sums = dict.fromkeys(UPDATE_STATS, 0.0)
    n_tokens = 0.0
    shuffle = torch.Generator().manual_seed(shuffle_seed)
    for _ in range(config.num_epochs):
        # One minibatch is the whole batch: its order would change nothing but the float sums.
        order = (
            torch.randperm(len(samples), generator=shuffle).tolist()
            if config.num_minibatches > 1
            else range(len(samples))
        )
        for minibatch in np.array_split(order, config.num_minibatches):
            chosen = [samples[i] for i in minibatch]
            totals = tuple(
                int(total) for total in parallel.sum([len(chosen), sum(t.num_policy_tokens for t, _ in chosen)])
            )
            if not totals[0]:
                continue
            minibatch_loss = 0.0
            for micro, weight in parallel.accumulate(
                model, list(chunks(chosen, micro_batch_size)), [(placeholder, 0.0)]
            ):
                batch = collate([t for t, _ in micro], pad_token_id).to(device)
                advantages = torch.tensor([a for _, a in micro], device=device)
                with autocast(device, bf16):
                    logprobs, entropy = sequence_logprobs(model, batch, temperature, with_entropy=True)
                    old_logprobs = batch.logprobs if batch.logprobs is not None else logprobs.detach()
                    ref_logprobs = (
                        _reference_logprobs(loaded, reference, batch, temperature) if config.kl_coef > 0 else None
                    )
                    loss, stats = policy_loss(
                        logprobs,
                        old_logprobs,
                        ref_logprobs,
                        advantages,
                        batch.loss_mask,
                        config,
                        totals,
                        max_new_tokens,
                    )
                # Micro-batch losses are shares of the minibatch loss: gradients accumulate to its gradient.
                parallel.backward(loss * weight)
                minibatch_loss += float(loss.detach()) * weight
                stats["entropy"] = masked_mean(entropy, batch.loss_mask)
                tokens = float(batch.loss_mask.sum()) * weight
                for name in UPDATE_STATS:
                    stat_sums[name] += float(stats[name]) * tokens
                n_tokens += tokens
            losses.append(minibatch_loss)
            grad_norms.append(optimizer_step(learner.parameters, learner.optimizer, max_grad_norm))
    # Every process's share: token-weighted sums and token counts add up, and so do the shares of each minibatch loss.
    reduced = parallel.sum([*stat_sums.values(), n_tokens, *losses])
    n_tokens, losses = reduced[len(UPDATE_STATS)], reduced[len(UPDATE_STATS) + 1 :]
    means = {name: total / max(n_tokens, 1.0) for name, total in zip(UPDATE_STATS, reduced)}
    return {**means, "loss": float(np.mean(losses)), "grad_norm": float(np.mean(grad_norms))}


@torch.no_grad()
def _reference_logprobs(
    loaded: LoadedModel, reference: torch.nn.Module | None, batch: Batch, temperature: float
) -> torch.Tensor:
    if reference is not None:
        return sequence_logprobs(reference, batch, temperature)[0]
    with loaded.adapters_disabled():
        return sequence_logprobs(loaded.model, batch, temperature)[0]
