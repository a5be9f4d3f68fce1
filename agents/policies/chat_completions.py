"""The OpenAI chat-completions wire format, both ways: an env's conversation in, a turn for the env out.

Requests (:func:`request_messages`). The envs write conversations as Hugging Face chat templates read
them (``docs/agent_contract.md``): an assistant message's ``tool_calls`` carry ids and arguments as objects,
and each call's result follows as ``{"role": "tool", "tool_call_id": ..., "name": ..., "content": ...}``.
The chat-completions schema is stricter: ``arguments`` must be JSON strings, and every id must be answered by
a tool message before the next assistant turn. Conversations from elsewhere may lack ids, so missing ids are
made up per request (``call_<message>_<k>``; ids the env supplies are kept), and the tool messages after an
assistant turn are paired with its calls by ``tool_call_id``, else by name, in order. A tool message that
answers no call (the env also reports calls it could not read, which an assistant message does not list)
goes back as a user message with a ``<tool_response>`` block, after the paired ones, and so does the result
of a call whose name no function can have (strict servers refuse such a call in the history); a call left
without a result gets a tool message saying so. Images become ``image_url`` parts with base64 PNG data URLs.

Responses (:func:`reply_action`). The env reads tool calls from the turn's text, Hermes/Qwen style, so
each native ``tool_calls`` entry is written after the message's text content as
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``. An entry that cannot be one (no ``id``, no
function name, a type other than ``function``) is written as a call of a tool whose name states the
problem, so that the env rejects it, counts it as an invalid call and shows the model why; arguments
that are not a JSON object are passed on as the string they are, and the env explains that. Nothing
here raises on what a server answered inside ``choices[0].message``.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from PIL import Image

from vista_agents.policies.chat import Chat, tool_response_text
from vista_envs.tools.protocol import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

__all__ = ["image_data_url", "reply_action", "request_messages"]

# What a call left without a result is told (the history was cut, or the env skipped it).
NO_RESULT = "No result: the environment did not run this call."
# The function names the chat-completions API accepts.
_FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def image_data_url(image: Image.Image) -> str:
    """``image`` as a base64 PNG ``data:`` URL, the form chat-completions APIs accept for inline images."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# -- requests ---------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    """Message content (a str, a list of parts, or None) as plain text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return str(content)


def _content_parts(content: Any, images: Iterator[Image.Image]) -> Any:
    """User/system content with each ``{"type": "image"}`` placeholder as an ``image_url`` part."""
    if not isinstance(content, list):
        return content
    return [
        {"type": "image_url", "image_url": {"url": image_data_url(next(images))}}
        if part.get("type") == "image"
        else dict(part)
        for part in content
    ]


def _wire_call(call: Mapping[str, Any], call_id: str) -> dict[str, Any]:
    function = call.get("function", call)
    arguments = function.get("arguments", {})
    return {
        "id": call_id,
        "type": "function",
        "function": {
            "name": str(function.get("name", "")),
            "arguments": arguments if isinstance(arguments, str) else json.dumps(arguments),
        },
    }


def _call_id(call: Mapping[str, Any], made_up: str) -> str:
    """The id the env gave the call, else ``made_up`` (unique within the request)."""
    given = call.get("id")
    return given if isinstance(given, str) and given else made_up


def _tool_group(messages: Sequence[dict[str, Any]], start: int) -> int:
    """The index after the run of tool messages that begins at ``start``."""
    end = start
    while end < len(messages) and messages[end].get("role") == "tool":
        end += 1
    return end


