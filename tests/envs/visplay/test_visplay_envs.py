"""VisPlay envs: the Gymnasium contract, rewards end to end, bad input, failing reasoners, grounded mode, no leakage."""

import json
import random
import threading
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vista_envs  # noqa: F401  (registers the ids)
from vista_envs.tasks.drawing import SHAPES
from vista_envs.visplay import (
    DiversityTracker,
    ScriptedQuestioner,
    ScriptedReasoner,
    parse_questioner_output,
    run_query,
)


def question_of(observation):
    """The question of a Reasoner observation: its text without the answer-format line."""
    return observation["text"].rsplit("\n", 1)[0]


IDS = ("VisPlayQuestioner-v0", "VisPlayReasoner-v0", "VisPlay-v0")
COUNT_CIRCLES = "<question>How many circles are there?</question><type>number</type>"
SIZE = 64  # small images keep the tests fast; the scenes are the same objects


def constant_reasoner(*answers):
    """A reasoner that returns ``answers`` (cycled to the batch size)."""

    def reasoner(observations, infos):
        return [answers[i % len(answers)] for i in range(len(observations))]

    return reasoner


def questioner_env(**kwargs):
    return gym.make("VisPlayQuestioner-v0", image_size=SIZE, **kwargs)


# --- The Gymnasium contract -------------------------------------------------------------------------


@pytest.mark.parametrize("env_id", IDS)
def test_check_env_passes_without_warnings(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(env_id, image_size=SIZE, render_mode="rgb_array").unwrapped, skip_render_check=False)


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_questioner_env_runs_in_vector_envs(vector_cls):
    envs = vector_cls([lambda: questioner_env(samples=4) for _ in range(2)])
    try:
        obs, _ = envs.reset(seed=0)
        assert obs["image"].shape == (2, SIZE, SIZE, 3) and len(obs["text"]) == 2
        obs, rewards, terminated, truncated, infos = envs.step((COUNT_CIRCLES, "no tags at all"))
        assert terminated.all() and not truncated.any()
        assert list(infos["valid"]) == [True, False]
        assert infos["_confidence"].tolist() == [True, False]  # no vote for the invalid question
        assert rewards[1] == 0.0
    finally:
        envs.close()


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_reasoner_and_game_envs_run_in_vector_envs(vector_cls):
    for env_id, action in (
        ("VisPlayReasoner-v0", "<think>I count.</think><answer>2</answer>"),
        ("VisPlay-v0", COUNT_CIRCLES),
    ):
        envs = vector_cls([lambda: gym.make(env_id, image_size=SIZE, samples=3) for _ in range(2)])
        try:
            envs.reset(seed=1)
            _, rewards, _, _, _ = envs.step((action, action))
            assert rewards.shape == (2,)
        finally:
            envs.close()


def test_same_seed_and_actions_give_identical_rewards_and_infos():
    def run():
        env = questioner_env(grounded=True)
        questioner = ScriptedQuestioner(difficulty=0.5)
        results = []
        for seed in range(5):
            env.reset(seed=seed)
            _, reward, _, _, info = env.step(questioner.ask(env.unwrapped.scene, random.Random(seed)))
            results.append((reward, info["answers"], info["confidence"]))
        return results

    assert run() == run()


# --- The Questioner env -----------------------------------------------------------------------------


def test_questioner_is_paid_for_a_split_reasoner_and_reasoner_rewards_follow_the_majority():
    env = questioner_env(
        reasoner=constant_reasoner("3", "three", "3.0", "<think>ok</think><answer>3</answer>", "4"), samples=10
    )
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(COUNT_CIRCLES)
    assert terminated and info["pseudo_label"] == "3" and info["confidence"] == pytest.approx(0.8)
    assert info["reward_terms"]["uncertainty"] == pytest.approx(1 - abs(2 * 0.8 - 1))
    assert reward == pytest.approx(0.4 - info["cluster_share"])
    assert info["reasoner_rewards"][:5] == pytest.approx([0.9, 0.9, 0.9, 1.0, 0.0])  # format only for the tagged one


