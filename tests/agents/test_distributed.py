"""Data-parallel learners: seed sharding, reductions and gradient accumulation across processes, the accelerate
configs, and GRPO/SFT runs of two CPU processes (torchrun, gloo) on the tiny model."""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy
from transformers import AutoModelForImageTextToText
from transformers.models.qwen2_5_vl import modeling_qwen2_5_vl

from vista_agents.checkpoint import save_checkpoint
from vista_agents.distributed import DataParallel, shard
from vista_agents.grpo import GRPO_METRICS, GRPOConfig, task_seeds
from vista_agents.run_log import read_metrics
from vista_agents.sft import SFTConfig
from vista_agents.sft import train as train_sft
from vista_agents.training import eval_seeds

import repo_paths

REPO = repo_paths.REPO
COUNTING = {"families": ["counting"], "difficulty": 1, "image_size": 64}

# -- sharding --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("count", "world_size"), [(12, 4), (10, 3), (7, 2), (3, 5), (0, 2)])
def test_shards_are_disjoint_cover_the_items_in_order_and_differ_in_size_by_at_most_one(count, world_size):
    items = [f"task{i}" for i in range(count)]
    shares = [shard(items, rank, world_size) for rank in range(world_size)]
    assert [item for share in shares for item in share] == items
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1
    assert sizes == sorted(sizes, reverse=True)  # the first len % world_size ranks take the extra item


def test_a_shard_is_the_same_every_time_and_a_range_stays_a_range():
    assert shard(range(10), 1, 3) == range(4, 7)
    assert shard(list(range(10)), 1, 3) == shard(list(range(10)), 1, 3) == [4, 5, 6]


def test_shard_rejects_a_rank_outside_the_run():
    with pytest.raises(ValueError, match="rank"):
        shard(range(4), 2, 2)


def test_a_process_left_without_tasks_is_refused_with_the_counts():
    second_of_three = DataParallel(SimpleNamespace(process_index=1, num_processes=3))
    assert second_of_three.shard(range(7), "tasks") == range(3, 5)
    with pytest.raises(ValueError, match="2 tasks cannot be shared by 3 processes"):
        second_of_three.shard(range(2), "tasks")


# -- one process: the identity -----------------------------------------------------------------------


def test_a_single_process_keeps_everything_and_reduces_nothing():
    single = DataParallel()
    assert (single.rank, single.world_size, single.is_main, single.sharded) == (0, 1, True, False)
    assert single.shard(range(5), "tasks") == range(5)
    assert single.sum([1, 2.5]) == [1.0, 2.5] and single.max([3]) == [3.0]
    assert single.gather([0.5, 1.5]) == [0.5, 1.5] and single.broadcast("mine") == "mine"
    means = single.mean({"reward": 0.25, "loss": float("nan")}, weight=7)
    assert means["reward"] == 0.25 and math.isnan(means["loss"])


def test_a_single_process_accumulates_every_micro_batch_at_full_weight_and_unscaled_gradients():
    single = DataParallel()
    model = torch.nn.Linear(2, 1, bias=False)
    assert list(single.accumulate(model, ["a", "b", "c"], placeholder="unused")) == [("a", 1.0), ("b", 1.0), ("c", 1.0)]
    single.backward(model(torch.tensor([[1.0, 2.0]])).sum())
    assert model.weight.grad.tolist() == [[1.0, 2.0]]


