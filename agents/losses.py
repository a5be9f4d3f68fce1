r"""The maths of GRPO and SFT, as pure tensor functions.

Notation: :math:`\pi_\theta` the policy, :math:`\pi_{old}` the policy that sampled the batch,
:math:`\pi_{ref}` the frozen reference; per token :math:`t` of sequence :math:`i`,
:math:`r_{i,t} = \pi_\theta / \pi_{old}` and :math:`\log\rho_{i,t} = \log\pi_{ref} - \log\pi_\theta`.
All per-token tensors are ``(sequences, length)`` with a boolean ``mask`` of the tokens that count.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "AGGREGATIONS",
    "KL_ESTIMATORS",
    "aggregate",
    "clipped_surrogate",
    "group_advantages",
    "kl_penalty",
    "masked_mean",
    "zero_variance_groups",
]

Aggregation = Literal["token_mean", "sequence_mean", "dr_grpo"]
KLEstimator = Literal["k1", "k2", "k3", "low_var_kl"]
AGGREGATIONS: tuple[str, ...] = ("token_mean", "sequence_mean", "dr_grpo")
KL_ESTIMATORS: tuple[str, ...] = ("k1", "k2", "k3", "low_var_kl")


def group_advantages(rewards: torch.Tensor, scale: bool = True, eps: float = 1e-4) -> torch.Tensor:
    r"""Group-normalised advantages :math:`A_i = (R_i - \mathrm{mean}_g R) / (\mathrm{std}_g R + \epsilon)`.

    Args:
        rewards: ``(groups, group_size)`` episode returns, one row per task.
        scale: divide by the group's standard deviation (GRPO); False keeps only the mean baseline (Dr.GRPO).
        eps: added to the standard deviation (unbiased, as in the GRPO paper).

    Returns:
        ``(groups, group_size)`` advantages; a group whose rewards are all equal gets zeros.
    """
    centred = rewards - rewards.mean(dim=1, keepdim=True)
    if not scale:
        return centred
    return centred / (rewards.std(dim=1, keepdim=True) + eps)


def zero_variance_groups(rewards: torch.Tensor) -> torch.Tensor:
    """``(groups,)`` bool: the groups whose rewards are all equal (no learning signal, only noise in the loss)."""
    return (rewards == rewards[:, :1]).all(dim=1)


def clipped_surrogate(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, clip_low: float, clip_high: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""The per-token PPO/GRPO objective, negated: :math:`-\min(r A, \mathrm{clip}(r, 1 - \epsilon_{low}, 1 +
    \epsilon_{high}) A)`.

    Separate bounds (DAPO's "clip-higher") let unlikely tokens with positive advantage grow further
    than likely ones shrink.

    Args:
        logprobs, old_logprobs: ``(sequences, length)``.
        advantages: ``(sequences, 1)`` (one per sequence) or ``(sequences, length)``.
        clip_low, clip_high: :math:`\epsilon_{low}, \epsilon_{high}`.

    Returns:
        ``(loss, clipped_low, clipped_high)``: the per-token loss and where the clip bound was active
        (the ratio left the range in the direction the advantage pushes it, so the token gets no gradient).
    """
    ratio = torch.exp(logprobs - old_logprobs)
    clipped_ratio = torch.clamp(ratio, 1 - clip_low, 1 + clip_high)
    loss = -torch.min(ratio * advantages, clipped_ratio * advantages)
    clipped_low = (ratio < 1 - clip_low) & (advantages < 0)
    clipped_high = (ratio > 1 + clip_high) & (advantages > 0)
    return loss, clipped_low, clipped_high


def kl_penalty(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: KLEstimator) -> torch.Tensor:
    r"""Per-token estimates of :math:`\mathrm{KL}(\pi_\theta \,\|\, \pi_{ref})` from samples of :math:`\pi_\theta`.

    With :math:`\log\rho = \log\pi_{ref} - \log\pi_\theta` (Schulman's estimators):

    - ``k1``: :math:`-\log\rho` (unbiased, high variance, can be negative);
    - ``k2``: :math:`\tfrac12 (\log\rho)^2` (biased, low variance);
    - ``k3``: :math:`e^{\log\rho} - \log\rho - 1` (unbiased, always >= 0; GRPO's choice);
    - ``low_var_kl``: ``k3`` with :math:`\log\rho` clamped to [-20, 20] and the result to [-10, 10], so that
      one very unlikely token cannot blow up the loss.
    """
    log_ratio = ref_logprobs - logprobs
    if estimator == "k1":
        return -log_ratio
    if estimator == "k2":
        return 0.5 * log_ratio.square()
    if estimator == "k3":
        return torch.exp(log_ratio) - log_ratio - 1
    if estimator == "low_var_kl":
        log_ratio = log_ratio.clamp(-20, 20)
        return (torch.exp(log_ratio) - log_ratio - 1).clamp(-10, 10)
    raise ValueError(f"unknown KL estimator {estimator!r}; choose one of {KL_ESTIMATORS}")


def aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    mode: Aggregation,
    *,
    total_sequences: int | None = None,
    total_tokens: int | None = None,
    max_tokens: int | None = None,
) -> torch.Tensor:
    r"""Reduce a per-token loss to a scalar.

    - ``sequence_mean`` (GRPO): :math:`\frac1N \sum_i \frac{1}{|o_i|} \sum_t \ell_{i,t}`: every sequence
      weighs the same, so tokens of long sequences weigh less.
    - ``token_mean`` (DAPO): :math:`\frac{1}{\sum_i |o_i|} \sum_{i,t} \ell_{i,t}`: every token weighs the same.
    - ``dr_grpo`` (Dr.GRPO): :math:`\frac{1}{N\,L_{max}} \sum_{i,t} \ell_{i,t}`: a constant normaliser,
      no length bias at all.

    For gradient accumulation, pass the totals of the whole optimiser batch (``total_sequences`` N,
    ``total_tokens``); a micro-batch then returns its share, and the shares add up to the batch loss.
    They default to this batch's own counts.

    Args:
        per_token: ``(sequences, length)``.
        mask: ``(sequences, length)`` bool, the tokens that count.
        mode: one of :data:`AGGREGATIONS`.
        max_tokens: :math:`L_{max}` of ``dr_grpo`` (the generation budget).
    """
    mask = mask.to(per_token.dtype)
    sequences = total_sequences if total_sequences is not None else per_token.shape[0]
    if mode == "token_mean":
        tokens = total_tokens if total_tokens is not None else int(mask.sum())
        return (per_token * mask).sum() / max(tokens, 1)
    if mode == "sequence_mean":
        per_sequence = (per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        return per_sequence.sum() / sequences
    if mode == "dr_grpo":
        if max_tokens is None:
            raise ValueError("dr_grpo aggregation needs max_tokens (the generation budget)")
        return (per_token * mask).sum() / (sequences * max_tokens)
    raise ValueError(f"unknown loss aggregation {mode!r}; choose one of {AGGREGATIONS}")


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` where ``mask`` is True (0 when nothing is)."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)
