r"""Scripted VisPlay players: a template Questioner with a difficulty knob and a noisy Reasoner.

They let the whole self-play loop run, be tested and be benchmarked without a model. Both read the
scene description (they are *privileged* players: an env hands them ``info["scene"]``, which a
model never sees) and both are deterministic given their seed and the per-call seeds the env passes.

Questions come from five templates (:class:`TemplateQuestion`), each with its program in the query
language (:mod:`vista_envs.visplay.query`):

=======  ==========================================  ===============================================
kind     question                                    program
=======  ==========================================  ===============================================
exists   Is there a small red circle?                ``exists(filter(size=small, color=red, shape=circle))``
count    How many red circles are there?             ``count(filter(color=red, shape=circle))``
query    What color is the large square?             ``query(color, filter(size=large, shape=square))``
relate   Is the red circle to the left of the star?  ``relate(filter(color=red, shape=circle), left_of,
filter(shape=star))`` more     Are there more circles than squares?        ``more(filter(shape=circle),
filter(shape=square))`` =======  ==========================================
===============================================

A question's *hardness* :math:`h \in [0, 1]` grows with its kind, the attributes it names and the
clutter of the scene:

.. math::

    h = \min(1,\ h_{kind} + 0.12 \cdot (\text{attributes named} - \text{objects described}) + 0.02 \cdot n_{objects})

with :math:`h_{kind}` = 0 (exists), 0.15 (count), 0.3 (query), 0.45 (relate), 0.55 (more). The
:class:`ScriptedQuestioner` asks, among a few random candidates, the one whose hardness is nearest
its ``difficulty`` knob; the :class:`ScriptedReasoner` answers correctly with probability

.. math::

    p(h) = 1 / (1 + e^{(h - \text{skill}) / \text{sharpness}})

so it is right half the time at :math:`h = \text{skill}`, and otherwise gives a plausible wrong
answer (a nearby count, the other yes/no, another colour), written in varied forms ("3", "three",
"3.0", "Yes", ...) that the majority vote must group.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vista_envs.answers import get_response_format
from vista_envs.answers.extract import ResponseFormat
from vista_envs.tasks.drawing import COLOR_NAMES, SHAPES
from vista_envs.tasks.shape_scene import ATTRIBUTES, SIZES, describe
from vista_envs.visplay.query import RELATIONS, QueryError, QueryResult, run_query, scene_objects

__all__ = [
    "KIND_HARDNESS",
    "TEMPLATE_FORMS",
    "ScriptedQuestioner",
    "ScriptedReasoner",
    "TemplateQuestion",
    "question_hardness",
    "template_answer",
]

KIND_HARDNESS: dict[str, float] = {"exists": 0.0, "count": 0.15, "query": 0.3, "relate": 0.45, "more": 0.55}
ATTRIBUTE_HARDNESS = 0.12
CLUTTER_HARDNESS = 0.02
_ANSWER_TYPES = {"exists": "yes_no", "count": "number", "query": "text", "relate": "yes_no", "more": "yes_no"}
_RELATION_WORDS = {"left_of": "to the left of", "right_of": "to the right of", "above": "above", "below": "below"}
_ATTRIBUTE_ORDER = ("size", "color", "shape")  # the order of words in a description and keys in a filter
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

Description = Mapping[str, str]


def question_hardness(kind: str, descriptions: Sequence[Description], n_objects: int) -> float:
    """Hardness in [0, 1] of a template question (see the module docstring)."""
    extra_attributes = sum(len(description) for description in descriptions) - len(descriptions)
    hardness = KIND_HARDNESS[kind] + ATTRIBUTE_HARDNESS * extra_attributes + CLUTTER_HARDNESS * n_objects
    return min(1.0, max(0.0, hardness))


def _filter(description: Description) -> str:
    return "filter(" + ", ".join(f"{key}={description[key]}" for key in _ATTRIBUTE_ORDER if key in description) + ")"


def _with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _read_description(phrase: str, plural: bool) -> dict[str, str] | None:
    """The description a noun phrase such as "small red circles" stands for, or None if it is not one."""
    words = phrase.split()
    if not words:
        return None
    noun = words[-1]
    if plural:
        if not noun.endswith("s"):
            return None
        noun = noun[:-1]
    description: dict[str, str] = {}
    if noun in SHAPES:
        description["shape"] = noun
    elif noun != "object":
        return None
    for word in words[:-1]:
        key = "size" if word in SIZES else "color" if word in COLOR_NAMES else None
        if key is None or key in description:
            return None
        description[key] = word
    return description


# The question forms grounded mode can read (and so check a program against), one example of each.
TEMPLATE_FORMS = (
    "'Is there a small red circle?', 'How many red circles are there?', 'What color is the large square?', "
    "'Is the red circle to the left of the star?', 'Are there more circles than squares?'"
)

_PATTERNS = {
    "exists": re.compile(r"is there an? (?P<a>[a-z ]+)\?"),
    "count": re.compile(r"how many (?P<a>[a-z ]+) are there\?"),
    "query": re.compile(r"what (?P<attribute>color|shape|size) is the (?P<a>[a-z ]+)\?"),
    "relate": re.compile(
        r"is the (?P<a>[a-z ]+?) (?P<relation>to the left of|to the right of|above|below) the (?P<b>[a-z ]+)\?"
    ),
    "more": re.compile(r"are there more (?P<a>[a-z ]+) than (?P<b>[a-z ]+)\?"),
}


@dataclass(frozen=True)
class TemplateQuestion:
    """A question of one of the five templates: its kind, the descriptions of the objects it is about, and its slots."""

    kind: str
    descriptions: tuple[Description, ...]
    attribute: str | None = None  # query: the attribute asked for
    relation: str | None = None  # relate: one of RELATIONS

    @property
    def answer_type(self) -> str:
        return _ANSWER_TYPES[self.kind]

    @property
    def text(self) -> str:
        """The question in English."""
        first = self.descriptions[0]
        if self.kind == "exists":
            return f"Is there {_with_article(describe(first))}?"
        if self.kind == "count":
            return f"How many {describe(first, plural=True)} are there?"
        if self.kind == "query":
            return f"What {self.attribute} is the {describe(first)}?"
        if self.kind == "relate":
            return f"Is the {describe(first)} {_RELATION_WORDS[self.relation]} the {describe(self.descriptions[1])}?"  # type: ignore[index]
        return f"Are there more {describe(first, plural=True)} than {describe(self.descriptions[1], plural=True)}?"

    @property
    def program(self) -> str:
        """The question as a program of the query language."""
        filters = [_filter(description) for description in self.descriptions]
        if self.kind == "query":
            return f"query({self.attribute}, {filters[0]})"
        if self.kind == "relate":
            return f"relate({filters[0]}, {self.relation}, {filters[1]})"
        return f"{self.kind}({', '.join(filters)})"

    def hardness(self, n_objects: int) -> float:
        return question_hardness(self.kind, self.descriptions, n_objects)

    @classmethod
    def read(cls, question: str) -> TemplateQuestion | None:
        """The template question ``question`` is (case and outer spaces aside), or None for any other text."""
        text = question.strip().lower()
        for kind, pattern in _PATTERNS.items():
            match = pattern.fullmatch(text)
            if match is None:
                continue
            plural = kind in ("count", "more")
            names = ("a", "b") if kind in ("relate", "more") else ("a",)
            descriptions = tuple(_read_description(match.group(name), plural) for name in names)
            if any(description is None for description in descriptions):
                return None
            relation = None
            if kind == "relate":
                relation = {words: name for name, words in _RELATION_WORDS.items()}[match.group("relation")]
            attribute = match.group("attribute") if kind == "query" else None
            return cls(kind, descriptions, attribute, relation)  # type: ignore[arg-type]
        return None


def template_answer(question: str, scene: Mapping[str, Any]) -> QueryResult | None:
    """The true answer to a template question about ``scene``, or None (not a template, or its program fails)."""
    template = TemplateQuestion.read(question)
    if template is None:
        return None
    try:
        return run_query(template.program, scene)
    except QueryError:
        return None


def _describe_uniquely(
    target: Mapping[str, Any], objects: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> dict[str, str] | None:
    """A description of ``target`` using ``keys`` that fits no other object, or None."""
    description = {key: str(target[key]) for key in keys}
    matches = sum(all(obj[key] == value for key, value in description.items()) for obj in objects)
    return description if matches == 1 else None


@dataclass
class ScriptedQuestioner:
    """Asks template questions about a scene, as hard as its ``difficulty`` knob says.

    Args:
        difficulty: the target hardness in [0, 1] (default 0.5: the default :class:`ScriptedReasoner`'s
            50% point); a benchmark or curriculum may change it between calls.
        candidates: random candidate questions per call; the one nearest ``difficulty`` is asked.
        seed: seed of the player's own RNG (used when the env passes no per-call seed).
        absent_counts: share of "How many ...?" candidates that name attributes drawn at random, so often
            absent from the scene (answer 0), as half the "Is there ...?" candidates do; the rest (all by
            default) describe an object in the scene, so their answer is at least 1.

    In an env (``VisPlayReasoner-v0(questioner=...)``) it is called as ``act(observations, infos)``
    and reads ``infos[i]["scene"]`` and ``infos[i]["seed"]``.
    """

    difficulty: float = 0.5
    candidates: int = 12
    seed: int = 0
    absent_counts: float = 0.0  # after seed: earlier positional calls keep their meaning
    privileged: ClassVar[bool] = True  # asks the env for the scene description
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.candidates < 1:
            raise ValueError(f"candidates must be at least 1, got {self.candidates}")
        if not 0.0 <= self.absent_counts <= 1.0:
            raise ValueError(f"absent_counts must be a share in [0, 1], got {self.absent_counts}")
        self._rng = random.Random(self.seed)

    def propose(self, scene: Mapping[str, Any], rng: random.Random) -> tuple[TemplateQuestion, QueryResult]:
        """A question about ``scene`` (with its true answer) whose hardness is nearest the knob."""
        objects = scene_objects(scene)
        if not objects:
            raise ValueError("the scene has no objects to ask about")
        ranked = []
        for index in range(self.candidates):
            question = self._candidate(objects, rng)
            if question is not None:
                ranked.append((abs(question.hardness(len(objects)) - self.difficulty), index, question))
        for _, _, question in sorted(ranked, key=lambda item: item[:2]):
            try:
                return question, run_query(question.program, scene)
            except QueryError:  # e.g. two objects level with each other for "left of"
                continue
        # Every scene has an object, so "Is there a <its shape>?" always works.
        question = TemplateQuestion("exists", ({"shape": str(objects[0]["shape"])},))
        return question, run_query(question.program, scene)

    def ask(self, scene: Mapping[str, Any], rng: random.Random, with_program: bool = True) -> str:
        """A full Questioner output: question, type and answer tags, and the program unless ``with_program`` is
        False."""
        question, truth = self.propose(scene, rng)
        output = f"<question>{question.text}</question><type>{question.answer_type}</type><answer>{truth.text}</answer>"
        return output + f"<program>{question.program}</program>" if with_program else output

    def act(self, observations: Sequence[Any], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """The in-env player protocol: one output per observation, from ``infos[i]["scene"]``."""
        return [self.ask(info["scene"], _call_rng(self.seed, info, self._rng)) for info in infos]

    def _may_be_absent(self, kind: str, rng: random.Random) -> bool:
        """Whether this candidate names random attributes rather than an object in the scene (the rng is only
        drawn from for kinds that can, so a knob at 0 leaves every other question as it was)."""
        share = {"exists": 0.5, "count": self.absent_counts}.get(kind, 0.0)
        return share > 0.0 and rng.random() < share

    def _candidate(self, objects: Sequence[Mapping[str, Any]], rng: random.Random) -> TemplateQuestion | None:
        kind = rng.choice(tuple(KIND_HARDNESS))
        n_keys = rng.randint(1, 3)
        if kind in ("count", "exists", "more"):
            descriptions = []
            for _ in range(2 if kind == "more" else 1):
                keys = rng.sample(_ATTRIBUTE_ORDER, n_keys)
                if self._may_be_absent(kind, rng):  # may describe nothing in the scene: "no", or 0
                    descriptions.append({key: rng.choice(ATTRIBUTES[key]) for key in keys})
                else:
                    target = rng.choice(objects)
                    descriptions.append({key: str(target[key]) for key in keys})
            if kind == "more" and descriptions[0] == descriptions[1]:
                return None
            return TemplateQuestion(kind, tuple(descriptions))
        if kind == "query":
            attribute = rng.choice(_ATTRIBUTE_ORDER)
            others = [key for key in _ATTRIBUTE_ORDER if key != attribute]
            description = _describe_uniquely(rng.choice(objects), objects, rng.sample(others, min(n_keys, 2)))
            return TemplateQuestion(kind, (description,), attribute=attribute) if description else None
        # relate: two objects, each described so that only it fits.
        if len(objects) < 2:
            return None
        first, second = rng.sample(list(objects), 2)
        descriptions = (
            _describe_uniquely(first, objects, rng.sample(_ATTRIBUTE_ORDER, n_keys)),
            _describe_uniquely(second, objects, rng.sample(_ATTRIBUTE_ORDER, n_keys)),
        )
        if descriptions[0] is None or descriptions[1] is None:
            return None
        return TemplateQuestion(kind, descriptions, relation=rng.choice(RELATIONS))


@dataclass(frozen=True)
class _Belief:
    """What the scripted Reasoner makes of one question: the truth, its one wrong answer, and how likely it is right."""

    truth: int | str
    wrong: int | str
    accuracy: float


@dataclass
class ScriptedReasoner:
    """Answers template questions from the scene, right with probability ``p(h)`` that falls with hardness.

    Args:
        skill: the hardness at which it is right half the time.
        sharpness: how fast accuracy falls around ``skill`` (smaller is steeper).
        response_format: how responses are written (default ``<think>…</think><answer>…</answer>``).
        seed: seed of the player's own RNG (used when the env passes no per-call seed).

    Its errors are systematic, as a model's are: each question has one plausible wrong answer (a
    nearby count, the other of yes/no, another colour) that every wrong sample gives, so the
    majority is right while ``p(h) > 0.5`` and confidently wrong beyond. A question that is not one
    of the templates, or whose program fails on the scene, gets a fresh random guess per sample,
    so it draws scattered votes and a low confidence.
    """

    skill: float = 0.5
    sharpness: float = 0.08
    response_format: str | ResponseFormat = "think_answer"
    seed: int = 0
    privileged: ClassVar[bool] = True  # asks the env for the scene description
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.sharpness <= 0:
            raise ValueError(f"sharpness must be positive, got {self.sharpness}")
        self._format = get_response_format(self.response_format)
        self._rng = random.Random(self.seed)

    def accuracy(self, hardness: float) -> float:
        """Probability of a correct answer to a question of this hardness."""
        return 1.0 / (1.0 + math.exp((hardness - self.skill) / self.sharpness))

    def respond(self, question: str, scene: Mapping[str, Any], rng: random.Random) -> str:
        """One sampled response to ``question`` about ``scene``."""
        return self._sample(self._belief(question, scene), rng)

    def act(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[str]:
        """The in-env player protocol: one response per observation, to the question its info names
        (``info["question"]``)."""
        beliefs: dict[tuple[str, int], _Belief | None] = {}  # the m samples of a call share one question
        responses = []
        for observation, info in zip(observations, infos):
            key = (info["question"], id(info["scene"]))
            if key not in beliefs:
                beliefs[key] = self._belief(*key[:1], info["scene"])
            responses.append(self._sample(beliefs[key], _call_rng(self.seed, info, self._rng)))
        return responses

    def _belief(self, question: str, scene: Mapping[str, Any]) -> _Belief | None:
        truth = template_answer(question, scene)
        if truth is None:
            return None
        template = TemplateQuestion.read(question)
        assert template is not None
        wrong = _wrong_answer(template, truth, random.Random(f"{self.seed}|{question}"))
        return _Belief(truth.value, wrong, self.accuracy(template.hardness(len(scene_objects(scene)))))

    def _sample(self, belief: _Belief | None, rng: random.Random) -> str:
        if belief is None:
            answer = rng.choice(["yes", "no", str(rng.randint(0, 6)), rng.choice(COLOR_NAMES), rng.choice(SHAPES)])
            return self._format.wrap("I am not sure what the question refers to.", answer)
        value = belief.truth if rng.random() < belief.accuracy else belief.wrong
        return self._format.wrap("I find the objects the question names and check them.", _spell(value, rng))


def _call_rng(seed: int, info: Mapping[str, Any], fallback: random.Random) -> random.Random:
    """The RNG of one call: from the env's per-call ``info["seed"]`` when given (reproducible), else the player's
    own."""
    return random.Random(f"{seed}|{info['seed']}") if "seed" in info else fallback


def _wrong_answer(template: TemplateQuestion, truth: QueryResult, rng: random.Random) -> int | str:
    if truth.answer_type == "number":
        count = int(truth.value)
        return rng.choice([count + step for step in (-2, -1, 1, 2) if count + step >= 0])
    if truth.answer_type == "yes_no":
        return "no" if truth.value == "yes" else "yes"
    return rng.choice([value for value in ATTRIBUTES[template.attribute] if value != truth.value])  # type: ignore[index]


def _spell(value: int | str, rng: random.Random) -> str:
    """``value`` in one of the forms a model might use: "3" / "three" / "3.0", "yes" / "Yes", "red" / "Red"."""
    if isinstance(value, int):
        forms = [str(value), f"{value}.0"] + ([_NUMBER_WORDS[value]] if value < len(_NUMBER_WORDS) else [])
        return rng.choice(forms)
    return rng.choice([value, value.capitalize()])
