"""VistaGUI-v0: the agent contract, the oracle, bad input, determinism, splits and observation modes."""

import json
import time

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vista_envs  # noqa: F401  (registers the ids)
from vista_envs.gui.apps import APP_KINDS


def call(tool, **arguments):
    return f"<tool_call>{json.dumps({'name': tool, 'arguments': arguments})}</tool_call>"


def play_oracle(env, **options):
    _, info = env.reset(seed=options.pop("seed", 0), options=options)
    total, done = 0.0, False
    while not done:
        _obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle())
        total += reward
        done = terminated or truncated
    return info, total


def test_the_env_passes_the_gymnasium_checker_without_warnings():
    with _no_warnings():
        check_env(gym.make("VistaGUI-v0", render_mode="rgb_array").unwrapped)


class _no_warnings:
    def __enter__(self):
        import warnings

        self._catch = warnings.catch_warnings(record=True)
        self.records = self._catch.__enter__()
        warnings.simplefilter("always")

    def __exit__(self, *exc):
        self._catch.__exit__(*exc)
        assert not self.records, [str(r.message) for r in self.records]


@pytest.mark.parametrize("family", sorted(APP_KINDS))
@pytest.mark.parametrize("difficulty", [1, 3, 5])
def test_the_oracle_solves_test_episodes_of_every_app_kind(family, difficulty):
    env = gym.make("VistaGUI-v0")
    for seed in range(3):
        info, total = play_oracle(env, seed=seed, family=family, difficulty=difficulty, split="test")
        assert info["is_success"], (family, difficulty, seed, info.get("error"))
        assert total > 0.9  # success (1) + progress - the action costs


def test_reset_info_holds_the_contract_and_no_answer():
    env = gym.make("VistaGUI-v0")
    obs, info = env.reset(seed=3, options={"family": "dashboard", "difficulty": 1})
    assert obs["text"].startswith("Task: ") and "click(x, y)" in obs["text"]
    assert {"messages", "images", "tools"} <= set(info) and "answer" not in info and "is_success" not in info
    assert info["messages"][0]["role"] == "system" and info["messages"][1]["content"][0] == {"type": "image"}
    assert len(info["images"]) == 1 and np.array_equal(info["images"][0], obs["image"])
    assert [t["function"]["name"] for t in info["tools"]] == [
        "click",
        "type",
        "key",
        "scroll",
        "drag",
        "answer",
    ]
    answer = str(env.unwrapped.task.goal.answer)
    assert info["answer_type"] == "number" and "task_seed" not in info and "split" not in info
    # The value is printed on the chart at level 1, so it may be on screen; it must not be in the text.
    assert f"answer {answer}" not in obs["text"] and answer not in json.dumps(info["messages"])


def test_every_step_carries_the_conversation_with_tool_results_paired_to_calls():
    env = gym.make("VistaGUI-v0")
    env.reset(seed=0, options={"family": "form", "difficulty": 1})
    _, _, _, _, info = env.step(env.unwrapped.oracle())
    assistant, tool, user = info["messages"][-3:]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["id"] == tool["tool_call_id"]
    assert user["role"] == "user" and user["content"][0] == {"type": "image"}
    assert user["content"][1]["text"] == "The screen after turn 1." and len(info["images"]) == 2
    _, _, _, _, info = env.step("Let me think.")
    assert info["messages"][-1]["content"][1]["text"].startswith("Error: the turn has no tool call")
    tree_env = gym.make("VistaGUI-v0", obs_mode="a11y")
    tree_env.reset(seed=0, options={"family": "form", "difficulty": 1})
    _, _, _, _, info = tree_env.step(tree_env.unwrapped.oracle())
    assert "Accessibility tree" in info["messages"][-1]["content"][0]["text"] and info["images"] == []


def test_calls_after_an_answer_are_not_run_but_each_still_gets_its_tool_result():
    env = gym.make("VistaGUI-v0", max_calls_per_turn=3)
    env.reset(seed=0, options={"family": "dashboard", "difficulty": 1})
    action = call("answer", text="7") + call("click", x=5, y=5) + call("key", name="tab")
    _, _, terminated, _, info = env.step(action)
    assert terminated
    calls = info["messages"][-5]["tool_calls"]
    results = info["messages"][-4:-1]
    assert [r["tool_call_id"] for r in results] == [c["id"] for c in calls]  # no call left without its result
    assert [r["content"] for r in results[1:]] == ["Not run: the answer ended the episode."] * 2


