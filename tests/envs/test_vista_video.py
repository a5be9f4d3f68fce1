"""VistaVideo-v0: the Gymnasium contract, the frame tools and their budget, rewards, bad input, the oracle."""

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vista_envs  # noqa: F401
from vista_envs.envs.vista_video import VistaVideoEnv
from vista_envs.video.questions import KINDS


def call(name, **arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def play_oracle(env, max_turns=12):
    total, info = 0.0, {}
    for _ in range(max_turns):
        _obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle())
        total += reward
        if terminated or truncated:
            break
    return total, info


@pytest.fixture
def env():
    env = gym.make("VistaVideo-v0", image_size=224, frame_size=112)
    yield env.unwrapped
    env.close()


def test_check_env_passes_without_warnings():
    env = gym.make("VistaVideo-v0", image_size=128, frame_size=96, render_mode="rgb_array").unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=False)


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_envs_run_tool_turns_and_answers(vector_cls):
    envs = vector_cls([lambda: gym.make("VistaVideo-v0", image_size=96, frame_size=64, difficulty=1) for _ in range(2)])
    try:
        obs, _ = envs.reset(seed=3)
        assert obs["image"].shape == (2, 96, 96, 3)
        obs, rewards, terminated, _truncated, _infos = envs.step(
            (call("frame", index=1), "<think>a quick guess</think><answer>1</answer>")
        )
        assert obs["text"][0].startswith("[frame] Frame 1.")
        assert terminated.tolist() == [False, True]
        assert rewards[0] == pytest.approx(-0.005)
    finally:
        envs.close()


def test_reset_shows_an_overview_grid_and_a_complete_prompt_without_the_answer(env):
    obs, info = env.reset(seed=0, options={"family": "first_time", "difficulty": 2})
    text = obs["text"]
    assert "Question:" in text and "<tool_call>" in text and "<answer>" in text and "frames" in text
    assert info["overview_frames"] == [0, 50, 99, 149] and info["n_frames"] == 150
    assert [m["role"] for m in info["messages"]] == ["system", "user"] and len(info["images"]) == 1
    assert {t["function"]["name"] for t in info["tools"]} == {"frames", "frame", "zoom"}
    public = {
        "family",
        "difficulty",
        "answer_type",
        "options",
        "n_frames",
        "fps",
        "overview_frames",
        "frames_viewed",
        "frames_left",
        "turn",
    }
    assert set(info) == public | {"messages", "images", "tools"}
    assert env.episode.spec.rationale not in text and "decide" not in json.dumps(info["messages"])


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_oracle_solves_every_kind_at_every_difficulty_within_the_frame_budget(kind):
    env = gym.make("VistaVideo-v0", image_size=224, frame_size=112).unwrapped
    for difficulty in (1, 3, 5):
        for seed in range(3):
            env.reset(seed=seed, options={"family": kind, "difficulty": difficulty, "split": "test"})
            _total, info = play_oracle(env)
            assert info["is_success"], (kind, difficulty, seed, info["answer"], info["extracted_answer"])
            assert info["frames_viewed"] == len(
                [f for f in env.episode.deciding_frames if f not in env.overview_frames]
            )
            assert info["frames_viewed"] <= env.tools.max_frames


def test_the_oracle_looks_only_at_the_deciding_frames(env):
    env.reset(seed=5, options={"family": "order", "difficulty": 4})
    play_oracle(env)
    assert env.tools.viewed == set(env.episode.deciding_frames) - set(env.overview_frames)


def test_a_frame_costs_lambda_and_a_grid_costs_lambda_per_frame(env):
    env.reset(seed=1, options={"difficulty": 3})
    _, reward, _, _, info = env.step(call("frames", start=0, end=5, step=2))
    assert info["reward_terms"]["frames"] == -3.0 and reward == pytest.approx(-0.015)
    assert info["frames_viewed"] == 3 and info["frames_left"] == env.tools.max_frames - 3
    assert "Frames 0, 2, 4" in info["messages"][-2]["content"]


def test_a_request_for_all_1800_frames_is_cut_by_the_grid_and_then_by_the_budget():
    env = gym.make(
        "VistaVideo-v0", clip_frames=1800, max_frames=20, max_grid=16, image_size=128, frame_size=64
    ).unwrapped
    env.reset(seed=0, options={"family": "compare", "difficulty": 1})
    obs, _, _, _, info = env.step(call("frames", start=0, end=1799))
    assert "1800 frames were asked for; showing the first 16 (the grid's limit)" in obs["text"]
    obs, _, _, _, info = env.step(call("frames", start=16, end=1799))
    assert "showing the first 4 (the frame budget left)" in obs["text"] and info["frames_left"] == 0
    obs, _reward, _, _, info = env.step(call("frame", index=100))
    assert "budget of 20 frames is spent" in info["error"] and info["reward_terms"]["invalid"] == -1.0


