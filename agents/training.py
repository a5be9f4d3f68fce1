"""What the learners share: envs, model loading (LoRA, gradient checkpointing), precision, optimiser steps,
evaluation of a VLM, and :class:`Session`, a VLM learner's run (SFT, GRPO).

Their configs are composed of the layers of :mod:`vista_agents.config`; the life of a run (output folder, seeding,
resuming, logging, the evaluation and checkpoint cadence) is :mod:`vista_agents.run_session`, the same for every
trainer. The algorithms live in :mod:`vista_agents.sft`, :mod:`vista_agents.grpo`, :mod:`vista_agents.ppo` and
:mod:`vista_agents.visplay_trainer`.

Started by ``accelerate launch`` or ``torchrun``, a :class:`Session` runs data-parallel (see
:mod:`vista_agents.distributed` and ``docs/multi_gpu.md``): every process evaluates its share of the
evaluation episodes, and rank 0 alone logs and writes checkpoints.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel, ProcessorMixin

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.checkpoint import save_checkpoint
from vista_agents.config import EnvConfig, ModelConfig, RunConfig, VLMRunConfig
from vista_agents.distributed import DataParallel, launched_processes
from vista_agents.policies.hf import HFPolicy
from vista_agents.rollout import RolloutCollector, Trajectory, summarize
from vista_agents.run_session import RunSession, TrainResult

__all__ = [
    "EVAL_SEED_OFFSET",
    "LoadedModel",
    "Session",
    "autocast",
    "chunks",
    "eval_seeds",
    "evaluate_policy",
    "held_out_episodes",
    "join_processes",
    "load_model",
    "make_envs",
    "make_optimizer",
    "optimizer_step",
    "resolve_device",
    "set_learning_rate",
    "use_bf16",
]

# Evaluation episodes use reset seeds from here on: fixed, so every evaluation of a run sees the same tasks.
EVAL_SEED_OFFSET = 10**9


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def use_bf16(config: ModelConfig, device: torch.device) -> bool:
    if config.bf16 is not None:
        return config.bf16
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on ``device`` when enabled, else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


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


def vision_tower(model: PreTrainedModel) -> torch.nn.Module:
    """The vision encoder of a VLM: ``vision_tower`` (LLaVA-style) or ``visual`` (Qwen2-VL family)."""
    for owner in (getattr(model, "model", None), model):
        for name in ("vision_tower", "visual"):
            module = getattr(owner, name, None)
            if isinstance(module, torch.nn.Module):
                return module
    raise ValueError(f"{type(model).__name__} has no vision_tower or visual module to freeze")


def language_model(model: PreTrainedModel) -> list[torch.nn.Module]:
    """The text side of a VLM: its ``language_model`` (embeddings and decoder) and, when separate, its ``lm_head``."""
    head = getattr(model, "lm_head", None)
    for owner in (getattr(model, "model", None), model):
        text = getattr(owner, "language_model", None)
        if isinstance(text, torch.nn.Module):
            return [text] + ([head] if isinstance(head, torch.nn.Module) else [])
    raise ValueError(f"{type(model).__name__} has no language_model module to freeze")


def load_model(config: ModelConfig, device: torch.device, checkpoint: Path | None = None) -> LoadedModel:
    """Load ``config.model`` in float32 (or resume from ``checkpoint``) with LoRA and gradient checkpointing as
    configured."""
    source = checkpoint if checkpoint is not None and not config.lora_rank else config.model
    if not source:
        raise ValueError(
            "no model: pass --model PATH (a local model directory, e.g. built by python -m vista_agents.tiny)"
        )
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch.float32).to(device)
    processor = AutoProcessor.from_pretrained(source)
    checkpointing = (
        config.gradient_checkpointing if config.gradient_checkpointing is not None else device.type == "cuda"
    )
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.freeze_vision_tower:
        vision_tower(model).requires_grad_(False)
    if config.freeze_language_model:
        for module in language_model(model):
            module.requires_grad_(False)
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


def make_envs(config: EnvConfig, num_envs: int | None = None) -> gym.vector.VectorEnv:
    """``num_envs`` (default ``config.num_envs``) copies of the env: Ray actors when ``config.ray_address`` is set,
    else ``gym.make_vec``. Every learner is written for Gymnasium's ``NEXT_STEP`` autoreset (an env resets on the
    step after its episode ends), so it is asked for explicitly."""
    num_envs = config.num_envs if num_envs is None else num_envs
    next_step = gym.vector.AutoresetMode.NEXT_STEP
    if config.ray_address:
        from vista_envs.vector import make_ray_vec

        return make_ray_vec(
            config.env_id, num_envs, address=config.ray_address, autoreset_mode=next_step, **config.env_kwargs
        )
    return gym.make_vec(
        config.env_id,
        num_envs=num_envs,
        vectorization_mode=config.vectorization_mode,
        vector_kwargs={"autoreset_mode": next_step},
        **config.env_kwargs,
    )


def make_optimizer(config: ModelConfig, parameters: Sequence[torch.nn.Parameter]) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        parameters, lr=config.learning_rate, betas=config.adam_betas, weight_decay=config.weight_decay
    )


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    """Every parameter group of ``optimizer`` takes ``learning_rate`` from its next step on."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


