"""The agent contract every registered id keeps (docs/agent_contract.md), walked over ``ENV_IDS``.

A new id is tested here before anyone writes a test for it: Gymnasium's checker, the prompt under
``obs["text"]`` with its answer-format instruction, ``info["messages"]`` rendered by a Hugging Face
processor's ``apply_chat_template`` (image placeholders matching ``info["images"]``), no answer or task
seed before the end, and the same episode for the same seed. Observation modes meant for array learners
hold arrays only.
"""

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vista_envs
from vista_envs.answers import get_response_format

ANSWER_FORMAT = get_response_format("think_answer").describe()
# Small, fast instances; ids not listed here are built with their defaults.
KWARGS = {
    "VisualQA-v0": {"image_size": 64},
    "VistaTool-v0": {"image_size": 64},
    "VisPlay-v0": {"image_size": 64, "samples": 2},
    "VisPlayQuestioner-v0": {"image_size": 64, "samples": 2},
    "VisPlayReasoner-v0": {"image_size": 64, "samples": 2},
    "VistaRobotEE-v0": {"max_steps": 40},  # the oracle's episodes take hundreds of control steps: truncate them
}
# What the prompt must say about the reply's format (ids not listed: the think/answer format or tool calls).
FORMAT_MARKERS = {
    "VisPlay-v0": ("<question>",),
    "VisPlayQuestioner-v0": ("<question>",),
    "VistaTool-v0": (ANSWER_FORMAT, "<tool_call>"),
    "VistaRobot-v0": ("<plan>",),
    "VistaRobotEE-v0": ("(dx, dy, dz, gripper)",),
}
# Keys that would give the answer away, or regenerate the task, before the episode ends (``is_success`` may be
# reported as False at every step, as goal-conditioned robot envs do).
SECRET_KEYS = {"answer", "task_seed", "scene", "true_answer", "pseudo_label", "extracted_answer"}
MAX_STEPS = 60


def make(env_id, **kwargs):
    if "Robot" in env_id or "Views" in env_id:
        pytest.importorskip("pybullet")
    return gym.make(env_id, **{**KWARGS.get(env_id, {}), **kwargs})


def is_text_env(env) -> bool:
    space = env.observation_space
    return isinstance(space, gym.spaces.Dict) and "text" in space.spaces


def playable(info) -> dict:
    """``info`` without its images, as JSON (what a log or an HTTP client would see)."""
    return json.loads(
        json.dumps({key: value for key, value in info.items() if key != "images"}, default=lambda o: repr(o))
    )


@pytest.fixture(scope="session")
def processor(tiny_vlm):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_vlm)