@pytest.mark.parametrize(
    ("turn", "message"),
    [
        (call("frame", index=10**12), "does not exist"),
        (call("frame", index=-1), "does not exist"),
        (call("frames", start=0, end=10**15, step=1), "does not exist"),
        (call("frames", start=9, end=3), "start <= end"),
        (call("frames", start=0, end=4, step=0), "step >= 1"),
        (call("frames", start=0), 'needs both "start" and "end"'),
        (call("frames", indices=list(range(17))), "must have 1 items"),
        (call("frames", indices=[1, 2], start=1, end=2), "either"),
        (call("zoom", index=3, box=[-5, -5, 10, 10]), "box must satisfy"),
        (call("zoom", index=3, box=[50, 50, 10, 10]), "box must satisfy"),
        (call("zoom", index=3, box=[10, 10, 11, 11]), "at least 4 pixels"),
        (call("zoom", index=3, box=[0, 0, "a", 9]), "must hold only finite numbers"),
        (call("rewind", seconds=3), "unknown tool 'rewind'"),
        ("<tool_call>{not json</tool_call>", "not valid JSON"),
        ('<tool_call>{"name": "frame"', "never closed"),
        ("I think it is blue.", "neither a tool call nor an answer"),
    ],
)
def test_bad_tool_calls_get_a_message_and_a_cost_and_the_episode_goes_on(env, turn, message):
    env.reset(seed=2, options={"difficulty": 2})
    obs, reward, terminated, truncated, info = env.step(turn)
    assert message in info["error"] and message in obs["text"]
    assert info["reward_terms"]["invalid"] == -1.0 and reward == pytest.approx(-0.1)
    assert not terminated and not truncated and info["frames_viewed"] == 0
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("action", [None, 42, b"bytes", ["list"], {"name": "frame"}, "x" * 20_000])
def test_non_text_and_huge_actions_are_refused_without_raising(action):
    env = gym.make("VistaVideo-v0", image_size=96, frame_size=64).unwrapped
    env.reset(seed=0)
    obs, _reward, terminated, _, info = env.step(action)
    assert info["reward_terms"]["invalid"] == -1.0 and not terminated and "error" in info
    assert env.observation_space.contains(obs)


def test_too_many_calls_in_a_turn_run_the_first_ones_and_cost_once(env):
    env.reset(seed=0, options={"difficulty": 1})
    obs, _, _, _, info = env.step(call("frame", index=1) * 6)
    assert info["frames_viewed"] == 4 and info["reward_terms"]["invalid"] == -1.0 and "only the first 4" in obs["text"]
    assert len(info["images"]) == 1 + 4 and info["messages"][-1]["content"].count({"type": "image"}) == 4


def test_an_order_answer_gets_kendall_partial_credit_but_no_success_unless_exact(env):
    env.reset(seed=4, options={"family": "order", "difficulty": 1})
    truth = [part.strip() for part in ", ".join(env.episode.spec.answer).split(",")]
    swapped = [truth[1], truth[0], *truth[2:]]
    _, _, terminated, _, info = env.step(
        f"<think>I watched the clip closely.</think><answer>{', '.join(swapped)}</answer>"
    )
    n = len(truth)
    pairs = n * (n - 1) / 2
    assert terminated and not info["is_success"] and info["reward_terms"]["correctness"] == 0.0
    assert info["reward_terms"]["temporal"] == pytest.approx((1 + (pairs - 2) / pairs) / 2)


def test_a_frame_answer_within_the_tolerance_succeeds_and_the_temporal_term_decays_with_the_error(env):
    for seed in range(20):
        env.reset(seed=seed, options={"family": "first_time", "difficulty": 1})
        if "At which frame" in env.episode.question.text:
            break
    truth, tolerance = env.episode.spec.answer, env.episode.spec.tolerance
    _, _, _, _, info = env.step(f"<think>The change shows up there.</think><answer>{truth + tolerance}</answer>")
    assert info["is_success"] and info["reward_terms"]["temporal"] == pytest.approx(0.75)
    env.reset(seed=seed, options={"family": "first_time", "difficulty": 1})
    _, _, _, _, info = env.step(f"<think>The change shows up there.</think><answer>{truth + 3 * tolerance}</answer>")
    assert not info["is_success"] and info["reward_terms"]["temporal"] == pytest.approx(0.25)


def test_the_turn_limit_truncates_and_reveals_the_answer():
    env = gym.make("VistaVideo-v0", max_turns=2, image_size=96, frame_size=64).unwrapped
    env.reset(seed=0)
    _, _, _, truncated, info = env.step(call("frame", index=0))
    assert not truncated and "answer" not in info
    _, _, terminated, truncated, info = env.step(call("frame", index=1))
    assert truncated and not terminated and info["answer"] is not None and info["is_success"] is False
    with pytest.raises(gym.error.ResetNeeded, match="VistaVideo-v0"):
        env.step("<answer>1</answer>")


