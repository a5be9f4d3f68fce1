"""The VisPlay trainer: labelling and band filtering on hand-made answers, config checks and flags, and short CPU
runs."""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.cli import add_config_arguments, config_from_args
from vista_agents.run_log import read_metrics
from vista_agents.tiny import build_tiny_vlm
from vista_agents.visplay_trainer import (
    VISPLAY_METRICS,
    VisPlayConfig,
    _make_questioner_envs,
    _make_template_eval_envs,
    band_filter,
    label_round,
    pseudo_label_accuracy,
    template_accuracy,
    train,
    warm_start,
)
from vista_envs.envs.visplay import VisPlayQuestionerEnv, VisPlayReasonerEnv, questioner_instruction
from vista_envs.visplay import ConfidenceBand, ScriptedQuestioner, ScriptedReasoner
from vista_envs.visplay.diversity import cluster_labels
from vista_envs.visplay.scripted import TemplateQuestion

from pinned_metrics import assert_matches_pinned


def question_of(observation):
    """The question of a Reasoner observation: its text without the answer-format line."""
    return observation["text"].rsplit("\n", 1)[0]


def scored_round(answers, answer_type="number", valid=True, truth=None) -> dict:
    """The final info of a VisPlayQuestioner-v0 round, as a vector env hands it over (NumPy scalars included)."""
    return {
        "question": "How many circles are there?",
        "family": np.str_("counting"),
        "task_seed": np.int64(7),
        "difficulty": np.int64(2),
        "split": "train",
        "valid": valid,
        "answer_type": answer_type,
        "program": "count(filter(shape=circle))",
        "answers": answers,
        "answer": truth,
    }


def record(label, confidence, truth=None, answer_type="number") -> dict:
    return {"pseudo_label": label, "confidence": confidence, "true_answer": truth, "answer_type": answer_type}


# -- majority labelling ----------------------------------------------------------------------------


def test_the_pseudo_label_is_the_majority_answer_by_meaning_and_the_confidence_its_share():
    labelled = label_round(scored_round(["3", "three", "4", "3.0"]))
    assert labelled["pseudo_label"] == "3"
    assert labelled["confidence"] == pytest.approx(0.75)
    assert label_round(scored_round(["Red", "blue", "red."], answer_type="text"))["pseudo_label"] == "red"


def test_unreadable_answers_count_in_m_but_vote_for_nothing():
    labelled = label_round(scored_round(["yes", None, None, "no", "Yes"], answer_type="yes_no"))
    assert (labelled["pseudo_label"], labelled["confidence"]) == ("yes", pytest.approx(0.4))
    assert label_round(scored_round([None, None]))["pseudo_label"] is None


def test_a_labelled_round_is_a_question_bank_record_with_plain_python_values():
    labelled = label_round(scored_round(["2", "2"], truth="2"))
    assert labelled["task_seed"] == 7 and type(labelled["task_seed"]) is int
    assert labelled["difficulty"] == 2 and type(labelled["difficulty"]) is int
    assert labelled["family"] == "counting" and labelled["true_answer"] == "2"
    env = gym.make(
        "VisPlayReasoner-v0", question_bank=[labelled], confidence_band=(0.0, 1.0), grounded=True, image_size=64
    )
    observation, _ = env.reset(seed=0)
    assert question_of(observation) == "How many circles are there?"


def test_invalid_questions_and_rounds_without_answers_are_not_labelled():
    assert label_round(scored_round(["3", "3"], valid=False)) is None
    assert label_round(scored_round([])) is None  # the Reasoner failed: nothing was scored


def test_the_trainers_labels_are_the_envs_own_vote():
    env = gym.make("VisPlayQuestioner-v0", samples=7, grounded=True, image_size=64, reasoner_timeout=None)
    for seed in range(5):
        env.reset(seed=seed)
        *_, info = env.step(ScriptedQuestioner(difficulty=0.5).ask(env.unwrapped.scene, random.Random(seed)))
        labelled = label_round(info)
        assert labelled["pseudo_label"] == info["pseudo_label"]
        assert labelled["confidence"] == pytest.approx(info["confidence"])


