"""Infrastructure errors: an endpoint that dies mid-run costs time, never score."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points
from typing import Any

import pytest

from vista_envs.bench import BenchError, load_leaderboard, make_agent, render_markdown, run_suite
from vista_envs.bench.suites import parse_suite

pytest.importorskip("vista_agents.bench_agents")
# `pip install -e .` registers the learners' agents; an older editable install lacks them (reinstall it).
pytestmark = pytest.mark.skipif(
    "openai" not in {ep.name for ep in entry_points(group="vista_envs.bench_agents")},
    reason="the openai: agent's entry point is not installed: run pip install -e . again",
)

SUITE = parse_suite(
    {
        "name": "endpoint",
        "version": 1,
        "split": "test",
        "seed": 3,
        "entries": [
            {
                "env": "VisualQA-v0",
                "grid": {"family": ["comparison", "counting"], "difficulty": [1]},
                "episodes_per_cell": 6,
            }
        ],
    }
)
GUESSES = ("yes", "no", "1", "2", "3", "4")


def model_answer(body: dict[str, Any]) -> str:
    """A deterministic 'model': its guess depends only on the prompt, so two runs of one task answer alike."""
    user = next(m for m in body["messages"] if m["role"] == "user")
    text = (
        "".join(part.get("text", "") for part in user["content"])
        if isinstance(user["content"], list)
        else user["content"]
    )
    guess = GUESSES[hashlib.sha256(text.encode()).digest()[0] % len(GUESSES)]
    return f"<think>A guess from the prompt.</think><answer>{guess}</answer>"


class Endpoint:
    """A chat-completions endpoint on a fixed 127.0.0.1 port that can die after ``serve`` answers and come back."""

    def __init__(self, port: int = 0, serve: int | None = None):
        self.answered, self.serve, self.lock = 0, serve, threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with endpoint.lock:
                    alive = endpoint.serve is None or endpoint.answered < endpoint.serve
                    endpoint.answered += alive
                if not alive:
                    # Dying: a 503 now, then nothing listens (connection refused).
                    self._send(503, {"error": {"message": "shutting down"}})
                    threading.Thread(target=endpoint.close, daemon=True).start()
                    return
                message = {"role": "assistant", "content": model_answer(body)}
                self._send(
                    200,
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    },
                )

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.closed = threading.Event()  # set when closing starts
        self.gone = threading.Event()  # set once the listening socket is closed and the port is free again
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self.httpd.shutdown()
            self.httpd.server_close()
            self.gone.set()


def endpoint_agent(url: str):
    """The ``openai:`` agent as the CLI builds it (through its entry point), without the policy's own retries."""
    agent = make_agent(f"openai:guesser@{url}")
    agent.policy.policy.max_retries = 0
    return agent


def test_killing_the_endpoint_mid_run_and_resuming_gives_the_uninterrupted_success(tmp_path):
    with_endpoint = Endpoint()
    try:
        whole = run_suite(
            SUITE, endpoint_agent(with_endpoint.url), tmp_path / "whole", n_envs=2, progress=False
        ).results
    finally:
        with_endpoint.close()
    assert whole["overall"]["successes"] > 0 and whole["overall"]["infra_errors"] == 0

    dying = Endpoint(serve=5)
    port = dying.port
    first = run_suite(
        SUITE,
        endpoint_agent(dying.url),
        tmp_path / "cut",
        n_envs=2,
        max_infra_errors=3,
        retry_backoff_s=0.05,
        progress=False,
    )
    # The dying endpoint closes on a thread of its own: wait until its socket is closed, or the endpoint that comes back
    # on the same port below may find it still taken (EADDRINUSE).
    assert dying.gone.wait(60), "the dying endpoint closed its socket"
    overall, run = first.results["overall"], first.results["run"]
    assert (
        not first.complete
        and "3 infrastructure errors in a row" in run["stopped"]
        and "InfrastructureError" in run["stopped"]
    )
    # Nothing the dead endpoint cost was scored as a model failure.
    assert overall["errors"] == 0 and overall["infra_errors"] == 2 and overall["not_run"] > 0
    with pytest.raises(
        BenchError,
        match=r"still have infrastructure errors .*: openai-guesser \(2 in endpoint.openai-guesser.json\); rerun",
    ):
        load_leaderboard(tmp_path / "cut")
    board = render_markdown(load_leaderboard(tmp_path / "cut", allow_infra_errors=True))
    assert "| infra errors |" in board and board.split("### Overall", 1)[1].splitlines()[4].endswith("| 0 | 2 |")

    back = Endpoint(port=port)  # the endpoint comes back on the same address
    try:
        resumed = run_suite(SUITE, endpoint_agent(back.url), tmp_path / "cut", n_envs=2, progress=False).results
    finally:
        back.close()
    assert resumed["run"]["complete"] and resumed["overall"]["infra_errors"] == 0
    assert resumed["overall"]["success_rate"] == whole["overall"]["success_rate"]
    assert resumed["overall"]["errors"] == whole["overall"]["errors"] == 0
    assert load_leaderboard(tmp_path / "cut").runs[0]["overall"]["successes"] == whole["overall"]["successes"]