def test_same_seed_and_actions_give_identical_episodes():
    def run():
        env = gym.make("VistaVideo-v0", image_size=96, frame_size=64).unwrapped
        obs, _ = env.reset(seed=11)
        steps = [obs["text"], obs["image"].tobytes()]
        for _ in range(3):
            obs, reward, terminated, truncated, _info = env.step(env.oracle())
            steps += [obs["text"], obs["image"].tobytes(), reward]
            if terminated or truncated:
                break
        return steps

    assert run() == run()


def test_splits_are_disjoint_by_the_clips_script():
    from vista_envs.video.episode import sample_episode, script_split
    from vista_envs.video.generate import ClipConfig

    scripts = {}
    for split in ("train", "test"):
        for seed in range(15):
            episode = sample_episode("count", seed, 2, split, ClipConfig(), 48)
            assert script_split(episode.clip.script) == split
            scripts.setdefault(split, set()).add(episode.clip.script)
    assert not scripts["train"] & scripts["test"] and len(scripts["test"]) == 15


def test_api_misuse_raises_clearly():
    with pytest.raises(ValueError, match="unknown question kind"):
        gym.make("VistaVideo-v0", families=["nope"])
    with pytest.raises(ValueError, match="n_frames must be an int in"):
        gym.make("VistaVideo-v0", clip_frames=8)
    with pytest.raises(ValueError, match="frame_cost_weight"):
        gym.make("VistaVideo-v0", frame_cost_weight=-1)
    with pytest.raises(ValueError, match="correctness_weight"):
        gym.make("VistaVideo-v0", correctness_weight=float("nan"))
    env = gym.make("VistaVideo-v0").unwrapped
    with pytest.raises(gym.error.ResetNeeded, match="VistaVideo-v0: call reset"):
        env.step("<answer>1</answer>")
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"task": "x"})


def test_render_shows_the_current_view_with_a_caption():
    env = gym.make("VistaVideo-v0", render_mode="rgb_array", image_size=128, frame_size=96)
    env.reset(seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape[1] == 128 and frame.shape[0] > 128


def test_the_video_baselines_answer_from_their_own_frames_only():
    from vista_envs.bench.baselines import VideoLookAllPolicy, VideoOverviewPolicy

    env = gym.make("VistaVideo-v0", clip_frames=600, max_frames=40, image_size=128, frame_size=96)
    obs, info = env.reset(seed=0, options={"family": "count", "difficulty": 3})
    turn = VideoOverviewPolicy().act_in_envs([env], [obs], [info])[0]
    assert "<tool_call>" not in turn and turn.endswith("</answer>")
    look_all, turns = VideoLookAllPolicy(), 0
    while True:
        turn = look_all.act_in_envs([env], [obs], [info])[0]
        obs, _, terminated, truncated, info = env.step(turn)
        turns += 1
        if terminated or truncated:
            break
    assert env.unwrapped.tools.viewed == set(range(40)) and info["frames_viewed"] == 40
    assert turns == 2 and info["reward_terms"]["frames"] == 0.0  # the frames were paid on the tool turn


def test_episodes_are_identical_across_processes():
    import subprocess
    import sys

    code = (
        "import json, gymnasium as gym, vista_envs\n"
        "env = gym.make('VistaVideo-v0', image_size=96, frame_size=64).unwrapped\n"
        "rows = []\n"
        "for seed in range(3):\n"
        "    obs, info = env.reset(seed=seed)\n"
        "    obs, reward, *_ = env.step(env.oracle())\n"
        "    rows.append([obs['text'], int(obs['image'].sum()), reward, info['family']])\n"
        "print(json.dumps(rows))\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(h), "PATH": ""},
        )
        for h in (1, 2)
    ]
    assert runs[0].stdout == runs[1].stdout and runs[0].stdout.startswith("[[")


def test_the_oracle_answers_from_what_it_has_when_the_budget_left_cannot_buy_the_deciding_frames():
    env = gym.make("VistaVideo-v0", max_frames=20, image_size=96, frame_size=64).unwrapped
    env.reset(seed=0, options={"family": "order", "difficulty": 2})
    env.step(call("frames", start=0, end=15) + call("frames", start=16, end=19))
    assert env.tools.left == 0 and env.oracle().endswith("</answer>")


def test_families_may_name_one_kind_as_a_str():
    env = VistaVideoEnv(families="order")
    assert env.kinds == ("order",)
    assert env.reset(seed=0)[1]["family"] == "order"


@pytest.mark.parametrize("limit", [1024, 2047, 2048.0, True, "4096"])
def test_a_text_limit_that_would_cut_the_prompt_or_is_no_int_is_refused_naming_it(limit):
    with pytest.raises(ValueError, match="VistaVideo-v0: max_text_chars"):
        VistaVideoEnv(max_text_chars=limit)


def test_the_longest_prompts_fit_the_smallest_text_limit_whole():
    env = VistaVideoEnv(max_text_chars=2048)
    for seed in range(60):
        observation, info = env.reset(seed=seed)
        assert observation["text"] == info["messages"][1]["content"][-1]["text"]  # not cut