def test_min_form_pays_half_of_the_paper_form():
    paper = questioner_env(reasoner=constant_reasoner("yes", "no"), diversity_weight=0.0)
    public = questioner_env(reasoner=constant_reasoner("yes", "no"), diversity_weight=0.0, reward_form="min")
    for env in (paper, public):
        env.reset(seed=0)
    assert paper.step(COUNT_CIRCLES)[1] == pytest.approx(1.0)
    assert public.step(COUNT_CIRCLES)[1] == pytest.approx(0.5)


def test_asking_the_same_question_again_grows_its_cluster_and_its_penalty():
    env = questioner_env(reasoner=constant_reasoner("yes", "no"), diversity_window=8)
    shares = []
    for seed in range(4):
        env.reset(seed=seed)
        shares.append(env.step(COUNT_CIRCLES)[4]["cluster_share"])
    assert shares == [1 / 8, 2 / 8, 3 / 8, 4 / 8]


def test_envs_sharing_a_tracker_share_one_window():
    tracker = DiversityTracker(window=8)
    first, second = (questioner_env(reasoner=constant_reasoner("3"), diversity_tracker=tracker) for _ in range(2))
    for env in (first, second):
        env.reset(seed=0)
    assert first.step(COUNT_CIRCLES)[4]["cluster_size"] == 1
    assert second.step(COUNT_CIRCLES)[4]["cluster_size"] == 2


@pytest.mark.parametrize(
    ("action", "error"),
    [
        ("", "no <question>"),
        ("How many circles are there?", "no <question>"),
        ("<question>   </question>", "empty"),
        ("<question>" + "why " * 25_000 + "</question>", "over the limit"),
        ("<question>a?</question><question>b?</question>", "exactly one"),
        ("<question>How many?</question><type>colour</type>", "<type> must be one of"),
        (12345, "must be a str"),
        (None, "must be a str"),
        ("x" * 20_000, "over the limit"),
    ],
)
def test_bad_questioner_output_is_invalid_earns_zero_and_never_calls_the_reasoner(action, error):
    calls = []
    env = questioner_env(reasoner=lambda obs, infos: calls.append(1) or ["3"] * len(obs))
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(action)
    assert (reward, terminated, truncated, info["valid"]) == (0.0, True, False, False)
    assert error in info["error"] and obs["text"] == info["error"]
    assert not calls and "cluster" not in info
    env.reset(seed=1)
    assert env.step(COUNT_CIRCLES)[4]["valid"]  # the env is still fine


def test_tags_quoted_inside_the_question_are_part_of_it_and_a_bank_record_round_trips():
    """A question that quotes <type> once parsed its own text as the type, and its bank record then failed the
    Reasoner's reset."""
    quoting = "<question>How many <type>number</type> circles are there?</question>"
    parsed = parse_questioner_output(quoting + "<type>number</type>")
    assert (
        parsed.valid
        and parsed.question == "How many <type>number</type> circles are there?"
        and parsed.answer_type == "number"
    )
    assert parse_questioner_output(quoting).answer_type is None
    env = gym.make("VisPlayQuestioner-v0", samples=4, confidence_band=(0.0, 1.0)).unwrapped
    env.reset(seed=0)
    record = {**env.step(quoting)[4], "pseudo_label": "3", "confidence": 0.5}
    reasoner = gym.make("VisPlayReasoner-v0", question_bank=[record], confidence_band=(0.0, 1.0))
    obs, _ = reasoner.reset(seed=0, options={"index": 0})
    assert question_of(obs) == parsed.question


