"""Training checkpoints: the model, the optimiser, every RNG and the step, so a resumed run repeats the original.

A checkpoint is a directory ``<output_dir>/checkpoints/step_<N>/`` holding the model as
``save_pretrained`` writes it (the whole model, or only the LoRA adapter of a PEFT model) with its
processor, so it loads with ``from_pretrained`` (``--model`` of a next run, e.g. GRPO after SFT), and
``trainer_state.pt`` with the optimiser state, the step, the run's config and the Python, NumPy and
torch (CPU and CUDA) RNG states.

Checkpoints are written atomically (:func:`writing_checkpoint`): into a hidden staging directory that is
renamed to ``step_<N>`` only once every file is written, so a save cut short (a killed job, a full disk)
never looks like a checkpoint, and :func:`latest_checkpoint` skips any checkpoint whose files are damaged.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "capture_rng",
    "checkpoint_dir",
    "latest_checkpoint",
    "load_trainer_state",
    "restore_rng",
    "save_checkpoint",
    "writing_checkpoint",
]

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


def checkpoint_dir(output_dir: str | os.PathLike[str], step: int) -> Path:
    """Where the checkpoint of ``step`` completed steps lives: ``<output_dir>/checkpoints/step_<step>``."""
    return Path(output_dir) / "checkpoints" / f"step_{step:06d}"


@contextlib.contextmanager
def writing_checkpoint(output_dir: str | os.PathLike[str], step: int) -> Iterator[Path]:
    """A staging directory to write the checkpoint of ``step`` into, renamed into place when the block ends.

    If the block raises (or the process dies) the staging directory never becomes ``step_<N>``: resuming
    sees only complete checkpoints. A checkpoint of the same step already there (a resumed run redoing
    it) is replaced.
    """
    final = checkpoint_dir(output_dir, step)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield staging
        if final.exists():
            shutil.rmtree(final)
        os.replace(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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
        config: the run's config as a dict (a resumed run may differ from it only in
            :data:`~vista_agents.run_session.RESUMABLE_SETTINGS`).
        model_state, optimizer_state: state dicts to write instead of ``model``'s and ``optimizer``'s own, e.g. the
            full states of a model sharded by FSDP (:meth:`vista_agents.distributed.DataParallel.checkpoint_states`).
    """
    optimizer_state = optimizer.state_dict() if optimizer_state is None else optimizer_state
    with writing_checkpoint(output_dir, step) as staging:
        model.save_pretrained(staging, state_dict=model_state)
        processor.save_pretrained(staging)
        state = {"step": step, "optimizer": optimizer_state, "rng": capture_rng(), "config": config}
        torch.save(state, staging / TRAINER_STATE)
    return checkpoint_dir(output_dir, step)


def load_trainer_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``trainer_state.pt`` of a checkpoint directory (step, optimiser state, RNG states, config)."""
    # weights_only=False: the RNG states hold NumPy arrays and Python tuples; checkpoints are our own files.
    return torch.load(Path(path) / TRAINER_STATE, weights_only=False)


def _damage(path: Path) -> str | None:
    """Why the checkpoint at ``path`` cannot be resumed from (a missing or corrupt file), or None when it is intact."""
    state = path / TRAINER_STATE
    if not state.is_file():
        return f"{TRAINER_STATE} is missing"
    try:  # torch.save writes a zip archive: its CRCs catch a truncated or damaged file without unpickling it
        with zipfile.ZipFile(state) as archive:
            if archive.testzip() is not None:
                return f"{TRAINER_STATE} is corrupt"
    except (zipfile.BadZipFile, OSError):
        return f"{TRAINER_STATE} is corrupt"
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.safetensors.index.json")):
        return "it holds no model weights"
    return None


def latest_checkpoint(output_dir: str | os.PathLike[str]) -> Path | None:
    """The intact checkpoint of the most steps under ``output_dir``, or None when there is none.

    A newer checkpoint with a missing or damaged file is skipped with a warning, so ``--resume`` falls back
    to the last one it can continue from.
    """
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return None
    steps = sorted(
        ((int(match.group(1)), path) for path in root.iterdir() if (match := _STEP_DIR.match(path.name))), reverse=True
    )
    for _, path in steps:
        damage = _damage(path)
        if damage is None:
            return path
        warnings.warn(f"skipping checkpoint {path}: {damage}", stacklevel=2)
    return None
