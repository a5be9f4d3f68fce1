"""The tools of VistaTool-v0: their OpenAI-format schemas, argument checking and dispatch.

A tool is a :class:`Tool`: a name, a description, a JSON schema of its arguments, and a function
``(arguments, context) -> ToolResult``. Tools are declared once, with ``@tool(name, description, parameters)``
on their function, into a registry (like the task families'); every list of tool names derives from it::

    @tool("centre", "Magnify the centre of the current view twice.", _object({}, []), example={})
    def _centre(arguments, context):
        width, height = context.view.size
        return _view_result(context.view.zoom(width / 2, height / 2, 2.0), "Zoomed on the centre.")

:class:`Toolbox` validates a call's arguments against the schema before running it, and turns every failure into
a :class:`ToolResult` with ``ok=False``, so a model's bad call is explained to it instead of raising.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from vista_envs.finite import is_finite_number
from vista_envs.tools.calculator import CalculatorError, evaluate
from vista_envs.tools.image_view import ImageView, ViewError
from vista_envs.tools.protocol import ToolCall

__all__ = [
    "DEFAULT_TOOLS",
    "Tool",
    "ToolContext",
    "ToolResult",
    "Toolbox",
    "get_tool",
    "register_tool",
    "tool",
    "tool_names",
    "validate_arguments",
]

MAX_CODE_CHARS = 20_000
MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class ToolResult:
    """A tool's output: text for the model, optionally a new view, and whether the call succeeded."""

    text: str
    view: ImageView | None = None
    ok: bool = True


class ToolContext(Protocol):
    """What tools can reach: the current view, the episode's Python session and the search engine."""

    view: ImageView

    def run_python(self, code: str) -> ToolResult: ...

    def search(self, query: str, k: int) -> ToolResult: ...


Handler = Callable[[Mapping[str, Any], ToolContext], ToolResult]


@dataclass(frozen=True)
class Tool:
    """A tool: its name, what the model reads about it, the JSON schema of its arguments, and its handler.

    ``example`` is one valid call's arguments that succeeds on any view of 64 x 64 pixels or more; the tool
    contract test (``tests/tools/test_tool_contract.py``) runs it, so every registered tool declares one.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    run: Handler
    example: Mapping[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        """The tool in OpenAI function format (what ``apply_chat_template(tools=...)`` takes)."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