def play_oracle(env, seed):
    """An episode played by the oracle: ``[(observation, info)]`` from the reset to the end, and the rewards."""
    observation, info = env.reset(seed=seed)
    trace, rewards = [(observation, info)], []
    for _ in range(MAX_STEPS):
        observation, reward, terminated, truncated, info = env.step(env.unwrapped.oracle())
        trace.append((observation, info))
        rewards.append(reward)
        if terminated or truncated:
            break
    return trace, rewards


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_every_id_passes_gymnasiums_checker(env_id):
    env = make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the checker's notes on Text spaces and float32 bounds
        check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_the_prompt_is_under_text_complete_and_the_first_user_turn_of_the_conversation(env_id):
    env = make(env_id)
    if not is_text_env(env):
        pytest.skip(f"{env_id} observes arrays only in its default mode")
    observation, info = env.reset(seed=0)
    prompt = observation["text"]
    assert isinstance(prompt, str) and prompt
    assert any(marker in prompt for marker in FORMAT_MARKERS.get(env_id, (ANSWER_FORMAT, "<tool_call>"))), prompt
    messages = info["messages"]
    assert messages[0]["role"] == "system" and messages[0]["content"]
    user = messages[-1]
    assert user["role"] == "user" and user["content"][-1] == {"type": "text", "text": prompt}
    env.close()


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_the_conversation_renders_through_a_hugging_face_processor_at_every_step(env_id, processor):
    env = make(env_id)
    if not is_text_env(env):
        pytest.skip(f"{env_id} observes arrays only in its default mode")
    trace, _ = play_oracle(env, seed=1)
    for _, info in trace:
        prompt = processor.apply_chat_template(
            info["messages"], tools=info.get("tools"), add_generation_prompt=True, tokenize=False
        )
        images = info["images"]
        placeholders = sum(
            part.get("type") == "image"
            for m in info["messages"]
            if isinstance(m["content"], list)
            for part in m["content"]
        )
        assert placeholders == len(images) >= 1
        # The processor expands one image token per placeholder: it raises if the counts disagree.
        batch = processor(text=[prompt], images=[np.asarray(image) for image in images], return_tensors="np")
        assert batch["input_ids"].shape[0] == 1
    env.close()


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_nothing_that_gives_the_answer_away_is_shown_before_the_end(env_id):
    env = make(env_id)
    assert not SECRET_KEYS & env.unwrapped.public_info_keys, "an env declares a secret as public"
    for seed in range(3):
        trace, _ = play_oracle(env, seed)
        for observation, info in trace[:-1]:
            assert not SECRET_KEYS & set(info), f"{env_id} shows {SECRET_KEYS & set(info)} before the end"
            assert not info.get("is_success"), f"{env_id} reports success before the end"
            if is_text_env(env):
                assert "task_seed" not in json.dumps(playable(info))
        assert "answer" in trace[-1][1] and "is_success" in trace[-1][1]
    env.close()


def takes_task_seed(env) -> bool:
    try:
        env.reset(seed=0, options={"task_seed": 1})
    except ValueError:  # an env without the option refuses it
        return False
    return True


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_the_end_gives_the_tasks_identity_which_replays_the_episode(env_id):
    env = make(env_id)
    try:
        if not takes_task_seed(env.unwrapped):
            pytest.skip(f"{env_id} takes no task_seed option")
        trace, _ = play_oracle(env, seed=11)
        end = trace[-1][1]
        assert {"split", "task_seed"} <= set(end), f"{env_id} ends without the task's identity"
        if env_id.startswith("VisPlay"):
            return  # the identity regenerates the scene; the question is the in-env player's (the Reasoner's doc)
        keys = ("split", "task_seed", "family", "difficulty", "view_seed")
        identity = {key: end[key] for key in keys if key in end}
        observation, _ = env.reset(seed=999, options=identity)  # another seed: the options alone fix the episode
        assert observation["text"] == trace[0][0]["text"]
        assert np.array_equal(observation["image"], trace[0][0]["image"])
    finally:
        env.close()


@pytest.mark.parametrize("env_id", vista_envs.ENV_IDS)
def test_the_same_seed_gives_the_same_episode(env_id):
    first, second = make(env_id), make(env_id)
    trace_a, rewards_a = play_oracle(first, seed=5)
    trace_b, rewards_b = play_oracle(second, seed=5)
    assert rewards_a == rewards_b and len(trace_a) == len(trace_b)
    for (obs_a, info_a), (obs_b, info_b) in zip(trace_a, trace_b):
        assert obs_a.keys() == obs_b.keys()
        for key in obs_a:
            assert np.array_equal(np.asarray(obs_a[key]), np.asarray(obs_b[key])), key
        assert playable(info_a) == playable(info_b)
    first.close()
    second.close()


@pytest.mark.parametrize("env_id", ["VistaRobotEE-v0"])
@pytest.mark.parametrize("obs_mode", ["state", "rgb"])
def test_array_observation_modes_hold_arrays_only(env_id, obs_mode):
    env = make(env_id, obs_mode=obs_mode)
    spaces = (
        env.observation_space.spaces.values()
        if isinstance(env.observation_space, gym.spaces.Dict)
        else [env.observation_space]
    )
    assert all(isinstance(space, gym.spaces.Box) for space in spaces)
    env.close()
