"""A small query language over a scene description, for grounded questions.

In grounded mode the Questioner attaches a program to its question; the env runs it on the scene
the image was drawn from, which gives the question's true answer and shows whether the question
is about the image at all. The language has six functions:

=========================================  ======================  ===========================================
program                                    answer type             meaning
=========================================  ======================  ===========================================
``filter(color=red, shape=circle)``        (a set of objects)      objects with every named attribute value;
                                                                   ``filter()`` is every object
``count(SET)``                             number                  how many objects are in the set
``exists(SET)``                            yes_no                  whether the set has any object
``query(ATTR, SET)``                       text                    ATTR (color, shape or size) of the one object
                                                                   in the set
``relate(SET, REL, SET)``                  yes_no                  whether the one object of the first set is
                                                                   REL (left_of, right_of, above, below) the one
                                                                   object of the second, by centres
``more(SET, SET)``                         yes_no                  whether the first set has more objects
=========================================  ======================  ===========================================

Attributes and values are those of the shape scenes: ``shape`` (circle, square, ...), ``color``
(red, green, ..., "grey" is read as "gray") and ``size`` (small, large).

A program is refused (:class:`QueryError`, with a message that says why) when it does not parse,
calls a function with the wrong arguments, names a value no object can have (``color=magenta``),
or **refers to an object that is not there**: ``query`` and ``relate`` presuppose exactly one
object per set, so an empty or ambiguous set fails. ``count`` and ``exists`` of an empty set are
fine ("How many red stars are there?" -> 0 is a question about the image).

The parser is a hand-written recursive descent over four token kinds; nothing is evaluated as
Python, and program length and nesting depth are bounded.

>>> scene = {"objects": [{"shape": "circle", "color": "red", "size": "large", "x": 10, "y": 40},
...                      {"shape": "square", "color": "blue", "size": "small", "x": 50, "y": 20}]}
>>> run_query("count(filter(color=red))", scene)
QueryResult(value=1, answer_type='number')
>>> run_query("relate(filter(shape=circle), left_of, filter(color=blue))", scene).text
'yes'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vista_envs.tasks.shape_scene import ATTRIBUTES

__all__ = [
    "FUNCTIONS",
    "LANGUAGE_HELP",
    "RELATIONS",
    "QueryError",
    "QueryResult",
    "parse_query",
    "run_query",
    "scene_objects",
]

MAX_PROGRAM_CHARS = 1000
MAX_DEPTH = 8
RELATIONS: tuple[str, ...] = ("left_of", "right_of", "above", "below")
FUNCTIONS: tuple[str, ...] = ("filter", "count", "exists", "query", "relate", "more")
_VALUE_ALIASES = {"grey": "gray"}
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S")

_ATTRIBUTE_LIST = ", ".join(f"{key} ({'/'.join(values)})" for key, values in ATTRIBUTES.items())
LANGUAGE_HELP = (
    "Programs: count(filter(color=red, shape=circle)), exists(filter(shape=star)), "
    "query(color, filter(size=large, shape=square)), relate(filter(color=red), left_of, filter(shape=circle)), "
    "more(filter(shape=circle), filter(shape=square)). "
    f"Attributes: {_ATTRIBUTE_LIST}. Relations: {', '.join(RELATIONS)}."
)


class QueryError(ValueError):
    """A program that cannot be run on the scene, with the reason in its message."""


@dataclass(frozen=True)
class QueryResult:
    """A program's value: an int for ``number``, "yes"/"no" for ``yes_no``, a word for ``text``."""

    value: int | str
    answer_type: str

    @property
    def text(self) -> str:
        """The answer as text ("3", "yes", "red")."""
        return str(self.value)


@dataclass(frozen=True)
class Call:
    """``name(args..., key=value...)`` in a parsed program."""

    name: str
    args: tuple[Call | str, ...]
    keywords: tuple[tuple[str, str], ...]
    position: int


def _tokens(program: str) -> list[tuple[str, int]]:
    """``(token, position)`` pairs: names, the four punctuation marks; anything else is refused."""
    tokens = []
    for match in _TOKEN.finditer(program):
        token = match.group()
        if not (_is_name(token) or token in "(),="):
            raise QueryError(f"unexpected character {token!r} at position {match.start()}")
        tokens.append((token, match.start()))
    return tokens


