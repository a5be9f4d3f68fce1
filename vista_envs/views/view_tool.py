"""The optional ``view`` tool of ``VistaViews-v0``: the agent starts with View 1 and asks for the others.

Calls use the house format, ``<tool_call>{"name": "view", "arguments": {"index": 2}}</tool_call>``, parsed
by :func:`vista_envs.tools.protocol.parse_tool_calls`. :func:`check_call` turns one parsed call into a
view index or a message for the agent; it never raises.
"""

from __future__ import annotations

from typing import Any

from vista_envs.tools.protocol import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ToolCall

__all__ = ["TOOL_NAME", "call_text", "check_call", "view_tool_schema"]

TOOL_NAME = "view"


def view_tool_schema(n_views: int) -> dict[str, Any]:
    """The tool in OpenAI function format, for ``info["tools"]``."""
    return {
        "type": "function",
        "function": {
            "name": TOOL_NAME,
            "description": "Show another camera's view of the same scene (View 1 is shown at the start).",
            "parameters": {
                "type": "object",
                "properties": {
                    "index": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": n_views,
                        "description": f"the view to show, 1 to {n_views}",
                    }
                },
                "required": ["index"],
                "additionalProperties": False,
            },
        },
    }


def call_text(index: int) -> str:
    """The house-format call that asks for view ``index`` (1-based)."""
    return f'{TOOL_CALL_OPEN}{{"name": "{TOOL_NAME}", "arguments": {{"index": {index}}}}}{TOOL_CALL_CLOSE}'


def check_call(call: ToolCall, n_views: int) -> tuple[int | None, str | None]:
    """``(view index 0-based, None)`` for a valid call, else ``(None, why it is not)``."""
    if call.error:
        return None, f"Error: {call.error}."
    if call.name != TOOL_NAME:
        return None, f"Error: unknown tool {call.name[:80]!r}; the only tool is {TOOL_NAME!r}."
    unknown = set(call.arguments) - {"index"}
    if unknown:
        return (
            None,
            f"Error: unknown arguments {sorted(str(k)[:40] for k in unknown)[:5]}; {TOOL_NAME!r} takes only 'index'.",
        )
    index = call.arguments.get("index")
    if isinstance(index, float) and index.is_integer():
        index = int(index)
    if isinstance(index, bool) or not isinstance(index, int):
        return None, f"Error: 'index' must be an integer from 1 to {n_views}, got {str(index)[:40]!r}."
    if not 1 <= index <= n_views:
        shown = str(index) if index.bit_length() < 64 else "that large"
        return None, f"Error: there is no View {shown}; the views are 1 to {n_views}."
    return index - 1, None