# -- two processes: reductions and gradient accumulation ---------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launch(script: Path, *arguments: str, processes: int = 2, timeout: float = 600) -> None:
    """Run ``script`` as one torchrun job of ``processes`` CPU processes; fail with their output if one fails."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", str(processes)]
    command += ["--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(script), *arguments]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    finished = subprocess.run(command, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-8000:]


COLLECTIVES = r'''
"""Each of two processes reduces its own numbers and accumulates gradients over its own micro-batches."""
import json, sys
import torch
from vista_agents.distributed import DataParallel

parallel = DataParallel.from_environment(cpu=True, bf16=False)
rank, nan = parallel.rank, float("nan")
results = {
    "sum": parallel.sum([rank + 1, 10]),
    "max": parallel.max([rank, -rank]),
    # rank 0 measured a loss over 3 tokens and no KL; rank 1 both over 1 token
    "mean": parallel.mean({"loss": [1.0, 4.0][rank], "kl": [nan, 2.0][rank], "unmeasured": nan}, weight=[3, 1][rank]),
    "gather": parallel.gather([rank] * (rank + 1)),
    "broadcast": parallel.broadcast(f"from rank {rank}"),
}

# The mean of w.x over 4 rows: rank 0 holds 3 (three micro-batches of one row), rank 1 holds 1.
model = torch.nn.Linear(3, 1, bias=False)
rows = torch.arange(12.0).view(4, 3)
mine = [rows[:3], rows[3:]][rank]
trained, _ = parallel.prepare(model, torch.optim.SGD(model.parameters(), lr=0.0))
weights, grads = [], []  # after each pass
for micro, weight in parallel.accumulate(trained, [mine[i : i + 1] for i in range(len(mine))], placeholder=mine[:1]):
    weights.append(weight)
    parallel.backward(trained(micro).sum() / len(rows) * weight)
    grads.append(model.weight.grad.flatten().tolist())
results.update(weights=weights, grads=grads)
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as handle:
    json.dump(results, handle)
torch.distributed.destroy_process_group()
'''


def test_two_processes_reduce_metrics_and_all_reduce_gradients_once_per_optimiser_step(tmp_path):
    script = tmp_path / "collectives.py"
    script.write_text(COLLECTIVES)
    launch(script, str(tmp_path))
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    for rank, results in enumerate(ranks):
        assert results["sum"] == [3.0, 20.0] and results["max"] == [1.0, 0.0]
        assert results["mean"]["loss"] == pytest.approx((1.0 * 3 + 4.0 * 1) / 4)
        assert results["mean"]["kl"] == 2.0  # rank 0's NaN is left out
        assert math.isnan(results["mean"]["unmeasured"])
        assert results["gather"] == [0.0, 1.0, 1.0] and results["broadcast"] == "from rank 0"
        # Rank 1 pads its one micro-batch with two zero-weight passes.
        assert results["weights"] == [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]][rank]
    # Before the last pass each rank holds its own rows' gradient (x 2 processes / 4 rows): nothing was all-reduced.
    rows = torch.arange(12.0).view(4, 3)
    torch.testing.assert_close(torch.tensor(ranks[0]["grads"][:2]), torch.stack([rows[:1].sum(0), rows[:2].sum(0)]) / 2)
    torch.testing.assert_close(torch.tensor(ranks[1]["grads"][:2]), torch.stack([rows[3], rows[3]]) / 2)
    # After it, both hold the gradient of the mean over all four rows.
    for results in ranks:
        torch.testing.assert_close(torch.tensor(results["grads"][2]), rows.sum(0) / 4)


# -- the accelerate configs ------------------------------------------------------------------------


def launch_environment(config_file: Path) -> tuple[SimpleNamespace, dict[str, str]]:
    """What ``accelerate launch --config_file config_file`` would start: its arguments and the processes'
    environment."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    arguments, _, _ = _validate_launch_command(
        launch_command_parser().parse_args(["--config_file", str(config_file), "train.py"])
    )
    return arguments, prepare_multi_gpu_env(arguments)


def test_the_ddp_config_launches_one_bf16_process_per_gpu():
    arguments, env = launch_environment(REPO / "configs/accelerate/ddp.yaml")
    assert arguments.multi_gpu and not arguments.use_fsdp and arguments.num_processes > 1
    assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_the_fsdp_config_fully_shards_qwen2_5_vl_blocks_with_fsdp2_in_bf16(monkeypatch):
    from accelerate.utils import FullyShardedDataParallelPlugin

    arguments, env = launch_environment(REPO / "configs/accelerate/fsdp.yaml")
    assert arguments.use_fsdp and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    plugin = FullyShardedDataParallelPlugin()  # reads the launch environment, as the Accelerator of each process does
    assert plugin.fsdp_version == 2 and plugin.reshard_after_forward is True
    assert plugin.auto_wrap_policy is transformer_auto_wrap_policy
    # The wrapped classes are the blocks transformers itself keeps whole in Qwen2.5-VL.
    qwen2_5_vl = modeling_qwen2_5_vl.Qwen2_5_VLForConditionalGeneration
    assert set(plugin.transformer_cls_names_to_wrap) == set(qwen2_5_vl._no_split_modules)