def test_reasoner_answers_in_any_form_are_read_and_grouped():
    answers = (
        "3",
        "three",
        "3.0",
        "<think>...</think><answer>3</answer>",
        "There are 3 circles.",
        None,
        42,
        b"3",
        "",
        "x" * 20_000,
    )
    env = questioner_env(reasoner=constant_reasoner(*answers))
    env.reset(seed=0)
    info = env.step(COUNT_CIRCLES)[4]
    assert info["votes"] == {"3": 5} and info["confidence"] == pytest.approx(0.5)
    assert info["answers"][5:] == [None] * 5


def test_a_reasoner_that_raises_truncates_the_episode_with_a_clear_error():
    def broken(observations, infos):
        raise RuntimeError("CUDA out of memory")

    env = questioner_env(reasoner=broken)
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step(COUNT_CIRCLES)
    assert (reward, terminated, truncated, info["reasoner_failed"]) == (0.0, False, True, True)
    assert "raised RuntimeError: CUDA out of memory" in info["error"]
    assert info["question"] == "How many circles are there?"


def test_a_hanging_reasoner_times_out_and_the_env_recovers():
    release = threading.Event()
    calls = []

    def hangs_once(observations, infos):
        calls.append(1)
        if len(calls) == 1:
            release.wait(10)
        return ["3"] * len(observations)

    # The second call, on a fresh thread, must also answer within the timeout: 1 s, not less, for a loaded machine.
    env = questioner_env(reasoner=hangs_once, reasoner_timeout=1.0)
    try:
        env.reset(seed=0)
        info = env.step(COUNT_CIRCLES)[4]
        assert info["reasoner_failed"] and "did not answer within 1.0 s" in info["error"]
        env.reset(seed=1)
        info = env.step(COUNT_CIRCLES)[4]
        assert not info["reasoner_failed"] and info["pseudo_label"] == "3"
    finally:
        release.set()


@pytest.mark.parametrize(
    ("reasoner", "error"),
    [
        (lambda obs, infos: ["3"] * (len(obs) - 1), "returned 9 outputs for 10 prompts"),
        (lambda obs, infos: "3", "must return a list of 10 strings"),
        (lambda obs, infos: None, "must return a list of 10 strings"),
    ],
)
def test_a_reasoner_with_the_wrong_number_of_answers_is_reported(reasoner, error):
    env = questioner_env(reasoner=reasoner)
    env.reset(seed=0)
    _, _, _, truncated, info = env.step(COUNT_CIRCLES)
    assert truncated and error in info["error"]


def test_a_reasoner_object_with_act_is_accepted_and_a_non_callable_is_refused():
    class Policy:
        def act(self, observations, infos):
            return ["yes"] * len(observations)

    env = questioner_env(reasoner=Policy())
    env.reset(seed=0)
    assert env.step(COUNT_CIRCLES)[4]["pseudo_label"] == "yes"
    with pytest.raises(TypeError, match="act"):
        gym.make("VisPlayQuestioner-v0", reasoner="not a policy")


def test_only_privileged_reasoners_see_the_scene():
    seen = []
    env = questioner_env(reasoner=lambda obs, infos: seen.extend(infos) or ["3"] * len(obs), samples=2)
    env.reset(seed=0)
    env.step(COUNT_CIRCLES)
    assert [sorted(info) for info in seen] == [["images", "messages", "question", "sample", "seed"]] * 2


def test_a_non_string_reasoner_turn_is_an_error_and_the_round_stays_json_serialisable():
    env = gym.make("VisPlay-v0", image_size=SIZE, samples=2)
    env.reset(seed=0)
    env.step(COUNT_CIRCLES)
    _, _, terminated, _, info = env.step({"not": "text"})
    assert not terminated and "must be a str" in info["error"]
    _, _, terminated, _, info = env.step(3.5)
    assert terminated and "must be a str" in info["error"] and info["responses"] == ["", ""]
    json.dumps({key: value for key, value in info.items() if key != "images"})


