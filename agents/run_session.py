"""The life of a training run, the same for SFT, GRPO, PPO and VisPlay: claim the output folder, seed, find the
checkpoint to resume from, log one metrics row per step, and evaluate and checkpoint on the run's cadence.

What a run trains and how it saves it is the trainer's: it builds its model and optimiser after
:meth:`RunSession.start` (loading them from :attr:`RunSession.states` when resuming), calls
:meth:`RunSession.restore_rng` once everything random is built, and passes its own ``evaluate`` and
``save`` to :meth:`RunSession.end_step`. A run with several models (VisPlay's roles) keeps one checkpoint
folder per model; resuming needs their latest intact checkpoints to be of the same step.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vista_agents.checkpoint import latest_checkpoint, load_trainer_state, restore_rng
from vista_agents.config import RunConfig
from vista_agents.distributed import DataParallel
from vista_agents.run_log import RunLogger, claim_output_dir, run_artifacts

__all__ = ["RESUMABLE_SETTINGS", "RunRefused", "RunSession", "TrainResult", "is_due", "seed_everything"]

# The settings a resumed run may change: how long it goes on, where and on what hardware it runs, how it batches its
# work for memory, and what it records. Any other change (the model, the env, the seed, a hyper-parameter) would make
# it silently another run, logged as the same one.
RESUMABLE_SETTINGS = frozenset(
    {
        "output_dir",
        "resume",
        "overwrite",
        "total_steps",
        "total_timesteps",
        "device",
        "bf16",
        "gradient_checkpointing",
        "vectorization_mode",
        "ray_address",
        "torch_threads",
        "cpu_time_limit_s",
        "generation_batch_size",
        "micro_batch_size",
        "eval_every",
        "eval_episodes",
        "eval_split",
        "eval_temperature",
        "checkpoint_every",
        "tensorboard",
        "progress_bar",
    }
)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def is_due(step: int, every: int, last_step: int) -> bool:
    """Whether a periodic action (evaluation, checkpoint) happens after ``step`` completed steps."""
    return step == last_step or (every > 0 and step % every == 0)


class RunRefused(RuntimeError):
    """A run that cannot resume as asked; the message says why and what to do instead (``vista-agents train`` reports it
    in one line, as it does the :class:`FileExistsError` of an output folder that holds another run)."""


def _comparable(value: Any) -> Any:
    """A config value as its checkpoint may hold it (a list where the config now has a tuple)."""
    return tuple(value) if isinstance(value, list) else value


@dataclass
class TrainResult:
    """What a training run returns: its metric rows (as logged) and the checkpoint it ended with."""

    metrics: list[dict[str, Any]]
    checkpoint: Path | None


@dataclass
class RunSession:
    """A run of ``total_steps`` steps, started afresh or resumed; its loop runs steps ``start_step .. total_steps - 1``.

    Attributes:
        checkpoints: the checkpoint resumed from, per checkpoint folder ("" is ``output_dir`` itself; VisPlay's
            roles use ``output_dir/<role>``); None for each when the run starts afresh.
        states: the trainer states (step, optimiser, RNG, ...) of those checkpoints.
        logger: the metrics logger, opened by the first row logged; only rank 0 of a launched run has one.
    """

    config: RunConfig
    total_steps: int
    checkpoints: dict[str, Path | None]
    states: dict[str, dict[str, Any]]
    start_step: int
    parallel: DataParallel = field(default_factory=DataParallel)
    logger: RunLogger | None = field(default=None, init=False)

    @classmethod
    def start(
        cls, config: RunConfig, total_steps: int, folders: Sequence[str] = ("",), parallel: DataParallel | None = None
    ) -> RunSession:
        """Claim ``config.output_dir`` (refused when it holds another run, unless resuming or overwriting), seed
        every RNG, read the latest intact checkpoint of each of ``folders`` when ``config.resume``.

        Nothing is written yet: the metrics log opens with the first row (:meth:`log`), once the trainer has built
        its model and envs, so a run that fails to start (a model path that is not there, an unknown env id) leaves
        no metrics files that would make the corrected command refuse the folder as another run's."""
        parallel = parallel if parallel is not None else DataParallel()
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
        root = Path(config.output_dir)
        checkpoints = {folder: latest_checkpoint(root / folder) if config.resume else None for folder in folders}
        states = {folder: load_trainer_state(path) for folder, path in checkpoints.items() if path is not None}
        steps = {folder: state["step"] for folder, state in states.items()}
        if (states and len(states) < len(folders)) or len(set(steps.values())) > 1:
            found = {folder: steps.get(folder) for folder in folders}
            raise RunRefused(
                f"cannot resume: the latest checkpoints are at different steps {found}; delete the newer one"
            )
        saved = next(iter(states.values()), {}).get("config", {})
        changed = [
            f"{name} {saved[name]!r} -> {value!r}"
            for name, value in dataclasses.asdict(config).items()
            if name in saved and name not in RESUMABLE_SETTINGS and _comparable(saved[name]) != _comparable(value)
        ]
        if changed:
            raise RunRefused(
                f"cannot resume the run in {root} with other settings ({', '.join(changed)}): resume it with its own, "
                "or start a new run in another --output-dir"
            )
        left = run_artifacts(root) if config.resume and not states else []
        if left:  # starting afresh would replace the run's metrics (and, step by step, its checkpoints)
            names = ", ".join(str(path.relative_to(root)) for path in left)
            raise RunRefused(
                f"cannot resume: {root} holds a run ({names}) but no intact checkpoint to continue it from; pass "
                "--overwrite instead of --resume to delete it and start afresh, or choose another --output-dir"
            )
        start_step = next(iter(steps.values()), 0)
        return cls(config, total_steps, checkpoints, states, start_step, parallel)

    @property
    def resumed(self) -> bool:
        return bool(self.states)

    def restore_rng(self) -> None:
        """When resuming, put every RNG back as it was at the checkpoint: call it once the model, optimiser and
        envs are built (building them may draw random numbers, which the original run drew before the checkpoint)."""
        if self.states:
            restore_rng(next(iter(self.states.values()))["rng"])  # every folder saved the same step's RNG state

    def log(self, step: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """Rank 0 logs ``metrics`` as the row of ``step``; every process gets the row as written."""
        return self.parallel.broadcast(self._open_log().log(step, metrics) if self.parallel.is_main else None)

    def _open_log(self) -> RunLogger:
        """Rank 0's metrics log, opened on first use (a resumed run's rows after its checkpoint are dropped then)."""
        if self.logger is None:
            resume_step = self.start_step if self.states else None
            self.logger = RunLogger(
                self.config.output_dir, resume_step=resume_step, tensorboard=self.config.tensorboard
            )
        return self.logger

    def end_step(
        self,
        done: int,
        metrics: dict[str, Any],
        evaluate: Callable[[], dict[str, Any]] | None,
        save: Callable[[int], object],
        force: bool = False,
    ) -> dict[str, Any]:
        """After ``done`` completed steps: evaluate when due (``evaluate`` None: never), log, then checkpoint when due;
        ``force`` makes both due (a run stopping early). Returns the logged row."""
        if evaluate is not None and (force or is_due(done, self.config.eval_every, self.total_steps)):
            metrics = {**metrics, **evaluate()}
        row = self.log(done, metrics)
        if force or is_due(done, self.config.checkpoint_every, self.total_steps):
            save(done)
        return row

    def close(self) -> list[dict[str, Any]]:
        """Close the log; every process returns rank 0's metric rows."""
        rows = None
        if self.parallel.is_main:
            logger = self._open_log()
            logger.close()
            rows = logger.rows
        return self.parallel.broadcast(rows)