# -- two-process training runs -----------------------------------------------------------------------

DRIVER = r'''
"""One process of a data-parallel training run that records, for the test, what it collected and wrote."""
import json, os, sys
from pathlib import Path
import torch
import vista_agents.rollout
import vista_agents.run_session
import vista_agents.training
from vista_agents import grpo, sft

algorithm, settings, record = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
rank = int(os.environ["RANK"])
collected, writes = [], []

collect = vista_agents.rollout.RolloutCollector.collect
def recording_collect(self, seeds, group_size=1, options=None):
    trajectories = collect(self, seeds, group_size, options)
    collected.append({
        "split": options["split"],
        "seeds": [int(seed) for seed in seeds],
        "rewards": [t.reward for t in trajectories],
        "successes": [t.success for t in trajectories],
        "tokens": [t.num_policy_tokens for t in trajectories],
    })
    return trajectories
vista_agents.rollout.RolloutCollector.collect = recording_collect

class RecordingLogger(vista_agents.run_session.RunLogger):
    def __init__(self, *args, **kwargs):
        writes.append("metrics")
        super().__init__(*args, **kwargs)
vista_agents.run_session.RunLogger = RecordingLogger

save_checkpoint = vista_agents.training.save_checkpoint
def recording_save_checkpoint(*args, **kwargs):
    writes.append("checkpoint")
    return save_checkpoint(*args, **kwargs)
vista_agents.training.save_checkpoint = recording_save_checkpoint

close = vista_agents.training.Session.close
def recording_close(self):
    torch.save(self.loaded.model.state_dict(), record / f"weights{rank}.pt")
    return close(self)
vista_agents.training.Session.close = recording_close

if algorithm == "grpo":
    result = grpo.train(grpo.GRPOConfig(**settings))
else:
    result = sft.train(sft.SFTConfig(**settings))
with open(record / f"rank{rank}.json", "w") as handle:
    record_of_run = {"collected": collected, "writes": writes, "metrics": result.metrics}
    json.dump({**record_of_run, "checkpoint": str(result.checkpoint)}, handle)
torch.distributed.destroy_process_group()  # as vista-agents does: gloo's threads must not outlive the interpreter
if globals().get("SKIP_FINALISATION"):  # set by FORCE_FSDP, which says why
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
'''


# accelerate runs FSDP on GPUs only: on these CPU processes, put it in the FSDP2 mode the FSDP config selects
# on GPUs, wrapping the tiny model's Qwen2 decoder layers.
FORCE_FSDP = r"""
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin
import vista_agents.distributed

prepare = vista_agents.distributed.DataParallel.prepare
def fsdp_prepare(self, model, optimizer):
    state = self.accelerator.state
    state.fsdp_plugin = FullyShardedDataParallelPlugin(
        fsdp_version=2, auto_wrap_policy="transformer_based_wrap", transformer_cls_names_to_wrap=["Qwen2DecoderLayer"]
    )
    state.distributed_type = DistributedType.FSDP
    prepared = prepare(self, model, optimizer)
    state.distributed_type = DistributedType.FSDP  # preparing sets it back to the CPU type
    return prepared
vista_agents.distributed.DataParallel.prepare = fsdp_prepare
# FSDP2 on gloo (a configuration only this prelude makes) sometimes aborts in the interpreter's finalisation, after
# a clean destroy_process_group ("terminate called without an active exception": one run in five on a loaded 2-core
# machine; none seen with DDP): the driver has written everything by then, so it leaves without finalising.
SKIP_FINALISATION = True
"""


def run_two_processes(algorithm: str, config: GRPOConfig | SFTConfig, record: Path, prelude: str = "") -> list[dict]:
    """Train ``config`` with two processes (after running ``prelude`` in each); returns what each recorded (its
    weights are ``record/weights<rank>.pt``)."""
    record.mkdir(parents=True, exist_ok=True)
    script = record / "driver.py"
    script.write_text(prelude + DRIVER)
    launch(script, algorithm, json.dumps(dataclasses.asdict(config)), str(record))
    return [json.loads((record / f"rank{rank}.json").read_text()) for rank in range(2)]


