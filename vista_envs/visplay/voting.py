"""Majority vote over the Reasoner's sampled answers: the pseudo-label and its confidence.

Answers are grouped by meaning, not spelling, with the project's normaliser: "3", "three", "3.0"
and "3 circles" are one answer; "Yes", "yes." and "true" are one answer; "The Red" and "red" are
one answer. :func:`answer_key` maps an answer to that group's key.

>>> vote = majority_vote(["3", "three", "3.0", "4", None])
>>> vote.label, vote.confidence
('3', 0.6)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from vista_envs.answers.normalize import normalize_text, parse_number, parse_yes_no

__all__ = ["AnswerKey", "Vote", "answer_key", "majority_vote"]


class AnswerKey(NamedTuple):
    """The group an answer belongs to: its kind ("number", "yes_no" or "text") and canonical text."""

    kind: str
    text: str


def _number_text(value: float) -> str:
    """Canonical text of a number: "3" for 3.0, "12.5" for 12.5 (and "0" for -0.0)."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _singular(word: str) -> str:
    """A word without its plural "s", so "circles" and "circle" share a key ("glass" keeps its "ss")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _text_key(text: str) -> AnswerKey | None:
    normalized = normalize_text(text)
    if not normalized:
        return None
    return AnswerKey("text", " ".join(_singular(word) for word in normalized.split(" ")))


def answer_key(answer: str | None, answer_type: str | None = None) -> AnswerKey | None:
    """The group key of one extracted answer, or None when there is no answer to count.

    With ``answer_type`` (the question's expected type: "number", "yes_no" or anything else for
    text) the answer is read as that type first. Without it, a single number (digits or words)
    makes a number, then a yes/no word (the verifier's reading: the first word, synonyms such as
    "true" or "nope" included), and anything else is normalised text (case, spacing, edge
    punctuation, a leading article and plural "s" removed). An answer that is not of the expected
    type falls back to text, so it still forms its own group.
    """
    if not isinstance(answer, str) or not answer.strip():
        return None
    if answer_type in (None, "number"):
        value = parse_number(answer)
        if value is not None and math.isfinite(value):
            return AnswerKey("number", _number_text(value + 0.0))
    if answer_type in (None, "yes_no"):
        yes_no = parse_yes_no(answer)
        if yes_no is not None:
            return AnswerKey("yes_no", yes_no)
    return _text_key(answer)


@dataclass(frozen=True)
class Vote:
    """The outcome of a majority vote over ``m`` sampled answers.

    Attributes:
        label: canonical text of the majority answer (the pseudo-label ỹ), or None when no sample
            gave a readable answer.
        key: the majority answer's :class:`AnswerKey` (None with ``label``).
        confidence: ``c = votes(ỹ) / m``, the majority's share of all ``m`` samples (unreadable
            samples count in ``m`` but vote for nothing); 0 when nothing was readable.
        counts: votes per answer, by canonical text, most votes first.
        keys: each sample's key, in sample order (None for an unreadable sample).
    """

    label: str | None
    key: AnswerKey | None
    confidence: float
    counts: dict[str, int]
    keys: tuple[AnswerKey | None, ...]


def majority_vote(answers: Sequence[str | None], answer_type: str | None = None) -> Vote:
    """The pseudo-label of ``answers`` (already extracted from the responses) and its confidence.

    Ties go to the answer that was given first, so the vote is a deterministic function of the
    answers in sample order.
    """
    if not answers:
        raise ValueError("a majority vote needs at least one answer")
    keys = tuple(answer_key(answer, answer_type) for answer in answers)
    tally: dict[AnswerKey, int] = {}  # insertion order = order of first appearance
    for key in keys:
        if key is not None:
            tally[key] = tally.get(key, 0) + 1
    if not tally:
        return Vote(None, None, 0.0, {}, keys)
    # max() returns the first maximal item, i.e. the earliest answer among tied ones.
    winner = max(tally, key=tally.__getitem__)
    counts = {key.text: n for key, n in sorted(tally.items(), key=lambda item: -item[1])}
    return Vote(winner.text, winner, tally[winner] / len(answers), counts, keys)
