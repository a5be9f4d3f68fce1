"""Policies: the chance baseline, scripted and oracle policies, the OpenAI-compatible client, HF models."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

import vista_envs  # noqa: F401  (registers the ids)
from vista_agents.policies import (
    CallbackPolicy,
    FixedResponsePolicy,
    OpenAIPolicy,
    OpenAIPolicyError,
    OraclePolicy,
    Policy,
    RandomPolicy,
    ScriptedPolicy,
)
from vista_agents.policies.chat import DEFAULT_INSTRUCTION

ZOOM_CALL = '<think>Look closer.</think><tool_call>{"name": "zoom", "arguments": {"x": 50, "y": 60}}</tool_call>'


def reset_envs(env_id: str, count: int) -> tuple[list[dict], list[dict]]:
    """The reset observations and infos of ``count`` envs (seeds 0, 1, ...): one batch for ``act``."""
    observations, infos = zip(*(gym.make(env_id).reset(seed=seed) for seed in range(count)))
    return list(observations), list(infos)


def vista_tool_after_zoom(policy: Policy) -> tuple[dict, dict]:
    """A VistaTool-v0 episode one zoom call in (two images, an assistant tool call, a tool result), seen by ``policy``.

    The policy acts on the reset turn too, as in a rollout: that is where the env sends the tool schemas.
    """
    env = gym.make("VistaTool-v0", tools=["zoom", "crop"])
    observation, info = env.reset(seed=3)
    policy.act([observation], [info])
    observation, _, _, _, info = env.step(ZOOM_CALL)
    return observation, info


# -- RandomPolicy --------------------------------------------------------------------------------


def success_rate(policy: Policy, env: gym.Env, episodes: int) -> tuple[float, list[dict]]:
    finals = []
    for seed in range(episodes):
        observation, info = env.reset(seed=seed)
        finals.append(env.step(policy.act([observation], [info])[0])[4])
    return float(np.mean([info["is_success"] for info in finals])), finals


def test_random_policy_scores_chance_on_two_way_questions_and_is_always_well_formed():
    # "comparison" asks yes/no and "X or Y?" questions: a uniform guess is right half the time.
    rate, finals = success_rate(RandomPolicy(seed=0), gym.make("VisualQA-v0", families=["comparison"]), episodes=200)
    assert 0.38 <= rate <= 0.62
    assert all(info["reward_terms"]["format"] == 1.0 and "error" not in info for info in finals)


def test_random_policy_scores_one_over_the_number_of_options_on_choice_questions():
    env = gym.make("VisualQA-v0", families=["odd_one_out"])
    policy, hits, expected = RandomPolicy(seed=1), 0, 0.0
    for seed in range(200):
        observation, info = env.reset(seed=seed)
        last_letter = re.search(r"\(A-([A-Z])\)", observation["text"]).group(1)
        expected += 1 / (ord(last_letter) - ord("A") + 1)
        hits += env.step(policy.act([observation], [info])[0])[4]["is_success"]
    assert abs(hits - expected) <= 4 * np.sqrt(expected)


def test_random_policy_is_well_formed_on_every_answer_type_of_visualqa():
    env = gym.make("VisualQA-v0")
    _, finals = success_rate(RandomPolicy(seed=2), env, episodes=150)
    assert {info["answer_type"] for info in finals} >= {"number", "text", "yes_no", "choice", "box", "sequence", "time"}
    assert all(info["reward_terms"]["format"] == 1.0 for info in finals)
    assert np.mean([info["is_success"] for info in finals]) < 0.5


def test_random_policy_follows_the_envs_response_format():
    _, finals = success_rate(
        RandomPolicy(seed=0, response_format="boxed"), gym.make("VisualQA-v0", response_format="boxed"), episodes=20
    )
    assert all(info["reward_terms"]["format"] == 1.0 for info in finals)


def test_random_policy_guesses_have_the_right_shape():
    policy = RandomPolicy(seed=3, number_range=(5, 7))
    image = np.zeros((40, 90, 3), np.uint8)

    def guess(answer_type: str, question: str = "") -> str:
        return policy.guess({"image": image, "text": question}, {"answer_type": answer_type})

    for _ in range(50):
        x0, y0, x1, y1 = json.loads(guess("box"))
        assert 0 <= x0 < x1 <= 90 and 0 <= y0 < y1 <= 40
        assert 5 <= int(guess("number")) <= 7
        hours, minutes = guess("time").split(":")
        assert 1 <= int(hours) <= 12 and len(minutes) == 2 and 0 <= int(minutes) <= 59
        assert guess("choice", "Which is odd (A-F)?") in "ABCDEF"
        assert sorted(guess("sequence", "Frames (A, B, C) out of order.").split(", ")) == ["A", "B", "C"]
        assert guess("text", "What size is it: small or large?") in ("small", "large")
        assert guess("yes_no") in ("yes", "no")


def test_random_policy_is_reproducible_with_a_seed():
    observations, infos = reset_envs("VisualQA-v0", 8)
    assert RandomPolicy(seed=7).act(observations, infos) == RandomPolicy(seed=7).act(observations, infos)
    assert RandomPolicy(seed=7).act(observations, infos) != RandomPolicy(seed=8).act(observations, infos)


def test_random_policy_needs_the_answer_type():
    with pytest.raises(ValueError, match="answer_type"):
        RandomPolicy().act([{"image": np.zeros((8, 8, 3), np.uint8), "text": "?"}], [{}])


# -- scripted and oracle policies -------------------------------------------------------------------


def test_model_free_policies_import_without_torch():
    code = "import sys, vista_agents.policies; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )


def test_every_policy_satisfies_the_policy_protocol():
    env = gym.make("VisualQA-v0")
    policies = [
        RandomPolicy(),
        FixedResponsePolicy("x"),
        ScriptedPolicy(["x"]),
        CallbackPolicy(lambda observation, info: "x"),
        OraclePolicy(env),
        OpenAIPolicy("m", "http://127.0.0.1:1/v1"),
    ]
    assert all(isinstance(policy, Policy) for policy in policies)


def test_fixed_response_policy_sends_its_response_to_every_env():
    observations, infos = reset_envs("VisualQA-v0", 3)
    assert FixedResponsePolicy("<answer>3</answer>").act(observations, infos) == ["<answer>3</answer>"] * 3
    with pytest.raises(ValueError, match="one info per env"):
        FixedResponsePolicy("x").act(observations, infos[:2])


def test_callback_policy_gives_each_env_its_own_observation():
    observations, infos = reset_envs("VisualQA-v0", 3)
    policy = CallbackPolicy(lambda observation, info: observation["text"])
    assert policy.act(observations, infos) == [observation["text"] for observation in observations]


def test_scripted_policy_plays_a_tool_call_then_an_answer_on_vistatool():
    env = gym.make("VistaTool-v0", tools=["zoom"])
    policy = ScriptedPolicy([ZOOM_CALL, "<think>Zoomed in.</think><answer>yes</answer>"])
    observation, info = env.reset(seed=0)
    observation, _, terminated, _, info = env.step(policy.act([observation], [info])[0])
    assert (
        not terminated
        and "error" not in info
        and info["messages"][-1]["content"][1]["text"].startswith("The current view")
    )
    _, _, terminated, _, info = env.step(policy.act([observation], [info])[0])
    assert terminated and info["n_turns"] == 2


def test_oracle_policy_solves_every_task_in_a_vector_env_and_through_wrappers():
    vector_env = gym.vector.SyncVectorEnv([lambda: gym.make("VisualQA-v0") for _ in range(3)])
    observations, _ = vector_env.reset(seed=0)
    unbatched = [{key: value[i] for key, value in observations.items()} for i in range(3)]
    _, _, _, _, infos = vector_env.step(OraclePolicy(vector_env).act(unbatched, [{}] * 3))
    assert infos["is_success"].all()
    env = gym.wrappers.TimeLimit(gym.make("VisualQA-v0"), max_episode_steps=5)
    observation, info = env.reset(seed=1)
    assert env.step(OraclePolicy(env).act([observation], [info])[0])[4]["is_success"]


# -- OpenAIPolicy ----------------------------------------------------------------------------------


class FakeChatServer:
    """A chat-completions endpoint on 127.0.0.1 that records requests and plays scripted replies.

    Each reply is ``(status, body, delay_s)``; the last one repeats. A body that is a dict is sent as JSON.
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list[tuple[int, object, float]] = [
            (200, {"choices": [{"message": {"content": "<answer>yes</answer>"}}]}, 0.0)
        ]
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    status, reply, delay_s = server.replies[min(len(server.requests), len(server.replies)) - 1]
                time.sleep(delay_s)
                payload = (json.dumps(reply) if isinstance(reply, dict) else str(reply)).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def chat_server():
    server = FakeChatServer()
    yield server
    server.close()