# -- band filtering and pseudo-label accuracy --------------------------------------------------------


def test_the_band_keeps_confidences_from_low_to_high_inclusive_and_drops_the_rest():
    records = [record("3", c) for c in (0.1, 0.25, 0.5, 0.75, 0.9, 1.0)]
    kept = band_filter(records, ConfidenceBand(0.25, 0.75))
    assert [r["confidence"] for r in kept] == [0.25, 0.5, 0.75]


def test_a_question_without_a_pseudo_label_is_never_kept():
    assert band_filter([record(None, 0.0), record("yes", 0.0)], ConfidenceBand(0.0, 1.0)) == [record("yes", 0.0)]


def test_pseudo_label_accuracy_compares_labels_with_the_truth_by_meaning():
    records = [
        record("3", 0.5, truth="three"),  # right
        record("no", 0.5, truth="yes", answer_type="yes_no"),  # wrong
        record("red", 0.5, truth="Red", answer_type="text"),  # right
        record("4", 0.5, truth=None),  # not grounded: not graded
    ]
    assert pseudo_label_accuracy(records) == pytest.approx(2 / 3)
    assert math.isnan(pseudo_label_accuracy([record("4", 0.5)]))


def test_template_accuracy_is_measured_per_template_kind():
    def episode(question: str, success: bool) -> SimpleNamespace:
        return SimpleNamespace(info={"question": question}, success=success)

    episodes = [
        episode("How many red circles are there?", True),
        episode("How many squares are there?", False),
        episode("How many squares are there?", True),
        episode("What color is the large square?", False),
        episode("Is there a small red circle?", True),
        episode("Describe the picture.", False),  # no template reads it
    ]
    assert template_accuracy(episodes) == {
        "success_rate": pytest.approx(3 / 6),
        "count_success_rate": pytest.approx(2 / 3),
        "count_questions": 3.0,
        "exists_success_rate": 1.0,
        "exists_questions": 1.0,
        "other_success_rate": 0.0,
        "other_questions": 1.0,
        "query_success_rate": 0.0,
        "query_questions": 1.0,
    }
    with pytest.raises(ValueError, match="no trajectories"):
        template_accuracy([])


def test_template_evaluation_judges_answers_against_the_true_answer_on_the_eval_split():
    config = VisPlayConfig(env_kwargs=SCENES, num_envs=2, eval_split="eval")
    envs = _make_template_eval_envs(config)
    try:
        envs.reset(seed=[3, 4], options={"split": "eval"})
        truths = [env.unwrapped.oracle() for env in envs.envs]
        _, _, _, _, infos = envs.step(truths)
        assert list(infos["is_success"]) == [True, True]
        assert list(infos["split"]) == ["eval", "eval"]
        assert all(TemplateQuestion.read(question) is not None for question in infos["question"])
        envs.reset(seed=[3, 4], options={"split": "eval"})
        _, _, _, _, infos = envs.step(["<answer>purple elephant</answer>"] * 2)
        assert list(infos["is_success"]) == [False, False]
    finally:
        envs.close()


def test_the_diversity_threshold_reaches_the_questioner_envs_clustering():
    config = VisPlayConfig(env_kwargs=SCENES, num_envs=2, diversity_threshold=0.75)
    envs = _make_questioner_envs(config, ScriptedReasoner())
    try:
        assert {env.unwrapped.rules.diversity.threshold for env in envs.envs} == {0.75}
    finally:
        envs.close()
    # What the threshold changes: two questions of one template lie about 0.65 apart.
    same_template = ["How many red circles are there?", "How many blue squares are there?"]
    assert cluster_labels(same_template, threshold=0.5) == [0, 1]
    assert cluster_labels(same_template, threshold=0.75) == [0, 0]