def optimizer_step(
    parameters: Sequence[torch.nn.Parameter], optimizer: torch.optim.Optimizer, max_grad_norm: float
) -> float:
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
def evaluate_policy(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    envs: gym.vector.VectorEnv,
    config: VLMRunConfig,
    bf16: bool = False,
    seeds: Sequence[int] | None = None,
) -> dict[str, float]:
    """Episodes on ``config.eval_split`` at ``config.eval_temperature``: ``eval/success_rate``, ``eval/reward``, ...

    Args:
        seeds: the episodes' reset seeds; default :func:`eval_seeds` (a process of a launched run passes its share).
    """
    policy = HFPolicy(
        model,
        processor,
        max_new_tokens=config.max_new_tokens,
        temperature=config.eval_temperature,
        batch_size=config.generation_batch_size,
    )
    seeds = eval_seeds(config) if seeds is None else seeds
    trajectories = held_out_episodes(policy, envs, seeds, config.eval_split, bf16)
    return {f"eval/{key}": value for key, value in summarize(trajectories).items()}


@torch.no_grad()
def held_out_episodes(
    policy: HFPolicy, envs: gym.vector.VectorEnv, seeds: Sequence[int], split: str, bf16: bool = False
) -> list[Trajectory]:
    """One episode of ``envs`` per reset seed on ``split``, played by ``policy`` with its model in eval mode (its
    train mode restored afterwards)."""
    collector = RolloutCollector(envs, policy, record_logprobs=False, check_images=False)
    model = policy.model
    was_training = model.training
    model.eval()
    with autocast(model.device, bf16):
        trajectories = collector.collect(seeds, options={"split": split})
    model.train(was_training)
    return trajectories


