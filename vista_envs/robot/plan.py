r"""The plan language of ``VistaRobot-v0``: a short program of manipulation primitives.

Grammar (case-insensitive; whitespace is free)::

    plan      := step ( ( ";" | newline ) step )* [ ";" ]
    step      := [ number "." ] verb "(" [ argument ( "," argument )* ] ")"
    argument  := reference | number
    reference := [ "the" ] colour shape        e.g. red cube, the blue bowl, green zone; or "table"

=====================  ========================================================================
primitive              what the controller does
=====================  ========================================================================
``pick(X)``            grasp object X and lift it (the gripper must be empty)
``place(Y)``           put the held object into container/zone Y, on top of object Y, or on the
                       table at a free spot (``place(table)``)
``place(x, y)``        put the held object on the table at ``(x, y)`` metres (robot base frame)
``push(X, Y)``         push object X along the table into zone/container Y (gripper must be empty)
``push(X, x, y)``      push object X to the point ``(x, y)``
``reach(Z)``           move the gripper down onto the centre of zone Z (touching it)
=====================  ========================================================================

Verb aliases: ``grasp``, ``pick_up``, ``grab`` -> pick; ``put``, ``drop``, ``release``,
``place_at``, ``put_down`` -> place; ``touch``, ``move_to``, ``go_to`` -> reach. Shape synonyms
(``block``, ``ball``, ``plate``, ``region`` ...) are resolved by the env, which also checks that the
named objects exist.

A JSON list is accepted too: each item is a step string (``"pick(red cube)"``) or an object
``{"action": verb, "args": [...]}``, where ``"object"`` and ``"target"`` keys may replace ``"args"``::

    [{"action": "pick", "object": "red cube"}, {"action": "place", "target": "blue bowl"}]

Where the plan sits in a model's response: inside ``<plan>...</plan>`` if present, else inside
``<answer>...</answer>``, else the whole response without its ``<think>`` and ``<scene>`` blocks;
a surrounding Markdown code fence is ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from vista_envs.answers.extract import tag_contents
from vista_envs.model_json import loads_model_json

__all__ = ["ARITY", "PLAN_FORMAT", "PlanParseError", "Primitive", "extract_plan_text", "first_block", "parse_plan"]

# The action format, for prompts: the env puts it in every observation text and its system prompt (and
# alone in info["plan_format"] at reset).
PLAN_FORMAT = (
    "Answer with a description of the scene, then a plan. Describe every object on the table by colour and shape in "
    "<scene>...</scene> (e.g. <scene>a red cube, a blue bowl and a green zone</scene>; only your first description is "
    "scored). "
    "Give the plan in <plan>...</plan>: steps separated by ';', each one of pick(OBJECT), place(TARGET), place(X, Y), "
    "push(OBJECT, ZONE), push(OBJECT, X, Y) or reach(ZONE). "
    "Name objects by colour and shape (red cube, blue bowl, green zone); place(table) puts the held object on a free "
    "spot; "
    "X and Y are table coordinates in metres. Example: <plan>pick(red cube); place(blue bowl)</plan>"
)

# verb -> allowed numbers of arguments (references or numbers).
ARITY: dict[str, tuple[int, ...]] = {"pick": (1,), "place": (1, 2), "push": (2, 3), "reach": (1,)}
VERB_ALIASES: dict[str, str] = {
    "grasp": "pick",
    "pick_up": "pick",
    "pickup": "pick",
    "grab": "pick",
    "put": "place",
    "drop": "place",
    "release": "place",
    "place_at": "place",
    "put_down": "place",
    "touch": "reach",
    "move_to": "reach",
    "go_to": "reach",
}
_STEP = re.compile(r"^\s*(?:\d+[.)]\s*)?([A-Za-z_][A-Za-z_ ]*?)\s*\((.*)\)\s*$", re.DOTALL)
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$")
_ARTICLES = ("the ", "a ", "an ")


class PlanParseError(ValueError):
    """The plan does not follow the grammar; the message says where and how."""


@dataclass(frozen=True)
class Primitive:
    """One step of a plan: a canonical verb and its arguments (lower-case references or floats)."""

    verb: str
    args: tuple[str | float, ...]

    def __str__(self) -> str:
        return f"{self.verb}({', '.join(_format_argument(a) for a in self.args)})"


def _format_argument(argument: str | float) -> str:
    return f"{argument:g}" if isinstance(argument, float) else argument


def first_block(text: str, tag: str) -> str | None:
    """Contents of the first ``<tag>...</tag>`` block of ``text`` (None if there is none)."""
    blocks = tag_contents(text, f"<{tag}>", f"</{tag}>")
    return blocks[0] if blocks else None


def _strip_block(text: str, tag: str) -> str:
    """``text`` without its ``<tag>...</tag>`` blocks (an unclosed one runs to the end)."""
    while (start := text.find(f"<{tag}>")) != -1:
        end = text.find(f"</{tag}>", start)
        text = text[:start] + ("" if end == -1 else text[end + len(tag) + 3 :])
    return text


def extract_plan_text(response: str) -> str:
    """The part of a model's response that holds the plan (see the module docstring)."""
    for tag in ("plan", "answer"):
        inside = first_block(response, tag)
        if inside is not None:
            text = inside
            break
    else:
        text = _strip_block(_strip_block(response, "think"), "scene")
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`").strip()
        first_line, _, rest = text.partition("\n")
        if first_line.strip().lower() in ("json", "text", "plan", "python"):
            text = rest
    return text.strip()


def _argument(raw: Any, where: str) -> str | float:
    if isinstance(raw, bool):
        raise PlanParseError(f"{where}: argument {raw!r} is neither a name nor a number")
    if isinstance(raw, (int, float)):
        try:
            return float(raw)
        except OverflowError:  # a JSON int too large for a float
            raise PlanParseError(f"{where}: a number is too large (beyond 1e308)") from None
    if not isinstance(raw, str):
        raise PlanParseError(f"{where}: argument {raw!r} is neither a name nor a number")
    text = " ".join(raw.strip().strip("'\"").lower().split())
    if _NUMBER.match(text):
        return float(text)
    for article in _ARTICLES:
        if text.startswith(article):
            text = text[len(article) :]
    if not text:
        raise PlanParseError(f"{where}: empty argument")
    if not re.fullmatch(r"[^\W\d_][\w '-]*", text):
        raise PlanParseError(f"{where}: {raw!r} is not an object name like 'red cube' or a number")
    return text


def _primitive(verb: str, raw_args: list[Any], where: str) -> Primitive:
    name = "_".join(verb.strip().lower().split())
    canonical = VERB_ALIASES.get(name, name)
    if canonical not in ARITY:
        raise PlanParseError(
            f"{where}: unknown primitive {verb.strip()!r}; use pick(X), place(Y), place(x, y), push(X, Y), push(X, x, "
            "y) or reach(Z)"
        )
    args = tuple(_argument(raw, where) for raw in raw_args)
    if len(args) not in ARITY[canonical]:
        expected = " or ".join(str(n) for n in ARITY[canonical])
        raise PlanParseError(f"{where}: {canonical}() takes {expected} argument(s), got {len(args)}")
    numbers = [isinstance(a, float) for a in args]
    valid_layouts = {
        "pick": [[False]],
        "place": [[False], [True, True]],
        "push": [[False, False], [False, True, True]],
        "reach": [[False]],
    }[canonical]
    if numbers not in valid_layouts:
        raise PlanParseError(
            f"{where}: {canonical}({', '.join(_format_argument(a) for a in args)}) mixes names and numbers wrongly"
        )
    return Primitive(canonical, args)


def _parse_step(text: str, where: str) -> Primitive:
    match = _STEP.match(text)
    if match is None:
        raise PlanParseError(f"{where}: {text.strip()[:60]!r} is not of the form verb(arguments), e.g. pick(red cube)")
    verb, inside = match.groups()
    if "(" in inside or ")" in inside:
        raise PlanParseError(f"{where}: unbalanced or nested parentheses in {text.strip()[:60]!r}")
    raw_args = [] if not inside.strip() else inside.split(",")
    return _primitive(verb, raw_args, where)


def _parse_json(text: str) -> list[Primitive]:
    try:
        items = loads_model_json(text)
    except json.JSONDecodeError as error:
        raise PlanParseError(
            f"the plan looks like JSON but does not parse: {error.msg} at character {error.pos}"
        ) from None
    except ValueError as error:  # an int past Python's 4300-digit limit, or nesting too deep
        raise PlanParseError(f"the plan looks like JSON but does not parse: {error}") from None
    if not isinstance(items, list):
        raise PlanParseError("a JSON plan must be a list of steps")
    plan = []
    for i, item in enumerate(items, 1):
        where = f"step {i}"
        if isinstance(item, str):
            plan.append(_parse_step(item, where))
        elif isinstance(item, dict):
            verb = item.get("action", item.get("primitive"))
            if not isinstance(verb, str):
                raise PlanParseError(
                    f'{where}: a JSON step needs an "action" string, e.g. {{"action": "pick", "object": "red cube"}}'
                )
            if "args" in item:
                if not isinstance(item["args"], list):
                    raise PlanParseError(f'{where}: "args" must be a list')
                raw_args = item["args"]
            else:
                raw_args = [item[key] for key in ("object", "target") if key in item]
            plan.append(_primitive(verb, raw_args, where))
        else:
            raise PlanParseError(f"{where}: a JSON step must be a string or an object, got {type(item).__name__}")
    return plan


def parse_plan(text: str, max_steps: int = 16) -> list[Primitive]:
    """Parse a plan (the step grammar or a JSON list; see the module docstring).

    Raises:
        PlanParseError: the plan is empty, longer than ``max_steps``, or a step does not parse.
    """
    text = text.strip()
    if not text:
        raise PlanParseError("the plan is empty; write steps like pick(red cube); place(blue bowl)")
    if text.startswith("["):
        plan = _parse_json(text)
    else:
        steps = [s for s in re.split(r"[;\n]", text) if s.strip()]
        plan = [_parse_step(step, f"step {i}") for i, step in enumerate(steps, 1)]
    if not plan:
        raise PlanParseError("the plan has no steps")
    if len(plan) > max_steps:
        raise PlanParseError(f"the plan has {len(plan)} steps; at most {max_steps} are allowed")
    return plan