def _object(properties: dict[str, Any], required: Sequence[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


_BOX = {
    "type": "array",
    "items": {"type": "number"},
    "minItems": 4,
    "maxItems": 4,
    "description": "[x0, y0, x1, y1] in pixels of the current view",
}
# Bounded so that a long colour or label cannot make a call slow: drawing a 100,000-character label takes seconds.
_COLOR = {"type": "string", "maxLength": 40, "description": "a colour name such as red, green, blue, yellow"}
_LABEL = {"type": "string", "maxLength": 100, "description": "optional short label"}


def _type_ok(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return is_finite_number(value)
    if expected == "array":
        return isinstance(value, list)
    raise AssertionError(f"schema type {expected!r} is not handled")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def validate_arguments(parameters: Mapping[str, Any], arguments: Mapping[str, Any]) -> str | None:
    """Check ``arguments`` against a tool's (flat) JSON schema; a message for the model, or None if valid."""
    properties = parameters["properties"]
    missing = [name for name in parameters.get("required", ()) if name not in arguments]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}"
    unknown = [name for name in arguments if name not in properties]
    if unknown:
        return f"unknown argument(s): {', '.join(map(str, unknown))}; expected: {', '.join(properties)}"
    for name, value in arguments.items():
        rule = properties[name]
        if not _type_ok(value, rule["type"]):
            return f"argument {name!r} must be of type {rule['type']}, got {type(value).__name__}"
        if rule["type"] == "array":
            if not rule.get("minItems", 0) <= len(value) <= rule.get("maxItems", len(value)):
                return f"argument {name!r} must have {rule['minItems']} items, got {len(value)}"
            if not all(_type_ok(item, rule["items"]["type"]) for item in value):
                return f"argument {name!r} must hold only finite numbers"
        if "maxLength" in rule and len(value) > rule["maxLength"]:
            return f"argument {name!r} is longer than {rule['maxLength']} characters"
        if rule["type"] == "string" and not _encodable(value):
            # JSON's "\ud800" decodes to a lone surrogate, which no UTF-8 pipe (the sandbox's) can carry.
            return f"argument {name!r} holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text"
    return None


_REGISTRY: dict[str, Tool] = {}


def register_tool(tool: Tool) -> Tool:
    """Make ``tool`` available to every :class:`Toolbox` under its name; registering the same name twice raises."""
    if not isinstance(tool, Tool):
        raise TypeError(f"register_tool expects a Tool, got {type(tool).__name__}")
    if tool.name in _REGISTRY and _REGISTRY[tool.name] is not tool:
        raise ValueError(f"tool {tool.name!r} is already registered")
    _REGISTRY[tool.name] = tool
    return tool


def tool(
    name: str, description: str, parameters: dict[str, Any], *, example: Mapping[str, Any]
) -> Callable[[Handler], Handler]:
    """Declare a tool where its handler is written: ``@tool(name, description, parameters, example=...)``.

    The name, the JSON schema the model sees and the function that runs the call stay together, so adding a
    tool is one decorated function; every list of tool names (:func:`tool_names`) is derived from here.
    """

    def declare(run: Handler) -> Handler:
        register_tool(Tool(name, description, parameters, run, example))
        return run

    return declare


def tool_names() -> tuple[str, ...]:
    """Every registered tool's name, in the order they were declared (the order of ``info["tools"]``)."""
    return tuple(_REGISTRY)


def get_tool(name: str) -> Tool:
    """The registered tool called ``name``; an unknown name raises a ``KeyError`` listing the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown tool {name!r}; available: {', '.join(_REGISTRY)}") from None


@tool(
    "python",
    "Run Python code in a sandbox. numpy is available as np and the current view as `image` "
    "(a height x width x 3 uint8 array). Variables persist between calls. Returns stdout and stderr.",
    _object({"code": {"type": "string", "maxLength": MAX_CODE_CHARS, "description": "Python source"}}, ["code"]),
    example={"code": "print(image.shape)"},
)
def _python(arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
    return context.run_python(arguments["code"])


@tool(
    "search",
    "Search the knowledge base (countries: capitals, continents, currencies, languages, flags; "
    "a product catalogue by SKU).",
    _object(
        {
            "query": {"type": "string", "maxLength": MAX_QUERY_CHARS},
            "k": {"type": "integer", "description": "number of results (1-10, default 3)"},
        },
        ["query"],
    ),
    example={"query": "capital of France", "k": 2},
)
def _search(arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
    k = arguments.get("k", 3)
    if not 1 <= k <= 10:
        return ToolResult("k must be between 1 and 10", ok=False)
    return context.search(arguments["query"], k)


def _view_result(view: ImageView, what: str) -> ToolResult:
    return ToolResult(f"{what} {view.describe()}", view=view)


@tool(
    "crop",
    "Show only a region of the current view, re-rendered at full resolution.",
    _object({"box": _BOX}, ["box"]),
    example={"box": [8, 8, 48, 40]},
)
def _crop(arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
    return _view_result(context.view.crop(arguments["box"]), "Cropped.")


@tool(
    "zoom",
    "Magnify the current view around a point (x, y) by a factor (default 2, at most 16).",
    _object({"x": {"type": "number"}, "y": {"type": "number"}, "factor": {"type": "number"}}, ["x", "y"]),
    example={"x": 30, "y": 20, "factor": 2},
)
def _zoom(arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
    view = context.view.zoom(arguments["x"], arguments["y"], arguments.get("factor", 2.0))
    return _view_result(view, "Zoomed.")


@tool(
    "draw_box",
    "Draw a rectangle on the current view.",
    _object({"box": _BOX, "color": _COLOR, "label": _LABEL}, ["box"]),
    example={"box": [8, 8, 40, 40], "color": "green", "label": "cat"},
)
def _draw_box(arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
    box = (arguments["box"], arguments.get("color", "red"), arguments.get("label", ""))
    return _view_result(context.view.annotated(boxes=[box]), "Box drawn.")


@tool(
    "mark_point",
    "Mark a point on the current view.",
    _object({"x": {"type": "number"}, "y": {"type": "number"}, "color": _COLOR, "label": _LABEL}, ["x", "y"]),
    example={"x": 30, "y": 40, "color": "blue", "label": "here"},
)
def _mark_point(arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
    point = (arguments["x"], arguments["y"], arguments.get("color", "red"), arguments.get("label", ""))
    return _view_result(context.view.annotated(points=[point]), "Point marked.")


@tool(
    "grid",
    "Overlay a labelled pixel grid on the current view.",
    _object({"step": {"type": "integer", "description": "grid spacing in pixels (default 32)"}}, []),
    example={"step": 16},
)
def _grid(arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
    step = arguments.get("step", 32)
    if not 8 <= step <= max(context.view.size):
        return ToolResult(f"step must be between 8 and {max(context.view.size)} pixels", ok=False)
    return _view_result(
        context.view.annotated(grid_step=step), f"Grid drawn every {step} px, lines labelled with their coordinate."
    )


@tool(
    "calculator",
    "Evaluate an arithmetic expression (+ - * / // % **, parentheses, sqrt, log, round, min, max, ...).",
    _object({"expression": {"type": "string", "maxLength": 1000}}, ["expression"]),
    example={"expression": "(12.5 + 7) * 2"},
)
def _calculator(arguments: Mapping[str, Any], context: ToolContext) -> ToolResult:
    value = evaluate(arguments["expression"])
    return ToolResult(str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value)))


# The tools this module declares, in order (a snapshot: tools registered later are in :func:`tool_names`).
DEFAULT_TOOLS: tuple[Tool, ...] = tuple(_REGISTRY.values())


class Toolbox:
    """The tools available in an episode, by name."""

    def __init__(self, names: Sequence[str] | None = None):
        available = dict(_REGISTRY)
        names = list(available) if names is None else list(names)
        unknown = [name for name in names if name not in available]
        if unknown:
            raise ValueError(f"unknown tool(s) {unknown}; available: {', '.join(available)}")
        self.tools: dict[str, Tool] = {name: available[name] for name in names}

    def schemas(self) -> list[dict[str, Any]]:
        """Every tool in OpenAI function format, for ``info["tools"]``."""
        return [tool.schema() for tool in self.tools.values()]

    def call(self, call: ToolCall, context: ToolContext) -> ToolResult:
        """Run ``call``; a malformed call, an unknown tool or bad arguments give ``ok=False`` and a reason."""
        if call.error:
            return ToolResult(f"Error: {call.error}.", ok=False)
        tool = self.tools.get(call.name)
        if tool is None:
            return ToolResult(f"Error: unknown tool {call.name!r}; available: {', '.join(self.tools)}.", ok=False)
        if not isinstance(call.arguments, Mapping) or not all(isinstance(key, str) for key in call.arguments):
            return ToolResult(f"Error: {call.name}: arguments must be a JSON object of named values.", ok=False)
        problem = validate_arguments(tool.parameters, call.arguments)
        if problem:
            return ToolResult(f"Error: {call.name}: {problem}.", ok=False)
        try:
            result = tool.run(call.arguments, context)
        except (ViewError, CalculatorError) as error:
            return ToolResult(f"Error: {call.name}: {error}.", ok=False)
        return result if result.ok else ToolResult(f"Error: {call.name}: {result.text}.", ok=False)
