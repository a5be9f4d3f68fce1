"""OpenAIPolicy against a local server that follows the chat-completions schema: native and text tool calls.

The server (:mod:`chat_completions_server`) refuses any request that breaks the schema, so every test
here also checks that what the policy sends is a valid chat-completions request. The "model" behind it
is a script that solves VistaTool-v0 chart tasks: it knows each task's oracle tool calls (computed in the
test from the env, for the same seed), sends them, and answers from the tool results it is sent back.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import socket
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import vista_envs  # noqa: F401  (registers the ids)
from vista_agents.bench_agents import _EndpointAgent
from vista_agents.policies import OpenAIPolicy
from vista_agents.policies.chat import Chat
from vista_agents.policies.chat_completions import NO_RESULT, reply_action, request_messages
from vista_envs.bench.agents import BenchAgent
from vista_envs.bench.runner import run_suite
from vista_envs.bench.suites import load_suite, parse_suite

import repo_paths
from chat_completions_server import ChatCompletionsServer, schema_problems

REPO = repo_paths.REPO
CHART_TOOLS = ["calculator", "zoom"]
TOOL_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.S)


def image_key(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def first_image(body: dict) -> np.ndarray:
    """The pixels of the first image of a request (a PNG data URL)."""
    for message in body["messages"]:
        for part in message["content"] if isinstance(message.get("content"), list) else ():
            if part["type"] == "image_url":
                data = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
                return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    raise AssertionError("the request has no image")


def last_tool_results(messages: list[dict]) -> list[str]:
    """The results sent after the last assistant turn: tool messages, or <tool_response> blocks in text mode."""
    tail = []
    for message in reversed(messages):
        if message["role"] == "assistant":
            break
        tail.append(message)
    texts = [m["content"] for m in reversed(tail) if m["role"] == "tool"]
    texts += [
        t
        for m in reversed(tail)
        if m["role"] == "user" and isinstance(m["content"], str)
        for t in re.findall(r"<tool_response>\n\[\w+\] (.*?)\n</tool_response>", m["content"], re.S)
    ]
    return texts


class ChartSolver:
    """A scripted model: replays the oracle's tool calls of each known task, then answers from the tool's result.

    ``style="native"`` sends the calls as ``tool_calls`` (content null, JSON-string arguments);
    ``style="text"`` writes the oracle's turn, ``<tool_call>`` tags and all, into ``content``.
    """

    def __init__(self, style: str):
        self.style = style
        self.plans: dict[str, list[str]] = {}
        self.call_number = 0

    def learn(self, observation: dict, env: gym.Env) -> None:
        """Remember the oracle trajectory of the task ``env`` was just reset to."""
        self.plans[image_key(observation["image"])] = env.unwrapped.oracle_trajectory()

    def __call__(self, body: dict) -> dict:
        turns = self.plans[image_key(first_image(body))]
        turn = sum(message["role"] == "assistant" for message in body["messages"])
        if turn < len(turns) - 1:
            if self.style == "text":
                return {"content": turns[turn]}
            return {
                "content": None,
                "tool_calls": [self.native_call(json.loads(block)) for block in TOOL_BLOCK.findall(turns[turn])],
            }
        (result,) = last_tool_results(body["messages"])
        question = next(m for m in body["messages"] if m["role"] == "user")["content"][-1]["text"]
        return {"content": f"<think>The tool returned {result}.</think><answer>{rounded(result, question)}</answer>"}

    def native_call(self, call: dict) -> dict:
        self.call_number += 1
        return {
            "id": f"call_{self.call_number}",
            "type": "function",
            "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
        }


def rounded(result: str, question: str) -> str:
    places = (
        {"one": 1, "two": 2}.get(m.group(1)) if (m := re.search(r"rounded to (one|two) decimal", question)) else None
    )
    return f"{float(result):.{places}f}" if places else result.strip()


def calculator_tasks(count: int) -> list[int]:
    """Seeds of test-split chart_arithmetic tasks whose oracle uses the calculator (no Python sandbox needed)."""
    env = gym.make("VistaTool-v0", families=["chart_arithmetic"], tools=CHART_TOOLS)
    seeds = []
    for seed in range(10 * count):
        env.reset(seed=seed, options={"split": "test"})
        if '"calculator"' in env.unwrapped.oracle_trajectory()[0]:
            seeds.append(seed)
    env.close()
    return seeds[:count]


def play(policy: OpenAIPolicy, solver: ChartSolver, seed: int) -> tuple[list[dict], dict]:
    """One VistaTool-v0 chart episode played by ``policy``: every step's info, and the last one."""
    env = gym.make("VistaTool-v0", families=["chart_arithmetic"], tools=CHART_TOOLS)
    observation, info = env.reset(seed=seed, options={"split": "test"})
    solver.learn(observation, env)
    infos, done = [info], False
    while not done:
        (action,) = policy.act([observation], [info])
        observation, _, terminated, truncated, info = env.step(action)
        infos.append(info)
        done = terminated or truncated
    env.close()
    return infos, info