def _is_name(token: str) -> bool:
    return token[0] == "_" or token[0].isascii() and token[0].isalpha()


class _Parser:
    """Recursive descent over ``call := NAME "(" [arg ("," arg)*] ")"`` and ``arg := NAME "=" NAME | call | NAME``."""

    def __init__(self, program: str):
        self.tokens = _tokens(program)
        self.index = 0

    def peek(self, ahead: int = 0) -> str | None:
        index = self.index + ahead
        return self.tokens[index][0] if index < len(self.tokens) else None

    def position(self) -> int:
        return self.tokens[self.index][1] if self.index < len(self.tokens) else -1

    def take(self, what: str) -> str:
        """The next token, which must be ``what`` when that is a punctuation mark, else a name."""
        token = self.peek()
        if token is None:
            raise QueryError(f"the program ends early; expected {what}")
        expected_punct = what in "(),="
        if (expected_punct and token != what) or (not expected_punct and not _is_name(token)):
            raise QueryError(f"expected {what} at position {self.position()}, found {token!r}")
        self.index += 1
        return token

    def expression(self, depth: int) -> Call | str:
        if depth > MAX_DEPTH:
            raise QueryError(f"the program nests deeper than {MAX_DEPTH} calls")
        position = self.position()
        name = self.take("a name").lower()
        if self.peek() != "(":
            return name
        self.take("(")
        args: list[Call | str] = []
        keywords: list[tuple[str, str]] = []
        while self.peek() != ")":
            if self.peek() is None:
                raise QueryError(f"the program ends early: the '(' of {name} at position {position} is never closed")
            if args or keywords:
                self.take(",")
            if self.peek(1) == "=":
                key = self.take("an attribute").lower()
                self.take("=")
                keywords.append((key, self.take("a value").lower()))
            else:
                args.append(self.expression(depth + 1))
        self.take(")")
        return Call(name, tuple(args), tuple(keywords), position)


def parse_query(program: str) -> Call:
    """Parse ``program`` into its call tree (no scene needed); raises :class:`QueryError`."""
    if not isinstance(program, str):
        raise QueryError(f"a program must be a str, got {type(program).__name__}")
    if len(program) > MAX_PROGRAM_CHARS:
        raise QueryError(f"the program has {len(program)} characters, over the limit of {MAX_PROGRAM_CHARS}")
    parser = _Parser(program)
    if parser.peek() is None:
        raise QueryError("the program is empty")
    tree = parser.expression(1)
    if parser.peek() is not None:
        raise QueryError(f"unexpected {parser.peek()!r} at position {parser.position()} after the end of the program")
    if not isinstance(tree, Call):
        raise QueryError(f"a program is a call such as count(filter(color=red)), got the bare name {tree!r}")
    return tree