def test_misuse_of_the_api_raises():
    env = questioner_env()
    with pytest.raises(gym.error.ResetNeeded):
        env.unwrapped.step(COUNT_CIRCLES)
    env.reset(seed=0)
    env.step(COUNT_CIRCLES)
    with pytest.raises(gym.error.ResetNeeded):
        env.unwrapped.step(COUNT_CIRCLES)
    with pytest.raises(ValueError, match="reward_form"):
        gym.make("VisPlayQuestioner-v0", reward_form="max")
    with pytest.raises(ValueError, match="cannot be used for VisPlay"):
        gym.make("VisPlayQuestioner-v0", families=["clock"])


@pytest.mark.parametrize("env_id", ["VisPlayQuestioner-v0", "VisPlay-v0"])
def test_questions_longer_than_a_text_observation_are_refused_at_construction(env_id):
    """A 4000-character limit once let VisPlay-v0 show the Reasoner a question longer than its text space
    (AsyncVectorEnv crashed)."""
    with pytest.raises(ValueError, match=r"max_question_chars must be an int in \[1, 2048\]"):
        gym.make(env_id, max_question_chars=4000)
    env = gym.make(env_id, max_question_chars=2048)
    env.reset(seed=0)
    question = "<question>" + "Is there a red circle here? " * 73 + "</question>"  # 2044 characters inside the tags
    obs = env.step(question)[0]
    assert env.observation_space.contains(obs)


# --- Grounded mode ----------------------------------------------------------------------------------


def test_grounded_mode_refuses_questions_about_absent_objects_and_questions_without_programs():
    env = questioner_env(grounded=True, families=["counting"])
    env.reset(seed=0)
    absent = "<question>What color is the unicorn?</question><program>query(color, filter(shape=unicorn))</program>"
    info = env.step(absent)[4]
    assert not info["valid"] and "no object can have shape=unicorn" in info["error"]
    env.reset(seed=0)
    info = env.step(COUNT_CIRCLES)[4]
    assert not info["valid"] and "<program>" in info["error"]


def test_grounded_mode_refuses_a_program_that_does_not_compute_what_the_question_asks():
    env = questioner_env(grounded=True, families=["counting"])
    counts = {}
    for seed in range(50):  # a scene where circles and squares differ in number
        env.reset(seed=seed)
        counts = {shape: run_query(f"count(filter(shape={shape}))", env.unwrapped.scene).value for shape in SHAPES}
        if counts["circle"] != counts["square"]:
            break
    assert counts["circle"] != counts["square"]
    matching = "<question>How many circles are there?</question><program>count(filter(shape=circle))</program>"
    other = "<question>How many circles are there?</question><program>count(filter(shape=square))</program>"
    garbled = "<question>What shape is the large are there?</question><program>count(filter(shape=circle))</program>"
    results = {}
    for name, output in (("matching", matching), ("other", other), ("garbled", garbled)):
        env.reset(seed=seed)
        results[name] = env.step(output)[4]
    assert results["matching"]["valid"] and results["matching"]["answer"] == str(counts["circle"])
    assert not results["other"]["valid"] and "does not compute what the question asks" in results["other"]["error"]
    assert not results["garbled"]["valid"] and "must take one of the forms" in results["garbled"]["error"]
    assert "How many red circles are there?" in env.reset(seed=0)[0]["text"]  # the instruction names the forms


def pseudo_label_accuracy(difficulty, episodes=40):
    env = questioner_env(grounded=True, reasoner=ScriptedReasoner())
    questioner = ScriptedQuestioner(difficulty=difficulty)
    correct = []
    for seed in range(episodes):
        env.reset(seed=seed)
        info = env.step(questioner.ask(env.unwrapped.scene, random.Random(seed)))[4]
        assert info["valid"] and info["answer"] is not None
        correct.append(info["pseudo_label_correct"])
    return np.mean(correct)


def test_grounded_mode_measures_pseudo_label_accuracy_falling_with_question_hardness():
    easy, hard = pseudo_label_accuracy(0.0), pseudo_label_accuracy(0.9)
    assert easy >= 0.9
    assert hard <= 0.2


# --- The Reasoner env -------------------------------------------------------------------------------


