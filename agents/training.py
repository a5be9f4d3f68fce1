"""What every learner shares: the run config, model loading (LoRA, gradient checkpointing), envs, precision,
optimiser steps and evaluation.

The algorithms themselves live in :mod:`agents.sft` and :mod:`agents.grpo`; their configs extend
:class:`RunConfig`, so ``vista-agents train sft`` and ``vista-agents train grpo`` take the same flags for
the env, the model, precision, LoRA, evaluation, logging and checkpoints.

Started by ``accelerate launch`` or ``torchrun``, a :class:`Session` runs data-parallel (see
:mod:`agents.distributed` and ``docs/multi_gpu.md``): every process evaluates its share of the
evaluation episodes, and rank 0 alone logs and writes checkpoints.
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
from agents.distributed import DataParallel, launched_processes
from agents.policies.hf import HFPolicy
from agents.rollout import RolloutCollector, summarize
from agents.run_log import RunLogger, claim_output_dir

__all__ = [
    "EVAL_SEED_OFFSET",
    "LoadedModel",
    "RunConfig",
    "Session",
    "TrainResult",
    "autocast",
    "chunks",
    "eval_seeds",
    "evaluate",
    "is_due",
    "join_processes",
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
    """'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1', ...; under a launcher only 'cpu' or not: each process takes its own GPU"""
    num_envs: int = 16
    """parallel envs of the vector env (episodes run in waves of this many)"""
    vectorization_mode: str = "sync"
    """'sync' (envs in this process) or 'async' (one subprocess per env); ignored when ray_address is set"""
    ray_address: str = ""
    """Ray cluster for the env workers (extra 'distributed'): '' = no Ray, 'auto' = the cluster this machine joined with `ray start`, 'HOST:PORT', or 'local' = start Ray here"""
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
    eval_split: str = "eval"
    """the task split evaluation draws from during training ('eval'; 'test' is for final reports; training uses 'train')"""
    eval_temperature: float = 0.0
    """sampling temperature of evaluation episodes; 0 decodes greedily"""
    save_every: int = 0
    """write a checkpoint every this many steps (and after the last); 0: only after the last"""
    resume: bool = False
    """continue from the latest intact checkpoint in output_dir"""
    overwrite: bool = False
    """start afresh in an output_dir that holds another run, deleting its metrics and checkpoints (without it, or resume, such a folder is refused)"""
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
    """The training or evaluation envs: Ray actors when ``config.ray_address`` is set, else ``gym.make_vec``."""
    if config.ray_address:
        from vista_envs.vector import make_ray_vec

        return make_ray_vec(config.env_id, config.num_envs, address=config.ray_address, **config.env_kwargs)
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


def eval_seeds(config: RunConfig) -> range:
    """The reset seeds of an evaluation's ``config.eval_episodes`` episodes: the same at every evaluation of a run."""
    return range(EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + config.eval_episodes)


@torch.no_grad()
def evaluate(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    envs: gym.vector.VectorEnv,
    config: RunConfig,
    bf16: bool = False,
    seeds: Sequence[int] | None = None,
) -> dict[str, float]:
    """Episodes on ``config.eval_split`` at ``config.eval_temperature``: ``eval/success_rate``, ``eval/reward``, ...

    Args:
        seeds: the episodes' reset seeds; default :func:`eval_seeds` (a process of a launched run passes its share).
    """
    policy = HFPolicy(
        model, processor, max_new_tokens=config.max_new_tokens, temperature=config.eval_temperature, batch_size=config.generation_batch_size
    )
    collector = RolloutCollector(envs, policy, record_logprobs=False, check_images=False)
    seeds = eval_seeds(config) if seeds is None else seeds
    was_training = model.training
    model.eval()
    with autocast(model.device, bf16):
        trajectories = collector.collect(seeds, options={"split": config.eval_split})
    model.train(was_training)
    return {f"eval/{key}": value for key, value in summarize(trajectories).items()}


def is_due(step: int, every: int, last_step: int) -> bool:
    """Whether a periodic action (evaluation, checkpoint) happens after ``step`` completed steps."""
    return step == last_step or (every > 0 and step % every == 0)


def join_processes(config: RunConfig) -> tuple[DataParallel, torch.device, bool]:
    """This process's place in the run, its device, and whether it computes in bf16.

    Without a launcher: one process on ``config.device``. Under ``accelerate launch`` or ``torchrun``: the
    launched run, each process on its own GPU, or on CPUs when ``config.device`` is 'cpu' or there is no GPU.
    """
    if launched_processes() == 1:
        device = resolve_device(config.device)
        return DataParallel(), device, use_bf16(config, device)
    device = resolve_device("cpu" if config.device == "cpu" else "auto")  # the launcher chooses the GPU
    bf16 = use_bf16(config, device)
    parallel = DataParallel.from_environment(cpu=device.type == "cpu", bf16=bf16)
    return parallel, parallel.device, bf16


