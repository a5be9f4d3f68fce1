"""A local chat-completions server for tests: it checks every request against the schema and answers in it.

It follows the OpenAI chat-completions schema as openai-python types it and vLLM serves it: a request
is ``model``, ``messages`` (system / user / assistant / tool, content parts ``text`` and ``image_url``;
assistant ``tool_calls`` with ``id``, ``type: "function"`` and JSON-string ``arguments``; each call
answered by a ``tool`` message with its ``tool_call_id`` before anything else), optional ``tools`` in
function format and sampling fields. A request that breaks the schema is answered with HTTP 400 and
recorded in :attr:`ChatCompletionsServer.violations`, as a strict server would refuse it.

A reply is ``{"id", "object": "chat.completion", "created", "model", "choices": [{"index", "message":
{"role": "assistant", "content", "tool_calls"?}, "finish_reason", "logprobs"}], "usage"}``, with
``finish_reason="tool_calls"`` when the message calls tools. What the assistant says is up to the
``respond(body) -> message`` function the test passes in.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ChatCompletionsServer", "schema_problems"]

_SAMPLING = {
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "stream",
    "tool_choice",
    "parallel_tool_calls",
}
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _text_parts_problems(content: Any, where: str, allow_images: bool) -> list[str]:
    if isinstance(content, str):
        return []
    if not isinstance(content, list) or not content:
        return [f"{where}: content must be a string or a non-empty list of parts"]
    problems = []
    for k, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and set(part) == {"type", "text"} and isinstance(part["text"], str):
            continue
        if (
            allow_images
            and kind == "image_url"
            and set(part) == {"type", "image_url"}
            and isinstance(part["image_url"], dict)
        ):
            url = part["image_url"].get("url")
            if (
                set(part["image_url"]) <= {"url", "detail"}
                and isinstance(url, str)
                and url.startswith("data:image/png;base64,")
            ):
                try:
                    base64.b64decode(url.split(",", 1)[1], validate=True)
                    continue
                except binascii.Error:
                    pass
        problems.append(
            f"{where}.content[{k}]: not a valid {'text or image_url' if allow_images else 'text'} part: "
            f"{json.dumps(part)[:120]}"
        )
    return problems


def _tool_call_problems(call: Any, where: str) -> list[str]:
    if not isinstance(call, dict) or set(call) != {"id", "type", "function"}:
        return [f"{where}: a tool call has exactly id, type and function"]
    function = call["function"]
    problems = []
    if not isinstance(call["id"], str) or not call["id"]:
        problems.append(f"{where}.id must be a non-empty string")
    if call["type"] != "function":
        problems.append(f'{where}.type must be "function"')
    if not isinstance(function, dict) or set(function) != {"name", "arguments"}:
        return [*problems, f"{where}.function has exactly name and arguments"]
    if (
        not isinstance(function["name"], str)
        or not _FUNCTION_NAME.match(function["name"])
        or not isinstance(function["arguments"], str)
    ):
        problems.append(f"{where}.function: name must be [A-Za-z0-9_-]{{1,64}} and arguments a string")
    return problems


def _message_problems(messages: Any) -> list[str]:
    if not isinstance(messages, list) or not messages:
        return ["messages must be a non-empty list"]
    problems: list[str] = []
    open_ids: list[str] = []  # calls of the last assistant message not yet answered
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role != "tool" and open_ids:
            problems.append(
                f"{where}: tool calls {open_ids} were not answered by tool messages before this {role} message"
            )
            open_ids = []
        if role in ("system", "user"):
            if not set(message) <= {"role", "content", "name"}:
                problems.append(f"{where}: unexpected fields {sorted(set(message) - {'role', 'content', 'name'})}")
            problems += _text_parts_problems(message.get("content"), where, allow_images=role == "user")
        elif role == "assistant":
            if not set(message) <= {"role", "content", "name", "tool_calls", "refusal"}:
                problems.append(
                    f"{where}: unexpected fields "
                    f"{sorted(set(message) - {'role', 'content', 'name', 'tool_calls', 'refusal'})}"
                )
            calls = message.get("tool_calls")
            if calls is not None:
                if not isinstance(calls, list) or not calls:
                    problems.append(f"{where}.tool_calls must be a non-empty list")
                    continue
                for k, call in enumerate(calls):
                    problems += _tool_call_problems(call, f"{where}.tool_calls[{k}]")
                open_ids = [call.get("id") for call in calls if isinstance(call, dict)]
                if len(set(open_ids)) != len(open_ids):
                    problems.append(f"{where}: tool call ids repeat: {open_ids}")
            if message.get("content") is not None:
                problems += _text_parts_problems(message["content"], where, allow_images=False)
            elif calls is None:
                problems.append(f"{where}: an assistant message without tool_calls needs content")
        elif role == "tool":
            if set(message) != {"role", "content", "tool_call_id"}:
                problems.append(
                    f"{where}: a tool message has exactly role, content and tool_call_id, got {sorted(message)}"
                )
            problems += _text_parts_problems(message.get("content"), where, allow_images=False)
            if message.get("tool_call_id") not in open_ids:
                problems.append(
                    f"{where}: tool_call_id {message.get('tool_call_id')!r} answers no open call of the previous "
                    "assistant message"
                )
            else:
                open_ids.remove(message["tool_call_id"])
        else:
            problems.append(f"{where}: unknown role {role!r}")
    if open_ids:
        problems.append(f"the conversation ends with unanswered tool calls {open_ids}")
    return problems


def _tools_problems(tools: Any) -> list[str]:
    if not isinstance(tools, list) or not tools:
        return ["tools must be a non-empty list"]
    problems = []
    for k, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(tool, dict)
            or set(tool) != {"type", "function"}
            or tool["type"] != "function"
            or not isinstance(function, dict)
        ):
            problems.append(f'tools[{k}]: must be {{"type": "function", "function": {{...}}}}')
            continue
        if not set(function) <= {"name", "description", "parameters", "strict"} or not _FUNCTION_NAME.match(
            str(function.get("name", ""))
        ):
            problems.append(
                f"tools[{k}].function: needs a name of [A-Za-z0-9_-]{{1,64}} and only description, parameters, strict"
            )
        if "parameters" in function and (
            not isinstance(function["parameters"], dict) or function["parameters"].get("type") != "object"
        ):
            problems.append(f"tools[{k}].function.parameters must be a JSON schema object")
    return problems


def schema_problems(body: Any) -> list[str]:
    """What in a request body breaks the chat-completions schema (empty if nothing)."""
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    problems = [f"unknown field {key!r}" for key in body if key not in {"model", "messages", "tools", *_SAMPLING}]
    if not isinstance(body.get("model"), str) or not body["model"]:
        problems.append("model must be a non-empty string")
    problems += _message_problems(body.get("messages"))
    if "tools" in body:
        problems += _tools_problems(body["tools"])
    if not isinstance(body.get("max_tokens", 1), int) or body.get("max_tokens", 1) < 1:
        problems.append("max_tokens must be a positive integer")
    if not 0 <= body.get("temperature", 1) <= 2 or not 0 <= body.get("top_p", 1) <= 1:
        problems.append("temperature must be in [0, 2] and top_p in [0, 1]")
    return problems


def completion(model: str, message: dict[str, Any], number: int) -> dict[str, Any]:
    """A chat.completion object around one assistant message."""
    calls = message.get("tool_calls")
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": message.get("content"),
                    **({"tool_calls": calls} if calls else {}),
                },
                "finish_reason": "tool_calls" if calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class ChatCompletionsServer:
    """``POST /v1/chat/completions`` on 127.0.0.1 (a free port), answering with ``respond(body)``'s message.

    Attributes:
        url: the API root to give a client (``http://127.0.0.1:PORT/v1``).
        requests: every request body received, in order.
        violations: the schema problems of each refused request (and any failure of ``respond``).
    """

    def __init__(self, respond: Callable[[dict[str, Any]], dict[str, Any]]):
        self.respond = respond
        self.requests: list[dict[str, Any]] = []
        self.violations: list[list[str]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except json.JSONDecodeError:
                    body = None
                with server.lock:
                    server.requests.append(body)
                    number = len(server.requests)
                problems = (
                    ["unknown path " + self.path] if self.path != "/v1/chat/completions" else schema_problems(body)
                )
                if problems:
                    with server.lock:
                        server.violations.append(problems)
                    self._send(400, {"error": {"message": "; ".join(problems), "type": "invalid_request_error"}})
                    return
                try:
                    message = server.respond(body)
                except Exception as error:  # a bug in the test's script: a 500 the test then reports
                    with server.lock:
                        server.violations.append([f"respond() raised {type(error).__name__}: {error}"])
                    self._send(500, {"error": {"message": str(error), "type": "server_error"}})
                    return
                self._send(200, completion(body["model"], message, number))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> ChatCompletionsServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