# -- config --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"env_kwargs": {"samples": 3}}, r"env_kwargs \['samples'\] are not settable"),
        ({"confidence_band": (0.8, 0.2)}, "0 <= low <= high <= 1"),
        ({"confidence_band": (0.2, 0.5, 0.8)}, r"confidence_band must be \(low, high\)"),
        ({"questions_per_image": 1}, "questions_per_image and answers_per_question must be >= 2"),
        ({"answers_per_question": 1}, "questions_per_image and answers_per_question must be >= 2"),
        ({"questioner_steps": 0, "reasoner_steps": 0}, "at least one of them > 0"),
        ({"samples": 0}, "samples"),
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"reward_form": "max"}, "reward_form must be one of"),
        ({"loss_aggregation": "mean"}, "loss_aggregation must be one of"),
        ({"kl_estimator": "k9"}, "kl_estimator must be one of"),
        ({"num_envs": 0}, "num_envs"),
        ({"diversity_weight": -1.0}, "diversity_weight must be >= 0"),
        ({"diversity_threshold": 1.5}, r"diversity_threshold must be a BLEU distance in \[0, 1\]"),
        ({"diversity_threshold": -0.1}, r"diversity_threshold must be a BLEU distance in \[0, 1\]"),
        ({"eval_template_episodes": -1}, "eval_template_episodes must be >= 0"),
        ({"warm_start_roles": ("judge",)}, "warm_start_roles must name each of"),
        ({"warm_start_roles": ("questioner", "questioner")}, "warm_start_roles must name each of"),
        ({"warm_start_demonstrations": 8, "warm_start_roles": ()}, "warm_start_roles is empty"),
        (
            {"warm_start_demonstrations": 8, "warm_start_roles": ("questioner",), "shared_model": True},
            "with shared_model one model plays both roles",
        ),
    ],
)
def test_bad_configs_are_rejected_with_a_message_that_names_the_problem(overrides, message):
    with pytest.raises(ValueError, match=message):
        VisPlayConfig(**overrides)


@pytest.mark.parametrize("name", ["env_id", "vectorization_mode", "ray_address"])
def test_the_config_has_no_env_layer_to_reject(name):
    # The trainer runs both role envs in this process: there is no env id or vector backend to choose.
    assert name not in {field.name for field in dataclasses.fields(VisPlayConfig)}


def test_every_config_field_is_a_command_line_flag_and_a_config_file_entry(tmp_path):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, VisPlayConfig)
    config_file = tmp_path / "visplay.toml"
    config_file.write_text('confidence_band = [0.2, 0.8]\nsamples = 6\nenv_kwargs = { families = ["counting"] }\n')
    flags = [
        "--config",
        str(config_file),
        "--model",
        "/m",
        "--total-steps",
        "3",
        "--grounded",
        "--shared-model",
        "--samples",
        "5",
    ]
    config = config_from_args(VisPlayConfig, parser.parse_args([*flags, "--warm-start-demonstrations", "16"]))
    assert (config.model, config.total_steps, config.grounded, config.shared_model) == ("/m", 3, True, True)
    assert config.samples == 5  # the flag overrides the file
    assert config.confidence_band == (0.2, 0.8) and config.env_kwargs == {"families": ["counting"]}
    assert config.warm_start_demonstrations == 16
    band = config_from_args(VisPlayConfig, parser.parse_args(["--confidence-band", "0.3", "0.6"])).confidence_band
    assert band == (0.3, 0.6)


def test_the_warm_started_roles_are_one_or_more_flag_values_and_default_to_both():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, VisPlayConfig)
    assert config_from_args(VisPlayConfig, parser.parse_args([])).warm_start_roles == ("questioner", "reasoner")
    one = parser.parse_args(["--warm-start-roles", "questioner", "--samples", "5"])
    assert config_from_args(VisPlayConfig, one).warm_start_roles == ("questioner",)
    two = parser.parse_args(["--warm-start-roles", "reasoner", "questioner"])
    assert config_from_args(VisPlayConfig, two).warm_start_roles == ("reasoner", "questioner")
    with pytest.raises(ValueError, match="warm_start_roles must name each of"):
        config_from_args(VisPlayConfig, parser.parse_args(["--warm-start-roles", "player"]))