def grpo_config(model: Path, output_dir: Path) -> GRPOConfig:
    """Two GRPO steps on 3 tasks (2 for rank 0, 1 for rank 1); a tight length budget makes the rewards vary."""
    return GRPOConfig(
        model=str(model),
        env_kwargs={**COUNTING, "length_budget": 16, "length_weight": 1.0},
        output_dir=str(output_dir),
        total_steps=2,
        num_tasks=3,
        group_size=4,
        num_envs=8,
        max_new_tokens=12,
        micro_batch_size=3,
        num_minibatches=2,
        num_epochs=2,
        kl_coef=0.05,
        learning_rate=1e-3,
        eval_episodes=3,
        checkpoint_every=1,
        progress_bar=False,
    )


@pytest.fixture(scope="module")
def grpo_run(tiny_vlm_32px, tmp_path_factory):
    root = tmp_path_factory.mktemp("grpo-ddp")
    config = grpo_config(tiny_vlm_32px, root / "run")
    return config, run_two_processes("grpo", config, root / "record"), root / "record"


def test_both_processes_end_with_the_same_changed_weights(tiny_vlm_32px, grpo_run):
    _, _, record = grpo_run
    rank0, rank1 = (torch.load(record / f"weights{rank}.pt") for rank in range(2))
    assert all(torch.equal(rank0[name], rank1[name]) for name in rank0)
    initial = AutoModelForImageTextToText.from_pretrained(tiny_vlm_32px).state_dict()
    changed = [name for name in initial if not torch.equal(initial[name], rank0[name])]
    assert len(changed) > len(initial) // 2


def test_only_rank_0_writes_metrics_and_checkpoints_and_every_rank_returns_them(grpo_run):
    config, ranks, _ = grpo_run
    assert ranks[0]["writes"] == ["metrics", "checkpoint", "checkpoint"] and ranks[1]["writes"] == []
    rows = read_metrics(config.output_dir)
    assert [row["step"] for row in rows] == [0, 1, 2]
    assert ranks[0]["metrics"] == ranks[1]["metrics"] == rows
    assert (
        ranks[0]["checkpoint"] == ranks[1]["checkpoint"] == str(Path(config.output_dir) / "checkpoints" / "step_000002")
    )
    assert not [name for name in GRPO_METRICS if rows[-1].get(name) is None]


def test_the_ranks_split_each_steps_tasks_and_the_metrics_cover_both_ranks_episodes(grpo_run):
    config, ranks, _ = grpo_run
    rows = read_metrics(config.output_dir)
    train_batches = [[batch for batch in rank["collected"] if batch["split"] == "train"] for rank in ranks]
    for step in range(config.total_steps):
        shares = [batches[step] for batches in train_batches]
        assert [len(share["seeds"]) for share in shares] == [2, 1]
        assert shares[0]["seeds"] + shares[1]["seeds"] == task_seeds(config.seed, step, config.num_tasks)
        rewards = shares[0]["rewards"] + shares[1]["rewards"]
        row = rows[step + 1]
        assert len(rewards) == config.num_tasks * config.group_size
        assert row["reward"] == pytest.approx(np.mean(rewards))
        assert row["reward_std"] == pytest.approx(np.std(rewards, ddof=1), rel=1e-5)
        assert row["success_rate"] == pytest.approx(np.mean(shares[0]["successes"] + shares[1]["successes"]))
        assert row["policy_tokens"] == pytest.approx(np.mean(shares[0]["tokens"] + shares[1]["tokens"]))
    evaluations = [[batch for batch in rank["collected"] if batch["split"] == config.eval_split] for rank in ranks]
    assert evaluations[0][0]["seeds"] + evaluations[1][0]["seeds"] == list(eval_seeds(config))
    assert rows[0]["eval/reward"] == pytest.approx(np.mean(evaluations[0][0]["rewards"] + evaluations[1][0]["rewards"]))


