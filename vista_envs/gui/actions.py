"""The GUI tools: their JSON schemas, checking a parsed call's arguments, and applying it to an app.

============================  =====================================================================
call                          effect
============================  =====================================================================
``click(x, y)``               a left click at screen pixel ``(x, y)``
``type(text)``                types ``text`` into the focused text box
``key(name)``                 presses a key: one of :data:`vista_envs.gui.app.KEYS`
``scroll(dx, dy)``            scrolls the page by ``dy`` pixels (positive: down); ``dx`` is accepted, pages do not
scroll sideways
``drag(x0, y0, x1, y1)``      presses at ``(x0, y0)`` and releases at ``(x1, y1)`` (sliders, the scroll bar)
``answer(text)``              answers the task's question (ends a question episode)
============================  =====================================================================

:func:`check_call` never raises: a call with a wrong name or bad arguments comes back as an error
message for the agent.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from vista_envs.finite import is_finite_number
from vista_envs.gui.app import KEY_ALIASES, KEYS, App, Effect
from vista_envs.tools.protocol import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ToolCall

__all__ = [
    "MAX_TYPE_CHARS",
    "TOOL_NAMES",
    "Action",
    "apply_action",
    "check_call",
    "tool_schemas",
]

MAX_TYPE_CHARS = 200
MAX_SCROLL = 100_000
TOOL_NAMES = ("click", "type", "key", "scroll", "drag", "answer")

_ARGUMENTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "click": (
        ("x", "integer", "pixels from the left edge"),
        ("y", "integer", "pixels from the top edge"),
    ),
    "type": (("text", "string", f"the text to type (at most {MAX_TYPE_CHARS} characters)"),),
    "key": (("name", "string", "one of: " + ", ".join(KEYS)),),
    "scroll": (
        ("dx", "integer", "horizontal pixels (pages do not scroll sideways)"),
        ("dy", "integer", "vertical pixels, positive scrolls down"),
    ),
    "drag": (
        ("x0", "integer", "start x"),
        ("y0", "integer", "start y"),
        ("x1", "integer", "end x"),
        ("y1", "integer", "end y"),
    ),
    "answer": (("text", "string", "the answer to the task's question"),),
}
_DESCRIPTIONS = {
    "click": "Left-click at a pixel of the screenshot.",
    "type": "Type text into the text box that has the focus (click the box first).",
    "key": "Press a key.",
    "scroll": "Scroll the page.",
    "drag": "Press at one pixel and release at another (moves sliders and the scroll bar).",
    "answer": "Answer the task's question about the screen; use it only when the task asks a question.",
}


@dataclass(frozen=True)
class Action:
    """One checked tool call."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)

    def to_text(self) -> str:
        """The call in the house format, as an assistant turn would hold it."""
        return f"{TOOL_CALL_OPEN}{json.dumps({'name': self.name, 'arguments': self.arguments})}{TOOL_CALL_CLOSE}"


def tool_schemas() -> list[dict[str, Any]]:
    """The six tools in OpenAI function format (for ``info["tools"]`` and chat templates)."""
    schemas = []
    for name in TOOL_NAMES:
        properties = {arg: {"type": kind, "description": doc} for arg, kind, doc in _ARGUMENTS[name]}
        schemas.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": _DESCRIPTIONS[name],
                    "parameters": {
                        "type": "object",
                        "properties": properties,
                        "required": [arg for arg, _, _ in _ARGUMENTS[name]],
                    },
                },
            }
        )
    return schemas


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not is_finite_number(value):
        return None
    return float(value)


def check_call(call: ToolCall, size: tuple[int, int]) -> Action | str:
    """The call as an :class:`Action`, or why it cannot run (``size`` is the screen's ``(width, height)``)."""
    if call.error is not None:
        return f"malformed tool call: {call.error}"
    if call.name not in _ARGUMENTS:
        return f"unknown tool {call.name[:40]!r}; the tools are {', '.join(TOOL_NAMES)}"
    expected = [arg for arg, _, _ in _ARGUMENTS[call.name]]
    missing = [arg for arg in expected if arg not in call.arguments]
    extra = sorted(set(call.arguments) - set(expected))
    if missing or extra:
        return f"{call.name}() takes {', '.join(expected)}; " + (
            f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(extra[:5])}"
        )
    arguments: dict[str, Any] = {}
    for arg, kind, _ in _ARGUMENTS[call.name]:
        value = call.arguments[arg]
        if kind == "string":
            if not isinstance(value, str):
                return f"{call.name}(): {arg} must be a string, got {type(value).__name__}"
            arguments[arg] = value
        else:
            number = _number(value)
            if number is None:
                return f"{call.name}(): {arg} must be a number, got {str(value)[:40]!r}"
            arguments[arg] = math.floor(number)
    width, height = size
    if call.name in ("click", "drag"):
        points = (
            [(arguments["x"], arguments["y"])]
            if call.name == "click"
            else [
                (arguments["x0"], arguments["y0"]),
                (arguments["x1"], arguments["y1"]),
            ]
        )
        for x, y in points:
            if not (0 <= x < width and 0 <= y < height):
                return f"{call.name}(): ({x}, {y}) is outside the {width}x{height} screen"
    if call.name == "type" and not 0 < len(arguments["text"]) <= MAX_TYPE_CHARS:
        return f"type(): text must have 1 to {MAX_TYPE_CHARS} characters, got {len(arguments['text'])}"
    if call.name == "key":
        name = arguments["name"].strip().lower()
        name = KEY_ALIASES.get(name, name)
        if name not in KEYS:
            return f"key(): unknown key {arguments['name'][:20]!r}; the keys are {', '.join(KEYS)}"
        arguments["name"] = name
    if call.name == "scroll" and max(abs(arguments["dx"]), abs(arguments["dy"])) > MAX_SCROLL:
        return f"scroll(): at most {MAX_SCROLL} pixels at a time"
    if call.name == "answer" and len(arguments["text"]) > 1000:
        return "answer(): the answer is over 1000 characters"
    return Action(call.name, arguments)


def apply_action(app: App, action: Action) -> Effect:
    """Run a checked action (not ``answer``, which the env scores) on the app."""
    effect = _dispatch(app, action)
    app.after_input()
    return effect


def _dispatch(app: App, action: Action) -> Effect:
    args = action.arguments
    if action.name == "click":
        return app.click(args["x"], args["y"])
    if action.name == "type":
        return app.type_text(args["text"])
    if action.name == "key":
        return app.press(args["name"])
    if action.name == "scroll":
        return app.scroll(args["dx"], args["dy"])
    if action.name == "drag":
        return app.drag(args["x0"], args["y0"], args["x1"], args["y1"])
    raise ValueError(f"apply_action cannot run {action.name!r}")