# -- end to end ------------------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["native", "text"])
def test_a_chart_task_is_solved_end_to_end_with_native_and_with_text_tool_calls(style):
    solver = ChartSolver(style)
    with ChatCompletionsServer(solver) as server:
        policy = OpenAIPolicy("scripted-vlm", server.url, max_retries=0)
        for seed in calculator_tasks(2):
            infos, final = play(policy, solver, seed)
            assert final["is_success"], (final.get("error"), final["extracted_answer"], final["answer"])
            assert all("error" not in info for info in infos)
        assert server.violations == []
    first, second = server.requests[0], server.requests[1]
    assert first["tools"] == infos[0]["tools"]  # the env's schemas, as sent
    calls = [message for message in second["messages"] if message.get("tool_calls")]
    results = [message for message in second["messages"] if message["role"] == "tool"]
    assert len(calls) == 1 and [r["tool_call_id"] for r in results] == [c["id"] for c in calls[0]["tool_calls"]]
    assert json.loads(calls[0]["tool_calls"][0]["function"]["arguments"])["expression"]


def test_the_native_path_solves_a_chart_task_through_vista_envs_bench(tmp_path):
    suite = {
        "name": "chart-native",
        "version": 1,
        "description": "VistaTool-v0 chart arithmetic through an OpenAI-compatible server",
        "split": "test",
        "seed": 7,
        "entries": [
            {
                "env": "VistaTool-v0",
                "env_kwargs": {"tools": CHART_TOOLS + ["python"]},
                "grid": {"family": ["chart_arithmetic"], "difficulty": [1, 3]},
                "episodes_per_cell": 2,
            }
        ],
    }
    suite_path = tmp_path / "chart.json"
    suite_path.write_text(json.dumps(suite))
    solver = ChartSolver("native")
    for episode in load_suite(suite_path).episodes():  # the same tasks the bench will reset to
        env = gym.make(episode.env_id, **episode.env_kwargs)
        observation, _ = env.reset(seed=episode.seed, options=dict(episode.options))
        solver.learn(observation, env)
        env.close()
    with ChatCompletionsServer(solver) as server:
        command = [
            sys.executable,
            "-m",
            "vista_envs.cli",
            "bench",
            "--agent",
            f"openai:scripted-vlm@{server.url}",
            "--suite",
            str(suite_path),
            "--out",
            str(tmp_path / "results"),
            "--envs",
            "2",
            "--no-progress",
        ]
        run = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert server.violations == []
    (results_path,) = (tmp_path / "results").glob("*.json")
    overall = json.loads(results_path.read_text())["overall"]
    assert overall["success_rate"] == 1.0 and overall["errors"] == 0 and overall["episodes"] == 4
    assert any(message.get("tool_calls") for body in server.requests for message in body["messages"])


