"""The conversation every text env keeps for ``info["messages"]``: OpenAI / Hugging Face chat format.

One transcript shape for all envs, so that ``processor.apply_chat_template(info["messages"],
tools=info.get("tools"))`` renders any env's episode, and an OpenAI-compatible client can send it:

- the first message is the system prompt (what the agent does, how to answer, how to call tools);
- a user message's ``content`` is a list of parts, ``{"type": "image"}`` placeholders first (in the order
  of ``info["images"]``), then ``{"type": "text", "text": ...}``;
- an assistant message's ``content`` is its text; a turn that called tools also has ``tool_calls`` (OpenAI
  function-call items with an ``id``), and each tool result is a ``{"role": "tool", "tool_call_id", "name",
  "content"}`` message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from vista_envs.answers.extract import ResponseFormat

__all__ = ["Conversation", "answering_system_prompt"]


class Conversation:
    """An episode's transcript and the images its placeholders stand for.

    Args:
        system: the system prompt (it carries the answer format and, where tools exist, how to call them).
        tools: the tools' JSON schemas in OpenAI function format, or None for an env without tools.
    """

    def __init__(self, system: str, tools: Sequence[Mapping[str, Any]] | None = None):
        self.tools = list(tools) if tools is not None else None
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": system}]
        self.images: list[np.ndarray] = []
        self._n_calls = 0

    def user(self, text: str, images: Sequence[np.ndarray] = ()) -> None:
        """A user turn: ``images`` (shown before the text) and ``text``."""
        parts: list[dict[str, Any]] = [{"type": "image"} for _ in images]
        parts.append({"type": "text", "text": text})
        self.images.extend(images)
        self.messages.append({"role": "user", "content": parts})

    def assistant(self, content: str, tool_calls: Sequence[tuple[str, Mapping[str, Any]]] = ()) -> list[str]:
        """An assistant turn with its text and the ``(name, arguments)`` of the tools it called; returns the calls'
        ids."""
        message: dict[str, Any] = {"role": "assistant", "content": content}
        ids = []
        if tool_calls:
            items = []
            for name, arguments in tool_calls:
                self._n_calls += 1
                ids.append(f"call_{self._n_calls}")
                items.append(
                    {"id": ids[-1], "type": "function", "function": {"name": name, "arguments": dict(arguments)}}
                )
            message["tool_calls"] = items
        self.messages.append(message)
        return ids

    def tool(self, name: str, content: str, tool_call_id: str | None = None) -> None:
        """A tool's result (``tool_call_id`` pairs it with the assistant's call, when the call was readable)."""
        message = {"role": "tool", "name": name, "content": content}
        if tool_call_id is not None:
            message["tool_call_id"] = tool_call_id
        self.messages.append(message)

    def info(self, include_images: bool = True) -> dict[str, Any]:
        """``messages`` (a new list each call), ``images`` (when asked) and ``tools`` (for tool envs), for ``info``."""
        info: dict[str, Any] = {"messages": list(self.messages)}
        if include_images:
            info["images"] = list(self.images)
        if self.tools is not None:
            info["tools"] = self.tools
        return info


def answering_system_prompt(response_format: ResponseFormat) -> str:
    """The system prompt of an env where the agent answers a question about an image."""
    return f"You answer a question about an image. {response_format.describe()}"
