"""VistaTool-v0: the Gymnasium contract, tool calls, rewards, bad input, messages for chat templates."""

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import vista_envs  # noqa: F401
from vista_envs.tasks import family_names, get_family

TOOL_FAMILIES = [name for name in family_names() if get_family(name).tools_help]


def call(name, **arguments):
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


@pytest.fixture
def env():
    env = gym.make("VistaTool-v0", families=["counting"], max_turns=4).unwrapped
    yield env
    env.close()


def test_check_env_passes_without_warnings():
    env = gym.make("VistaTool-v0").unwrapped
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_env(env, skip_render_check=False)
    finally:
        env.close()


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
def test_vector_envs_run_tool_turns_and_answers(vector_cls):
    envs = vector_cls([lambda: gym.make("VistaTool-v0", image_size=96, tools=["calculator", "zoom"]) for _ in range(2)])
    try:
        obs, infos = envs.reset(seed=1)
        assert obs["image"].shape == (2, 96, 96, 3)
        obs, rewards, terminated, truncated, infos = envs.step(
            (call("calculator", expression="2+2"), "<think>a guess</think><answer>1</answer>")
        )
        assert obs["text"][0].startswith("[calculator] 4")
        assert terminated.tolist() == [False, True]
        assert rewards[0] == pytest.approx(-0.05)
    finally:
        envs.close()


def test_reset_exposes_messages_and_tool_schemas(env):
    obs, info = env.reset(seed=0)
    assert {t["function"]["name"] for t in info["tools"]} == {
        "python",
        "search",
        "crop",
        "zoom",
        "draw_box",
        "mark_point",
        "grid",
        "calculator",
    }
    assert [m["role"] for m in info["messages"]] == ["system", "user"]
    assert info["messages"][1]["content"][0] == {"type": "image"}
    assert len(info["images"]) == 1 and np.array_equal(info["images"][0], obs["image"])
    assert info["sandbox"] == "bwrap" or info["sandbox"].startswith("process (NOT a security boundary")


def test_a_tool_turn_costs_lambda_per_call_and_keeps_the_episode_going(env):
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(call("calculator", expression="6*7") + call("grid", step=32))
    assert not terminated and not truncated
    assert "[calculator] 42" in obs["text"] and "[grid]" in obs["text"]
    assert info["reward_terms"]["tools"] == -2.0 and reward == pytest.approx(-0.1)
    roles = [m["role"] for m in info["messages"]]
    assert roles[-4:] == ["assistant", "tool", "tool", "user"]  # tool responses, then the new view
    assert info["messages"][-4]["tool_calls"][0]["function"] == {
        "name": "calculator",
        "arguments": {"expression": "6*7"},
    }
    assert len(info["images"]) == 2


def test_vista_gym_call_form_is_accepted(env):
    env.reset(seed=0)
    obs, *_ = env.step('<tool_call>{"tool": "calculator", "parameters": {"expression": "1+1"}}</tool_call>')
    assert "[calculator] 2" in obs["text"]


def test_zoom_changes_the_observed_image(env):
    obs, _ = env.reset(seed=0)
    zoomed, *_ = env.step(call("zoom", x=60, y=60, factor=4))
    assert zoomed["image"].shape == obs["image"].shape and not np.array_equal(zoomed["image"], obs["image"])


def test_python_state_persists_within_an_episode_and_sees_the_image(env):
    env.reset(seed=0)
    env.step(call("python", code="h, w, c = image.shape\ntotal = 40"))
    obs, *_ = env.step(call("python", code="print(h, w, c, total + 2)"))
    assert "224 224 3 42" in obs["text"]


def test_python_state_does_not_leak_into_the_next_episode(env):
    env.reset(seed=0)
    env.step(call("python", code="secret = 'episode-one'"))
    env.reset(seed=1)
    obs, *_ = env.step(call("python", code="print(secret)"))
    assert "NameError" in obs["text"]


def test_answer_turn_is_scored_like_visual_qa(env):
    env.reset(seed=0)
    env.step(call("calculator", expression="1+1"))
    _, reward, terminated, _, info = env.step(env.oracle())
    assert terminated and info["is_success"]
    assert info["reward_terms"]["correctness"] == 1.0 and reward == pytest.approx(1.4)


def test_turn_limit_truncates_and_reveals_the_answer(env):
    env.reset(seed=0)
    for turn in range(1, 5):
        _, _, terminated, truncated, info = env.step(call("calculator", expression="1"))
        assert "answer" not in info or turn == 4
    assert truncated and not terminated and not info["is_success"] and "answer" in info


