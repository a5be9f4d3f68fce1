"""Training checkpoints: the model, the optimiser, every RNG and the step, so a resumed run repeats the original.

A checkpoint is a directory ``<output_dir>/checkpoints/step_<N>/`` holding the model as
``save_pretrained`` writes it (the whole model, or only the LoRA adapter of a PEFT model) with its
processor, so it loads with ``from_pretrained`` (``--model`` of a next run, e.g. GRPO after SFT), and
``trainer_state.pt`` with the optimiser state, the step, the run's config and the Python, NumPy and
torch (CPU and CUDA) RNG states.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["capture_rng", "latest_checkpoint", "load_trainer_state", "restore_rng", "save_checkpoint"]

TRAINER_STATE = "trainer_state.pt"
_STEP_DIR = re.compile(r"^step_(\d+)$")


def capture_rng() -> dict[str, Any]:
    """The state of every random number generator a run draws from."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    output_dir: str | os.PathLike[str],
    step: int,
    model: Any,
    processor: Any,
    optimizer: torch.optim.Optimizer,
    config: dict[str, Any],
    model_state: dict[str, torch.Tensor] | None = None,
    optimizer_state: dict[str, Any] | None = None,
) -> Path:
    """Write the checkpoint of the state after ``step`` completed steps; returns its directory.

    Args:
        model: the trained model (a ``PreTrainedModel``, or a PEFT model whose adapter is saved).
        config: the run's config as a dict (recorded for reference; resuming uses the current config).
        model_state, optimizer_state: state dicts to write instead of ``model``'s and ``optimizer``'s own, e.g. the
            full states of a model sharded by FSDP (:meth:`agents.distributed.DataParallel.checkpoint_states`).
    """
    path = Path(output_dir) / "checkpoints" / f"step_{step:06d}"
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path, state_dict=model_state)
    processor.save_pretrained(path)
    optimizer_state = optimizer.state_dict() if optimizer_state is None else optimizer_state
    state = {"step": step, "optimizer": optimizer_state, "rng": capture_rng(), "config": config}
    torch.save(state, path / TRAINER_STATE)
    return path


def load_trainer_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``trainer_state.pt`` of a checkpoint directory (step, optimiser state, RNG states, config)."""
    # weights_only=False: the RNG states hold NumPy arrays and Python tuples; checkpoints are our own files.
    return torch.load(Path(path) / TRAINER_STATE, weights_only=False)


def latest_checkpoint(output_dir: str | os.PathLike[str]) -> Path | None:
    """The checkpoint of the most steps under ``output_dir``, or None when there is none."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return None
    steps = [(int(match.group(1)), path) for path in root.iterdir() if (match := _STEP_DIR.match(path.name)) and (path / TRAINER_STATE).exists()]
    return max(steps)[1] if steps else None
