"""Data-parallel plumbing for the learners: this process's place in a multi-process run, its share of the
work, gradient accumulation that all-reduces once per optimiser step, and metric reduction.

``accelerate launch`` (or ``torchrun``) starts one process per GPU, each running the same learner; they
tell each process its place through ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``. accelerate's
``Accelerator`` then joins the process group (NCCL on GPUs, gloo on CPUs) and wraps the model as the
launch config says: DDP, or FSDP with ``configs/accelerate/fsdp.yaml``. Each process works on its own
:func:`shard` of the step's tasks, and the processes meet only where they must: the gradient all-reduce
(or FSDP's gathers), the metric reductions, and rank 0's checkpoints.

Without a launcher there is one process, :class:`DataParallel` holds no ``Accelerator`` and everything
here is the identity: shards are whole, reductions return their input, nothing is wrapped.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
import torch.distributed as dist
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType

__all__ = ["DataParallel", "launched_processes", "shard"]

T = TypeVar("T")


def launched_processes() -> int:
    """How many processes the launcher started (``WORLD_SIZE``); 1 without a launcher."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def shard(items: Sequence[T], rank: int, world_size: int) -> Sequence[T]:
    """Process ``rank``'s contiguous share of ``items``, in order.

    The shares of ranks ``0 .. world_size - 1`` are disjoint, cover ``items`` and differ in size by at most
    one: the first ``len(items) % world_size`` ranks take one item more. A slice keeps the type of
    ``items`` (a ``range`` gives a ``range``).
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    base, extra = divmod(len(items), world_size)
    start = rank * base + min(rank, extra)
    return items[start : start + base + (rank < extra)]


class DataParallel:
    """This process's place in a data-parallel run, and the collective operations the learners need.

    ``DataParallel()`` is a run of one process; :meth:`from_environment` joins a launched run. Every
    collective method (:meth:`accumulate`, :meth:`sum`, :meth:`max`, :meth:`mean`, :meth:`gather`,
    :meth:`broadcast`; under FSDP also :meth:`generating` and :meth:`checkpoint_states`) must be called by
    every rank in the same order.

    Args:
        accelerator: the ``Accelerator`` of a launched run; None for a single process.
    """

    def __init__(self, accelerator: Accelerator | None = None):
        self.accelerator = accelerator

    @classmethod
    def from_environment(cls, cpu: bool, bf16: bool) -> DataParallel:
        """Join the run the launcher started.

        Args:
            cpu: run on CPUs (gloo) rather than on this process's GPU (``cuda:LOCAL_RANK``, NCCL).
            bf16: the learner's bf16 setting; it overrides the launch config's ``mixed_precision`` so that
                ``--bf16`` decides in every setup (under FSDP it also sets the dtype of the all-gathers).
        """
        # VLMs have weights the loss never reaches (LLaVA takes image features from a hidden state of the
        # vision tower, so its post-layernorm gets no gradient): DDP must look for them.
        ddp = DistributedDataParallelKwargs(find_unused_parameters=True)
        accelerator = Accelerator(cpu=cpu, mixed_precision="bf16" if bf16 else "no", kwargs_handlers=[ddp])
        if accelerator.distributed_type == DistributedType.FSDP and not accelerator.is_fsdp2:
            # FSDP1 wraps the model in a module without generate(); FSDP2 shards it in place.
            raise ValueError("the learners need FSDP2: set fsdp_version: 2 in the accelerate config")
        return cls(accelerator)

    # -- where this process stands -------------------------------------------------------------------

    @property
    def rank(self) -> int:
        return self.accelerator.process_index if self.accelerator else 0

    @property
    def world_size(self) -> int:
        return self.accelerator.num_processes if self.accelerator else 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs, writes checkpoints and shows the progress bar."""
        return self.rank == 0

    @property
    def device(self) -> torch.device:
        """This process's device (only meaningful in a launched run; a single process uses the config's)."""
        return self.accelerator.device if self.accelerator else torch.device("cpu")

    @property
    def sharded(self) -> bool:
        """Whether the model's weights are split across the ranks (FSDP) rather than replicated (DDP)."""
        return self.accelerator is not None and self.accelerator.distributed_type == DistributedType.FSDP

    def shard(self, items: Sequence[T], what: str) -> Sequence[T]:
        """This rank's share of ``items`` (see :func:`shard`); ``what`` names them in the error when a rank would get
        none."""
        if len(items) < self.world_size:
            raise ValueError(
                f"{len(items)} {what} cannot be shared by {self.world_size} processes: every process needs at least one"
            )
        return shard(items, self.rank, self.world_size)

    def reseed(self, seed: int, step: int) -> None:
        """In a launched run, seed torch's sampler from ``(seed, step, rank)``: ranks draw different samples,
        and a run resumed at ``step`` draws the same ones as the original. A single process keeps its one
        RNG stream (checkpoints save and restore it)."""
        if self.world_size > 1:
            torch.manual_seed(int(np.random.default_rng([seed, step, self.rank]).integers(2**63)))

    # -- training ------------------------------------------------------------------------------------

    def prepare(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer
    ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        """The model as training forward passes must call it (DDP- or FSDP-wrapped) and its optimiser.

        Under DDP the wrapper shares ``model``'s parameters, so ``model`` itself still generates and saves;
        FSDP shards ``model`` in place.
        """
        if self.accelerator is None:
            return model, optimizer
        return self.accelerator.prepare(model, optimizer)

    def accumulate(
        self, model: torch.nn.Module, micro_batches: Sequence[T], placeholder: T
    ) -> Iterator[tuple[T, float]]:
        """The ``(micro_batch, weight)`` pairs of one optimiser step's gradient accumulation.

        Run each one's forward and backward inside the loop body: all but the last run under ``no_sync``,
        so the gradients are all-reduced once per optimiser step, not once per micro-batch. Every rank
        must run as many passes as the rank with the most micro-batches (DDP pairs up the ranks' last
        backward passes, FSDP every forward), so a rank with fewer yields ``(placeholder, 0.0)`` for the
        rest: multiply its loss by the weight and it adds nothing to the gradient.
        """
        count = int(self.max([len(micro_batches)])[0])
        padded = [(micro, 1.0) for micro in micro_batches] + [(placeholder, 0.0)] * (count - len(micro_batches))
        for index, pair in enumerate(padded):
            syncs = self.accelerator is None or index == count - 1
            with contextlib.nullcontext() if syncs else self.accelerator.no_sync(model):
                yield pair

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of a micro-batch loss that is its share of the loss of every rank's minibatch.

        DDP (and FSDP) average the ranks' gradients; scaling by the world size makes that the sum, so the
        gradient is that of the whole minibatch, as one process would compute it.
        """
        (loss * self.world_size).backward()

    @contextlib.contextmanager
    def generating(self, model: torch.nn.Module) -> Iterator[None]:
        """Around rollouts: under FSDP, gather the weights of the model's root (what no auto-wrapped layer holds,
        e.g. the vision tower) on entry and free them on exit. transformers' generate() computes image
        features outside forward(), before FSDP would gather them itself. Elsewhere, nothing."""
        if not self.sharded:
            yield
            return
        model.unshard()
        try:
            yield
        finally:
            model.reshard()

    # -- reductions ----------------------------------------------------------------------------------

    def sum(self, values: Sequence[float]) -> list[float]:
        """Element-wise sums over the ranks."""
        return self._all_reduce(values, dist.ReduceOp.SUM)

    def max(self, values: Sequence[float]) -> list[float]:
        """Element-wise maxima over the ranks."""
        return self._all_reduce(values, dist.ReduceOp.MAX)

    def mean(self, metrics: dict[str, float], weight: float) -> dict[str, float]:
        """Each metric's mean over the ranks, a rank's value weighted by ``weight`` (e.g. its episodes).

        NaN values (a rank with nothing to measure) are left out; a metric no rank measured stays NaN.
        Every rank must pass the same keys in the same order.
        """
        values = [float(value) for value in metrics.values()]
        if self.accelerator is None:
            return dict(zip(metrics, values))
        measured = [weight if math.isfinite(value) else 0.0 for value in values]
        totals = self.sum([value * w if w else 0.0 for value, w in zip(values, measured)] + measured)
        sums, weights = totals[: len(values)], totals[len(values) :]
        return {name: total / w if w else float("nan") for name, total, w in zip(metrics, sums, weights)}

    def gather(self, values: Sequence[float]) -> list[float]:
        """Every rank's ``values``, concatenated in rank order."""
        if self.accelerator is None:
            return list(values)
        gathered: list[Any] = [None] * self.world_size
        dist.all_gather_object(gathered, list(values))
        return [value for rank_values in gathered for value in rank_values]

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value``, on every rank."""
        if self.accelerator is None:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def _all_reduce(self, values: Sequence[float], op: dist.ReduceOp) -> list[float]:
        if self.accelerator is None:
            return [float(value) for value in values]
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=op)
        return tensor.tolist()

    # -- checkpoint states ---------------------------------------------------------------------------

    def checkpoint_states(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        """What a checkpoint must write instead of the model's and optimiser's own state dicts.

        Empty unless the model is sharded; under FSDP, the full weights and optimiser state gathered on
        rank 0 (``model_state``, ``optimizer_state``): a collective, every rank calls it.
        """
        if not self.sharded:
            return {}
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        options = StateDictOptions(full_state_dict=True, cpu_offload=True)
        return {
            "model_state": self.accelerator.get_state_dict(model),
            "optimizer_state": get_optimizer_state_dict(model, optimizer.optimizer, options=options),
        }

    def load_optimizer_state(
        self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any]
    ) -> None:
        """Restore a checkpoint's optimiser state into the prepared ``optimizer`` (under FSDP, resharded from the full
        state)."""
        if not self.sharded:
            optimizer.load_state_dict(state)
            return
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

        # Not strict: weights that never got a gradient (see from_environment) have no optimiser state.
        set_optimizer_state_dict(
            model, optimizer.optimizer, state, options=StateDictOptions(full_state_dict=True, strict=False)
        )
