"""The VisPlay question-bank record (vista_envs.visplay.bank): a labelled Questioner round survives JSON and
poses the same question on the same image in VisPlayReasoner-v0; a malformed record is refused when the env is
built, with the record's index and its problem."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import vista_envs  # noqa: F401
from vista_envs.visplay import majority_vote
from vista_envs.visplay.bank import (
    REQUIRED_KEYS,
    check_bank,
    labelled_record,
    question_key,
    questioner_output,
)
from vista_envs.visplay.parsing import parse_questioner_output

SIZE = 64
COUNT_CIRCLES = "<question>How many circles are there?</question><type>number</type>"


def scored_round(answers=("3", "three", "4")):
    """A real VisPlayQuestioner-v0 round whose in-env Reasoner answers ``answers``."""

    def reasoner(observations, infos):
        return [answers[i % len(answers)] for i in range(len(observations))]

    env = gym.make("VisPlayQuestioner-v0", image_size=SIZE, samples=len(answers), reasoner=reasoner)
    env.reset(seed=3)
    info = env.step(COUNT_CIRCLES)[4]
    return env, info


def valid_record(**overrides):
    record = {"question": "How many circles are there?", "family": "counting", "task_seed": 7, "difficulty": 1}
    return {**record, **overrides}


def test_a_labelled_round_survives_json_and_poses_the_same_question_on_the_same_image():
    questioner, info = scored_round()
    record = labelled_record(info, majority_vote(list(info["answers"]), info["answer_type"]))
    assert set(REQUIRED_KEYS) <= set(record) and (record["pseudo_label"], record["confidence"]) == ("3", 2 / 3)
    restored = json.loads(json.dumps(record))
    assert restored == record and question_key(restored) == question_key(info)
    reasoner = gym.make("VisPlayReasoner-v0", image_size=SIZE, question_bank=check_bank([restored]))
    observation, _ = reasoner.reset(seed=0)
    assert observation["text"].startswith(info["question"])
    assert np.array_equal(observation["image"], questioner.unwrapped._image)
    _, reward, terminated, _, end = reasoner.step("<think>I count.</think><answer>3</answer>")
    assert terminated and end["is_success"] and end["answer"] == "3" and reward == pytest.approx(1.0)


def test_a_record_reads_back_as_the_questioner_output_it_came_from():
    output = parse_questioner_output(questioner_output(valid_record(answer_type="number", program="count(circle)")))
    assert (output.question, output.answer_type, output.program) == (
        "How many circles are there?",
        "number",
        "count(circle)",
    )
    assert questioner_output(valid_record(answer_type=None)) == "<question>How many circles are there?</question>"


@pytest.mark.parametrize(
    "record, problem",
    [
        ("a question", "is a str, not a mapping"),
        ({"question": "x"}, "lacks ['family', 'task_seed', 'difficulty']"),
        (valid_record(question="  "), "non-empty string 'question'"),
        (valid_record(family="astrology"), "unknown family 'astrology'"),
        (valid_record(family=["counting"]), "unknown family"),
        (valid_record(task_seed="7"), "integer 'task_seed'"),
        (valid_record(task_seed=True), "integer 'task_seed'"),
        (valid_record(difficulty=9), "'difficulty' in 1..5"),
        (valid_record(difficulty=2.0), "'difficulty' in 1..5"),
        (valid_record(split="validation"), "unknown split 'validation'"),
        (valid_record(answer_type=3), "'answer_type'"),
        (valid_record(pseudo_label="3"), "both pseudo_label and confidence"),
        (valid_record(pseudo_label="3", confidence=1.5), "'confidence' between 0 and 1"),
        (valid_record(pseudo_label="3", confidence=float("nan")), "'confidence' between 0 and 1"),
        (valid_record(pseudo_label=["3"], confidence=0.5), "'pseudo_label'"),
    ],
)
def test_a_malformed_record_is_refused_with_its_index_and_problem(record, problem):
    with pytest.raises(ValueError, match="question_bank record 1 ") as error:
        check_bank([valid_record(), record])
    assert problem in str(error.value)
    with pytest.raises(ValueError, match="question_bank record 0"):
        gym.make("VisPlayReasoner-v0", image_size=SIZE, question_bank=[record])


@pytest.mark.parametrize("bank", [[], "records", {"question": "x"}])
def test_a_bank_that_is_not_a_sequence_of_records_is_refused(bank):
    with pytest.raises(ValueError, match="question_bank"):
        check_bank(bank)


def test_numpy_integers_and_extra_keys_are_accepted_as_a_vector_env_writes_them():
    record = valid_record(task_seed=np.int64(7), difficulty=np.int64(2), extra="ignored", pseudo_label=None)
    assert check_bank([{**record, "confidence": 0.0}])[0]["extra"] == "ignored"