def bank_record(**overrides):
    record = {
        "question": "How many circles are there?",
        "family": "counting",
        "task_seed": 7,
        "difficulty": 1,
        "answer_type": "number",
    }
    return {**record, **overrides}


def test_reasoner_env_pays_for_matching_the_banked_pseudo_label():
    env = gym.make("VisPlayReasoner-v0", image_size=SIZE, question_bank=[bank_record(pseudo_label="3", confidence=0.6)])
    obs, info = env.reset(seed=0)
    assert question_of(obs) == "How many circles are there?"
    assert "pseudo_label" not in info and "answer" not in info
    _, reward, terminated, _, info = env.step("<think>I count them.</think><answer>three</answer>")
    assert terminated and reward == pytest.approx(1.0) and info["is_success"] and info["answer"] == "3"
    env.reset(seed=0)
    assert env.step("4")[1] == 0.0
    env.reset(seed=0)
    assert env.step(env.unwrapped.oracle())[1] == pytest.approx(1.0)


def test_reasoner_env_refuses_to_serve_questions_outside_the_confidence_band():
    env = gym.make(
        "VisPlayReasoner-v0",
        image_size=SIZE,
        question_bank=[bank_record(pseudo_label="3", confidence=0.9)],
        max_draws=5,
    )
    with pytest.raises(RuntimeError, match="5 outside the confidence band"):
        env.reset(seed=0)


