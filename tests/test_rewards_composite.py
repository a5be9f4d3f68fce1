"""The composite reward (0.2 visual + 0.3 tool + 0.5 outcome) and its stage labels, by module and in VistaGUI-v0.

Hand-made trajectories fail at seeing (a wrong ``<see>``), at acting (the right sighting, then a
click on nothing) and at the outcome (the value read right, the answer given wrong).
"""

import json
import re
import time

import gymnasium as gym
import pytest

import vista_envs  # noqa: F401
from vista_envs.gui.goals import ValueIs
from vista_envs.rewards_composite import (
    CompositeReward,
    TurnCheck,
    extract_seen,
    seen_score,
)


def call(tool, **arguments):
    return f"<tool_call>{json.dumps({'name': tool, 'arguments': arguments})}</tool_call>"


# -- the module ---------------------------------------------------------------------------------------


def test_the_seen_tag_is_read_and_matched_exactly_after_normalisation():
    assert extract_seen("<see>first</see> then <SEE> the Save button </SEE>") == "the Save button"
    assert extract_seen("no tag") is None and extract_seen(None) is None
    assert seen_score("the Save button", ["Save"]) == 1.0
    assert seen_score('"Dark mode" toggle.', ["Dark mode"]) == 1.0
    assert seen_score("42.0", ["42"]) == 1.0
    assert seen_score("Email newsletters", ["Email notifications"]) == 0.0  # a near duplicate is not the element
    assert seen_score(None, ["Save"]) == 0.0 and seen_score("Save", []) == 0.0


def test_the_seen_tag_is_read_in_one_pass_over_a_turn_full_of_unclosed_tags():
    # A lazy regex rescanned the rest of the turn from every unclosed <see>: 64,000 characters took 8 s.
    started = time.perf_counter()
    assert extract_seen("<see>" * 12_800) is None
    assert extract_seen("<SEE>" * 12_800 + "</see>") == "<SEE>" * 12_799
    assert time.perf_counter() - started < 0.5


