r"""Supervised fine-tuning (behaviour cloning) on the envs' oracle demonstrations, for warm starts.

Every vista env has an ``oracle()`` that gives a correct turn (for ``VistaTool-v0``, a whole tool
trajectory). :func:`train` records ``num_demonstrations`` oracle episodes on the training split as
trajectories (:class:`~vista_agents.rollout.RolloutCollector` with an
:class:`~vista_agents.policies.scripted.OraclePolicy` actor) and minimises the negative log-likelihood of the
assistant's tokens only (prompts, tool results and env replies are masked):

.. math::

    \mathcal{L} = -\frac{1}{\sum_i |o_i|} \sum_{i} \sum_{t \in o_i} \log \pi_\theta(o_{i,t} \mid o_{i,<t})

Run it with ``vista-agents train sft --env VisualQA-v0 --model PATH``; its last checkpoint is a model
directory, the ``--model`` of a GRPO run.

Under ``accelerate launch`` (``docs/multi_gpu.md``) each process records its own share of the
demonstrations, and every step trains on the same minibatch as one process would: each process takes
the demonstrations of the minibatch it holds, and the loss is normalised over all of their tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import gymnasium as gym
import torch
from tqdm import tqdm

from vista_agents.config import VLMRunConfig, at_least
from vista_agents.distributed import shard
from vista_agents.losses import aggregate
from vista_agents.policies.hf import HFPolicy
from vista_agents.policies.scripted import OraclePolicy
from vista_agents.rollout import RolloutCollector, Trajectory, collate, sequence_logprobs
from vista_agents.run_session import TrainResult
from vista_agents.training import Session, autocast, chunks, optimizer_step

__all__ = ["SFTConfig", "SFT_METRICS", "collect_demonstrations", "demonstration_loss", "train"]

SFT_METRICS = ("loss", "grad_norm", "learning_rate", "tokens", "time/step_s")
# Demonstrations use reset seeds from here on (training tasks; evaluation seeds are elsewhere).
DEMO_SEED_OFFSET = 10**6


@dataclass
class SFTConfig(VLMRunConfig):
    """SFT hyper-parameters; the run, env and model layers come from :class:`~vista_agents.config.VLMRunConfig`."""

    num_demonstrations: int = 512
    """oracle episodes to learn from (training split), over all processes of a multi-GPU run"""
    num_epochs: int = 1
    """passes over the demonstrations"""
    batch_size: int = 32
    """demonstrations per optimiser step over all processes (accumulated from micro-batches of micro_batch_size)"""
    learning_rate: float = 1e-4
    """AdamW learning rate (its peak when lr_scheduler is not 'constant')"""
    output_dir: str = "runs/sft"
    """where metrics (metrics.jsonl, metrics.csv), checkpoints and the final model go"""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "num_demonstrations", "num_epochs", "batch_size")

    @property
    def total_steps(self) -> int:
        """Optimiser steps: num_epochs passes over the demonstrations in batches of batch_size."""
        return self.num_epochs * -(-self.num_demonstrations // self.batch_size)


def collect_demonstrations(
    policy: HFPolicy, envs: gym.vector.VectorEnv, count: int, seed: int, rank: int = 0, world_size: int = 1
) -> list[Trajectory]:
    """``count`` oracle episodes on the training split, tokenised as ``policy`` sees them; with
    ``world_size > 1`` only process ``rank``'s share of them (:func:`~vista_agents.distributed.shard`)."""
    collector = RolloutCollector(envs, policy, actor=OraclePolicy(envs), record_logprobs=False)
    seeds = range(DEMO_SEED_OFFSET + seed * count, DEMO_SEED_OFFSET + (seed + 1) * count)
    return collector.collect(shard(seeds, rank, world_size), options={"split": "train"})


def demonstration_loss(
    model: torch.nn.Module, trajectories: list[Trajectory], pad_token_id: int, total_tokens: int, bf16: bool = False
) -> torch.Tensor:
    """The token-mean negative log-likelihood of the demonstrations' assistant tokens (this micro-batch's share of
    ``total_tokens``).

    ``model`` is a ``PreTrainedModel`` or its DDP/FSDP wrapper.
    """
    device = next(model.parameters()).device
    batch = collate(trajectories, pad_token_id).to(device)
    with autocast(device, bf16):
        logprobs, _ = sequence_logprobs(model, batch)
    return aggregate(-logprobs, batch.loss_mask, "token_mean", total_tokens=total_tokens)


def train(config: SFTConfig) -> TrainResult:
    """Run SFT on oracle demonstrations as configured; returns the logged metric rows and the final checkpoint."""
    session = Session.start(config, config.total_steps)
    model, processor, parallel = session.loaded.model, session.loaded.processor, session.parallel
    policy = HFPolicy(model, processor, max_new_tokens=config.max_new_tokens, batch_size=config.generation_batch_size)
    # This process's demonstrations, by their index among all num_demonstrations.
    indices = parallel.shard(range(config.num_demonstrations), "demonstrations")
    with parallel.generating(model):  # recording checks the image tokens against the vision tower
        recorded = collect_demonstrations(
            policy, session.envs, config.num_demonstrations, config.seed, parallel.rank, parallel.world_size
        )
    held = dict(zip(indices, recorded))
    pad_token_id = processor.tokenizer.pad_token_id
    # One shuffled order per epoch, from the seed alone, so a resumed run (and every process) takes the same
    # minibatches.
    steps_per_epoch = -(-config.num_demonstrations // config.batch_size)
    orders = [
        torch.randperm(
            config.num_demonstrations, generator=torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        ).tolist()
        for epoch in range(config.num_epochs)
    ]

    session.training_model.train()
    steps = range(session.start_step, config.total_steps)
    progress = tqdm(
        steps,
        initial=session.start_step,
        total=config.total_steps,
        desc="SFT",
        disable=not (config.progress_bar and parallel.is_main),
    )
    for step in progress:
        started = time.perf_counter()
        epoch, index = divmod(step, steps_per_epoch)
        minibatch = [
            held[i] for i in orders[epoch][index * config.batch_size : (index + 1) * config.batch_size] if i in held
        ]
        total_tokens = int(parallel.sum([sum(t.num_policy_tokens for t in minibatch)])[0])
        loss = 0.0
        for micro, weight in parallel.accumulate(
            session.training_model, list(chunks(minibatch, config.micro_batch_size)), recorded[:1]
        ):
            micro_loss = (
                demonstration_loss(session.training_model, list(micro), pad_token_id, total_tokens, session.bf16)
                * weight
            )
            # Micro-batch losses are shares of the minibatch loss: gradients accumulate to its gradient.
            parallel.backward(micro_loss)
            loss += float(micro_loss.detach())
        grad_norm = optimizer_step(session.parameters, session.optimizer, config.max_grad_norm)
        row = session.end_step(
            step + 1,
            {
                "loss": parallel.sum([loss])[0],
                "grad_norm": grad_norm,
                "learning_rate": session.optimizer.param_groups[0]["lr"],
                "tokens": total_tokens,
                "time/step_s": time.perf_counter() - started,
            },
        )
        progress.set_postfix(loss=f"{row['loss']:.3f}")
    return session.close()
