"""Runs survive what happens to real runs: saves cut short, damaged checkpoints, truncated logs, reused folders."""

import json

import pytest

torch = pytest.importorskip("torch")

from vista_agents.checkpoint import TRAINER_STATE, checkpoint_dir, latest_checkpoint, writing_checkpoint  # noqa: E402
from vista_agents.run_log import RunLogger, claim_output_dir, read_metrics  # noqa: E402


def fake_checkpoint(output_dir, step):
    """A checkpoint with the files resuming needs: weights and a trainer state."""
    with writing_checkpoint(output_dir, step) as staging:
        (staging / "model.safetensors").write_bytes(b"weights")
        torch.save({"step": step}, staging / TRAINER_STATE)
    return checkpoint_dir(output_dir, step)


def test_a_save_cut_short_never_becomes_a_checkpoint_and_resume_takes_the_last_complete_one(tmp_path):
    complete = fake_checkpoint(tmp_path, 1)
    with pytest.raises(KeyboardInterrupt):
        with writing_checkpoint(tmp_path, 2) as staging:
            (staging / "model.safetensors").write_bytes(b"half")
            raise KeyboardInterrupt  # the job is killed mid-save
    assert not checkpoint_dir(tmp_path, 2).exists()
    assert list((tmp_path / "checkpoints").iterdir()) == [complete]  # no staging directory left behind
    assert latest_checkpoint(tmp_path) == complete


def test_resume_skips_a_damaged_newest_checkpoint_with_a_warning(tmp_path):
    good = fake_checkpoint(tmp_path, 1)
    truncated = fake_checkpoint(tmp_path, 2)
    state = truncated / TRAINER_STATE
    state.write_bytes(state.read_bytes()[:40])
    no_weights = fake_checkpoint(tmp_path, 3)
    (no_weights / "model.safetensors").unlink()
    with pytest.warns(UserWarning, match="skipping checkpoint") as caught:
        assert latest_checkpoint(tmp_path) == good
    assert {"it holds no model weights", "trainer_state.pt is corrupt"} <= {
        str(w.message).split(": ", 1)[1] for w in caught
    }


def test_a_checkpoint_saved_again_for_the_same_step_replaces_the_old_one(tmp_path):
    path = fake_checkpoint(tmp_path, 4)
    (path / "stale.txt").write_text("from the interrupted run")
    assert fake_checkpoint(tmp_path, 4) == path and not (path / "stale.txt").exists()