def test_pseudo_labels_are_computed_once_per_question_by_the_snapshot():
    calls = []

    def snapshot(observations, infos):
        calls.append(infos[0]["question"])
        return ["2", "3"] * (len(observations) // 2)

    env = gym.make("VisPlayReasoner-v0", image_size=SIZE, question_bank=[bank_record()], label_reasoner=snapshot)
    for seed in range(3):
        env.reset(seed=seed)
        info = env.step("<think>I count.</think><answer>2</answer>")[4]
        assert (info["pseudo_label"], info["confidence"]) == ("2", 0.5)
    assert calls == ["How many circles are there?"]


def test_reasoner_env_with_the_scripted_questioner_serves_admitted_grounded_questions():
    env = gym.make("VisPlayReasoner-v0", image_size=SIZE, grounded=True, questioner=ScriptedQuestioner(difficulty=0.5))
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert sum(info["skipped"].values()) < 64
        info = env.step(env.unwrapped.oracle())[4]
        assert 0.25 <= info["confidence"] <= 0.75 and info["is_success"]
        assert "true_answer" in info and isinstance(info["pseudo_label_correct"], bool)


def test_reasoner_can_be_paid_against_the_ground_truth_in_grounded_mode():
    record = bank_record(program="count(filter(shape=circle))", pseudo_label="99", confidence=0.5)
    env = gym.make(
        "VisPlayReasoner-v0", image_size=SIZE, grounded=True, reward_target="ground_truth", question_bank=[record]
    )
    env.reset(seed=0)
    truth = env.unwrapped._proposal.truth.text
    info = env.step(f"<think>I count.</think><answer>{truth}</answer>")[4]
    assert info["is_success"] and info["answer"] == truth and info["pseudo_label_correct"] is False
    with pytest.raises(ValueError, match="grounded=True"):
        gym.make("VisPlayReasoner-v0", reward_target="ground_truth")


@pytest.mark.parametrize("bank", [[], [{"question": "x"}], [bank_record(pseudo_label="3")]])
def test_a_malformed_question_bank_is_refused(bank):
    with pytest.raises(ValueError, match="question_bank"):
        gym.make("VisPlayReasoner-v0", question_bank=bank)


def test_a_questioner_env_info_is_a_question_bank_record():
    env = questioner_env(reasoner=constant_reasoner("3", "4"))
    env.reset(seed=3)
    info = env.step(COUNT_CIRCLES)[4]
    reasoner_env = gym.make("VisPlayReasoner-v0", image_size=SIZE, question_bank=[info])
    obs, _ = reasoner_env.reset(seed=0)
    assert question_of(obs) == info["question"]
    assert np.array_equal(obs["image"], env.unwrapped._image)


# --- The whole game ---------------------------------------------------------------------------------


def play_round(env, questioner, reasoner, seed):
    obs, info = env.reset(seed=seed)
    roles, rng = [info["role"]], random.Random(seed)
    while True:
        scene = env.unwrapped.scene
        action = (
            questioner.ask(scene, rng) if info["role"] == "questioner" else reasoner.respond(obs["text"], scene, rng)
        )
        obs, reward, terminated, truncated, info = env.step(action)
        roles.append(info["role"])
        if terminated or truncated:
            return roles, reward, info


def test_game_turns_go_questioner_then_m_reasoner_answers_and_pay_each_role():
    env = gym.make("VisPlay-v0", image_size=SIZE, samples=4, grounded=True)
    roles, reward, info = play_round(env, ScriptedQuestioner(difficulty=0.5), ScriptedReasoner(), seed=0)
    assert roles == ["questioner", "reasoner", "reasoner", "reasoner", "reasoner", None]
    rewards = info["rewards"]
    assert len(rewards["reasoner"]) == 4
    assert reward == pytest.approx(rewards["questioner"] + sum(rewards["reasoner"]))
    terms = info["reward_terms"]
    questioner = max(0.0, terms["uncertainty"] + terms["diversity"])  # the Questioner's reward is clipped at 0
    assert reward == pytest.approx(questioner + 0.9 * terms["agreement"] + 0.1 * terms["format"])


def test_game_never_shows_the_reasoner_the_answer_before_the_end():
    env = gym.make("VisPlay-v0", image_size=SIZE, samples=3, grounded=True)
    env.reset(seed=0)
    question = ScriptedQuestioner().ask(env.unwrapped.scene, random.Random(0))
    obs, _, _, _, info = env.step(question)
    assert question_of(obs) == parse_questioner_output(question).question
    assert not {"answer", "pseudo_label", "answers", "rewards", "task_seed", "split", "scene"} & set(info)


def test_an_invalid_question_ends_the_game_before_the_reasoner_acts():
    env = gym.make("VisPlay-v0", image_size=SIZE)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("just chatting")
    assert terminated and reward == 0.0 and info["rewards"] == {"questioner": 0.0, "reasoner": []}


def test_oracles_ask_answerable_questions_and_answer_them_right():
    env = gym.make("VisPlay-v0", image_size=SIZE, samples=3, grounded=True).unwrapped
    env.reset(seed=2)
    while True:
        _, _, terminated, _, info = env.step(env.oracle())
        if terminated:
            break
    assert info["valid"] and info["pseudo_label_correct"] and info["rewards"]["reasoner"] == [1.0, 1.0, 1.0]
    questioner = questioner_env().unwrapped
    questioner.reset(seed=2)
    assert questioner.step(questioner.oracle())[4]["valid"]


def test_a_bank_index_picks_a_record_and_a_bad_index_is_refused():
    bank = [
        bank_record(pseudo_label="3", confidence=0.5),
        bank_record(question="How many stars are there?", pseudo_label="1", confidence=0.5),
    ]
    env = gym.make("VisPlayReasoner-v0", image_size=SIZE, question_bank=bank)
    assert question_of(env.reset(seed=0, options={"index": 1})[0]) == "How many stars are there?"
    with pytest.raises(ValueError, match="index"):
        env.reset(seed=0, options={"index": 2})


def test_a_failed_reset_leaves_no_episode_to_step():
    env = gym.make(
        "VisPlayReasoner-v0",
        image_size=SIZE,
        question_bank=[bank_record(pseudo_label="3", confidence=0.9)],
        max_draws=2,
    ).unwrapped
    with pytest.raises(RuntimeError):
        env.reset(seed=0)
    with pytest.raises(gym.error.ResetNeeded):
        env.step("3")