@dataclass
class Session:
    """A learner's run: model, optimiser, envs and logger, set up from a config or resumed from its latest checkpoint.

    A learner's loop runs steps ``start_step .. total_steps - 1`` and ends each with :meth:`end_step`.

    In a launched run every process holds a Session (see :mod:`agents.distributed`): the loss's forward
    passes go through ``training_model``, the DDP- or FSDP-wrapped model, while ``loaded.model``
    generates; only rank 0 has a ``logger``. In one process ``training_model`` is ``loaded.model``.
    """

    config: RunConfig
    total_steps: int
    device: torch.device
    bf16: bool
    loaded: LoadedModel
    parameters: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    start_step: int
    logger: RunLogger | None
    envs: gym.vector.VectorEnv
    checkpoint: Path | None
    parallel: DataParallel = field(default_factory=DataParallel)
    training_model: torch.nn.Module | None = None

    def __post_init__(self) -> None:
        if self.training_model is None:
            self.training_model = self.loaded.model

    @classmethod
    def start(cls, config: RunConfig, total_steps: int) -> Session:
        """Seed, load the model (from the latest checkpoint when ``config.resume``), build the optimiser, envs and
        logger; a fresh run logs an evaluation of the initial model as step 0."""
        parallel, device, bf16 = join_processes(config)
        if parallel.sharded and config.lora_rank:
            raise ValueError("LoRA under FSDP is not supported: adapters are small, train them with DDP (configs/accelerate/ddp.yaml)")
        refusal = None
        if parallel.is_main:  # one process checks (and overwrites); every process stops on a refusal
            try:
                claim_output_dir(config.output_dir, resume=config.resume, overwrite=config.overwrite)
            except FileExistsError as error:
                refusal = str(error)
        refusal = parallel.broadcast(refusal)
        if refusal is not None:
            raise FileExistsError(refusal)
        seed_everything(config.seed)
        checkpoint = latest_checkpoint(config.output_dir) if config.resume else None
        loaded = load_model(config, device, checkpoint)
        training_model, optimizer = parallel.prepare(loaded.model, make_optimizer(config, loaded.trainable_parameters()))
        # FSDP replaces the parameters by shards; in one process and under DDP these are the loaded ones.
        parameters = [parameter for parameter in training_model.parameters() if parameter.requires_grad]
        start_step = 0
        if checkpoint is not None:
            state = load_trainer_state(checkpoint)
            parallel.load_optimizer_state(training_model, optimizer, state["optimizer"])
            restore_rng(state["rng"])
            start_step = state["step"]
        logger = None
        if parallel.is_main:
            logger = RunLogger(
                config.output_dir, resume_step=start_step if checkpoint is not None else None, tensorboard=config.tensorboard
            )
        envs = make_envs(config)
        session = cls(
            config, total_steps, device, bf16, loaded, parameters, optimizer, start_step, logger, envs, checkpoint, parallel, training_model
        )
        if checkpoint is None:
            session.log(0, session.evaluate())
        return session

    def evaluate(self) -> dict[str, float]:
        """Evaluate the current model; in a launched run each process plays its share of the episodes, and
        every process gets the means over all of them."""
        seeds = self.parallel.shard(eval_seeds(self.config), "evaluation episodes")
        with self.parallel.generating(self.loaded.model):
            metrics = evaluate(self.loaded.model, self.loaded.processor, self.envs, self.config, self.bf16, seeds)
        return self.parallel.mean(metrics, weight=len(seeds))

    def end_step(self, done: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """After ``done`` completed steps: evaluate and checkpoint when due, and log ``metrics``; returns the logged row.

        In a launched run every process calls it with the metrics reduced over all processes.
        """
        config = self.config
        if is_due(done, config.eval_every, self.total_steps):
            metrics = {**metrics, **self.evaluate()}
        row = self.log(done, metrics)
        if is_due(done, config.save_every, self.total_steps):
            self.save(done)
        return row

    def log(self, step: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """Rank 0 logs ``metrics`` as the row of ``step``; every process gets the row as written."""
        return self.parallel.broadcast(self.logger.log(step, metrics) if self.logger is not None else None)

    def save(self, step: int) -> Path:
        """Rank 0 writes the checkpoint of ``step`` completed steps (under FSDP every process helps gather it); returns its path."""
        states = self.parallel.checkpoint_states(self.training_model, self.optimizer)
        path = None
        if self.parallel.is_main:
            path = save_checkpoint(
                self.config.output_dir,
                step,
                self.loaded.saved,
                self.loaded.processor,
                self.optimizer,
                dataclasses.asdict(self.config),
                **states,
            )
        self.checkpoint = self.parallel.broadcast(path)
        return self.checkpoint

    def close(self) -> TrainResult:
        """Close the envs and the logger; every process returns rank 0's metric rows."""
        self.envs.close()
        rows = None
        if self.logger is not None:
            self.logger.close()
            rows = self.logger.rows
        return TrainResult(self.parallel.broadcast(rows), self.checkpoint)
