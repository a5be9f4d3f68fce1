"""The config layers a trainer composes: :class:`RunConfig` (every trainer), :class:`EnvConfig`, :class:`ModelConfig`
(and :class:`~vista_agents.grpo_step.GRPOLossConfig` for the GRPO trainers).

One setting has one name and one meaning in every ``vista-agents train`` command; each layer checks its own
fields. Every field is a command-line flag (:mod:`vista_agents.cli`) with the line under it as its help.

========================  ==============================================================
trainer                   layers
========================  ==============================================================
SFT                       ``RunConfig`` + ``EnvConfig`` + ``ModelConfig`` (:class:`VLMRunConfig`)
GRPO                      ``VLMRunConfig`` + ``GRPOLossConfig``
VisPlay                   ``RunConfig`` + ``ModelConfig`` + ``GRPOLossConfig`` (its two role envs are its own)
PPO                       ``RunConfig`` + ``EnvConfig`` (its network is not a VLM)
========================  ==============================================================
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import types
import typing
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LR_SCHEDULERS", "ConfigLayer", "EnvConfig", "ModelConfig", "RunConfig", "VLMRunConfig", "at_least"]

LR_SCHEDULERS = ("constant", "linear", "cosine")


@dataclass
class ConfigLayer:
    """The base of every config layer: each layer's ``__post_init__`` checks its own fields, then calls the next
    layer's; this one, called first, checks every field's type against its annotation."""

    def __post_init__(self) -> None:
        # A config file or a Python caller can give any value: a string, a bool or a NaN where a number belongs
        # would otherwise pass the layers' range checks (NaN compares False) or fail deep inside a run.
        for name, annotation in _field_types(type(self)).items():
            value = getattr(self, name)
            if isinstance(value, list) and typing.get_origin(annotation) is tuple:  # JSON and TOML have no tuples
                value = tuple(value)
                setattr(self, name, value)
            if not _conforms(value, annotation):
                raise TypeError(f"{name} must be {_describe(annotation)}, got {value!r}")
            if not all(map(_finite, value if isinstance(value, tuple) else (value,))):
                raise ValueError(f"{name} must be finite, got {value!r}")


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def _finite(value: Any) -> bool:
    return not isinstance(value, numbers.Real) or math.isfinite(value)


def _conforms(value: Any, annotation: Any) -> bool:
    """Whether ``value`` is of the type ``annotation`` names: a bool is not an int, an int is a float; a tuple's
    length is its layer's check."""
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, argument) for argument in arguments)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(key, str) for key in value)
    if origin is tuple:
        return isinstance(value, tuple) and all(_conforms(item, arguments[0]) for item in value)
    return True


def at_least(config: ConfigLayer, minimum: float, *names: str) -> None:
    """Refuse the first of the fields ``names`` of ``config`` that is below ``minimum``, naming it."""
    for name in names:
        if getattr(config, name) < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {getattr(config, name)}")


def _describe(annotation: Any) -> str:
    origin, arguments = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(argument) for argument in arguments)
    if origin is tuple:
        return f"a tuple of {_describe(arguments[0]).split(' ', 1)[1]}s"
    names = {bool: "true or false", int: "an int", float: "a number", str: "a string", type(None): "None"}
    return names.get(annotation, "a dict of str keys" if origin is dict else str(annotation))


@dataclass
class RunConfig(ConfigLayer):
    """The run layer, every trainer's: seed, hardware, output folder, evaluation and checkpoint cadence, logging.

    A trainer's config composes it with the layers it needs (:class:`EnvConfig`, :class:`ModelConfig`,
    :class:`~vista_agents.grpo_step.GRPOLossConfig`); ``eval_every`` and ``checkpoint_every`` count the trainer's
    steps (``total_steps``).
    """

    output_dir: str = "runs/vista-agents"
    """where metrics (metrics.jsonl, metrics.csv), checkpoints and the final model go"""
    seed: int = 0
    """seeds torch, numpy, random, and the tasks of every step"""
    device: str = "auto"
    """'auto' (cuda when available, else cpu), 'cpu', 'cuda', 'cuda:1', ...; under a launcher only 'cpu' or not: each
    process takes its own GPU"""
    eval_every: int = 0
    """evaluate every this many steps (and before the first and after the last); 0: only before and after"""
    eval_episodes: int = 64
    """episodes per evaluation"""
    eval_split: str = "eval"
    """the task split evaluation draws from during training ('eval'; 'test' is for final reports; training uses
    'train')"""
    checkpoint_every: int = 0
    """write a checkpoint every this many steps (and after the last); 0: only after the last"""
    resume: bool = False
    """continue from the latest intact checkpoint in output_dir, with the run's own settings except total_steps, the
    hardware, batch sizes and logging (vista_agents.run_session.RESUMABLE_SETTINGS); an empty or new output_dir starts
    afresh, one whose run left no intact checkpoint is refused"""
    overwrite: bool = False
    """start afresh in an output_dir that holds another run, deleting its metrics and checkpoints (without it, or
    resume, such a folder is refused)"""
    tensorboard: bool = False
    """also log to TensorBoard (needs the tensorboard package)"""
    progress_bar: bool = True
    """show a tqdm progress bar"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.output_dir:  # "" would be the working directory (an unset variable in a script, most likely)
            raise ValueError("output_dir must name a folder, got ''")
        if self.device != "auto":
            import torch  # the learners' dependency; this module is imported by them only

            try:
                torch.device(self.device)
            except RuntimeError:
                raise ValueError(
                    f"device must be 'auto' or a torch device ('cpu', 'cuda', 'cuda:1', ...), got {self.device!r}"
                ) from None
        if not 0 <= self.seed < 2**32:  # NumPy's global generator takes no other seeds
            raise ValueError(f"seed must lie in [0, 2**32), got {self.seed}")
        # A negative cadence would silently mean 0: no evaluation or checkpoint before the end of the run.
        at_least(self, 0, "eval_every", "checkpoint_every", "eval_episodes")
        if self.resume and self.overwrite:  # else resuming would silently win
            raise ValueError(
                "resume and overwrite exclude each other: resume continues the run in output_dir, overwrite deletes it"
            )


@dataclass
class EnvConfig(ConfigLayer):
    """The env layer: which env the policy acts in and how its copies run side by side."""

    env_id: str = "VisualQA-v0"
    """the Gymnasium env id the policy acts in"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """keyword arguments of gym.make, e.g. {"families": ["counting"], "difficulty": 1}"""
    num_envs: int = 16
    """parallel envs of the vector env (episodes run in waves of this many)"""
    vectorization_mode: str = "sync"
    """'sync' (envs in this process) or 'async' (one subprocess per env); ignored when ray_address is set"""
    ray_address: str = ""
    """Ray cluster for the env workers (extra 'distributed'): '' = no Ray, 'auto' = the cluster this machine joined with
    `ray start`, 'HOST:PORT', or 'local' = start Ray here"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vectorization_mode not in ("sync", "async"):
            raise ValueError(f"vectorization_mode must be 'sync' or 'async', got {self.vectorization_mode!r}")
        if self.num_envs < 1:
            raise ValueError(f"num_envs must be >= 1, got {self.num_envs}")


