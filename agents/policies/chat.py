"""Chat conversations from env observations: what a chat model is shown at each turn.

Under the agent contract (``docs/``, issue #14) every text env keeps the conversation in
``info["messages"]`` (chat format, ``{"type": "image"}`` placeholders in the order of ``info["images"]``)
and, where it has tools, their JSON schemas in ``info["tools"]``; that conversation is what a chat policy
continues. An env that gives only an observation with an ``image`` and a ``text`` prompt gets one user
message with both, plus the response-format instruction unless the prompt already carries it.

:class:`ChatBuilder` turns both into :class:`Chat` objects. :func:`as_plain_text_tools` rewrites a
conversation for chat templates and endpoints that know nothing of tools.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from vista_agents.policies.base import check_batch
from vista_envs.answers import get_response_format

__all__ = ["DEFAULT_INSTRUCTION", "Chat", "ChatBuilder", "as_pil", "as_plain_text_tools", "tool_response_text"]

# The envs' default response format, as the envs themselves describe it.
DEFAULT_INSTRUCTION = get_response_format("think_answer").describe()


@dataclass
class Chat:
    """One conversation to continue with an assistant turn.

    Attributes:
        messages: chat messages (OpenAI/HF format); image parts are ``{"type": "image"}`` placeholders.
        images: the images of the placeholders, in order.
        tools: the tools' JSON schemas (OpenAI function format), or None when the env offers no tools.
    """

    messages: list[dict[str, Any]]
    images: list[Image.Image]
    tools: list[dict[str, Any]] | None = None


def as_pil(image: Any) -> Image.Image:
    return (
        image.convert("RGB") if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    )


def _count_image_parts(messages: Sequence[dict[str, Any]]) -> int:
    return sum(
        1
        for message in messages
        if isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, dict) and part.get("type") == "image"
    )


class ChatBuilder:
    """Builds the :class:`Chat` for each env of a batch from its observation and info.

    Envs with ``info["messages"]`` carry the conversation (and the tool schemas) in every info.

    Args:
        instruction: appended to a single-turn prompt that does not already carry it (default: the
            envs' ``<think>``/``<answer>`` format); None adds nothing. Envs with ``info["messages"]`` write
            their own instructions.
        system_prompt: an optional system message for single-turn conversations.
    """

    def __init__(self, instruction: str | None = DEFAULT_INSTRUCTION, system_prompt: str | None = None):
        self.instruction = instruction
        self.system_prompt = system_prompt

    def build(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[Chat]:
        check_batch(observations, infos)
        return [
            self._build_one(index, observation, info)
            for index, (observation, info) in enumerate(zip(observations, infos))
        ]

    def _build_one(self, index: int, observation: dict[str, Any], info: dict[str, Any]) -> Chat:
        if "messages" in info:
            messages = list(info["messages"])
            images = [as_pil(image) for image in info.get("images", [])]
            if len(images) != _count_image_parts(messages):
                raise ValueError(
                    f"env {index}: info['messages'] has {_count_image_parts(messages)} image placeholders but "
                    f"info['images'] has {len(images)} images (construct the env with include_images_in_info=True)"
                )
            return Chat(messages, images, info.get("tools"))
        prompt = observation.get("text")
        if prompt is None or "image" not in observation:
            raise ValueError(
                f"env {index}: a chat needs info['messages'] or an observation with 'image' and 'text'; "
                f"got observation keys {sorted(observation)} and info keys {sorted(info)}"
            )
        # A prompt that follows the agent contract already carries the format instruction: not twice.
        text = f"{prompt}\n{self.instruction}" if self.instruction and self.instruction not in prompt else prompt
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]})
        return Chat(messages, [as_pil(observation["image"])])


def _tool_call_text(call: dict[str, Any]) -> str:
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):  # OpenAI sends arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            pass
    return "<tool_call>" + json.dumps({"name": function.get("name"), "arguments": arguments}) + "</tool_call>"


def tool_response_text(message: dict[str, Any]) -> str:
    """A tool message as the ``<tool_response>`` text block that Hermes/Qwen-style models read."""
    name = message.get("name")
    prefix = f"[{name}] " if name else ""
    return f"<tool_response>\n{prefix}{message.get('content', '')}\n</tool_response>"


def as_plain_text_tools(chat: Chat) -> list[dict[str, Any]]:
    """``chat.messages`` with every trace of tools written as plain text, for templates and APIs without tools.

    The tool schemas are appended to the system message, each assistant ``tool_calls`` entry goes back
    into the assistant's text as the ``<tool_call>{...}</tool_call>`` the model wrote, and each tool
    result becomes a user message ``<tool_response>...</tool_response>`` (Hermes/Qwen style).
    """
    messages: list[dict[str, Any]] = []
    for message in chat.messages:
        if message.get("role") == "tool":
            messages.append({"role": "user", "content": tool_response_text(message)})
        elif message.get("tool_calls"):
            calls = "".join(_tool_call_text(call) for call in message["tool_calls"])
            content = message.get("content") or ""
            messages.append({"role": message["role"], "content": f"{content}\n{calls}" if content else calls})
        else:
            messages.append(dict(message))
    if chat.tools:
        schemas = "\n".join(json.dumps(tool) for tool in chat.tools)
        listing = f"# Tools\n\nYou may call these tools (JSON schemas):\n<tools>\n{schemas}\n</tools>"
        if messages and messages[0].get("role") == "system" and isinstance(messages[0].get("content"), str):
            messages[0] = {"role": "system", "content": f"{messages[0]['content']}\n\n{listing}"}
        else:
            messages.insert(0, {"role": "system", "content": listing})
    return messages
