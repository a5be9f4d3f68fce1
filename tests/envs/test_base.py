"""The shared env base (guards, render-mode checks) and the chat transcript every text env keeps."""

import gymnasium as gym
import numpy as np
import pytest

from vista_envs.envs.base import VistaEnv
from vista_envs.envs.conversation import Conversation


class _Counter(VistaEnv):
    env_id = "Counter-v0"
    observation_space = gym.spaces.Discrete(3)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, render_mode=None):
        self._init_render_mode(render_mode)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._start_episode()
        self.t = 0
        return 0, {}

    def step(self, action):
        self._require_running()
        self.t += 1
        if self.t == 2:
            self._end_episode()
        return self.t, 0.0, self.t == 2, False, {}

    def render(self):
        return np.zeros((2, 2, 3), np.uint8) if self._render_allowed() else None


def test_step_before_reset_and_after_the_end_raise_reset_needed_naming_the_id():
    env = _Counter()
    with pytest.raises(gym.error.ResetNeeded, match="Counter-v0: call reset"):
        env.step(0)
    env.reset()
    env.step(0)
    env.step(0)
    assert env.episode_ended
    with pytest.raises(gym.error.ResetNeeded, match="episode has ended"):
        env.step(0)
    env.reset()
    assert not env.episode_ended and env.step(0)[0] == 1


def test_an_unknown_render_mode_is_refused_and_render_without_one_warns():
    with pytest.raises(ValueError, match="Counter-v0: render_mode must be None or one of"):
        _Counter(render_mode="human")
    env = _Counter()
    env.reset()
    with pytest.warns(UserWarning, match="render_mode='rgb_array'"):
        assert env.render() is None
    with pytest.raises(gym.error.ResetNeeded):
        _Counter(render_mode="rgb_array").render()


def test_a_conversation_pairs_image_placeholders_with_images_and_tool_results_with_call_ids():
    image = np.zeros((4, 4, 3), np.uint8)
    chat = Conversation("Answer in <answer></answer>.", tools=[{"type": "function", "function": {"name": "zoom"}}])
    chat.user("How many?", [image])
    ids = chat.assistant("Let me zoom.", [("zoom", {"x": 1, "y": 2}), ("zoom", {"x": 3, "y": 4})])
    chat.tool("zoom", "zoomed", ids[0])
    chat.tool("zoom", "zoomed again", ids[1])
    chat.user("The current view.", [image])
    info = chat.info()
    assert [m["role"] for m in info["messages"]] == ["system", "user", "assistant", "tool", "tool", "user"]
    placeholders = sum(
        part == {"type": "image"} for m in info["messages"] if isinstance(m["content"], list) for part in m["content"]
    )
    assert placeholders == len(info["images"]) == 2
    assert ids == ["call_1", "call_2"]
    assert [m.get("tool_call_id") for m in info["messages"][3:5]] == ids
    assert info["messages"][2]["tool_calls"][1]["function"] == {"name": "zoom", "arguments": {"x": 3, "y": 4}}
    assert info["tools"][0]["function"]["name"] == "zoom"


def test_conversation_info_is_a_snapshot_and_omits_tools_and_images_when_asked():
    chat = Conversation("system")
    chat.user("q")
    first = chat.info(include_images=False)
    chat.assistant("a")
    assert len(first["messages"]) == 2 and "images" not in first and "tools" not in first
    assert len(chat.info()["messages"]) == 3