def test_a_sighting_too_long_to_be_a_label_names_nothing_and_is_scored_at_once():
    # Normalising strips one filler word a pass: 16,000 characters of "the the ..." took seconds a turn.
    for filler in ("the ", "a ", "x button "):
        started = time.perf_counter()
        assert seen_score(filler * (16_000 // len(filler)) + "Save", ["Save"]) == 0.0
        assert time.perf_counter() - started < 0.5
    assert seen_score("the " * 200 + "Save", ["Save"]) == 1.0  # 804 characters: still read


def test_a_three_turn_episode_pays_the_weighted_means_and_outcome_on_the_last_turn():
    composite = CompositeReward()
    first = composite.add_turn(TurnCheck(visual=0.0, tool=1.0))  # saw wrong, acted right
    second = composite.add_turn(TurnCheck(visual=1.0, tool=0.0))  # saw right, acted wrong
    last = composite.add_turn(TurnCheck(visual=1.0, tool=1.0, final=True, outcome=1.0))
    assert (first.stage_failed, second.stage_failed, last.stage_failed) == (
        "seeing",
        "acting",
        None,
    )
    assert first.reward == second.reward == 0.0
    # visual mean 2/3, tool mean 2/3: 0.2 * 2/3 + 0.3 * 2/3 + 0.5 * 1 = 0.8333...
    assert last.terms == pytest.approx({"visual": 2 / 3, "tool": 2 / 3, "outcome": 1.0})
    assert last.reward == pytest.approx(0.2 * 2 / 3 + 0.3 * 2 / 3 + 0.5)
    # process rewards: (0.2 v + 0.3 a) / 0.5 -> 0.6, 0.4, 1.0
    assert composite.process_rewards == pytest.approx([0.6, 0.4, 1.0])
    assert first.process_reward == pytest.approx(0.6)


def test_a_failed_last_turn_that_saw_and_acted_right_is_labelled_outcome():
    composite = CompositeReward(visual_weight=1.0, tool_weight=1.0, outcome_weight=2.0)
    score = composite.add_turn(TurnCheck(visual=1.0, tool=1.0, final=True, outcome=0.0))
    assert score.stage_failed == "outcome" and score.reward == pytest.approx(2.0)


def test_weights_must_be_non_negative_and_the_threshold_in_range():
    with pytest.raises(ValueError, match="visual_weight"):
        CompositeReward(visual_weight=-0.1)
    with pytest.raises(ValueError, match="pass_threshold"):
        CompositeReward(pass_threshold=0)


# -- in VistaGUI-v0 -------------------------------------------------------------------------------------


def _env(**options):
    env = gym.make("VistaGUI-v0", reward="composite")
    env.reset(seed=options.pop("seed", 0), options=options)
    return env


def _oracle_parts(env):
    turn = env.unwrapped.oracle()
    return re.search(r"<see>(.*?)</see>", turn).group(1), turn[turn.index("<tool_call>") :]


def test_the_oracle_scores_full_marks_with_no_stage_failing():
    env = _env(family="form", difficulty=2)
    done, stages = False, []
    while not done:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle())
        stages.append(info["stage_failed"])
        done = terminated or truncated
    assert info["is_success"] and stages == [None] * len(stages)
    assert reward == pytest.approx(1.0) and info["process_rewards"] == [1.0] * len(stages)


def test_a_trajectory_that_fails_at_seeing_is_labelled_seeing_at_that_turn():
    env = _env(family="form", difficulty=1)
    _, oracle_call = _oracle_parts(env)
    _, reward, _, _, info = env.step("<see>Launch rockets</see>" + oracle_call)
    assert info["stage_failed"] == "seeing" and info["process_reward"] == pytest.approx(0.6)
    assert reward == 0.0 and info["reward_terms"] == {
        "visual": 0.0,
        "tool": 0.0,
        "outcome": 0.0,
        "invalid": 0.0,
    }


def test_a_missing_see_tag_fails_seeing():
    env = _env(family="table", difficulty=1)
    _, oracle_call = _oracle_parts(env)
    _, _, _, _, info = env.step(oracle_call)
    assert info["stage_failed"] == "seeing"


def test_a_trajectory_that_sees_right_but_clicks_nothing_is_labelled_acting():
    env = _env(family="form", difficulty=1)
    seen, _ = _oracle_parts(env)
    width, height = env.unwrapped.screen_size
    _, _, _, _, info = env.step(f"<see>{seen}</see>" + call("click", x=width - 3, y=height - 3))
    assert info["stage_failed"] == "acting" and info["process_reward"] == pytest.approx(0.4)


def test_an_invalid_call_fails_acting_and_costs():
    env = _env(family="files", difficulty=1)
    seen, _ = _oracle_parts(env)
    _, reward, _, _, info = env.step(f"<see>{seen}</see>" + call("key", name="warp"))
    assert info["stage_failed"] == "acting" and reward == pytest.approx(-0.1)


def test_a_trajectory_that_reads_right_but_answers_wrong_is_labelled_outcome():
    env = _env(family="dashboard", difficulty=1)
    answer = str(env.unwrapped.task.goal.answer)
    _, reward, terminated, _, info = env.step(f"<see>{answer}</see>" + call("answer", text=answer + "1"))
    assert terminated and not info["is_success"] and info["stage_failed"] == "outcome"
    # seeing 1, acting 1 (a valid answer to a question), outcome 0
    assert info["reward_terms"] == {
        "visual": 1.0,
        "tool": 1.0,
        "outcome": 0.0,
        "invalid": 0.0,
    }
    assert reward == pytest.approx(0.5)


def test_credit_goes_to_the_turn_where_the_error_started():
    env = _env(family="form", difficulty=2, seed=4)
    seen, oracle_call = _oracle_parts(env)
    env.step(f"<see>{seen}</see>{oracle_call}")  # right
    env.step("<see>Nothing like it</see>" + call("scroll", dx=0, dy=0))  # wrong from here
    done = False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle())
        done = terminated or truncated
    rewards = info["process_rewards"]
    assert rewards[0] == 1.0 and rewards[1] == 0.0 and all(r == 1.0 for r in rewards[2:])
    assert info["is_success"] and reward < 1.0


