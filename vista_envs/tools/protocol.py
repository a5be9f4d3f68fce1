"""Parsing tool calls out of a model's turn.

Two JSON shapes are accepted inside ``<tool_call>...</tool_call>`` tags:

- Hermes / Qwen: ``{"name": "python", "arguments": {"code": "print(1+1)"}}`` (``arguments`` may also be a
  JSON-encoded string, as OpenAI-style APIs emit it);
- VISTA-Gym: ``{"tool": "python", "parameters": {"code": "print(1+1)"}}``.

Parsing never raises: a malformed call becomes a :class:`ToolCall` with ``error`` set, so the env can
explain it to the model and go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vista_envs.model_json import loads_model_json

__all__ = ["TOOL_CALL_CLOSE", "TOOL_CALL_OPEN", "ToolCall", "parse_tool_calls"]

TOOL_CALL_OPEN, TOOL_CALL_CLOSE = "<tool_call>", "</tool_call>"


@dataclass(frozen=True)
class ToolCall:
    """One requested call; ``error`` is set (and name/arguments may be empty) when it could not be read."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def _decode_call(payload: str) -> ToolCall:
    try:
        data = loads_model_json(payload)
    except ValueError as error:
        return ToolCall("", error=f"the tool call is not valid JSON ({error})")
    if not isinstance(data, dict):
        return ToolCall("", error=f"the tool call must be a JSON object, got {type(data).__name__}")
    name = data.get("name", data.get("tool"))
    arguments = data.get("arguments", data.get("parameters", {}))
    if not isinstance(name, str) or not name:
        return ToolCall("", error='the tool call needs a "name" (or "tool") string')
    if isinstance(arguments, str):  # OpenAI-style: arguments as a JSON-encoded string
        try:
            arguments = loads_model_json(arguments) if arguments.strip() else {}
        except ValueError as error:
            return ToolCall(name, error=f'"arguments" is a string but not valid JSON ({error})')
    if not isinstance(arguments, dict):
        return ToolCall(
            name, error=f'"arguments" (or "parameters") must be a JSON object, got {type(arguments).__name__}'
        )
    return ToolCall(name, arguments)


def parse_tool_calls(text: str, limit: int) -> tuple[list[ToolCall], int]:
    """The first ``limit`` tool calls in ``text`` and how many calls it holds in all.

    An opening tag without a closing tag is reported as a malformed call.
    """
    calls: list[ToolCall] = []
    total, position = 0, 0
    while (start := text.find(TOOL_CALL_OPEN, position)) != -1:
        end = text.find(TOOL_CALL_CLOSE, start)
        total += 1
        if end == -1:
            if len(calls) < limit:
                calls.append(ToolCall("", error=f"{TOOL_CALL_OPEN} is never closed by {TOOL_CALL_CLOSE}"))
            break
        if len(calls) < limit:
            calls.append(_decode_call(text[start + len(TOOL_CALL_OPEN) : end].strip()))
        position = end + len(TOOL_CALL_CLOSE)
    return calls, total