def test_a_truncated_last_metrics_line_is_dropped_and_a_resumed_log_goes_on(tmp_path):
    logger = RunLogger(tmp_path)
    logger.log(0, {"loss": 1.0})
    logger.log(1, {"loss": 0.5})
    with (tmp_path / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 2, "lo')  # killed while writing
    with pytest.warns(UserWarning, match="cut short"):
        assert [row["step"] for row in read_metrics(tmp_path)] == [0, 1]
    with pytest.warns(UserWarning, match="cut short"):
        resumed = RunLogger(tmp_path, resume_step=1)
    resumed.log(2, {"loss": 0.25})
    assert [row["step"] for row in read_metrics(tmp_path)] == [0, 1, 2]


def test_a_corrupt_metrics_line_in_the_middle_is_reported_with_its_line_number(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 0}\nnot json\n{"step": 2}\n')
    with pytest.raises(ValueError, match="line 2"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.jsonl").write_text(json.dumps({"loss": 1}) + "\n" + json.dumps({"step": 1}) + "\n")
    with pytest.raises(ValueError, match="line 1: a metrics row must be a JSON object with an int 'step'"):
        read_metrics(tmp_path)


def test_a_new_run_refuses_a_used_output_folder_unless_it_resumes_or_overwrites(tmp_path):
    claim_output_dir(tmp_path, resume=False, overwrite=False)  # empty: fine
    RunLogger(tmp_path).log(0, {"loss": 1.0})
    fake_checkpoint(tmp_path, 5)
    (tmp_path / "questioner" / "checkpoints").mkdir(parents=True)
    (tmp_path / "notes.txt").write_text("the user's own file")
    with pytest.raises(FileExistsError, match="--resume to continue it, --overwrite"):
        claim_output_dir(tmp_path, resume=False, overwrite=False)
    claim_output_dir(tmp_path, resume=True, overwrite=False)
    assert latest_checkpoint(tmp_path) is not None
    claim_output_dir(tmp_path, resume=False, overwrite=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt", "questioner"]
    assert latest_checkpoint(tmp_path) is None and read_metrics(tmp_path) == []


# -- the run session every trainer shares ----------------------------------------------------------------


def test_a_run_evaluates_and_checkpoints_on_its_cadence_and_a_forced_step_does_both(tmp_path):
    from vista_agents.config import RunConfig
    from vista_agents.run_session import RunSession

    run = RunSession.start(RunConfig(output_dir=str(tmp_path), eval_every=2, checkpoint_every=3), total_steps=5)
    evaluated, saved = [], []
    for done in range(1, 6):
        run.end_step(
            done, {"loss": 1.0}, evaluate=lambda: evaluated.append(done) or {"eval/reward": 0.5}, save=saved.append
        )
    run.end_step(6, {"loss": 1.0}, evaluate=lambda: evaluated.append(6) or {}, save=saved.append, force=True)
    assert evaluated == [2, 4, 5, 6] and saved == [
        3,
        5,
        6,
    ]  # the last step always; a forced one (a run stopping early) too
    rows = run.close()
    assert (
        [row["step"] for row in rows] == [1, 2, 3, 4, 5, 6]
        and "eval/reward" in rows[1]
        and "eval/reward" not in rows[0]
    )


def test_resuming_takes_every_folders_latest_checkpoint_and_refuses_folders_at_different_steps(tmp_path):
    from vista_agents.config import RunConfig
    from vista_agents.run_session import RunSession

    fake_checkpoint(tmp_path / "questioner", 2)
    reasoner = fake_checkpoint(tmp_path / "reasoner", 2)
    config = RunConfig(output_dir=str(tmp_path), resume=True)
    run = RunSession.start(config, total_steps=4, folders=("questioner", "reasoner"))
    assert run.resumed and run.start_step == 2 and run.checkpoints["reasoner"] == reasoner
    run.close()
    fake_checkpoint(tmp_path / "reasoner", 3)
    with pytest.raises(RuntimeError, match=r"different steps \{'questioner': 2, 'reasoner': 3\}"):
        RunSession.start(config, total_steps=4, folders=("questioner", "reasoner"))


@pytest.mark.parametrize(
    ("module", "config_name", "settings"),
    [
        ("vista_agents.sft", "SFTConfig", {"model": "/no/such/model"}),
        ("vista_agents.grpo", "GRPOConfig", {"model": "/no/such/model"}),
        ("vista_agents.visplay_trainer", "VisPlayConfig", {"model": "/no/such/model"}),
        (
            "vista_agents.ppo",
            "PPOConfig",
            {"env_id": "NoSuchEnv-v0", "num_steps": 8, "total_timesteps": 64, "num_minibatches": 1},
        ),
    ],
)
def test_a_run_that_fails_to_start_leaves_nothing_that_makes_the_corrected_run_refuse_its_folder(
    module, config_name, settings, tmp_path
):
    import importlib

    import gymnasium as gym

    trainer = importlib.import_module(module)
    output = tmp_path / "run"
    config = getattr(trainer, config_name)(output_dir=str(output), num_envs=2, progress_bar=False, **settings)
    with pytest.raises((OSError, gym.error.Error)):  # from_pretrained's missing model, gym.make's unknown id
        trainer.train(config)
    assert not output.exists()
    claim_output_dir(output, resume=False, overwrite=False)  # the same command with the model or env mended


def test_resuming_a_run_without_an_intact_checkpoint_is_refused_and_leaves_its_metrics_alone(tmp_path):
    from vista_agents.config import RunConfig
    from vista_agents.run_session import RunSession

    config = RunConfig(output_dir=str(tmp_path), resume=True)
    RunSession.start(config, total_steps=2).close()  # resuming into a folder without a run starts afresh
    RunLogger(tmp_path).log(0, {"loss": 1.0})  # a run killed before its first checkpoint
    with pytest.raises(RuntimeError, match=r"cannot resume: .* holds a run \(metrics.csv, metrics.jsonl\) but no"):
        RunSession.start(config, total_steps=2)
    damaged = fake_checkpoint(tmp_path, 1) / TRAINER_STATE
    damaged.write_bytes(damaged.read_bytes()[:40])
    with pytest.warns(UserWarning, match="skipping checkpoint"):
        with pytest.raises(RuntimeError, match="no intact checkpoint to continue it from; pass --overwrite"):
            RunSession.start(config, total_steps=2)
    assert read_metrics(tmp_path) == [{"step": 0, "loss": 1.0}]


def test_resuming_with_other_settings_is_refused_unless_they_only_change_length_hardware_or_logging(tmp_path):
    import dataclasses

    from vista_agents.config import RunConfig
    from vista_agents.run_session import RunSession

    config = RunConfig(output_dir=str(tmp_path), seed=3, resume=True)
    with writing_checkpoint(tmp_path, 2) as staging:
        (staging / "model.safetensors").write_bytes(b"weights")
        torch.save({"step": 2, "config": dataclasses.asdict(config)}, staging / TRAINER_STATE)
    with pytest.raises(RuntimeError, match=r"cannot resume the run in .* with other settings \(seed 3 -> 4\)"):
        RunSession.start(dataclasses.replace(config, seed=4), total_steps=4)
    allowed = dataclasses.replace(config, device="cpu", eval_every=1, checkpoint_every=1)
    run = RunSession.start(allowed, total_steps=6)  # run longer, on another device, evaluating and saving more often
    assert run.resumed and run.start_step == 2
    run.close()


@pytest.mark.parametrize(
    ("resume", "message"),
    [
        (False, "vista-agents train ppo: .* already holds a run .*: pass --resume to continue it"),
        (True, r"vista-agents train ppo: cannot resume the run in .* with other settings \(seed 99 -> 1\)"),
    ],
)
def test_the_cli_reports_an_output_folder_it_may_not_use_in_one_line(resume, message, tmp_path):
    from vista_agents.cli import main

    with writing_checkpoint(tmp_path, 1) as staging:
        (staging / "model.safetensors").write_bytes(b"weights")
        torch.save({"step": 1, "config": {"seed": 99}}, staging / TRAINER_STATE)
    with pytest.raises(SystemExit, match=message) as exit_:
        main(["train", "ppo", "--output-dir", str(tmp_path), *(["--resume"] if resume else [])])
    assert isinstance(exit_.value.code, str) and "\n" not in exit_.value.code  # one line, exit status 1