def decode_data_url(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def test_openai_policy_sends_the_question_and_the_image_as_a_png_data_url(chat_server):
    observations, infos = reset_envs("VisualQA-v0", 1)
    policy = OpenAIPolicy("tiny-vlm", chat_server.url, api_key="secret", max_tokens=64, temperature=0.5)
    assert policy.act(observations, infos) == ["<answer>yes</answer>"]
    (request,) = chat_server.requests
    body = request["body"]
    assert request["path"] == "/v1/chat/completions" and request["headers"]["Authorization"] == "Bearer secret"
    assert body["model"] == "tiny-vlm" and body["max_tokens"] == 64 and body["temperature"] == 0.5
    system, message = body["messages"]
    image_part, text_part = message["content"]
    assert (
        system == {"role": "system", "content": infos[0]["messages"][0]["content"]}
        and DEFAULT_INSTRUCTION in system["content"]
    )
    assert message["role"] == "user" and image_part["type"] == "image_url"
    np.testing.assert_array_equal(decode_data_url(image_part["image_url"]["url"]), observations[0]["image"])
    # The env's prompt is complete (it ends with the format instruction): the policy sends it as it is.
    assert text_part == {"type": "text", "text": observations[0]["text"]} and observations[0]["text"].endswith(
        DEFAULT_INSTRUCTION
    )


def test_openai_policy_writes_tools_and_tool_calls_as_text(chat_server):
    policy = OpenAIPolicy("m", chat_server.url, tool_mode="text")
    observation, info = vista_tool_after_zoom(policy)
    policy.act([observation], [info])
    messages = chat_server.requests[1]["body"]["messages"]
    assert (
        messages[0]["role"] == "system"
        and '"name": "zoom"' in messages[0]["content"]
        and "<tools>" in messages[0]["content"]
    )
    assert '<tool_call>{"name": "zoom", "arguments": {"x": 50, "y": 60}}</tool_call>' in messages[2]["content"]
    assert messages[3]["role"] == "user" and messages[3]["content"].startswith("<tool_response>")
    parts = [part for message in messages if isinstance(message["content"], list) for part in message["content"]]
    image_urls = [part["image_url"]["url"] for part in parts if part["type"] == "image_url"]
    assert len(image_urls) == len(info["images"]) == 2
    np.testing.assert_array_equal(decode_data_url(image_urls[1]), info["images"][1])
    assert all(m["role"] != "tool" and "tool_calls" not in m for m in messages)


def test_openai_policy_keeps_env_order_with_concurrent_requests(chat_server):
    chat_server.replies = [
        (200, {"choices": [{"message": {"content": f"reply {i}"}}]}, 0.05 * (4 - i)) for i in range(4)
    ]
    observations, infos = reset_envs("VisualQA-v0", 4)
    replies = OpenAIPolicy("m", chat_server.url, max_concurrency=4).act(observations, infos)
    questions = [request["body"]["messages"][1]["content"][1]["text"] for request in chat_server.requests]
    order = [next(i for i, o in enumerate(observations) if q == o["text"]) for q in questions]
    assert replies == [f"reply {order.index(i)}" for i in range(4)]


def test_openai_policy_raises_a_clear_error_on_a_client_http_error_without_retrying(chat_server):
    chat_server.replies = [(400, {"error": {"message": "unknown model 'm'"}}, 0.0)]
    observations, infos = reset_envs("VisualQA-v0", 1)
    with pytest.raises(OpenAIPolicyError, match=r"HTTP 400.*unknown model"):
        OpenAIPolicy("m", chat_server.url, max_retries=3, retry_backoff_s=0).act(observations, infos)
    assert len(chat_server.requests) == 1


def test_openai_policy_retries_server_errors(chat_server):
    chat_server.replies = [(503, "overloaded", 0.0), (200, {"choices": [{"message": {"content": "fine"}}]}, 0.0)]
    observations, infos = reset_envs("VisualQA-v0", 1)
    assert OpenAIPolicy("m", chat_server.url, max_retries=1, retry_backoff_s=0).act(observations, infos) == ["fine"]
    assert len(chat_server.requests) == 2


def test_openai_policy_reports_a_timeout_after_its_retries(chat_server):
    chat_server.replies = [(200, {"choices": [{"message": {"content": "late"}}]}, 1.0)]
    observations, infos = reset_envs("VisualQA-v0", 1)
    policy = OpenAIPolicy("m", chat_server.url, timeout_s=0.2, max_retries=1, retry_backoff_s=0)
    with pytest.raises(OpenAIPolicyError, match=r"after 2 attempts: timed out after 0.2 s"):
        policy.act(observations, infos)
    # The client gave up on its second request after 0.2 s, which a loaded machine may spend before the server's
    # handler thread has even recorded it: wait (bounded) for it.
    deadline = time.monotonic() + 30
    while len(chat_server.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(chat_server.requests) == 2


def test_openai_policy_reports_an_unreachable_server():
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    observations, infos = reset_envs("VisualQA-v0", 1)
    with pytest.raises(OpenAIPolicyError, match=rf"127.0.0.1:{port}.*connection failed"):
        OpenAIPolicy("m", f"http://127.0.0.1:{port}/v1", max_retries=0).act(observations, infos)


def test_openai_policy_rejects_a_reply_that_is_not_a_chat_completion(chat_server):
    chat_server.replies = [(200, {"object": "list", "data": []}, 0.0)]
    observations, infos = reset_envs("VisualQA-v0", 1)
    with pytest.raises(OpenAIPolicyError, match="without choices"):
        OpenAIPolicy("m", chat_server.url).act(observations, infos)


# -- tiny models and HFPolicy (torch) ------------------------------------------------------------


@pytest.fixture(scope="module")
def policy(tiny_vlm):
    from vista_agents.policies import HFPolicy

    return HFPolicy(tiny_vlm, max_new_tokens=8, temperature=1.0, batch_size=2)


def test_tiny_vlm_builds_deterministically_and_loads_through_from_pretrained(tiny_vlm, tmp_path):
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vista_agents.tiny import FORMAT_TAGS, build_tiny_vlm, main

    main([str(tmp_path / "same"), "--seed", "0"])
    other = build_tiny_vlm(tmp_path / "other", seed=1)
    assert (tmp_path / "same" / "tokenizer.json").read_bytes() == (tiny_vlm / "tokenizer.json").read_bytes()
    model = AutoModelForImageTextToText.from_pretrained(tiny_vlm)
    same = AutoModelForImageTextToText.from_pretrained(tmp_path / "same").state_dict()
    different = AutoModelForImageTextToText.from_pretrained(other).state_dict()
    assert all(torch.equal(value, same[name]) for name, value in model.state_dict().items())
    assert not all(torch.equal(value, different[name]) for name, value in model.state_dict().items())
    processor = AutoProcessor.from_pretrained(tiny_vlm)
    assert (type(model).__name__, type(processor).__name__) == ("LlavaForConditionalGeneration", "LlavaProcessor")
    assert all(len(processor.tokenizer.tokenize(tag)) == 1 for tag in FORMAT_TAGS)
    text = "Größe: 7 <think>x</think> 数字"
    assert processor.tokenizer.decode(processor.tokenizer.encode(text)) == text


def test_hf_policy_acts_with_one_string_per_visualqa_env(policy):
    observations, infos = reset_envs("VisualQA-v0", 3)
    actions = policy.act(observations, infos)
    assert isinstance(policy, Policy) and len(actions) == 3 and all(isinstance(action, str) for action in actions)


def test_hf_policy_generate_returns_token_ids_with_matching_logprobs(policy):
    import torch

    observations, infos = reset_envs("VisualQA-v0", 3)
    completions = policy.generate(observations, infos)
    end_id = policy.tokenizer.eos_token_id
    for completion in completions:
        assert completion.logprobs.shape == completion.completion_ids.shape and 1 <= len(completion.completion_ids) <= 8
        assert torch.isfinite(completion.logprobs).all() and (completion.logprobs <= 0).all()
        assert completion.text == policy.tokenizer.decode(completion.completion_ids, skip_special_tokens=True)
        assert completion.finished == (int(completion.completion_ids[-1]) == end_id)
        assert end_id not in completion.completion_ids[:-1].tolist()


def test_a_turn_that_ends_early_is_cut_at_its_end_token(tiny_vlm):
    from vista_agents.policies import HFPolicy

    policy = HFPolicy(tiny_vlm, max_new_tokens=5)
    end_id = policy.tokenizer.eos_token_id

    def end_first_env_now(module, args, logits):
        logits = logits.clone()
        logits[0, :, end_id] = 1e4
        return logits

    policy.model.lm_head.register_forward_hook(end_first_env_now)
    observations, infos = reset_envs("VisualQA-v0", 2)
    ended, running = policy.generate(observations, infos)
    assert (
        ended.completion_ids.tolist() == [end_id] and ended.finished and ended.text == "" and len(ended.logprobs) == 1
    )
    assert len(running.completion_ids) == len(running.logprobs) == 5 and not running.finished


def test_generate_logprobs_equal_an_unpadded_forward_pass_at_the_sampling_temperature(tiny_vlm):
    import torch

    from vista_agents.policies import HFPolicy

    policy = HFPolicy(tiny_vlm, max_new_tokens=6, temperature=0.7, batch_size=3)
    observations, infos = reset_envs("VisualQA-v0", 3)
    torch.manual_seed(0)
    completions = policy.generate(observations, infos)
    assert len({len(c.prompt_ids) for c in completions}) > 1  # the batch really is left-padded
    for observation, info, completion in zip(observations, infos, completions):
        inputs = policy.prepare_inputs([observation], [info])
        assert torch.equal(inputs["input_ids"][0], completion.prompt_ids)
        ids = torch.cat([completion.prompt_ids, completion.completion_ids]).unsqueeze(0)
        with torch.no_grad():
            logits = policy.model(input_ids=ids, pixel_values=inputs["pixel_values"]).logits[
                0, len(completion.prompt_ids) - 1 : -1
            ]
        expected = (
            torch.log_softmax(logits / 0.7, dim=-1).gather(-1, completion.completion_ids.unsqueeze(-1)).squeeze(-1)
        )
        torch.testing.assert_close(completion.logprobs, expected, atol=1e-4, rtol=1e-4)


def test_image_tokens_in_the_prompt_match_the_image_features_of_the_vision_tower(policy):
    observations, infos = reset_envs("VisualQA-v0", 2)
    inputs = policy.prepare_inputs(observations, infos)
    features = policy.model.get_image_features(
        pixel_values=inputs["pixel_values"]
    ).pooler_output  # one tensor per image
    n_features = sum(image_features.shape[0] for image_features in features)
    n_image_tokens = int((inputs["input_ids"] == policy.model.config.image_token_id).sum())
    assert n_image_tokens == n_features == 2 * (32 // 8) ** 2


def test_hf_policy_never_samples_image_placeholders_even_from_a_model_that_prefers_them(tiny_vlm):
    import torch

    from vista_agents.policies import HFPolicy

    policy = HFPolicy(tiny_vlm, max_new_tokens=4)
    image_token_id = policy.model.config.image_token_id
    # A placeholder in the completion would make the next forward pass expect another image.
    policy.model.lm_head.register_forward_hook(
        lambda module, args, logits: logits.index_fill(-1, torch.tensor([image_token_id]), 1e4)
    )
    observations, infos = reset_envs("VisualQA-v0", 2)
    for completion in policy.generate(observations, infos):
        assert len(completion.completion_ids) == 4 and image_token_id not in completion.completion_ids.tolist()


def test_hf_policy_renders_the_vistatool_conversation_with_its_tools_on_every_turn(policy):
    observation, info = vista_tool_after_zoom(policy)
    assert info["tools"]  # every step's info carries the schemas, so a policy needs no memory
    (prompt,) = policy.render([observation], [info])
    assert "<tools>" in prompt and '"name": "zoom"' in prompt and '"name": "crop"' in prompt
    assert '<tool_call>{"name": "zoom", "arguments": {"x": 50, "y": 60}}</tool_call>' in prompt
    assert "<tool_response>" in prompt and prompt.count("<image>") == len(info["images"]) == 2
    assert prompt.endswith("<|im_start|>assistant\n")
    assert isinstance(policy.act([observation], [info])[0], str)


def test_hf_policy_writes_tools_as_text_for_a_chat_template_without_tools(tiny_vlm):
    from transformers import AutoProcessor

    from vista_agents.policies import HFPolicy

    processor = AutoProcessor.from_pretrained(tiny_vlm)
    # Like Qwen2.5-VL's template: roles and content only, no tools and no tool calls.
    processor.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{% if m.content is string %}{{ m.content }}{% else %}"
        "{% for p in m.content %}{% if p.type == 'image' %}<image>{% else %}{{ p.text }}{% endif %}{% endfor %}{% "
        "endif %}"
        "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    policy = HFPolicy(tiny_vlm, processor=processor, max_new_tokens=4)
    observation, info = vista_tool_after_zoom(policy)
    (prompt,) = policy.render([observation], [info])
    assert not policy.template_renders_tools
    assert '"name": "zoom"' in prompt and '<tool_call>{"name": "zoom"' in prompt and "<tool_response>" in prompt


def test_hf_policy_rejects_bad_settings(tiny_vlm):
    from vista_agents.policies import HFPolicy

    with pytest.raises(ValueError, match="temperature"):
        HFPolicy(tiny_vlm, temperature=-1)
    with pytest.raises(ValueError, match="processor"):
        HFPolicy(HFPolicy(tiny_vlm).model)