@pytest.mark.parametrize(
    "action, message",
    [
        (12345, "must be a str"),
        ("x" * 20000, "over the limit"),
        ("I will click the button.", "no tool call"),
        ("<tool_call>{not json</tool_call>", "malformed tool call"),
        ('<tool_call>{"name": "click"', "never closed"),
        (call("teleport", x=1), "unknown tool"),
        (call("click", x=5000, y=10), "outside the"),
        (call("click", x=-1, y=10), "outside the"),
        (call("click", x="ten", y=10), "must be a number"),
        (call("click", y=3), "missing x"),
        (
            '<tool_call>{"name": "click", "arguments": {"x": NaN, "y": 3}}</tool_call>',
            "must be a number",
        ),
        (call("type", text="hello"), "No text box has the focus"),
        (call("type", text="a" * 10_000), "1 to 200 characters"),
        (call("key", name="hyperspace"), "unknown key"),
        (call("scroll", dx=0, dy=10**9), "at most"),
        (call("answer", text="42"), "operate the app"),
        (call("click", x=1, y=1) + call("click", x=2, y=2), "only the first 1 ran"),
    ],
)
def test_bad_input_gets_a_message_and_a_cost_and_the_episode_goes_on(action, message):
    env = gym.make("VistaGUI-v0")
    env.reset(seed=1, options={"family": "form", "difficulty": 2})
    obs, reward, terminated, truncated, info = env.step(action)
    assert message in info["error"] and message in obs["text"]
    assert info["reward_terms"]["invalid"] <= -1 and reward < 0
    assert not terminated and not truncated
    obs, *_ = env.step(env.unwrapped.oracle())  # the app still works
    assert env.observation_space.contains(obs)


def test_a_wrong_answer_ends_a_question_episode_unsolved_and_reveals_the_answer():
    env = gym.make("VistaGUI-v0")
    env.reset(seed=2, options={"family": "table", "difficulty": 2})
    while not env.unwrapped.task.goal.asks_question:
        env.reset(options={"family": "table", "difficulty": 2})
    _, _reward, terminated, _, info = env.step(call("answer", text="definitely not it"))
    assert terminated and not info["is_success"] and info["answer"] == str(env.unwrapped.task.goal.answer)
    assert (
        info["split"] == "train" and info["task_seed"] == env.unwrapped.task.seed
    )  # where it came from, at the end only
    assert info["reward_terms"]["success"] == 0.0


def test_an_answer_tag_is_read_as_the_answer_tool():
    env = gym.make("VistaGUI-v0")
    env.reset(seed=0, options={"family": "dashboard", "difficulty": 1})
    answer = env.unwrapped.task.goal.answer
    _, reward, terminated, _, info = env.step(f"<think>I read it.</think><answer>{answer}</answer>")
    assert terminated and info["is_success"] and reward > 0.9


def test_a_turn_full_of_unclosed_answer_tags_is_read_in_one_pass():
    # A lazy regex rescanned the rest of the turn from every unclosed <answer>: 64,000 characters took 6 s.
    env = gym.make("VistaGUI-v0", max_response_chars=64_000)
    env.reset(seed=0, options={"family": "dashboard", "difficulty": 1})
    started = time.perf_counter()
    _, _, terminated, _, info = env.step("<answer>" * 8_000)
    assert time.perf_counter() - started < 1.0
    assert not terminated and "no tool call" in info["error"]
    obs, _, terminated, _, _ = env.step("<ANSWER> 1 </answer><answer>2</answer>")  # the first tag, in any case
    assert terminated and "You answered '1'." in obs["text"]


def test_the_episode_truncates_at_max_turns():
    env = gym.make("VistaGUI-v0", max_turns=3)
    env.reset(seed=0, options={"family": "files", "difficulty": 3})
    for _ in range(3):
        _, _, terminated, truncated, info = env.step(call("scroll", dx=0, dy=0))
    assert truncated and not terminated and info["is_success"] is False
    with pytest.raises(gym.error.ResetNeeded, match="VistaGUI-v0"):
        env.step(call("scroll", dx=0, dy=0))


def test_same_seed_and_actions_give_the_same_episode():
    def run():
        env = gym.make("VistaGUI-v0")
        obs, _ = env.reset(seed=11)
        frames, rewards = [obs["image"]], []
        for action in [
            call("click", x=100, y=60),
            call("key", name="tab"),
            call("scroll", dx=0, dy=40),
        ]:
            obs, reward, *_ = env.step(action)
            frames.append(obs["image"])
            rewards.append(reward)
        return frames, rewards, obs["text"]

    (a, ra, ta), (b, rb, tb) = run(), run()
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and ra == rb and ta == tb


def test_splits_are_disjoint_by_content():
    from vista_envs.gui.task import describe, generate_gui_task

    def key(split, seed):
        task = generate_gui_task("form", seed, 2, split, (512, 320))
        return task.goal.instruction, repr(describe(task.app))

    train = {key("train", s) for s in range(40)}
    test = {key("test", s) for s in range(40)}
    assert not train & test