def test_an_unreachable_endpoint_is_an_infrastructure_error_of_the_bench_never_a_wrong_answer(tmp_path):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    suite = parse_suite(
        {
            "name": "down",
            "version": 1,
            "split": "test",
            "seed": 1,
            "entries": [
                {
                    "env": "VistaTool-v0",
                    "env_kwargs": {"tools": CHART_TOOLS},
                    "grid": {"family": ["chart_arithmetic"]},
                    "episodes_per_cell": 2,
                }
            ],
        }
    )
    policy = OpenAIPolicy("m", f"http://127.0.0.1:{port}/v1", max_retries=0)
    agent = BenchAgent("down", "openai:m@...", _EndpointAgent(policy, "down"))
    outcome = run_suite(suite, agent, tmp_path, n_envs=2, max_infra_errors=2, retry_backoff_s=0, progress=False)
    overall = outcome.results["overall"]
    assert not outcome.complete and overall["errors"] == 0 and overall["infra_errors"] == 2
    assert (
        "InfrastructureError" in outcome.results["run"]["stopped"]
        and "connection failed" in outcome.results["run"]["stopped"]
    )


# -- native tool calls in responses ----------------------------------------------------------------


def native(name: str, arguments: str, call_id: str = "call_a") -> dict:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_several_native_calls_of_one_message_become_env_calls_and_their_results_pair_back():
    replies = iter(
        [
            {
                "content": None,
                "tool_calls": [
                    native("calculator", '{"expression": "1 + 2"}', "c1"),
                    native("zoom", '{"x": 20, "y": 30, "factor": 2}', "c2"),
                ],
            },
            {"content": "<think>Three and a zoomed view.</think><answer>3</answer>"},
        ]
    )
    with ChatCompletionsServer(lambda body: next(replies)) as server:
        policy = OpenAIPolicy("m", server.url, max_retries=0)
        env = gym.make("VistaTool-v0", families=["chart_arithmetic"], tools=CHART_TOOLS)
        observation, info = env.reset(seed=0)
        (action,) = policy.act([observation], [info])
        assert (
            action
            == '<tool_call>{"name": "calculator", "arguments": {"expression": "1 + 2"}}</tool_call><tool_call>{"name": '
            '"zoom", "arguments": {"x": 20, "y": 30, "factor": 2}}</tool_call>'
        )
        observation, reward, _, _, info = env.step(action)
        assert "error" not in info and observation["text"].startswith("[calculator] 3\n[zoom]")
        policy.act([observation], [info])
        assert server.violations == []
    messages = server.requests[1]["messages"]
    (assistant,) = [m for m in messages if m["role"] == "assistant"]
    ids = [call["id"] for call in assistant["tool_calls"]]
    assert assistant["content"] is None and [c["function"]["name"] for c in assistant["tool_calls"]] == [
        "calculator",
        "zoom",
    ]
    position = messages.index(assistant)
    assert [(m["role"], m["tool_call_id"]) for m in messages[position + 1 : position + 3]] == [
        ("tool", ids[0]),
        ("tool", ids[1]),
    ]
    assert messages[position + 1]["content"] == "3"
    assert (
        messages[position + 3]["role"] == "user" and messages[position + 3]["content"][0]["type"] == "image_url"
    )  # the zoomed view