class TestBadInput:
    """Bad calls are explained in obs['text'] and info['error'], penalised, and the episode goes on."""

    @pytest.mark.parametrize(
        "action, message",
        [
            ("<tool_call>{not json}</tool_call>", "not valid JSON"),
            (call("teleport", to="mars"), "unknown tool"),
            (call("crop"), "missing required argument"),
            (call("crop", box="all"), "type array"),
            (call("zoom", x="left", y=3), "type number"),
            (call("crop", box=[500, 500, 900, 900]), "does not overlap"),
            (call("calculator", expression="__import__('os')"), "unsupported syntax"),
            (call("search", query="x", k=99), "between 1 and 10"),
            ("I am not sure what to do.", "neither a tool call nor an answer"),
            ('<tool_call>{"name": "zoom"', "never closed"),
            (call("zoom", x=10**400, y=3), "type number"),  # an int no float can hold
            (
                '<tool_call>{"name": "zoom", "arguments": {"x": 1' + "0" * 5000 + ', "y": 1}}</tool_call>',
                "not valid JSON",
            ),
            (call("calculator", expression="round(1, -10**9)"), "at most 400 digits"),
            ('<tool_call>{"name": "teleport\\ud800", "arguments": {}}</tool_call>', "unknown tool 'teleport\ufffd'"),
        ],
    )
    def test_bad_calls(self, env, action, message):
        env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(action)
        obs["text"].encode("utf-8")  # a tokenizer takes it: no lone surrogate from a JSON escape reaches the model
        assert message in obs["text"] and message in info["error"]
        assert info["reward_terms"]["invalid"] == -1.0 and reward < 0
        assert not terminated and not truncated

    def test_a_thousand_calls_in_one_turn_run_only_the_limit(self):
        env = gym.make("VistaTool-v0", families=["counting"], max_response_chars=100_000).unwrapped
        try:
            env.reset(seed=0)
            obs, reward, *_, info = env.step(call("calculator", expression="1") * 1000)
            assert info["reward_terms"]["tools"] == -4.0 and info["reward_terms"]["invalid"] == -1.0
            assert "only the first 4" in info["error"]
        finally:
            env.close()

    def test_ten_megabytes_of_code_is_refused_without_running(self):
        env = gym.make("VistaTool-v0", families=["counting"], max_response_chars=20_000_000).unwrapped
        try:
            env.reset(seed=0)
            obs, *_, info = env.step(call("python", code="x = 1\n" * 1_800_000))
            assert "longer than" in info["error"]
        finally:
            env.close()

    @pytest.mark.parametrize("action", [None, 7, b"bytes", "x" * 20_000])
    def test_non_string_or_overlong_turns(self, env, action):
        env.reset(seed=0)
        obs, reward, terminated, truncated, info = env.step(action)
        assert info["error"] and not terminated and reward == pytest.approx(-0.1)

    def test_step_before_reset_raises(self):
        env = gym.make("VistaTool-v0").unwrapped
        try:
            with pytest.raises(gym.error.ResetNeeded):
                env.step("x")
        finally:
            env.close()


def test_ground_truth_is_not_visible_before_the_end():
    env = gym.make("VistaTool-v0", max_turns=2).unwrapped
    try:
        for seed in range(40):
            obs, info = env.reset(seed=seed)
            assert "answer" not in info and "is_success" not in info
            _, _, _, _, info = env.step(call("grid"))
            assert "answer" not in info
    finally:
        env.close()


@pytest.mark.parametrize("family", [name for name in family_names() if name not in TOOL_FAMILIES])
def test_every_visual_qa_family_is_playable_with_tools(family):
    env = gym.make("VistaTool-v0", families=[family]).unwrapped
    try:
        for seed in range(10):
            env.reset(seed=seed, options={"difficulty": 1 + seed % 5})
            env.step(call("zoom", x=100, y=100, factor=2))
            _, reward, terminated, _, info = env.step(env.oracle())
            assert terminated and info["is_success"] and reward == pytest.approx(1.4)
    finally:
        env.close()


@pytest.mark.parametrize("family", TOOL_FAMILIES)
def test_oracle_tool_trajectories_solve_the_tool_families(family):
    env = gym.make("VistaTool-v0", families=[family]).unwrapped
    try:
        solved = 0
        for seed in range(20):
            env.reset(seed=seed, options={"difficulty": 1 + seed % 5})
            trajectory = env.oracle_trajectory()
            assert len(trajectory) >= 2, "a tool family's oracle calls tools before answering"
            for turn in trajectory:
                _, _, terminated, truncated, info = env.step(turn)
                assert "invalid" not in info.get("error", "")
                if terminated or truncated:
                    break
            solved += info["is_success"]
        assert solved == 20
    finally:
        env.close()


