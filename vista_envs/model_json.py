"""Reading JSON that a model wrote (tool calls, plans, scene lists): one error type, and only valid text.

``json.loads`` turns a ``\\ud800`` escape into a lone surrogate: a str that no tokenizer encodes, so a tool that
echoes it back would crash the next turn's tokenization. Such code points become U+FFFD here.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["loads_model_json"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def loads_model_json(text: str) -> Any:
    """``json.loads(text)`` with every lone surrogate in keys and strings replaced by U+FFFD.

    Raises:
        ValueError: for anything JSON cannot read: malformed text (a ``json.JSONDecodeError``), an int past
            Python's 4300-digit limit, or nesting deeper than the interpreter's recursion limit.
    """
    try:
        return _valid_text(json.loads(text))
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def _valid_text(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_valid_text(item) for item in value]
    if isinstance(value, dict):
        return {_valid_text(key): _valid_text(item) for key, item in value.items()}
    return value