def test_a_flaky_endpoint_is_retried_without_the_run_noticing(tmp_path):
    failures = iter(range(3))
    endpoint = Endpoint()
    patched(endpoint, lambda body: 429 if next(failures, None) is not None else None)  # the first three: HTTP 429
    try:
        outcome = run_suite(
            SUITE,
            endpoint_agent(endpoint.url),
            tmp_path,
            n_envs=1,
            max_infra_errors=4,
            retry_backoff_s=0.01,
            progress=False,
        )
    finally:
        endpoint.close()
    assert (
        outcome.complete
        and outcome.results["overall"]["infra_errors"] == 0
        and outcome.results["overall"]["errors"] == 0
    )
    assert next(failures, None) is None


def patched(endpoint: Endpoint, status_for) -> None:
    """Make ``endpoint`` answer ``status_for(body)`` (an HTTP error status) instead of a completion where it says so."""
    original = endpoint.httpd.RequestHandlerClass.do_POST

    def do_post(handler):
        length = int(handler.headers["Content-Length"])
        raw = handler.rfile.read(length)
        status = status_for(json.loads(raw))
        if status is not None:
            handler._send(status, {"error": {"message": "refused"}})
            return
        handler.rfile = io.BytesIO(raw)
        original(handler)

    endpoint.httpd.RequestHandlerClass.do_POST = do_post


def test_a_request_refused_for_its_content_fails_only_its_episode_and_a_refused_key_stops_the_run(tmp_path):
    def refuse_counting(body):  # e.g. a conversation past the model's context: HTTP 400, that episode only
        return 400 if "How many" in json.dumps(body["messages"]) else None

    endpoint = Endpoint()
    patched(endpoint, refuse_counting)
    try:
        outcome = run_suite(
            SUITE, endpoint_agent(endpoint.url), tmp_path / "a", n_envs=4, retry_backoff_s=0, progress=False
        )
    finally:
        endpoint.close()
    counting = outcome.results["by_env"]["VisualQA-v0"]["by_family"]["counting"]
    comparison = outcome.results["by_env"]["VisualQA-v0"]["by_family"]["comparison"]
    assert outcome.complete and outcome.results["overall"]["infra_errors"] == 0
    assert counting["successes"] == 0 and counting["mean_chars"] == 0  # no answer came out: scored as wrong
    assert comparison["mean_chars"] > 0

    endpoint = Endpoint()
    patched(endpoint, lambda body: 401)  # a wrong API key is the setup's fault, never the model's
    try:
        outcome = run_suite(
            SUITE,
            endpoint_agent(endpoint.url),
            tmp_path / "b",
            n_envs=2,
            max_infra_errors=2,
            retry_backoff_s=0,
            progress=False,
        )
    finally:
        endpoint.close()
    assert not outcome.complete and "HTTP 401" in outcome.results["run"]["stopped"]
    assert outcome.results["overall"]["errors"] == 0 and outcome.results["overall"]["infra_errors"] == 2


def test_the_cli_says_once_why_a_run_stopped_and_prints_no_success_rate_for_it(tmp_path, capsys):
    from vista_envs.cli import main

    endpoint = Endpoint()
    url = endpoint.url
    endpoint.close()  # nothing listens: every request is refused
    suite = tmp_path / "suite.json"
    suite.write_text(
        json.dumps(
            {
                "name": "endpoint",
                "version": 1,
                "split": "test",
                "seed": 3,
                "entries": [{"env": "VisualQA-v0", "grid": {"family": ["counting"]}, "episodes_per_cell": 4}],
            }
        )
    )
    args = [
        "bench",
        "--suite",
        str(suite),
        "--agent",
        f"openai:guesser@{url}",
        "--out",
        str(tmp_path / "res"),
        "--max-infra-errors",
        "1",
        "--retry-backoff",
        "0",
        "--no-progress",
    ]
    assert main(args) == 1
    captured = capsys.readouterr()
    assert (
        "openai-guesser: incomplete, 0 of 4 episodes ran" in captured.out
        and "success" not in captured.out.split("public tasks", 1)[1]
    )
    [stopped] = [line for line in captured.err.splitlines() if "stopped after" in line]
    assert "stopped after 1 infrastructure error in a row" in stopped and "connection failed" in stopped