def test_a_one_role_warm_start_is_allowed_without_a_warm_start_or_a_shared_model():
    # Without demonstrations nothing is warm started, so the roles named do not matter.
    assert VisPlayConfig(shared_model=True, warm_start_roles=("questioner",)).warm_start_roles == ("questioner",)
    assert VisPlayConfig(warm_start_demonstrations=8, warm_start_roles=["reasoner"]).warm_start_roles == ("reasoner",)


def test_the_former_names_of_renamed_fields_still_work_as_flags_and_config_file_entries(tmp_path):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, VisPlayConfig)
    config = config_from_args(VisPlayConfig, parser.parse_args(["--iterations", "3", "--save-every", "2"]))
    assert (config.total_steps, config.checkpoint_every) == (3, 2)
    config_file = tmp_path / "visplay.json"
    config_file.write_text('{"iterations": 4, "save_every": 1}')
    config = config_from_args(VisPlayConfig, parser.parse_args(["--config", str(config_file)]))
    assert (config.total_steps, config.checkpoint_every) == (4, 1)


def test_a_multi_process_launch_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as accelerate launch and torchrun set it
    with pytest.raises(RuntimeError, match="runs in one process"):
        train(VisPlayConfig(model=str(tmp_path / "no-model"), output_dir=str(tmp_path)))


# -- short runs on a tiny model --------------------------------------------------------------------------

QUESTION = "<question>How many circles are there?</question><program>count(filter(shape=circle))</program>"
# The drill teaches two questions, so that the Questioner's first differing token stays uncertain: a single drilled
# question becomes so certain that its policy gradient falls below float32's resolution of the weights.
OTHER_QUESTION = "<question>How many squares are there?</question><program>count(filter(shape=square))</program>"
SCENES = {"families": ["counting"], "difficulty": 1, "image_size": 64}
# Grounded VisPlay with every phase tiny: 4 questions a step in groups of 2, m = 4, 2 questions x 4 answers a Reasoner
# step.
TINY_RUN = {
    "env_kwargs": SCENES,
    "grounded": True,
    "total_steps": 2,
    "questioner_steps": 1,
    "reasoner_steps": 1,
    "images_per_step": 2,
    "questions_per_image": 2,
    "samples": 4,
    "dataset_images": 2,
    "questions_per_step": 2,
    "answers_per_question": 4,
    "num_envs": 4,
    "max_new_tokens": 40,
    "micro_batch_size": 8,
    "learning_rate": 1e-3,
    "eval_episodes": 4,
    "checkpoint_every": 1,
    "progress_bar": False,
}


def run_config(model, output_dir, **overrides) -> VisPlayConfig:
    return VisPlayConfig(model=str(model), output_dir=str(output_dir), **{**TINY_RUN, **overrides})


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread: more only contend for the cores with the other test workers."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def drilled_question(env: VisPlayQuestionerEnv) -> str:
    return (QUESTION, OTHER_QUESTION)[env.np_random.integers(2)]


