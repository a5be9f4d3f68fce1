"""The chance baseline: a well-formed response with a random answer of the right type."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from agents.policies.base import check_batch
from vista_envs.answers import ResponseFormat, get_response_format

__all__ = ["RandomPolicy"]

_LETTER_RANGE = re.compile(r"\(([A-Z])\s*-\s*([A-Z])\)")  # "(A-P)"
_LETTER_LIST = re.compile(r"\(([A-Z](?:,\s*[A-Z])+)\)")  # "(A, B, C, D)"
_EITHER_OR = re.compile(r"(\w+)\s+or\s+(\w+)\s*\?")  # "...: small or large?"
_FALLBACK_LETTERS = tuple("ABCD")
_FALLBACK_WORDS = ("red", "green", "blue", "yellow", "purple", "gray", "circle", "square", "triangle", "star", "small", "large")


def _letters(question: str) -> list[str]:
    """The option letters a question names, or A-D when it names none."""
    if match := _LETTER_RANGE.search(question):
        first, last = ord(match.group(1)), ord(match.group(2))
        if first <= last:
            return [chr(code) for code in range(first, last + 1)]
    if match := _LETTER_LIST.search(question):
        return [letter.strip() for letter in match.group(1).split(",")]
    return list(_FALLBACK_LETTERS)


class RandomPolicy:
    """Answers every question with a uniformly random guess of the right answer type: the chance baseline.

    The answer type comes from ``info["answer_type"]`` (``VisualQA-v0`` and ``VistaTool-v0`` put it in
    every info), the options from the question text where it names them. The response is always well
    formed in ``response_format``, so on leaderboards the policy scores the format reward and chance-level
    correctness. Guesses by type:

    - ``yes_no``: yes or no; ``choice``: one of the letters the question names ("(A-F)", "(A, B, C)"),
      else A-D; ``sequence``: those letters shuffled;
    - ``number``: an integer in ``number_range``; ``time``: a random ``H:MM``;
    - ``text``: one of the two words of an "X or Y?" question, else a common colour/shape/size word;
    - ``box``: a random box inside the image (its size from the observation).

    Args:
        seed: seeds the guesses; the same seed and inputs give the same responses.
        response_format: the env's response format: a name (``"think_answer"``, ``"boxed"``,
            ``"answer_only"``) or a :class:`vista_envs.answers.ResponseFormat`.
        number_range: inclusive range of numeric guesses.
    """

    def __init__(
        self,
        seed: int | None = None,
        response_format: str | ResponseFormat = "think_answer",
        number_range: tuple[int, int] = (0, 10),
    ):
        self.rng = random.Random(seed)
        self.response_format = get_response_format(response_format)
        self.number_range = number_range

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        check_batch(observations, infos)
        return [self.response_format.wrap("A random guess.", self.guess(obs, info)) for obs, info in zip(observations, infos)]

    def guess(self, observation: dict[str, Any], info: dict[str, Any]) -> str:
        """A random answer (without the response format) for one env."""
        answer_type = info.get("answer_type")
        if answer_type is None:
            raise ValueError("RandomPolicy needs info['answer_type'] (set by VisualQA-v0 and VistaTool-v0)")
        question = str(observation.get("text", ""))
        rng = self.rng
        if answer_type == "yes_no":
            return rng.choice(("yes", "no"))
        if answer_type == "choice":
            return rng.choice(_letters(question))
        if answer_type == "sequence":
            letters = _letters(question)
            rng.shuffle(letters)
            return ", ".join(letters)
        if answer_type == "number":
            return str(rng.randint(*self.number_range))
        if answer_type == "time":
            return f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}"
        if answer_type == "text":
            match = _EITHER_OR.search(question)
            return rng.choice(match.groups() if match else _FALLBACK_WORDS).lower()
        if answer_type == "box":
            return self._box(observation)
        raise ValueError(f"RandomPolicy cannot guess answers of type {answer_type!r}")

    def _box(self, observation: dict[str, Any]) -> str:
        # Box answers are in pixels of the observed image.
        height, width = observation["image"].shape[:2] if "image" in observation else (224, 224)
        x0, x1 = sorted(self.rng.sample(range(width + 1), 2))
        y0, y1 = sorted(self.rng.sample(range(height + 1), 2))
        return f"[{x0}, {y0}, {x1}, {y1}]"