def scene_objects(scene: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The scene's object list, checked to carry the keys the language needs (ValueError otherwise)."""
    objects = scene.get("objects") if isinstance(scene, Mapping) else None
    if not isinstance(objects, Sequence) or isinstance(objects, str):
        raise ValueError("the scene has no 'objects' list; grounded questions need a scene of objects")
    needed = {*ATTRIBUTES, "x", "y"}
    for index, obj in enumerate(objects):
        if not isinstance(obj, Mapping) or not needed <= set(obj):
            raise ValueError(f"scene object {index} lacks some of the keys {sorted(needed)}")
    return list(objects)


def _describe(call: Call | str) -> str:
    if isinstance(call, str):
        return call
    inner = [_describe(arg) for arg in call.args] + [f"{key}={value}" for key, value in call.keywords]
    return f"{call.name}({', '.join(inner)})"


class _Evaluator:
    def __init__(self, objects: list[Mapping[str, Any]]):
        self.objects = objects

    def result(self, call: Call | str) -> QueryResult:
        if not isinstance(call, Call) or call.name == "filter":
            raise QueryError(f"a program must end in count, exists, query, relate or more; got {_describe(call)}")
        handler = getattr(self, f"_{call.name}", None)
        if call.name not in FUNCTIONS or handler is None:
            raise QueryError(f"unknown function {call.name!r}; known: {', '.join(FUNCTIONS)}")
        return handler(call)

    def _arity(self, call: Call, shape: str, count: int) -> None:
        if call.keywords or len(call.args) != count:
            raise QueryError(f"{call.name} takes {shape}; got {_describe(call)}")

    def objects_of(self, arg: Call | str) -> list[Mapping[str, Any]]:
        """The objects an argument denotes; it must be a ``filter(...)``."""
        if not isinstance(arg, Call) or arg.name != "filter":
            raise QueryError(f"expected an object set such as filter(color=red), got {_describe(arg)}")
        if arg.args:
            raise QueryError(f"filter takes only attribute=value pairs, got {_describe(arg)}")
        wanted: dict[str, str] = {}
        for key, value in arg.keywords:
            if key not in ATTRIBUTES:
                raise QueryError(f"unknown attribute {key!r} in {_describe(arg)}; attributes: {', '.join(ATTRIBUTES)}")
            if key in wanted:
                raise QueryError(f"attribute {key!r} is named twice in {_describe(arg)}")
            value = _VALUE_ALIASES.get(value, value)
            if value not in ATTRIBUTES[key]:
                raise QueryError(f"no object can have {key}={value}; {key} is one of {', '.join(ATTRIBUTES[key])}")
            wanted[key] = value
        return [obj for obj in self.objects if all(obj[key] == value for key, value in wanted.items())]

    def only_object(self, arg: Call | str, role: str) -> Mapping[str, Any]:
        """The single object a set must hold where the program refers to one object."""
        found = self.objects_of(arg)
        if not found:
            raise QueryError(f"{role} refers to an object that is not in the image: nothing matches {_describe(arg)}")
        if len(found) > 1:
            raise QueryError(f"{role} is ambiguous: {len(found)} objects match {_describe(arg)}")
        return found[0]

    def _count(self, call: Call) -> QueryResult:
        self._arity(call, "one object set, e.g. count(filter(color=red))", 1)
        return QueryResult(len(self.objects_of(call.args[0])), "number")

    def _exists(self, call: Call) -> QueryResult:
        self._arity(call, "one object set, e.g. exists(filter(shape=star))", 1)
        return QueryResult("yes" if self.objects_of(call.args[0]) else "no", "yes_no")

    def _query(self, call: Call) -> QueryResult:
        self._arity(call, "an attribute and an object set, e.g. query(color, filter(shape=square))", 2)
        attribute = call.args[0]
        if not isinstance(attribute, str) or attribute not in ATTRIBUTES:
            raise QueryError(f"query asks for one of {', '.join(ATTRIBUTES)}; got {_describe(attribute)}")
        return QueryResult(str(self.only_object(call.args[1], "query")[attribute]), "text")

    def _relate(self, call: Call) -> QueryResult:
        self._arity(
            call,
            "an object set, a relation and an object set, e.g. relate(filter(color=red), left_of, "
            "filter(shape=circle))",
            3,
        )
        first, relation, second = call.args
        if not isinstance(relation, str) or relation not in RELATIONS:
            raise QueryError(f"relate needs one of the relations {', '.join(RELATIONS)}; got {_describe(relation)}")
        a = self.only_object(first, "relate's first object")
        b = self.only_object(second, "relate's second object")
        if a is b:
            raise QueryError(f"relate compares an object with itself: {_describe(call)}")
        axis, sign = {"left_of": ("x", 1), "right_of": ("x", -1), "above": ("y", 1), "below": ("y", -1)}[relation]
        gap = sign * (float(b[axis]) - float(a[axis]))
        if gap == 0:
            raise QueryError(
                f"the two objects of {_describe(call)} are level on the {axis} axis, so the relation has no answer"
            )
        return QueryResult("yes" if gap > 0 else "no", "yes_no")

    def _more(self, call: Call) -> QueryResult:
        self._arity(call, "two object sets, e.g. more(filter(shape=circle), filter(shape=square))", 2)
        return QueryResult(
            "yes" if len(self.objects_of(call.args[0])) > len(self.objects_of(call.args[1])) else "no", "yes_no"
        )


def run_query(program: str, scene: Mapping[str, Any]) -> QueryResult:
    """Run ``program`` on ``scene`` (a dict with an ``"objects"`` list); raises :class:`QueryError` when it is
    refused."""
    tree = parse_query(program)
    try:
        objects = scene_objects(scene)
    except ValueError as error:
        raise QueryError(str(error)) from None
    return _Evaluator(objects).result(tree)