@pytest.fixture(scope="module")
def drilled_model(tmp_path_factory):
    """A tiny VLM drilled (by the warm start, with the oracles replaced) to ask one of two grounded questions and answer
    1 or 2.

    A random model writes no valid question, so every reward would be 0; the drill makes every signal non-zero.
    """
    corpus = [
        questioner_instruction(True),
        QUESTION,
        OTHER_QUESTION,
    ] * 10  # tokenizer merges: shorter prompts, a faster test
    model = build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"), seed=0, image_size=32, corpus=corpus)
    drill = run_config(
        model,
        tmp_path_factory.mktemp("drill"),
        warm_start_demonstrations=16,
        warm_start_epochs=30,
        warm_start_learning_rate=5e-3,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(VisPlayQuestionerEnv, "oracle", drilled_question)
        patch.setattr(VisPlayReasonerEnv, "oracle", lambda self: f"<answer>{self.np_random.integers(1, 3)}</answer>")
        return warm_start(drill)


@pytest.fixture(scope="module")
def two_iterations(drilled_model, tmp_path_factory):
    # The drilled Questioner asks one of two questions: any diversity penalty would clip its rewards to 0.
    config = run_config(drilled_model, tmp_path_factory.mktemp("visplay"), diversity_weight=0.0)
    return config, train(config)


def changed_tensors(before: Path, after: Path) -> int:
    initial, trained = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    return sum(not torch.equal(initial[name], trained[name]) for name in initial)


def unchanged_tensors(before: Path, after: Path, prefix: str = "") -> list[str]:
    initial, trained = load_file(before / "model.safetensors"), load_file(after / "model.safetensors")
    return [name for name in initial if name.startswith(prefix) and torch.equal(initial[name], trained[name])]


def test_the_iterations_change_both_roles_weights(drilled_model, two_iterations):
    _, result = two_iterations
    for checkpoint in (result.questioner_checkpoint, result.checkpoint):
        # Every projection of the text tower moves (the drilled Questioner's near-certain question gives the
        # vision tower next to no gradient, so only the text tower is checked for both roles).
        text_tower = unchanged_tensors(drilled_model, checkpoint, "language_model.model.layers.")
        assert not [name for name in text_tower if name.endswith("proj.weight")]
    assert changed_tensors(result.questioner_checkpoint, result.checkpoint) > 0  # two models, trained apart


def test_every_iteration_logs_every_metric_with_a_value_in_its_range(two_iterations):
    config, result = two_iterations
    rows = read_metrics(config.output_dir)
    assert rows == result.metrics
    assert [row["step"] for row in rows] == [0, 1, 2]
    first = rows[1]
    missing = [name for name in VISPLAY_METRICS if first.get(name) is None]
    assert not missing, f"iteration 1 lacks {missing}"
    for row in rows[1:]:
        assert set(VISPLAY_METRICS) <= set(row)
        for name in ("valid_rate", "confidence", "kept_share", "pseudo_label_accuracy", "snapshot_accuracy"):
            assert row[f"dataset/{name}"] is None or 0 <= row[f"dataset/{name}"] <= 1, name
        assert (
            0 <= row["dataset/kept"] <= row["dataset/questions"] == config.dataset_images * config.questions_per_image
        )
        assert row["questioner/diversity"] <= 0 <= row["questioner/uncertainty"] <= 1
    assert first["questioner/trained_sequences"] > 0 and first["reasoner/trained_sequences"] > 0
    assert "eval/success_rate" in rows[0] and "eval/success_rate" in rows[-1]


def test_resuming_from_a_checkpoint_reproduces_the_metrics(two_iterations, tmp_path):
    config, result = two_iterations
    copy = tmp_path / "run"
    shutil.copytree(config.output_dir, copy)
    for role in ("questioner", "reasoner"):
        shutil.rmtree(copy / role / "checkpoints" / "step_000002")  # forget iteration 2: the resumed run redoes it
    resumed = train(dataclasses.replace(config, output_dir=str(copy), resume=True))
    assert resumed.metrics[:2] == result.metrics[:2]  # kept as logged (timings too): iteration 1 was not run again
    original, again = result.metrics[-1], resumed.metrics[-1]
    for name, value in original.items():
        if not name.startswith("time/"):
            expected = None if value is None else pytest.approx(value, rel=1e-5, abs=1e-7)
            assert again[name] == expected, name


def test_resuming_refuses_roles_whose_checkpoints_are_at_different_iterations(two_iterations, tmp_path):
    config, _ = two_iterations
    copy = tmp_path / "run"
    shutil.copytree(config.output_dir, copy)
    shutil.rmtree(copy / "reasoner" / "checkpoints" / "step_000002")
    with pytest.raises(RuntimeError, match="different steps"):
        train(dataclasses.replace(config, output_dir=str(copy), resume=True))


def test_when_the_band_keeps_no_question_the_reasoner_is_not_trained(drilled_model, tmp_path):
    config = run_config(drilled_model, tmp_path, total_steps=1, confidence_band=(0.0, 0.0), eval_episodes=0)
    result = train(config)
    row = result.metrics[-1]
    assert row["dataset/kept"] == 0 and row["dataset/valid_rate"] > 0
    assert all(row[name] is None for name in VISPLAY_METRICS if name.startswith("reasoner/"))
    assert changed_tensors(drilled_model, result.checkpoint) == 0
    assert changed_tensors(drilled_model, result.questioner_checkpoint) > 0


def test_a_shared_model_plays_both_roles_and_a_warm_start_comes_first(drilled_model, tmp_path):
    config = run_config(
        drilled_model,
        tmp_path,
        total_steps=1,
        shared_model=True,
        eval_episodes=0,
        warm_start_demonstrations=4,
        warm_start_epochs=1,
    )
    result = train(config)
    assert (tmp_path / "warm_start" / "model.safetensors").exists()
    assert result.checkpoint == result.questioner_checkpoint == tmp_path / "shared" / "checkpoints" / "step_000001"
    assert not (tmp_path / "questioner").exists() and not (tmp_path / "reasoner").exists()
    assert [row["step"] for row in result.metrics] == [1]  # no evaluation rows when eval_episodes is 0


def test_the_reasoner_is_evaluated_on_the_same_held_out_template_questions_each_time(drilled_model, tmp_path):
    config = run_config(drilled_model, tmp_path, total_steps=1, eval_episodes=0, eval_template_episodes=6)
    rows = [row for row in train(config).metrics if "eval_templates/success_rate" in row]
    assert [row["step"] for row in rows] == [0, 1]  # before the first iteration and after the last
    for row in rows:
        counts = {name: value for name, value in row.items() if name.endswith("_questions")}
        assert sum(counts.values()) == 6 and 0.0 <= row["eval_templates/success_rate"] <= 1.0
        right = sum(row[name.replace("_questions", "_success_rate")] * n for name, n in counts.items())
        assert right / 6 == pytest.approx(row["eval_templates/success_rate"])
    assert [k for k in rows[0] if k.endswith("_questions")] == [k for k in rows[1] if k.endswith("_questions")]
    assert all(rows[0][k] == rows[1][k] for k in rows[0] if k.endswith("_questions"))


def test_a_short_seeded_run_logs_the_pinned_metrics(two_iterations):
    _, result = two_iterations
    assert_matches_pinned("visplay", result.metrics)


def test_every_grpo_loss_setting_reaches_the_roles_update(drilled_model, tmp_path, monkeypatch):
    import vista_agents.grpo_step

    seen = []
    surrogate, penalty = vista_agents.grpo_step.clipped_surrogate, vista_agents.grpo_step.kl_penalty

    def spy_surrogate(logprobs, old_logprobs, advantages, clip_low, clip_high):
        seen.append(("clip", clip_low, clip_high))
        return surrogate(logprobs, old_logprobs, advantages, clip_low, clip_high)

    def spy_penalty(logprobs, ref_logprobs, estimator):
        seen.append(("kl", estimator))
        return penalty(logprobs, ref_logprobs, estimator)

    monkeypatch.setattr(vista_agents.grpo_step, "clipped_surrogate", spy_surrogate)
    monkeypatch.setattr(vista_agents.grpo_step, "kl_penalty", spy_penalty)
    config = run_config(
        drilled_model,
        tmp_path,
        total_steps=1,
        reasoner_steps=0,
        eval_episodes=0,
        diversity_weight=0.0,
        clip_low=0.1,
        clip_high=0.5,
        kl_coef=0.1,
        kl_estimator="k2",
        num_epochs=2,
    )
    row = train(config).metrics[-1]
    assert row["questioner/trained_sequences"] > 0
    assert seen and {entry for entry in seen if entry[0] == "clip"} == {("clip", 0.1, 0.5)}
    assert {entry for entry in seen if entry[0] == "kl"} == {("kl", "k2")}
    # Two epochs over one micro-batch: two forward passes of the loss, each with its KL term.
    assert len(seen) == 4


# -- a warm start of the Questioner alone ----------------------------------------------------------------


def weights_of(path: Path) -> dict[str, torch.Tensor]:
    return AutoModelForImageTextToText.from_pretrained(path, dtype=torch.float32).state_dict()


def equal_weights(first: Mapping[str, torch.Tensor], second: Mapping[str, torch.Tensor]) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[name], second[name]) for name in first)


