"""What every learner shares: the run config, model loading (LoRA, gradient checkpointing), envs, precision,
optimiser steps and evaluation.

The algorithms themselves live in :mod:`agents.sft` and :mod:`agents.grpo`; their configs extend
:class:`RunConfig`, so ``vista-agents train sft`` and ``vista-agents train grpo`` take the same flags for
the env, the model, precision, LoRA, evaluation, logging and checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin

import vista_envs  # noqa: F401  (registers the env ids)
from agents.checkpoint import latest_checkpoint, load_trainer_state, restore_rng, save_checkpoint
from agents.policies.hf import HFPolicy
from agents.rollout import RolloutCollector, summarize
from agents.run_log import RunLogger

__all__ = [
    "EVAL_SEED_OFFSET",
    "LoadedModel",
    "RunConfig",
    "Session",
    "TrainResult",
    "autocast",
    "chunks",
    "evaluate",
    "is_due",
    "load_model",
    "make_envs",
    "make_optimizer",
    "optimizer_step",
    "resolve_device",
    "seed_everything",
    "use_bf16",
]

# Evaluation episodes use reset seeds from here on: fixed, so every evaluation of a run sees the same tasks.
EVAL_SEED_OFFSET = 10**9


@dataclass
class RunConfig:
    """Settings every learner shares: the env, the model, hardware, LoRA, evaluation, logging, checkpoints."""

    env_id: str = "VisualQA-v0"
    """the Gymnasium env id the policy acts in"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """keyword arguments of gym.make, e.g. {"families": ["counting"], "difficulty": 1}"""
    model: str = ""
    """local model directory (AutoModelForImageTextToText + AutoProcessor), e.g. from python -m agents.tiny"""
    output_dir: str = "runs/vista-agents"
    """where metrics (metrics.jsonl, metrics.csv), checkpoints and the final model go"""
    seed: int = 0
    """seeds torch, numpy, random, and the tasks of every step"""
    device: str = "auto"
    """'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1', ..."""
    num_envs: int = 16
    """parallel envs of the vector env (episodes run in waves of this many)"""
    vectorization_mode: str = "sync"
    """'sync' (envs in this process) or 'async' (one subprocess per env)"""
    max_new_tokens: int = 64
    """the longest policy turn in tokens"""
    generation_batch_size: int = 64
    """prompts per generate() call"""
    micro_batch_size: int = 16
    """sequences per forward/backward pass; an optimiser batch is accumulated from micro-batches of this size"""
    bf16: bool | None = None
    """bf16 autocast for forward passes (master weights stay float32); None: on when the GPU supports it"""
    gradient_checkpointing: bool | None = None
    """recompute activations in the backward pass to save memory; None: on with CUDA"""
    lora_rank: int = 0
    """LoRA rank; 0 trains every weight (LoRA needs the peft package)"""
    lora_alpha: float = 32.0
    """LoRA scaling numerator (the update is scaled by alpha / rank)"""
    lora_dropout: float = 0.0
    """dropout on the LoRA branch"""
    lora_target_modules: str = "all-linear"
    """which modules get adapters: 'all-linear' or a comma-separated list of module names"""
    learning_rate: float = 1e-5
    """AdamW learning rate (constant)"""
    weight_decay: float = 0.0
    """AdamW weight decay"""
    adam_betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas"""
    max_grad_norm: float = 1.0
    """clip the global gradient norm to this; 0 disables clipping"""
    eval_every: int = 0
    """evaluate every this many steps (and before the first and after the last); 0: only before and after"""
    eval_episodes: int = 64
    """episodes per evaluation"""
    eval_split: str = "test"
    """the task split evaluation draws from ('eval' or 'test'; training uses 'train')"""
    eval_temperature: float = 0.0
    """sampling temperature of evaluation episodes; 0 decodes greedily"""
    save_every: int = 0
    """write a checkpoint every this many steps (and after the last); 0: only after the last"""
    resume: bool = False
    """continue from the latest checkpoint in output_dir"""
    tensorboard: bool = False
    """also log to TensorBoard (needs the tensorboard package)"""
    progress_bar: bool = True
    """show a tqdm progress bar"""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def use_bf16(config: RunConfig, device: torch.device) -> bool:
    if config.bf16 is not None:
        return config.bf16
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` when enabled, else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


@dataclass
class TrainResult:
    """What a training run returns: its metric rows (as logged) and the checkpoint it ended with."""

    metrics: list[dict[str, Any]]
    checkpoint: Path | None


@dataclass
class LoadedModel:
    """A model ready to train.

    Attributes:
        model: the ``PreTrainedModel`` that generates and computes log-probabilities (with LoRA layers
            injected when LoRA is on).
        processor: its processor.
        saved: what a checkpoint saves: the PEFT wrapper (adapter only) or ``model`` itself.
    """

    model: PreTrainedModel
    processor: ProcessorMixin
    saved: Any

    @property
    def lora(self) -> bool:
        return self.saved is not self.model

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [parameter for parameter in self.model.parameters() if parameter.requires_grad]

    def adapters_disabled(self) -> contextlib.AbstractContextManager[Any]:
        """The base model's behaviour for the duration (LoRA only): the KL reference for free."""
        return self.saved.disable_adapter()


def load_model(config: RunConfig, device: torch.device, checkpoint: Path | None = None) -> LoadedModel:
    """Load ``config.model`` in float32 (or resume from ``checkpoint``) with LoRA and gradient checkpointing as configured."""
    source = checkpoint if checkpoint is not None and not config.lora_rank else config.model
    if not source:
        raise ValueError("no model: pass --model PATH (a local model directory, e.g. built by python -m agents.tiny)")
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch.float32).to(device)
    processor = AutoProcessor.from_pretrained(source)
    checkpointing = config.gradient_checkpointing if config.gradient_checkpointing is not None else device.type == "cuda"
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    saved: Any = model
    if config.lora_rank:
        from peft import LoraConfig, PeftModel, get_peft_model  # optional dependency

        if checkpoint is not None:
            saved = PeftModel.from_pretrained(model, checkpoint, is_trainable=True)
        else:
            targets = config.lora_target_modules
            lora = LoraConfig(
                r=config.lora_rank,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=targets if targets == "all-linear" else [name.strip() for name in targets.split(",")],
            )
            saved = get_peft_model(model, lora)
        model = saved.get_base_model()
    return LoadedModel(model, processor, saved)


def make_envs(config: RunConfig) -> gym.vector.VectorEnv:
    return gym.make_vec(config.env_id, num_envs=config.num_envs, vectorization_mode=config.vectorization_mode, **config.env_kwargs)


def make_optimizer(config: RunConfig, parameters: Sequence[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(parameters, lr=config.learning_rate, betas=config.adam_betas, weight_decay=config.weight_decay)


def optimizer_step(parameters: Sequence[torch.nn.Parameter], optimizer: torch.optim.Optimizer, max_grad_norm: float) -> float:
    """Clip the accumulated gradients (when ``max_grad_norm > 0``), step and clear; returns the norm before clipping."""
    grad_norm = torch.nn.utils.clip_grad_norm_(parameters, max_grad_norm if max_grad_norm > 0 else float("inf"))
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(grad_norm)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.no_grad()
def evaluate(model: PreTrainedModel, processor: ProcessorMixin, envs: gym.vector.VectorEnv, config: RunConfig, bf16: bool = False) -> dict[str, float]:
    """Episodes on ``config.eval_split`` with fixed seeds at ``config.eval_temperature``: ``eval/success_rate``, ``eval/reward``, ..."""
    policy = HFPolicy(model, processor, max_new_tokens=config.max_new_tokens, temperature=config.eval_temperature, batch_size=config.generation_batch_size)
    collector = RolloutCollector(envs, policy, record_logprobs=False, check_images=False)
    seeds = range(EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + config.eval_episodes)
    was_training = model.training
    model.eval()
    with autocast(model.device, bf16):
        trajectories = collector.collect(seeds, options={"split": config.eval_split})
    model.train(was_training)
    return {f"eval/{key}": value for key, value in summarize(trajectories).items()}


def is_due(step: int, every: int, last_step: int) -> bool:
    """Whether a periodic action (evaluation, checkpoint) happens after ``step`` completed steps."""
    return step == last_step or (every > 0 and step % every == 0)


@dataclass
class Session:
    """A learner's run: model, optimiser, envs and logger, set up from a config or resumed from its latest checkpoint.

    A learner's loop runs steps ``start_step .. total_steps - 1`` and ends each with :meth:`end_step`.
    """

    config: RunConfig
    total_steps: int
    device: torch.device
    bf16: bool
    loaded: LoadedModel
    parameters: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    start_step: int
    logger: RunLogger
    envs: gym.vector.VectorEnv
    checkpoint: Path | None

    @classmethod
    def start(cls, config: RunConfig, total_steps: int) -> Session:
        """Seed, load the model (from the latest checkpoint when ``config.resume``), build the optimiser, envs and
        logger; a fresh run logs an evaluation of the initial model as step 0."""
        device = resolve_device(config.device)
        seed_everything(config.seed)
        checkpoint = latest_checkpoint(config.output_dir) if config.resume else None
        loaded = load_model(config, device, checkpoint)
        parameters = loaded.trainable_parameters()
        optimizer = make_optimizer(config, parameters)
        start_step = 0
        if checkpoint is not None:
            state = load_trainer_state(checkpoint)
            optimizer.load_state_dict(state["optimizer"])
            restore_rng(state["rng"])
            start_step = state["step"]
        logger = RunLogger(config.output_dir, resume_step=start_step if checkpoint is not None else None, tensorboard=config.tensorboard)
        session = cls(config, total_steps, device, use_bf16(config, device), loaded, parameters, optimizer, start_step, logger, make_envs(config), checkpoint)
        if checkpoint is None:
            logger.log(0, session.evaluate())
        return session

    def evaluate(self) -> dict[str, float]:
        return evaluate(self.loaded.model, self.loaded.processor, self.envs, self.config, self.bf16)

    def end_step(self, done: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """After ``done`` completed steps: evaluate and checkpoint when due, and log ``metrics``; returns the logged row."""
        config = self.config
        if is_due(done, config.eval_every, self.total_steps):
            metrics = {**metrics, **self.evaluate()}
        row = self.logger.log(done, metrics)
        if is_due(done, config.save_every, self.total_steps):
            self.checkpoint = save_checkpoint(config.output_dir, done, self.loaded.saved, self.loaded.processor, self.optimizer, dataclasses.asdict(config))
        return row

    def close(self) -> TrainResult:
        self.envs.close()
        self.logger.close()
        return TrainResult(self.logger.rows, self.checkpoint)
