"""Tool-call parsing (Hermes/Qwen and VISTA-Gym forms), the calculator, and argument validation."""

import pytest

from vista_envs.tools.calculator import CalculatorError, evaluate
from vista_envs.tools.protocol import parse_tool_calls
from vista_envs.tools.toolbox import DEFAULT_TOOLS, Toolbox, validate_arguments


class TestParseToolCalls:
    def test_hermes_form(self):
        calls, total = parse_tool_calls(
            '<tool_call>{"name": "python", "arguments": {"code": "print(1+1)"}}</tool_call>', 4
        )
        assert (
            total == 1
            and calls[0].name == "python"
            and calls[0].arguments == {"code": "print(1+1)"}
            and calls[0].error is None
        )

    def test_vista_gym_form(self):
        calls, _ = parse_tool_calls('<tool_call>{"tool": "zoom", "parameters": {"x": 1, "y": 2}}</tool_call>', 4)
        assert (calls[0].name, calls[0].arguments) == ("zoom", {"x": 1, "y": 2})

    def test_arguments_as_a_json_string(self):
        calls, _ = parse_tool_calls(
            '<tool_call>{"name": "calculator", "arguments": "{\\"expression\\": \\"1+2\\"}"}</tool_call>', 4
        )
        assert calls[0].arguments == {"expression": "1+2"}

    def test_several_calls_are_kept_in_order_up_to_the_limit(self):
        text = "".join(f'<tool_call>{{"name": "t{i}", "arguments": {{}}}}</tool_call>' for i in range(5))
        calls, total = parse_tool_calls(text, 3)
        assert [c.name for c in calls] == ["t0", "t1", "t2"] and total == 5

    @pytest.mark.parametrize(
        "payload, reason",
        [
            ("{not json}", "not valid JSON"),
            ("[1, 2]", "JSON object"),
            ('{"arguments": {}}', '"name"'),
            ('{"name": "x", "arguments": [1]}', "must be a JSON object"),
            ('{"name": "x", "arguments": "{bad"}', "not valid JSON"),
            ("[" * 100_000, "not valid JSON"),
            ('{"name": "zoom", "arguments": {"x": 1' + "0" * 5000 + ', "y": 1}}', "not valid JSON"),
            ('{"name": "zoom", "arguments": "{\\"x\\": 1' + "0" * 5000 + '}"}', "not valid JSON"),
        ],
        ids=[
            "not-json",
            "not-object",
            "no-name",
            "list-arguments",
            "bad-string-arguments",
            "too-deep",
            "int-past-digit-limit",
            "string-arguments-int-past-digit-limit",
        ],
    )
    def test_malformed_calls_carry_a_reason(self, payload, reason):
        calls, _ = parse_tool_calls(f"<tool_call>{payload}</tool_call>", 4)
        assert reason in calls[0].error

    def test_unclosed_call_is_reported(self):
        calls, total = parse_tool_calls('<tool_call>{"name": "x"}', 4)
        assert total == 1 and "never closed" in calls[0].error

    def test_text_without_calls(self):
        assert parse_tool_calls("just thinking", 4) == ([], 0)


class TestCalculator:
    @pytest.mark.parametrize(
        "expression, value",
        [("1+2*3", 7), ("(12.5 + 7) * 2", 39), ("sqrt(16) + 2**3", 12), ("round(2/3, 2)", 0.67), ("-pi < 0", None)],
    )
    def test_arithmetic(self, expression, value):
        if value is None:
            with pytest.raises(CalculatorError):
                evaluate(expression)
        else:
            assert evaluate(expression) == pytest.approx(value)

    @pytest.mark.parametrize(
        "expression",
        [
            '__import__("os").system("id")',
            "open('/etc/passwd')",
            "x",
            "9**9**9",
            "1/0",
            "a.b",
            "[1]",
            "lambda: 1",
            "1" * 2000,
        ],
    )
    def test_anything_but_arithmetic_is_refused(self, expression):
        with pytest.raises(CalculatorError):
            evaluate(expression)

    def test_round_to_absurd_digits_is_refused_at_once(self):
        # CPython rounds an int to -n digits by computing 10**n: this would run for hours.
        with pytest.raises(CalculatorError, match="at most 400 digits"):
            evaluate("round(1, -10**9)")
        assert evaluate("round(1234, -2)") == 1200 and evaluate("round(2.567, 2)") == pytest.approx(2.57)


class TestValidation:
    schema = next(t for t in DEFAULT_TOOLS if t.name == "crop").parameters

    def test_valid_arguments(self):
        assert validate_arguments(self.schema, {"box": [0, 0, 10, 10.5]}) is None

    @pytest.mark.parametrize(
        "arguments, reason",
        [
            ({}, "missing"),
            ({"box": [1, 2, 3]}, "4 items"),
            ({"box": "0,0,1,1"}, "type array"),
            ({"box": [0, 0, 1, "x"]}, "finite numbers"),
            ({"box": [0, 0, 1, float("nan")]}, "finite numbers"),
            ({"box": [0, 0, 1, 10**400]}, "finite numbers"),
            ({"box": [0, 0, 1, 1], "zoom": 2}, "unknown argument"),
        ],
    )
    def test_invalid_arguments_are_explained(self, arguments, reason):
        assert reason in validate_arguments(self.schema, arguments)

    def test_schemas_are_openai_function_format(self):
        for schema in Toolbox().schemas():
            assert schema["type"] == "function"
            assert {"name", "description", "parameters"} <= set(schema["function"])
            assert schema["function"]["parameters"]["type"] == "object"

    def test_unknown_tool_names_are_rejected_at_construction(self):
        with pytest.raises(ValueError, match="unknown tool"):
            Toolbox(["python", "teleport"])
