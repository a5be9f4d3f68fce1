"""The contract every registered tool keeps, walked over the registry: a new tool inherits these tests.

For each tool: its schema is a valid OpenAI function (what ``apply_chat_template(tools=...)`` and the
argument checker both read), its declared example call succeeds and returns a well-formed result, and no
argument a model could send (missing, unknown, of the wrong type, huge, extreme) makes it raise: the
model gets an ``Error: <tool>: ...`` message naming the problem instead. The prose that lists the tools
(README, the env's docstring, the integration docs) is checked against the registry too.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vista_envs.tools.image_view import ImageView
from vista_envs.tools.protocol import ToolCall
from vista_envs.tools.session import EpisodeTools
from vista_envs.tools.toolbox import Tool, Toolbox, ToolResult, get_tool, tool_names

import repo_paths

ROOT = repo_paths.REPO
TOOLS = tool_names()
# What validate_arguments understands; a schema using anything else would be checked by nobody.
SCHEMA_TYPES = {"string", "integer", "number", "array"}
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # OpenAI's rule for function names


@pytest.fixture(scope="module")
def context():
    """A real episode context (process sandbox, offline search) on a 96 x 80 noise image."""
    tools = EpisodeTools("process", python_timeout_s=5.0, search_backend="local")
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 96, 3), dtype=np.uint8))
    tools.start_episode(ImageView.full(image, (96, 80)))
    yield tools
    tools.close()


def call(name: str, arguments: Any, context) -> ToolResult:
    return Toolbox().call(ToolCall(name=name, arguments=arguments), context)


def wrong_values(rule: dict[str, Any]) -> list[Any]:
    """Values of every JSON type but the one ``rule`` asks for."""
    values = {"string": "12", "integer": 3, "number": 2.5, "array": [1, 2], "object": {"a": 1}, "null": None}
    wrong = [value for kind, value in values.items() if kind != rule["type"]]
    if rule["type"] == "number":  # an int is a number; a bool never is
        wrong = [value for value in wrong if not isinstance(value, int)] + [True]
    if rule["type"] == "integer":
        wrong += [True, 3.0]
    return wrong


def extreme_values(rule: dict[str, Any]) -> list[Any]:
    """Values of the right type at the edges of what a model could send."""
    kind = rule["type"]
    if kind == "string":
        longest = rule.get("maxLength", 100_000)
        return ["", "\x00\ud800 ünïcode 😀", "x" * longest, "x" * (longest + 1)]
    if kind == "integer":
        return [0, -1, -(10**18), 10**18, 10**400]
    if kind == "number":
        return [0, -0.0, -1e308, 1e308, 1e-320, 10**400, float("nan"), float("inf")]
    items = rule.get("minItems", 1)
    return [
        [],
        [0] * items,
        [-1e308] * items,
        [1e308] * items,
        [5, 5, 5, 5][:items] + [0] * (items - 4),
        [1e6] * (items + 1),
        [float("nan")] * items,
    ]


def assert_well_formed(result: ToolResult, name: str) -> None:
    assert isinstance(result, ToolResult) and isinstance(result.ok, bool)
    assert isinstance(result.text, str) and result.text.strip()
    assert result.view is None or isinstance(result.view, ImageView)
    if not result.ok:
        assert result.text.startswith(f"Error: {name}: ") and result.view is None, result.text


def test_the_registry_lists_the_tools_in_declaration_order_and_refuses_unknown_names():
    assert TOOLS[:3] == ("python", "search", "crop") and len(set(TOOLS)) == len(TOOLS)
    assert [schema["function"]["name"] for schema in Toolbox().schemas()] == list(TOOLS)
    with pytest.raises(KeyError, match="unknown tool 'teleport'; available: python, search"):
        get_tool("teleport")


def test_registering_another_tool_under_a_taken_name_is_refused():
    from vista_envs.tools.toolbox import register_tool

    taken = get_tool("zoom")
    assert register_tool(taken) is taken  # the same tool again is harmless (a module imported twice)
    with pytest.raises(ValueError, match="'zoom' is already registered"):
        register_tool(Tool("zoom", "another zoom", taken.parameters, taken.run, taken.example))
    with pytest.raises(TypeError, match="expects a Tool"):
        register_tool({"name": "zoom"})


@pytest.mark.parametrize("name", TOOLS)
def test_the_schema_is_a_valid_openai_function(name):
    tool = get_tool(name)
    schema = tool.schema()
    assert json.loads(json.dumps(schema)) == schema
    function = schema["function"]
    assert schema["type"] == "function" and set(function) == {"name", "description", "parameters"}
    assert NAME.match(function["name"]) and function["name"] == name
    assert isinstance(function["description"], str) and len(function["description"]) > 10
    parameters = function["parameters"]
    assert parameters["type"] == "object" and parameters["additionalProperties"] is False
    assert set(parameters["required"]) <= set(parameters["properties"])
    for argument, rule in parameters["properties"].items():
        assert NAME.match(argument) and rule["type"] in SCHEMA_TYPES, (argument, rule)
        if rule["type"] == "array":
            assert rule["items"]["type"] in {"number", "integer"}, argument


@pytest.mark.parametrize("name", TOOLS)
def test_the_schema_is_valid_json_schema_and_accepts_the_example(name):
    jsonschema = pytest.importorskip("jsonschema")
    tool = get_tool(name)
    jsonschema.Draft202012Validator.check_schema(tool.parameters)
    jsonschema.validate(dict(tool.example), tool.parameters)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**tool.example, "surely_not_an_argument": 1}, tool.parameters)


@pytest.mark.parametrize("name", TOOLS)
def test_the_example_call_succeeds_with_a_well_formed_result(name, context):
    tool = get_tool(name)
    assert tool.example is not None, f"declare an example call for {name!r} (@tool(..., example={{...}}))"
    result = call(name, dict(tool.example), context)
    assert result.ok, result.text
    assert_well_formed(result, name)
    if result.view is not None:
        assert result.view.size == context.view.size  # a new view keeps the observation's size


@pytest.mark.parametrize("name", TOOLS)
def test_missing_required_arguments_are_named(name, context):
    required = get_tool(name).parameters["required"]
    if not required:
        pytest.skip(f"{name} has no required argument")
    result = call(name, {}, context)
    assert not result.ok and "missing required argument(s): " + ", ".join(required) in result.text
    assert_well_formed(result, name)


@pytest.mark.parametrize("name", TOOLS)
def test_an_unknown_argument_is_named_with_the_expected_ones(name, context):
    tool = get_tool(name)
    result = call(name, {**tool.example, "colour_of_the_sky": "blue"}, context)
    assert not result.ok and "unknown argument(s): colour_of_the_sky; expected: " in result.text
    assert_well_formed(result, name)


@pytest.mark.parametrize("name", TOOLS)
def test_every_argument_of_the_wrong_type_is_refused_by_name(name, context):
    tool = get_tool(name)
    for argument, rule in tool.parameters["properties"].items():
        for value in wrong_values(rule):
            result = call(name, {**tool.example, argument: value}, context)
            assert not result.ok and f"argument {argument!r} must" in result.text, (argument, value, result.text)
            assert_well_formed(result, name)


@pytest.mark.parametrize("name", TOOLS)
def test_extreme_arguments_never_raise(name, context):
    tool = get_tool(name)
    for argument, rule in tool.parameters["properties"].items():
        for value in extreme_values(rule):
            result = call(name, {**tool.example, argument: value}, context)
            assert_well_formed(result, name)


@pytest.mark.parametrize("arguments", [None, [], "{}", 7, {1: 2}])
def test_arguments_that_are_not_an_object_of_names_are_refused(arguments, context):
    for name in TOOLS:
        result = call(name, arguments, context)
        assert not result.ok, (name, arguments)


@pytest.mark.parametrize(
    "path",
    ["README.md", "docs/integrations.md", "vista_envs/envs/vista_tool.py"],
)  # TRL's VistaToolEnvironment has one method per tool: tests/integrations/test_trl.py checks it
def test_the_prose_that_lists_the_tools_names_every_registered_tool(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    missing = [name for name in TOOLS if not re.search(rf"`{name}`", text)]
    assert not missing, f"{path} does not mention the tool(s) {missing}: list them where the others are"