def test_text_content_beside_native_calls_is_kept_and_text_tag_calls_still_work():
    message = {
        "role": "assistant",
        "content": "<think>Add.</think>",
        "tool_calls": [native("calculator", '{"expression": "2 * 3"}')],
    }
    assert (
        reply_action(message)
        == '<think>Add.</think>\n<tool_call>{"name": "calculator", "arguments": {"expression": "2 * 3"}}</tool_call>'
    )
    text_call = '<tool_call>{"name": "calculator", "arguments": {"expression": "1"}}</tool_call>'
    assert reply_action({"role": "assistant", "content": text_call}) == text_call
    assert (
        reply_action({"role": "assistant", "content": "<answer>4</answer>", "tool_calls": []}) == "<answer>4</answer>"
    )
    assert (
        reply_action({"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})
        == "ab"
    )


MALFORMED = {
    "arguments that are not JSON": (
        [native("calculator", '{"expression": "1 +')],
        '"arguments" is a string but not valid JSON',
    ),
    "arguments that are a JSON list": (
        [native("calculator", "[1, 2]")],
        '"arguments" (or "parameters") must be a JSON object, got list',
    ),
    "an unknown tool": ([native("browse", '{"url": "x"}')], "unknown tool 'browse'; available: calculator, zoom"),
    "no id": ([{"type": "function", "function": {"name": "calculator", "arguments": "{}"}}], 'tool_calls[0]: no "id"'),
    "an empty id": ([native("calculator", "{}", call_id="")], 'tool_calls[0]: no "id"'),
    "no function": ([{"id": "c", "type": "function"}], 'tool_calls[0]: no "function" object'),
    "no function name": (
        [{"id": "c", "type": "function", "function": {"arguments": "{}"}}],
        'tool_calls[0]: no "function.name"',
    ),
    "another call type": (
        [{"id": "c", "type": "custom", "custom": {"name": "calculator"}}],
        'tool_calls[0]: type "custom", not "function"',
    ),
    "an entry that is not an object": (["calculator"], "tool_calls[0]: a str, not an object"),
    "tool_calls that are not a list": ({"id": "c"}, '"tool_calls" is a dict, not a list'),
}


@pytest.mark.parametrize("tool_calls, message", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_native_call_is_an_invalid_env_call_with_a_clear_message(tool_calls, message):
    replies = iter(
        [{"content": None, "tool_calls": tool_calls}, {"content": "<think>Try again now.</think><answer>1</answer>"}]
    )
    with ChatCompletionsServer(lambda body: next(replies)) as server:  # a server that misbehaves in its replies
        policy = OpenAIPolicy("m", server.url, max_retries=0)
        env = gym.make("VistaTool-v0", families=["chart_arithmetic"], tools=CHART_TOOLS)
        observation, info = env.reset(seed=0)
        (action,) = policy.act([observation], [info])
        observation, _, terminated, truncated, info = env.step(action)
        assert message in info["error"] and message in observation["text"]
        assert info["reward_terms"]["invalid"] == -1.0 and not (terminated or truncated)
        (action,) = policy.act([observation], [info])  # the next request still follows the schema
        assert env.step(action)[2]
        assert server.violations == []


ODD_MESSAGES = [
    None,
    ["not", "a", "message"],
    {"content": 42},
    {"content": [{"type": "text", "text": 1}, "part", None]},
    {"content": None, "tool_calls": None},
    {
        "content": None,
        "tool_calls": [native("calculator", '{"expression": ' + "[" * 100_000 + "]}")],
    },  # nested past the recursion limit
    {"content": None, "tool_calls": [native("calculator", '{"expression": "\\ud800"}')]},  # a lone surrogate
    {"content": None, "tool_calls": [native("calculator", "x" * 100_000)]},
    {
        "content": None,
        "tool_calls": [{"id": ["c"], "type": None, "function": {"name": ["zoom"], "arguments": {"x": 1}}}],
    },
    {"content": None, "tool_calls": [native("zoom", '{"x": 1, "y": 2}', call_id=f"c{k}") for k in range(12)]},
]


@pytest.mark.parametrize("message", ODD_MESSAGES, ids=range(len(ODD_MESSAGES)))
def test_no_reply_message_makes_the_policy_or_the_env_raise(message):
    action = reply_action(message)
    assert isinstance(action, str)
    env = gym.make("VistaTool-v0", families=["chart_arithmetic"], tools=CHART_TOOLS)
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(action)
    assert not terminated and "error" in info


# -- the conversation sent back --------------------------------------------------------------------


def test_env_calls_and_results_map_to_ids_and_tool_messages_that_the_schema_accepts():
    messages = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How much?"}]},
        # The env lists only the calls it could read; it reports the unreadable one as an "invalid" tool message.
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"type": "function", "function": {"name": "zoom", "arguments": {"x": 1, "y": 2}}},
                {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "1"}}},
            ],
        },
        {"role": "tool", "name": "invalid", "content": "Error: the tool call is not valid JSON."},
        {"role": "tool", "name": "calculator", "content": "1"},
        {"role": "tool", "name": "zoom", "content": "zoomed"},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "The current view after zoom."}]},
        {"role": "tool", "name": "invalid", "content": "Error: a call with no assistant turn listing it."},
        {
            "role": "assistant",
            "content": "Two calls, one result.",
            "tool_calls": [
                {"type": "function", "function": {"name": "zoom", "arguments": {}}, "id": "env_id"},
                {"type": "function", "function": {"name": "zoom", "arguments": {}}},
            ],
        },
        {"role": "tool", "name": "zoom", "tool_call_id": "env_id", "content": "done"},
    ]
    pixels = np.zeros((4, 4, 3), np.uint8)
    sent = request_messages(Chat(messages, [Image.fromarray(pixels), Image.fromarray(pixels)]))
    assert schema_problems({"model": "m", "messages": sent}) == []
    assert sent[2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_2_0", "type": "function", "function": {"name": "zoom", "arguments": '{"x": 1, "y": 2}'}},
            {
                "id": "call_2_1",
                "type": "function",
                "function": {"name": "calculator", "arguments": '{"expression": "1"}'},
            },
        ],
    }
    # Results pair by name whatever their order; the one no call lists follows as text.
    assert sent[3:6] == [
        {"role": "tool", "tool_call_id": "call_2_0", "content": "zoomed"},
        {"role": "tool", "tool_call_id": "call_2_1", "content": "1"},
        {
            "role": "user",
            "content": "<tool_response>\n[invalid] Error: the tool call is not valid JSON.\n</tool_response>",
        },
    ]
    assert sent[6]["content"][0]["type"] == "image_url"
    assert sent[7] == {
        "role": "user",
        "content": "<tool_response>\n[invalid] Error: a call with no assistant turn listing it.\n</tool_response>",
    }
    # An id the env gives is kept; a call left without a result is told so.
    assert [call["id"] for call in sent[8]["tool_calls"]] == ["env_id", "call_8_1"]
    assert sent[9:] == [
        {"role": "tool", "tool_call_id": "env_id", "content": "done"},
        {"role": "tool", "tool_call_id": "call_8_1", "content": NO_RESULT},
    ]