def test_a_turn_without_visual_ground_truth_is_left_out_of_the_visual_mean_and_the_seeing_check():
    composite = CompositeReward()
    unchecked = composite.add_turn(TurnCheck(visual=None, tool=1.0))
    last = composite.add_turn(TurnCheck(visual=0.0, tool=1.0, final=True, outcome=1.0))
    assert unchecked.stage_failed is None and unchecked.process_reward == 1.0
    assert last.stage_failed == "seeing" and last.terms["visual"] == 0.0  # the mean of the one checked turn
    assert composite.process_rewards == pytest.approx([1.0, 0.6])
    assert CompositeReward().add_turn(TurnCheck(visual=None, tool=0.0, final=True)).terms["visual"] == 0.0


# -- the same reward as an option of VistaTool-v0 ---------------------------------------------------------


def _tool_env():
    env = gym.make(
        "VistaTool-v0", reward="composite", families=["flag_lookup"], tools=["search", "zoom", "grid"], max_turns=4
    )
    env.reset(seed=0)
    return env


def test_vista_tool_pays_the_composite_reward_to_an_oracle_that_states_what_it_read():
    env = _tool_env()
    turns = env.unwrapped.oracle_trajectory()
    answer = env.unwrapped.task.spec.answer
    turns[-1] = f"<see>{answer}</see>" + turns[-1]
    stages = []
    for turn in turns:
        _, reward, terminated, _, info = env.step(turn)
        stages.append(info["stage_failed"])
    assert terminated and info["is_success"] and stages == [None] * len(turns)
    assert info["reward_terms"] == {
        "visual": 1.0,
        "tool": 1.0,
        "outcome": 1.0,
        "invalid": 0.0,
    } and reward == pytest.approx(1.0)


def test_vista_tool_labels_a_useless_tool_acting_a_missing_sighting_seeing_and_a_wrong_answer_outcome():
    env = _tool_env()
    _, reward, _, _, info = env.step(call("grid", step=20))  # not a tool the task needs
    assert info["stage_failed"] == "acting" and reward == 0.0 and info["process_reward"] == 0.0
    answer = env.unwrapped.task.spec.answer
    _, reward, terminated, _, info = env.step(f"<think>I know it.</think><answer>{answer}</answer>")
    assert terminated and info["is_success"] and info["stage_failed"] == "seeing"
    assert info["reward_terms"]["visual"] == 0.0 and reward == pytest.approx(0.3 * 0.5 + 0.5)  # tool mean (0 + 1) / 2
    env.reset(seed=0)
    _, _, _, _, info = env.step(f"<see>{answer}</see><think>Hmm.</think><answer>not {answer}</answer>")
    assert not info["is_success"] and info["stage_failed"] == "outcome" and info["process_rewards"] == [1.0]


def test_vista_tool_keeps_its_rule_reward_by_default_and_refuses_an_unknown_reward():
    env = gym.make("VistaTool-v0", families=["flag_lookup"], tools=["search"])
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.unwrapped.oracle())
    assert "stage_failed" not in info and "tools" in info["reward_terms"]
    with pytest.raises(ValueError, match="reward must be"):
        gym.make("VistaTool-v0", reward="vibes")


def test_the_values_of_a_form_may_be_set_in_any_order_without_failing_seeing_or_acting():
    env = gym.make("VistaGUI-v0", reward="composite")
    for seed in range(40):  # a settings form whose values are all on the first screen
        env.reset(seed=seed, options={"family": "form", "difficulty": 2})
        app, goal = env.unwrapped.task.app, env.unwrapped.task.goal
        targets = [s for s in goal.subgoals if isinstance(s, ValueIs)]
        if app.dialog is None and len(targets) >= 2 and app.commit_command == "save":
            last = app.widget(targets[-1].wid)
            if app.on_screen(app.screen_rect(last)) and last.role == "checkbox":
                break
    x, y = (app.screen_rect(last)[0] + 3, (app.screen_rect(last)[1] + app.screen_rect(last)[3]) // 2)
    _, _, _, _, info = env.step(f"<see>{last.label}</see>" + call("click", x=x, y=y))  # the last value first
    assert info["stage_failed"] is None and info["process_reward"] == 1.0
    save = app.widget("save")
    sx, sy = ((save.rect[0] + save.rect[2]) // 2, (save.rect[1] + save.rect[3]) // 2 - app.scroll_y)
    _, _, _, _, info = env.step("<see>Save</see>" + call("click", x=sx, y=sy))  # saving before the rest is done
    assert info["stage_failed"] == "seeing"