def test_the_accessibility_tree_mode_shows_the_tree_and_a_black_image():
    env = gym.make("VistaGUI-v0", obs_mode="a11y")
    obs, info = env.reset(seed=0, options={"family": "form", "difficulty": 1})
    assert "Accessibility tree" in obs["text"] and "@(" in obs["text"]
    assert not obs["image"].any() and info["images"] == []
    screenshot_env = gym.make("VistaGUI-v0")
    obs, _ = screenshot_env.reset(seed=0, options={"family": "form", "difficulty": 1})
    assert "Accessibility tree" not in obs["text"] and obs["image"].any()
    obs, info = gym.make("VistaGUI-v0", obs_mode="both").reset(seed=0, options={"family": "form", "difficulty": 1})
    assert "Accessibility tree" in obs["text"] and obs["image"].any() and len(info["images"]) == 1


def test_difficulty_changes_the_apps_for_real():
    from vista_envs.gui.task import generate_gui_task

    easy = generate_gui_task("form", 0, 1, "train", (512, 320))
    hard = generate_gui_task("form", 0, 5, "train", (512, 320))
    assert hard.app.theme.row < easy.app.theme.row  # smaller targets
    n_inputs = lambda t: sum(w.value is not None for page in t.app.pages for w in page)
    assert n_inputs(hard) > n_inputs(easy) and len(hard.goal.subgoals) > len(easy.goal.subgoals)


def test_vector_envs_step_the_env():
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("VistaGUI-v0") for _ in range(2)])
    obs, _ = envs.reset(seed=0)
    obs, reward, *_ = envs.step([call("scroll", dx=0, dy=30), "nonsense"])
    assert obs["image"].shape == (2, 320, 512, 3) and reward[1] < 0
    envs.close()


def test_bad_kwargs_and_options_raise_clearly():
    with pytest.raises(ValueError, match="families"):
        gym.make("VistaGUI-v0", families=["spreadsheet"])
    with pytest.raises(ValueError, match="obs_mode"):
        gym.make("VistaGUI-v0", obs_mode="pixels")
    with pytest.raises(ValueError, match="success_weight"):
        gym.make("VistaGUI-v0", success_weight=-1)
    env = gym.make("VistaGUI-v0")
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"app": "form"})
    with pytest.raises(gym.error.ResetNeeded, match="VistaGUI-v0: call reset"):
        gym.make("VistaGUI-v0").unwrapped.step(call("click", x=1, y=1))


@pytest.mark.parametrize("name", ["visual_weight", "tool_weight", "outcome_weight"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), -1.0])
def test_a_composite_weight_that_is_not_a_finite_number_at_least_0_is_refused_naming_it(name, value):
    # An infinite weight times a 0 term made every reward NaN.
    with pytest.raises(ValueError, match=f"VistaGUI-v0: {name} must be"):
        gym.make("VistaGUI-v0", reward="composite", **{name: value})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_turns": 2.5},
        {"max_turns": "3"},
        {"max_turns": True},
        {"max_calls_per_turn": None},
        {"max_response_chars": 0},
        {"max_response_chars": -1},
        {"max_text_chars": "8192"},
    ],
)
def test_a_count_argument_that_is_not_a_large_enough_int_is_refused_naming_it(kwargs):
    # 2.5 turns and a 0-character action limit were taken; "3" and -1 failed deep inside with no name.
    (name,) = kwargs
    with pytest.raises(ValueError, match=f"VistaGUI-v0: {name} must be an int >= "):
        gym.make("VistaGUI-v0", **kwargs)


def test_render_returns_the_screen_with_a_caption_of_fixed_size():
    env = gym.make("VistaGUI-v0", render_mode="rgb_array")
    env.reset(seed=0)
    first = env.render()
    env.step(call("scroll", dx=0, dy=30))
    assert first.shape == env.render().shape and first.shape[1] == 512 and first.shape[0] > 320


def test_async_vector_envs_give_the_same_episodes_as_one_env_in_this_process():
    actions = [call("click", x=200, y=80), call("scroll", dx=0, dy=60)]
    envs = gym.vector.AsyncVectorEnv([lambda: gym.make("VistaGUI-v0") for _ in range(2)])
    try:
        obs, _ = envs.reset(seed=[7, 8])
        obs, reward, *_ = envs.step(actions)
    finally:
        envs.close()
    for i, seed in enumerate((7, 8)):
        env = gym.make("VistaGUI-v0")
        env.reset(seed=seed)
        alone, alone_reward, *_ = env.step(actions[i])
        assert (
            np.array_equal(obs["image"][i], alone["image"])
            and obs["text"][i] == alone["text"]
            and reward[i] == alone_reward
        )


def test_editing_the_observation_in_place_leaves_the_logged_conversation_alone():
    env = gym.make("VistaGUI-v0").unwrapped
    observation, info = env.reset(seed=0)
    logged = info["images"][-1].copy()
    observation["image"][:] = 0
    assert np.array_equal(info["images"][-1], logged)
    observation, _, _, _, info = env.step('<tool_call>{"name": "click", "arguments": {"x": 5, "y": 5}}</tool_call>')
    logged = info["images"][-1].copy()
    observation["image"][:] = 0
    assert np.array_equal(info["images"][-1], logged)