def test_text_mode_sends_no_tools_and_no_tool_messages():
    solver = ChartSolver("text")
    with ChatCompletionsServer(solver) as server:
        policy = OpenAIPolicy("m", server.url, tool_mode="text", max_retries=0)
        (seed,) = calculator_tasks(1)
        _, final = play(policy, solver, seed)
        assert final["is_success"] and server.violations == []
    assert all("tools" not in body for body in server.requests)
    assert all(
        m["role"] in ("system", "user", "assistant") and "tool_calls" not in m
        for body in server.requests
        for m in body["messages"]
    )


def test_an_unknown_tool_mode_is_refused():
    with pytest.raises(ValueError, match="tool_mode"):
        OpenAIPolicy("m", "http://127.0.0.1:1/v1", tool_mode="json")


# -- single-turn prompts -----------------------------------------------------------------------------


def test_a_contract_prompt_under_text_is_sent_as_it_is_and_a_bare_one_gets_the_format_instruction():
    policy = OpenAIPolicy("m", "http://127.0.0.1:1/v1")
    image = np.zeros((8, 8, 3), np.uint8)
    instruction = policy.chats.instruction

    def sent_text(observation: dict) -> str:
        (chat,) = policy.chats.build([observation], [{}])
        (message,) = policy.request_body(chat)["messages"]
        return message["content"][1]["text"]

    assert sent_text({"image": image, "text": f"How many?\n{instruction}"}) == f"How many?\n{instruction}"
    assert sent_text({"image": image, "text": "How many?"}) == f"How many?\n{instruction}"
    with pytest.raises(ValueError, match="needs info\\['messages'\\] or an observation with 'image' and 'text'"):
        sent_text({"image": image, "question": "How many?"})  # the old key is gone: no silent fallback
