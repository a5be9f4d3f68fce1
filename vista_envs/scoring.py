"""Scoring of a final response against a task: parse, verify, and weigh the reward terms.

:class:`ResponseScorer` is the one place where an answer turn becomes a reward, shared by every env
that ends with an answer. It never raises on a model's output: any ``action`` (not only ``str``) gets
a score and, where something is wrong with it, an error message for the next observation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vista_envs.answers import get_response_format, is_correct, score_answer
from vista_envs.answers.extract import ResponseFormat
from vista_envs.rewards import RewardWeights, length_penalty, reasoning_score
from vista_envs.tasks.base import TaskSpec

__all__ = ["ResponseScorer", "ScoredResponse"]


@dataclass(frozen=True)
class ScoredResponse:
    """The outcome of scoring one response."""

    reward: float
    terms: dict[str, float]
    answer: str | None
    is_success: bool
    error: str | None = None


@dataclass
class ResponseScorer:
    """Turns a response into reward terms for a task.

    Args:
        response_format: a name in :data:`vista_envs.answers.RESPONSE_FORMATS` or a :class:`ResponseFormat`.
        weights: weights of the terms (see :mod:`vista_envs.rewards`).
        reasoning_words: ``(min_words, max_words)`` of a reasoning block that earns the full term.
        length_budget: characters a response may use before the length penalty starts.
        max_response_chars: longer responses are not parsed at all: they score 0 on every term and
            -1 on length (a generation that never stopped).
    """

    response_format: str | ResponseFormat = "think_answer"
    weights: RewardWeights = field(default_factory=RewardWeights)
    reasoning_words: tuple[int, int] = (3, 512)
    length_budget: int = 2048
    max_response_chars: int = 16384

    def __post_init__(self) -> None:
        self.format = get_response_format(self.response_format)
        low, high = self.reasoning_words
        if not 0 <= low <= high:
            raise ValueError(f"reasoning_words must be (min, max) with 0 <= min <= max, got {self.reasoning_words}")
        if self.length_budget <= 0 or self.max_response_chars <= 0:
            raise ValueError("length_budget and max_response_chars must be positive")

    def invalid(self, error: str) -> ScoredResponse:
        """The score of a response that cannot be read at all."""
        terms = {"correctness": 0.0, "format": 0.0, "reasoning": 0.0, "length": -1.0}
        return ScoredResponse(self.weights.total(terms), terms, None, False, error)

    def score(self, action: Any, spec: TaskSpec) -> ScoredResponse:
        """Score ``action`` (the model's full response) against ``spec``."""
        if not isinstance(action, str):
            return self.invalid(f"the action must be a str (the model's response), got {type(action).__name__}")
        if len(action) > self.max_response_chars:
            return self.invalid(
                f"the response has {len(action)} characters, over the limit of {self.max_response_chars}"
            )
        parsed = self.format.parse(action)
        correctness = score_answer(parsed.answer, spec)
        terms = {
            "correctness": correctness,
            "format": float(parsed.well_formed),
            "reasoning": reasoning_score(parsed.reasoning, *self.reasoning_words) if self.format.think_tags else 0.0,
            "length": length_penalty(len(action), self.length_budget),
        }
        error = None if parsed.well_formed else f"malformed response: {parsed.error}. {self.format.describe()}"
        return ScoredResponse(self.weights.total(terms), terms, parsed.answer, is_correct(correctness, spec), error)

    def oracle(self, spec: TaskSpec, answer_text: str) -> str:
        """A well-formed response carrying ``spec``'s rationale and ``answer_text``."""
        return self.format.wrap(spec.rationale, answer_text)