def _paired(
    calls: list[dict[str, Any]], results: Sequence[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The tool messages answering ``calls`` (one per call, in call order) and the results that answer none."""
    answers: dict[str, dict[str, Any]] = {}
    unanswered = [call["id"] for call in calls]
    names = {call["id"]: call["function"]["name"] for call in calls}
    orphans = []
    for result in results:
        wanted = result.get("tool_call_id")
        match = (
            wanted
            if wanted in unanswered
            else next((i for i in unanswered if wanted is None and names[i] == result.get("name")), None)
        )
        if match is None:
            orphans.append(result)
            continue
        unanswered.remove(match)
        answers[match] = {"role": "tool", "tool_call_id": match, "content": _text_of(result.get("content"))}
    replies = [
        answers.get(call["id"], {"role": "tool", "tool_call_id": call["id"], "content": NO_RESULT}) for call in calls
    ]
    return replies, orphans


def request_messages(chat: Chat) -> list[dict[str, Any]]:
    """``chat.messages`` in the chat-completions schema (see the module docstring), images inline."""
    images = iter(chat.images)
    out: list[dict[str, Any]] = []
    messages = chat.messages
    index = 0
    while index < len(messages):
        message = messages[index]
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            calls = [
                _wire_call(call, _call_id(call, f"call_{index}_{k}")) for k, call in enumerate(message["tool_calls"])
            ]
            # A name no function can have (the invalid calls written by reply_action) would make strict
            # servers refuse the request: such a call stays out, and its result goes back as text.
            calls = [call for call in calls if _FUNCTION_NAME.match(call["function"]["name"])]
            content = _text_of(message.get("content"))
            out.append(
                {"role": "assistant", "content": content or None, "tool_calls": calls}
                if calls
                else {"role": "assistant", "content": content}
            )
            end = _tool_group(messages, index + 1)
            replies, orphans = _paired(calls, messages[index + 1 : end])
            out.extend(replies)
        elif role == "tool":  # results of calls that no assistant message lists (calls the env could not read)
            end = _tool_group(messages, index)
            orphans = list(messages[index:end])
        else:
            content = (
                _text_of(message.get("content"))
                if role == "assistant"
                else _content_parts(message.get("content"), images)
            )
            out.append({"role": role, "content": content})
            index += 1
            continue
        if orphans:
            out.append({"role": "user", "content": "\n".join(tool_response_text(result) for result in orphans)})
        index = end
    return out


# -- responses --------------------------------------------------------------------------------------


def _call_block(name: str, arguments: Any) -> str:
    return TOOL_CALL_OPEN + json.dumps({"name": name, "arguments": arguments}) + TOOL_CALL_CLOSE


def _invalid_block(position: int, problem: str) -> str:
    """A call the env will refuse as an unknown tool, with the problem in its name so the model reads why."""
    return _call_block(f"invalid native tool call tool_calls[{position}]: {problem}", {})


def _native_call_block(position: int, entry: Any) -> str:
    if not isinstance(entry, dict):
        return _invalid_block(position, f"a {type(entry).__name__}, not an object")
    if not isinstance(entry.get("id"), str) or not entry["id"]:
        return _invalid_block(position, 'no "id"')
    if entry.get("type", "function") != "function":
        return _invalid_block(position, f'type {json.dumps(entry.get("type"))[:40]}, not "function"')
    function = entry.get("function")
    if not isinstance(function, dict):
        return _invalid_block(position, 'no "function" object')
    name = function.get("name")
    if not isinstance(name, str) or not name:
        return _invalid_block(position, 'no "function.name"')
    arguments = function.get("arguments", "{}")
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            decoded = None
        # Anything but a JSON object goes on as the string it is: the env says what is wrong with it.
        arguments = decoded if isinstance(decoded, dict) else arguments
    return _call_block(name, arguments)


def reply_action(message: Any) -> str:
    """The env action for one response message: its text content, then its native tool calls as text.

    Text-tag calls already in the content are kept as they are; ``finish_reason`` is not needed (a
    ``"tool_calls"`` finish has ``tool_calls`` in the message, and content is often null).
    """
    if not isinstance(message, dict):
        return ""
    text = _text_of(message.get("content"))
    calls = message.get("tool_calls")
    if calls is None or calls == []:
        return text
    if not isinstance(calls, list):
        blocks = _invalid_block(0, f'"tool_calls" is a {type(calls).__name__}, not a list')
    else:
        blocks = "".join(_native_call_block(position, entry) for position, entry in enumerate(calls))
    return f"{text}\n{blocks}" if text else blocks