def join_processes(config: VLMRunConfig) -> tuple[DataParallel, torch.device, bool]:
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
    """A VLM learner's run (SFT, GRPO): the :class:`~vista_agents.run_session.RunSession` plus the model, its optimiser
    and the envs, set up from a config or resumed from the latest checkpoint.

    A learner's loop runs steps ``start_step .. total_steps - 1`` and ends each with :meth:`end_step`.

    In a launched run every process holds a Session (see :mod:`vista_agents.distributed`): the loss's forward
    passes go through ``training_model``, the DDP- or FSDP-wrapped model, while ``loaded.model``
    generates; only rank 0 logs. In one process ``training_model`` is ``loaded.model``.
    """

    config: VLMRunConfig
    run: RunSession
    device: torch.device
    bf16: bool
    loaded: LoadedModel
    parameters: list[torch.nn.Parameter]
    optimizer: torch.optim.Optimizer
    envs: gym.vector.VectorEnv
    checkpoint: Path | None
    training_model: torch.nn.Module

    @classmethod
    def start(cls, config: VLMRunConfig, total_steps: int) -> Session:
        """Start the run, load the model (from the latest checkpoint when ``config.resume``), build the optimiser
        and envs; a fresh run logs an evaluation of the initial model as step 0."""
        parallel, device, bf16 = join_processes(config)
        if parallel.sharded and config.lora_rank:
            raise ValueError(
                "LoRA under FSDP is not supported: adapters are small, train them with DDP "
                "(configs/accelerate/ddp.yaml)"
            )
        run = RunSession.start(config, total_steps, parallel=parallel)
        checkpoint = run.checkpoints[""]
        loaded = load_model(config, device, checkpoint)
        training_model, optimizer = parallel.prepare(
            loaded.model, make_optimizer(config, loaded.trainable_parameters())
        )
        # FSDP replaces the parameters by shards; in one process and under DDP these are the loaded ones.
        parameters = [parameter for parameter in training_model.parameters() if parameter.requires_grad]
        if run.resumed:
            parallel.load_optimizer_state(training_model, optimizer, run.states[""]["optimizer"])
            run.restore_rng()
        envs = make_envs(config)
        session = cls(config, run, device, bf16, loaded, parameters, optimizer, envs, checkpoint, training_model)
        session.schedule(run.start_step)
        if not run.resumed:
            run.log(0, session.evaluate())
        return session

    @property
    def parallel(self) -> DataParallel:
        return self.run.parallel

    @property
    def start_step(self) -> int:
        return self.run.start_step

    def share_of_tasks(self, seeds: Sequence[int], step: int) -> Sequence[int]:
        """This process's share of a step's task seeds (all of them in one process); in a launched run each process's
        sampler is also seeded for the step, so that processes draw different samples and a resumed run the same."""
        self.parallel.reseed(self.config.seed, step)
        return self.parallel.shard(seeds, "tasks")

    @contextlib.contextmanager
    def sampling(self) -> Iterator[None]:
        """Around rollouts: the model in eval mode, no gradients, bf16 when on (and FSDP's root weights gathered)."""
        self.loaded.model.eval()
        with torch.no_grad(), autocast(self.device, self.bf16), self.parallel.generating(self.loaded.model):
            yield

    def evaluate(self) -> dict[str, float]:
        """Evaluate the current model; in a launched run each process plays its share of the episodes, and
        every process gets the means over all of them."""
        seeds = self.parallel.shard(eval_seeds(self.config), "evaluation episodes")
        with self.parallel.generating(self.loaded.model):
            metrics = evaluate_policy(
                self.loaded.model, self.loaded.processor, self.envs, self.config, self.bf16, seeds
            )
        return self.parallel.mean(metrics, weight=len(seeds))

    def end_step(self, done: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """After ``done`` completed steps: evaluate when due, log ``metrics``, checkpoint when due; returns the logged
        row.

        In a launched run every process calls it with the metrics reduced over all processes.
        """
        row = self.run.end_step(done, metrics, evaluate=self.evaluate, save=self.save)
        self.schedule(done)
        return row

    def schedule(self, step: int) -> None:
        """Set the optimiser's learning rate for step ``step`` (``config.lr_scheduler``, ``config.warmup_steps``)."""
        set_learning_rate(self.optimizer, self.config.learning_rate_at(step, self.run.total_steps))

    def save(self, step: int) -> Path:
        """Rank 0 writes the checkpoint of ``step`` completed steps (under FSDP every process helps gather it); returns
        its path."""
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
        """Close the envs and the log; every process returns rank 0's metric rows."""
        self.envs.close()
        return TrainResult(self.run.close(), self.checkpoint)
