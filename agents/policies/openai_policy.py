"""A policy served by any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, TGI, llama.cpp, OpenAI, ...)."""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from vista_agents.policies.chat import DEFAULT_INSTRUCTION, Chat, ChatBuilder, as_plain_text_tools
from vista_agents.policies.chat_completions import image_data_url, reply_action, request_messages

__all__ = ["TOOL_MODES", "OpenAIPolicy", "OpenAIPolicyError", "image_data_url"]

# How tools reach the endpoint: "native" sends `tools` and structured tool calls and results;
# "text" writes them into the messages, for servers that have no function calling.
TOOL_MODES = ("native", "text")

# Statuses worth another try: request timeout, rate limit, server errors.
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_BODY_EXCERPT_CHARS = 500


class OpenAIPolicyError(RuntimeError):
    """The endpoint could not be reached, refused the request, or answered something that is not a chat completion."""


class OpenAIPolicy:
    """Asks an OpenAI-compatible ``/chat/completions`` endpoint for each env's turn, with the standard library only.

    The request continues the env's conversation (``info["messages"]``, or the observation's image and
    ``text`` for an env without one; see :class:`vista_agents.policies.chat.ChatBuilder`), with images inline
    as base64 PNG data URLs. For a tool env (``info["tools"]``) the default ``tool_mode="native"`` sends
    the tools' schemas as ``tools`` and the episode's earlier calls and results in the chat-completions
    form (assistant ``tool_calls`` with ids, ``role: "tool"`` results with the matching
    ``tool_call_id``; see :mod:`vista_agents.policies.chat_completions`). ``tool_mode="text"`` writes tools,
    calls and results as Hermes/Qwen text instead, for servers without function calling (vLLM without
    ``--enable-auto-tool-choice`` refuses requests that carry ``tools``).

    The reply becomes the env's action: the message's text content, then each native ``tool_calls``
    entry written as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, the form the envs
    read; calls the model wrote as text in the content work as they are. A malformed ``tool_calls`` entry
    becomes a call that the env rejects with a message saying what was wrong, never an exception.
    Requests of one batch run concurrently (``max_concurrency``).

    Network failures raise :class:`OpenAIPolicyError` (after ``max_retries`` retries for timeouts,
    connection errors, HTTP 408/429/5xx) rather than returning an error string as the action: a benchmark
    must not score an unreachable server as a model that answered wrongly. The message names the URL,
    the HTTP status and the start of the server's reply.

    Args:
        model: the model name the server expects.
        base_url: the API root, e.g. ``http://127.0.0.1:8000/v1`` for a local vLLM server.
        api_key: sent as a bearer token; default the ``OPENAI_API_KEY`` environment variable, if set.
        timeout_s: seconds to wait for one response.
        max_retries: further attempts after a retryable failure, with exponential backoff.
        retry_backoff_s: the first backoff; it doubles after each retry.
        max_tokens, temperature, top_p: sampling settings sent with every request.
        max_concurrency: requests in flight at once.
        extra_body: more request fields (e.g. ``{"top_k": 20}`` for vLLM); they override the defaults.
        tool_mode: ``"native"`` (default) or ``"text"``, see above.
        instruction, system_prompt: see :class:`vista_agents.policies.chat.ChatBuilder`.
    """

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout_s: float = 120.0,
        max_retries: int = 2,
        retry_backoff_s: float = 1.0,
        max_tokens: int = 1024,
        temperature: float = 0.0,
        top_p: float = 1.0,
        max_concurrency: int = 8,
        extra_body: Mapping[str, Any] | None = None,
        tool_mode: str = "native",
        instruction: str | None = DEFAULT_INSTRUCTION,
        system_prompt: str | None = None,
    ):
        if max_retries < 0 or max_concurrency < 1 or timeout_s <= 0:
            raise ValueError(
                f"need max_retries >= 0, max_concurrency >= 1, timeout_s > 0; got {max_retries}, {max_concurrency}, "
                f"{timeout_s}"
            )
        if tool_mode not in TOOL_MODES:
            raise ValueError(f"tool_mode must be one of {TOOL_MODES}, got {tool_mode!r}")
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.sampling = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, **(extra_body or {})}
        self.max_concurrency = max_concurrency
        self.tool_mode = tool_mode
        self.chats = ChatBuilder(instruction, system_prompt)

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        chats = self.chats.build(observations, infos)
        if len(chats) <= 1:
            return [self.complete(chat) for chat in chats]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(chats))) as pool:
            return list(pool.map(self.complete, chats))

    def request_body(self, chat: Chat) -> dict[str, Any]:
        """The JSON body sent for ``chat``."""
        if chat.tools and self.tool_mode == "native":
            return {"model": self.model, "messages": request_messages(chat), "tools": list(chat.tools), **self.sampling}
        text_chat = Chat(as_plain_text_tools(chat), chat.images)
        return {"model": self.model, "messages": request_messages(text_chat), **self.sampling}

    def complete(self, chat: Chat) -> str:
        """The env action for one conversation: the reply's text, then its native tool calls as text."""
        reply = self._post(self.request_body(chat))
        try:
            message = reply["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            excerpt = json.dumps(reply)[:_BODY_EXCERPT_CHARS]
            raise OpenAIPolicyError(f"{self.url} answered without choices[0].message: {excerpt}") from None
        if not isinstance(message, dict):
            raise OpenAIPolicyError(
                f"{self.url} answered with a choices[0].message that is not an object: "
                f"{json.dumps(message)[:_BODY_EXCERPT_CHARS]}"
            )
        return reply_action(message)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        failure = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.retry_backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    raw = response.read()
            except urllib.error.HTTPError as error:
                excerpt = error.read().decode(errors="replace")[:_BODY_EXCERPT_CHARS]
                failure = f"HTTP {error.code} {error.reason}: {excerpt}"
                if error.code not in _RETRY_STATUSES:
                    raise OpenAIPolicyError(f"{self.url} refused the request with {failure}") from None
                continue
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                reason = getattr(error, "reason", error)
                failure = (
                    f"timed out after {self.timeout_s} s"
                    if isinstance(reason, TimeoutError)
                    else f"connection failed ({reason})"
                )
                continue
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                raise OpenAIPolicyError(
                    f"{self.url} answered with something that is not JSON: {raw[:_BODY_EXCERPT_CHARS]!r}"
                ) from None
        raise OpenAIPolicyError(f"no answer from {self.url} after {self.max_retries + 1} attempts: {failure}")
