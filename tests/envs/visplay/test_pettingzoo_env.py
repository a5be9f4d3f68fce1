"""The PettingZoo AEC wrapper of VisPlay: pettingzoo's api_test and a full scripted game."""

import random
import warnings

import pytest

pytest.importorskip("pettingzoo")

from pettingzoo.test import api_test  # noqa: E402

from vista_envs.envs.visplay.pettingzoo_env import VisPlayAECEnv, env  # noqa: E402
from vista_envs.visplay import ScriptedQuestioner, ScriptedReasoner  # noqa: E402


def question_of(observation):
    """The question of a Reasoner observation: its text without the answer-format line."""
    return observation["text"].rsplit("\n", 1)[0]


def test_api_test_passes():
    with warnings.catch_warnings():
        # pettingzoo recommends Box/Discrete spaces and array observations; text games cannot follow that.
        warnings.simplefilter("ignore", UserWarning)
        api_test(env(samples=3, image_size=64), num_cycles=50)


def play(game, seed, questioner=None):
    questioner = questioner or ScriptedQuestioner(difficulty=0.5)
    reasoner, rng = ScriptedReasoner(), random.Random(seed)
    game.reset(seed=seed)
    turns, final = [], {}
    for agent in game.agent_iter():
        observation, reward, terminated, truncated, info = game.last()
        if terminated or truncated:
            final[agent] = (reward, info)
            game.step(None)
            continue
        turns.append(agent)
        scene = game.unwrapped.game.scene
        game.step(
            questioner.ask(scene, rng) if agent == "questioner_0" else reasoner.respond(observation["text"], scene, rng)
        )
    return turns, final


def test_a_scripted_game_pays_each_agent_its_own_reward_at_the_end():
    turns, final = play(env(samples=4, image_size=64, grounded=True), seed=0)
    assert turns == ["questioner_0"] + ["reasoner_0"] * 4
    questioner_reward, info = final["questioner_0"]
    reasoner_reward, _ = final["reasoner_0"]
    assert questioner_reward == pytest.approx(info["rewards"]["questioner"])
    assert reasoner_reward == pytest.approx(sum(info["rewards"]["reasoner"]))
    assert "pseudo_label_correct" in info


def test_an_invalid_question_ends_the_game_with_nothing_for_the_reasoner():
    class Silent:
        def ask(self, scene, rng):
            return "I have no question."

    turns, final = play(env(samples=4, image_size=64), seed=1, questioner=Silent())
    assert turns == ["questioner_0"]
    assert final["reasoner_0"][0] == 0.0 and "no <question>" in final["questioner_0"][1]["error"]


def test_the_reasoner_sees_the_question_and_never_the_instruction():
    game = VisPlayAECEnv(samples=2, image_size=64)
    game.reset(seed=0)
    assert game.observe("reasoner_0")["text"] == ""
    game.step("<question>How many stars are there?</question>")
    assert game.agent_selection == "reasoner_0"
    assert question_of(game.observe("reasoner_0")) == "How many stars are there?"


def test_reset_passes_scene_options_and_ignores_unknown_ones():
    game = VisPlayAECEnv(image_size=64)
    with pytest.warns(UserWarning, match="ignoring unknown reset options"):
        game.reset(seed=0, options={"task_seed": 5, "family": "counting", "colour": "red"})
    assert game.infos["questioner_0"]["family"] == "counting" and "task_seed" not in game.infos["questioner_0"]