def record_starts(patch: pytest.MonkeyPatch) -> list[dict[str, dict[str, torch.Tensor]]]:
    """Each later run's roles' weights as the run started them (a copy, before any iteration trains them)."""
    import vista_agents.visplay_trainer as trainer

    started, start_roles = [], trainer._start_roles

    def recording(*args, **kwargs):
        roles = start_roles(*args, **kwargs)
        started.append(
            {name: {k: v.clone() for k, v in role.model.state_dict().items()} for name, role in roles.items()}
        )
        return roles

    patch.setattr(trainer, "_start_roles", recording)
    return started


@pytest.fixture(scope="module")
def questioner_warm_start(drilled_model, tmp_path_factory):
    """Two iterations after a warm start of the Questioner alone, with the roles' weights as the run started them
    and the envs whose demonstrations the warm start read."""
    import vista_agents.visplay_trainer as trainer

    config = run_config(
        drilled_model,
        tmp_path_factory.mktemp("questioner-warm-start"),
        diversity_weight=0.0,
        eval_episodes=0,
        warm_start_demonstrations=4,
        warm_start_epochs=2,
        warm_start_roles=("questioner",),
    )
    demonstrated, collect = [], trainer.collect_demonstrations

    def recording_collect(policy, envs, *args, **kwargs):
        demonstrated.append(envs.spec.id)
        return collect(policy, envs, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        started = record_starts(patch)
        patch.setattr(trainer, "collect_demonstrations", recording_collect)
        # The drill's two questions as the oracle, so that the warm start keeps the Questioner asking valid ones.
        patch.setattr(VisPlayQuestionerEnv, "oracle", drilled_question)
        result = train(config)
    return config, result, started, demonstrated


def test_a_questioner_warm_start_trains_the_questioner_alone_and_the_reasoner_starts_from_the_model(
    drilled_model, questioner_warm_start
):
    config, result, started, demonstrated = questioner_warm_start
    assert demonstrated == ["VisPlayQuestioner-v0"]  # no Reasoner demonstration was read
    (initial,) = started
    model, warm = weights_of(drilled_model), weights_of(Path(config.output_dir) / "warm_start")
    assert not equal_weights(warm, model)  # the warm start trained something
    assert equal_weights(initial["questioner"], warm)
    assert equal_weights(initial["reasoner"], model)
    # Then both trained, apart, from their own starts.
    assert result.metrics[-1]["reasoner/trained_sequences"] > 0
    assert changed_tensors(drilled_model, result.checkpoint) > 0


def test_resuming_after_a_questioner_warm_start_loads_each_roles_checkpoint_and_reproduces_the_metrics(
    questioner_warm_start, tmp_path, monkeypatch
):
    import vista_agents.visplay_trainer as trainer

    config, result, _, _ = questioner_warm_start
    copy = tmp_path / "run"
    shutil.copytree(config.output_dir, copy)
    for role in ("questioner", "reasoner"):
        shutil.rmtree(copy / role / "checkpoints" / "step_000002")

    def no_warm_start(config):
        raise AssertionError("a resumed run warm started again")

    monkeypatch.setattr(trainer, "warm_start", no_warm_start)
    started = record_starts(monkeypatch)
    resumed = train(dataclasses.replace(config, output_dir=str(copy), resume=True))
    for role in ("questioner", "reasoner"):
        assert equal_weights(started[0][role], weights_of(copy / role / "checkpoints" / "step_000001")), role
    original, again = result.metrics[-1], resumed.metrics[-1]
    for name, value in original.items():
        if not name.startswith("time/"):
            expected = None if value is None else pytest.approx(value, rel=1e-5, abs=1e-7)
            assert again[name] == expected, name
