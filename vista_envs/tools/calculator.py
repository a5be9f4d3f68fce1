"""A safe arithmetic evaluator: Python's expression syntax, numbers and a few math functions, nothing else.

No names, attributes, calls (except the whitelisted functions), subscripts or comprehensions are
evaluated, and big powers are refused, so it needs no sandbox.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

__all__ = ["CalculatorError", "evaluate"]

MAX_EXPRESSION_CHARS = 1000
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300
# round(x, n) to more digits than a bounded value has changes nothing; CPython computes 10**-n to round an
# int to n < 0 digits, so round(1, -10**9) would run for hours.
MAX_ROUND_DIGITS = 400


class CalculatorError(ValueError):
    """The expression is not plain arithmetic, or its value cannot be computed."""


def _round(value: float, ndigits: int | None = None) -> float:
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise CalculatorError(f"round() takes at most {MAX_ROUND_DIGITS} digits either side of the point")
    return round(value, ndigits)


_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "abs": abs, "round": _round, "min": min, "max": max, "sqrt": math.sqrt, "log": math.log,
    "log10": math.log10, "exp": math.exp, "sin": math.sin, "cos": math.cos, "tan": math.tan,
    "atan2": math.atan2, "degrees": math.degrees, "radians": math.radians, "floor": math.floor, "ceil": math.ceil,
}  # fmt: skip
_CONSTANTS = {"pi": math.pi, "e": math.e}


def _check(value: float) -> float:
    if (
        isinstance(value, complex)
        or (isinstance(value, float) and not math.isfinite(value))
        or abs(value) > MAX_MAGNITUDE
    ):
        raise CalculatorError("the result is not a finite real number")
    return value


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            raise CalculatorError(f"exponents above {MAX_EXPONENT} are not allowed")
        return _check(_BINARY[type(node.op)](left, right))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _check(_FUNCTIONS[node.func.id](*(_eval(arg) for arg in node.args)))
    raise CalculatorError(
        f"unsupported syntax ({type(node).__name__}); use numbers, + - * / // % **, parentheses, pi, e and "
        f"{', '.join(sorted(_FUNCTIONS))}"
    )


def evaluate(expression: str) -> float:
    """The value of an arithmetic ``expression`` such as ``"(12.5 + 7) * 3 / sqrt(4)"``.

    Raises:
        CalculatorError: with a message fit to show the model.
    """
    if not isinstance(expression, str):
        raise CalculatorError(f"the expression must be a string, got {type(expression).__name__}")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise CalculatorError(f"not a valid expression: {error}") from None
    try:
        return _check(_eval(tree))
    except CalculatorError:
        raise
    except (ArithmeticError, ValueError, TypeError, RecursionError) as error:
        raise CalculatorError(f"cannot compute: {error}") from None
