"""A policy served by any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, TGI, llama.cpp, OpenAI, ...)."""

from __future__ import annotations

import base64
import io
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image

from agents.policies.chat import DEFAULT_INSTRUCTION, Chat, ChatBuilder, as_plain_text_tools

__all__ = ["OpenAIPolicy", "OpenAIPolicyError", "image_data_url"]

# Statuses worth another try: request timeout, rate limit, server errors.
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_BODY_EXCERPT_CHARS = 500


class OpenAIPolicyError(RuntimeError):
    """The endpoint could not be reached, refused the request, or answered something that is not a chat completion."""


def image_data_url(image: Image.Image) -> str:
    """``image`` as a base64 PNG ``data:`` URL, the form chat-completions APIs accept for inline images."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _with_image_urls(messages: list[dict[str, Any]], images: Sequence[Image.Image]) -> list[dict[str, Any]]:
    """The messages with each ``{"type": "image"}`` placeholder replaced by the next image as an ``image_url`` part."""
    remaining = iter(images)
    converted = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [
                {"type": "image_url", "image_url": {"url": image_data_url(next(remaining))}} if part.get("type") == "image" else part
                for part in content
            ]
        converted.append({**message, "content": content})
    return converted


class OpenAIPolicy:
    """Asks an OpenAI-compatible ``/chat/completions`` endpoint for each env's turn, with the standard library only.

    Conversations are built as for :class:`agents.policies.hf.HFPolicy` (the question with the image for
    ``VisualQA-v0``; the env's messages for ``VistaTool-v0``) and images are sent inline as base64 PNG
    data URLs. Tools are described in the system message and past tool calls and results are written as
    text (``<tool_call>`` / ``<tool_response>``), because endpoints differ in native function-calling
    support and the envs read tool calls from the reply text anyway. Requests of one batch run
    concurrently (``max_concurrency``).

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
        instruction, system_prompt: see :class:`agents.policies.chat.ChatBuilder`.
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
        instruction: str | None = DEFAULT_INSTRUCTION,
        system_prompt: str | None = None,
    ):
        if max_retries < 0 or max_concurrency < 1 or timeout_s <= 0:
            raise ValueError(
                f"need max_retries >= 0, max_concurrency >= 1, timeout_s > 0; got {max_retries}, {max_concurrency}, {timeout_s}"
            )
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.sampling = {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, **(extra_body or {})}
        self.max_concurrency = max_concurrency
        self.chats = ChatBuilder(instruction, system_prompt)

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        chats = self.chats.build(observations, infos)
        if len(chats) <= 1:
            return [self.complete(chat) for chat in chats]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(chats))) as pool:
            return list(pool.map(self.complete, chats))

    def request_body(self, chat: Chat) -> dict[str, Any]:
        """The JSON body sent for ``chat``."""
        messages = _with_image_urls(as_plain_text_tools(chat), chat.images)
        return {"model": self.model, "messages": messages, **self.sampling}

    def complete(self, chat: Chat) -> str:
        """The assistant's reply text for one conversation."""
        reply = self._post(self.request_body(chat))
        try:
            content = reply["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            excerpt = json.dumps(reply)[:_BODY_EXCERPT_CHARS]
            raise OpenAIPolicyError(f"{self.url} answered without choices[0].message.content: {excerpt}") from None
        if isinstance(content, list):  # some servers answer with content parts
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return content or ""

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
                failure = f"timed out after {self.timeout_s} s" if isinstance(reason, TimeoutError) else f"connection failed ({reason})"
                continue
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                raise OpenAIPolicyError(f"{self.url} answered with something that is not JSON: {raw[:_BODY_EXCERPT_CHARS]!r}") from None
        raise OpenAIPolicyError(f"no answer from {self.url} after {self.max_retries + 1} attempts: {failure}")