def test_messages_render_through_a_hugging_face_chat_template():
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    backend = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=backend)
    # A Hermes-style template in the manner of Qwen2.5-VL's: tools in the system turn, calls as
    # <tool_call> JSON, tool outputs as <tool_response>, image placeholders in content lists.
    tokenizer.chat_template = (
        "{% for m in messages %}<|{{ m.role }}|>"
        "{% if m.role == 'system' and tools %}{% for t in tools %}{{ t | tojson }}{% endfor %}{% endif %}"
        "{% if m.content is string %}{{ m.content }}{% else %}{% for part in m.content %}"
        "{% if part.type == 'image' %}<image>{% else %}{{ part.text }}{% endif %}{% endfor %}{% endif %}"
        "{% for c in m.tool_calls or [] %}<tool_call>{{ {'name': c.function.name, 'arguments': c.function.arguments} | "
        "tojson }}</tool_call>{% endfor %}"
        "{% if m.role == 'tool' %}<tool_response>{{ m.content }}</tool_response>{% endif %}"
        "{% endfor %}"
    )
    env = gym.make("VistaTool-v0", families=["counting"]).unwrapped
    try:
        _, info = env.reset(seed=0)
        tools = info["tools"]
        _, _, _, _, info = env.step(call("zoom", x=50, y=50) + call("calculator", expression="2*3"))
        text = tokenizer.apply_chat_template(info["messages"], tools=tools, tokenize=False)
        assert text.count("<image>") == len(info["images"]) == 2
        assert '<tool_call>{"name": "zoom", "arguments": {"x": 50, "y": 50}}</tool_call>' in text
        assert "<tool_response>6</tool_response>" in text and '"name": "python"' in text
    finally:
        env.close()


# The python code a scripted agent sends to measure the bars of a bar chart on the current view:
# the mask of the dominant saturated colour, projected across the bars, gives one run per bar;
# summed coverage gives each bar's length with sub-pixel precision.
BAR_MEASURING_CODE = """
rgb = image.astype(int)
saturated = (rgb.max(axis=2) - rgb.min(axis=2)) > 60
colours, counts = np.unique(rgb[saturated] // 16, axis=0, return_counts=True)
bar = colours[counts.argmax()] * 16 + 8
mask = np.abs(rgb - bar).sum(axis=2) < 90
# Fractional coverage (1 on the bar colour, 0 on white) measures the anti-aliased bar ends too.
cover = np.clip(1 - np.abs(rgb - bar).sum(axis=2) / np.abs(255 - bar).sum(), 0, 1)
def runs(profile):
    on = np.flatnonzero(profile > 2)
    return np.split(on, np.flatnonzero(np.diff(on) > 1) + 1)
rows, cols = runs(mask.sum(axis=1)), runs(mask.sum(axis=0))
horizontal = len(rows) > len(cols)
if not horizontal:
    cover = cover.T
lengths = [float(cover[r[1:-1] if len(r) > 2 else r].sum(axis=1).mean()) for r in (rows if horizontal else cols)]
print("lengths", [round(v, 2) for v in lengths])
print("rises", sum(b > a for a, b in zip(lengths, lengths[1:])))
"""


class ScriptedChartAgent:
    """Solves 'how many times did the value rise' bar-chart questions using only messages and tools."""

    def act(self, info):
        messages, tools = info["messages"], {t["function"]["name"] for t in info["tools"]}
        question = messages[1]["content"][1]["text"]
        assert "higher than in the" in question and "python" in tools
        if messages[-1]["role"] == "user" and len(messages) == 2:
            code = json.dumps({"name": "python", "arguments": {"code": BAR_MEASURING_CODE}})
            return f"<think>I measure the bars with Python.</think><tool_call>{code}</tool_call>"
        output = next(m["content"] for m in reversed(messages) if m["role"] == "tool" and "rises" in m["content"])
        rises = int(output.split("rises")[-1].split()[0])
        return (
            f"<think>The measured bar lengths rise {rises} times from one bar to the "
            f"next.</think><answer>{rises}</answer>"
        )


def test_a_scripted_agent_solves_chart_tasks_through_messages_and_tool_calls_only():
    env = gym.make("VistaTool-v0", families=["chart_arithmetic"], difficulty=(4, 5))
    agent = ScriptedChartAgent()
    solved = tried = 0
    try:
        for task_seed in range(400):
            obs, info = env.reset(seed=0, options={"task_seed": task_seed})
            if "higher than in the" not in obs["text"]:
                continue
            tried += 1
            for _ in range(3):
                obs, reward, terminated, truncated, info = env.step(agent.act(info))
                if terminated or truncated:
                    break
            solved += info["is_success"]
            if tried == 6:
                break
    finally:
        env.close()
    # Neighbouring values 0.1 apart differ by 0.15 px in the 224 px view: below what pixel
    # measurement resolves (a VLM would read the value labels instead), so one miss is allowed.
    assert tried == 6 and solved >= 5, (solved, tried)