@pytest.mark.slow
def test_a_resumed_two_process_run_repeats_the_interrupted_step(grpo_run, tmp_path):
    config, ranks, _ = grpo_run
    (
        Path(config.output_dir) / "checkpoints" / "step_000002" / "trainer_state.pt"
    ).unlink()  # step 2 never finished saving
    resumed = run_two_processes("grpo", dataclasses.replace(config, resume=True), tmp_path)
    original, again = ranks[0]["metrics"][-1], resumed[0]["metrics"][-1]
    assert [row["step"] for row in resumed[0]["metrics"]] == [0, 1, 2]
    assert [batch["split"] for batch in resumed[0]["collected"]] == ["train", config.eval_split]  # no step-0 evaluation
    for name in GRPO_METRICS:
        if not name.startswith("time/") and name != "completions_per_s":
            assert again[name] == pytest.approx(original[name], rel=1e-5, abs=1e-7), name


@pytest.mark.slow
def test_two_process_sft_trains_the_same_weights_as_one_process(tiny_vlm_32px, tmp_path):
    # 13 demonstrations (7 + 6): minibatches of 8 split unevenly between the ranks, in micro-batches of 3.
    config = SFTConfig(
        model=str(tiny_vlm_32px),
        env_kwargs=COUNTING,
        num_demonstrations=13,
        batch_size=8,
        micro_batch_size=3,
        max_new_tokens=8,
        eval_episodes=3,
        learning_rate=5e-3,
        progress_bar=False,
        output_dir=str(tmp_path / "one"),
    )
    one = train_sft(config)
    run_two_processes("sft", dataclasses.replace(config, output_dir=str(tmp_path / "two")), tmp_path / "record")
    for single_row, parallel_row in zip(one.metrics, read_metrics(tmp_path / "two"), strict=True):
        for name in ("loss", "tokens", "eval/reward"):
            # The step-0 row is an evaluation alone: it has no loss or tokens in either run.
            if single_row.get(name) is None:
                assert parallel_row.get(name) is None, name
            else:
                assert parallel_row.get(name) == pytest.approx(single_row[name], rel=1e-5), name
    initial = AutoModelForImageTextToText.from_pretrained(tiny_vlm_32px).state_dict()
    single = AutoModelForImageTextToText.from_pretrained(one.checkpoint).state_dict()
    parallel = torch.load(tmp_path / "record" / "weights0.pt")
    assert max(float((single[name] - initial[name]).abs().max()) for name in initial) > 1e-3  # it trained
    assert max(float((single[name] - parallel[name]).abs().max()) for name in initial) < 1e-4


@pytest.mark.slow
@pytest.mark.skipif(
    "model_state" not in inspect.signature(save_checkpoint).parameters,
    reason="FSDP checkpoints need save_checkpoint(model_state=...)",
)
def test_fsdp_trains_like_ddp_and_resumes(grpo_run, tmp_path):
    config, ddp_ranks, ddp_record = grpo_run
    fsdp_config = dataclasses.replace(config, output_dir=str(tmp_path / "run"))
    fsdp_ranks = run_two_processes("grpo", fsdp_config, tmp_path / "record", prelude=FORCE_FSDP)
    for ddp_row, fsdp_row in zip(ddp_ranks[0]["metrics"], fsdp_ranks[0]["metrics"], strict=True):
        for name in ("reward", "loss", "kl", "grad_norm", "eval/reward"):
            assert fsdp_row.get(name) == pytest.approx(ddp_row.get(name), rel=1e-4, abs=1e-6), name
    # The checkpoint holds the full weights, gathered from the shards.
    ddp_weights = torch.load(ddp_record / "weights0.pt")
    fsdp_weights = AutoModelForImageTextToText.from_pretrained(
        Path(fsdp_config.output_dir) / "checkpoints" / "step_000002"
    ).state_dict()
    assert max(float((ddp_weights[name] - fsdp_weights[name]).abs().max()) for name in ddp_weights) < 1e-5
    (Path(fsdp_config.output_dir) / "checkpoints" / "step_000002" / "trainer_state.pt").unlink()
    resumed = run_two_processes(
        "grpo", dataclasses.replace(fsdp_config, resume=True), tmp_path / "resumed", prelude=FORCE_FSDP
    )
    assert resumed[0]["metrics"][-1]["loss"] == pytest.approx(fsdp_ranks[0]["metrics"][-1]["loss"], rel=1e-5)