@dataclass
class ModelConfig(ConfigLayer):
    """The model layer: the VLM, how it generates, its precision, LoRA and its optimiser."""

    model: str = ""
    """local model directory (AutoModelForImageTextToText + AutoProcessor), e.g. from python -m vista_agents.tiny"""
    max_new_tokens: int = 64
    """the longest policy turn in tokens"""
    generation_batch_size: int = 64
    """prompts per generate() call"""
    micro_batch_size: int = 16
    """sequences per forward/backward pass; an optimiser batch is accumulated from micro-batches of this size"""
    eval_temperature: float = 0.0
    """sampling temperature of evaluation episodes; 0 decodes greedily"""
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
    freeze_vision_tower: bool = False
    """train no weight of the vision encoder (as EasyR1's freeze_vision_tower); the projector and text model train"""
    freeze_language_model: bool = False
    """train no weight of the text model or its output head (as LLaMA-Factory's freeze_language_model): only the
    vision encoder and projector learn, so a reward can sharpen what the model sees without moving how it answers"""
    learning_rate: float = 1e-5
    """AdamW learning rate (its peak when lr_scheduler is not 'constant')"""
    lr_scheduler: str = "constant"
    """how the learning rate moves over the run's steps after the warmup: 'constant', 'linear' (down to 0) or 'cosine'
    (down to 0)"""
    warmup_steps: int = 0
    """steps over which the learning rate rises linearly to learning_rate"""
    weight_decay: float = 0.0
    """AdamW weight decay"""
    adam_betas: tuple[float, float] = (0.9, 0.99)
    """AdamW betas"""
    max_grad_norm: float = 1.0
    """clip the global gradient norm to this; 0 disables clipping"""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr_scheduler not in LR_SCHEDULERS:
            raise ValueError(f"lr_scheduler must be one of {LR_SCHEDULERS}, got {self.lr_scheduler!r}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")
        at_least(self, 1, "max_new_tokens", "generation_batch_size", "micro_batch_size")
        # max_grad_norm 0 disables clipping; below 0 it would do so silently.
        at_least(self, 0, "eval_temperature", "lora_rank", "learning_rate", "weight_decay", "max_grad_norm")
        if self.lora_alpha <= 0 or not 0 <= self.lora_dropout < 1:
            raise ValueError(
                f"lora_alpha must be > 0 and lora_dropout in [0, 1), got {self.lora_alpha} and {self.lora_dropout}"
            )
        if len(self.adam_betas) != 2 or not all(0 <= beta < 1 for beta in self.adam_betas):
            raise ValueError(f"adam_betas must be two numbers in [0, 1), got {self.adam_betas}")

    def learning_rate_at(self, step: int, total_steps: int) -> float:
        """The learning rate of step ``step`` (0-based) of a run of ``total_steps``: a function of the step alone, so a
        resumed run continues the schedule where it stopped."""
        if step < self.warmup_steps:
            return self.learning_rate * (step + 1) / (self.warmup_steps + 1)
        if self.lr_scheduler == "constant":
            return self.learning_rate
        progress = (step - self.warmup_steps) / max(1, total_steps - self.warmup_steps)
        if self.lr_scheduler == "linear":
            return self.learning_rate * (1.0 - progress)
        return self.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass
class VLMRunConfig(ModelConfig, EnvConfig, RunConfig):
    """The layers SFT and GRPO share: a VLM (:class:`ModelConfig`) acting in an env (:class:`EnvConfig`), in a run
    (:class:`RunConfig`)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(self, 1, "eval_episodes")  # SFT and GRPO evaluate before the first step and after the last
