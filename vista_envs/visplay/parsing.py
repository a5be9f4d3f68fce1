"""Parsing a Questioner's output: ``<question>…</question>`` plus optional ``<type>``, ``<answer>``, ``<program>``.

A valid output holds exactly one non-empty question of at most ``max_question_chars`` characters;
each optional tag may appear at most once, and ``<type>`` must name an answer type. Text outside the
tags (a ``<think>`` block, a preamble) is allowed and ignored.

>>> parsed = parse_questioner_output("<question>How many red circles are there?</question><type>number</type>")
>>> parsed.valid, parsed.question, parsed.answer_type
(True, 'How many red circles are there?', 'number')
>>> parse_questioner_output("How many circles?").error
'no <question>...</question> found'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vista_envs.answers.extract import tag_contents
from vista_envs.tasks.base import ANSWER_TYPES

__all__ = ["OUTPUT_FORMAT_HELP", "QuestionerOutput", "parse_questioner_output"]

DEFAULT_MAX_QUESTION_CHARS = 1024
# Common spellings of the answer types a model may write in <type>.
_TYPE_ALIASES = {
    "yes/no": "yes_no",
    "yesno": "yes_no",
    "boolean": "yes_no",
    "integer": "number",
    "count": "number",
    "word": "text",
}

OUTPUT_FORMAT_HELP = (
    "Reply with <question>your question</question>, optionally followed by "
    f"<type>{'|'.join(ANSWER_TYPES)}</type> and <answer>the answer</answer>."
)


@dataclass(frozen=True)
class QuestionerOutput:
    """What a Questioner's output contains; ``valid`` is False (and ``error`` says why) when it does not parse."""

    valid: bool
    question: str | None = None
    answer_type: str | None = None
    answer: str | None = None
    program: str | None = None
    error: str | None = None


def _optional_tag(text: str, tag: str) -> tuple[str | None, str | None]:
    """``(content, error)`` of an optional ``<tag>`` that may appear at most once."""
    contents = tag_contents(text, f"<{tag}>", f"</{tag}>")
    if len(contents) > 1:
        return None, f"<{tag}> appears {len(contents)} times; at most once is allowed"
    return (contents[0].strip() if contents else None), None


def parse_questioner_output(text: Any, max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS) -> QuestionerOutput:
    """Parse a Questioner's output; never raises on the output itself (any object is accepted)."""
    if not isinstance(text, str):
        return QuestionerOutput(False, error=f"the output must be a str, got {type(text).__name__}")
    questions = tag_contents(text, "<question>", "</question>")
    if not questions:
        return QuestionerOutput(False, error="no <question>...</question> found")
    if len(questions) > 1:
        return QuestionerOutput(False, error=f"found {len(questions)} <question> blocks; ask exactly one question")
    question = questions[0].strip()
    if not question:
        return QuestionerOutput(False, error="the question is empty")
    if len(question) > max_question_chars:
        return QuestionerOutput(
            False, error=f"the question has {len(question)} characters, over the limit of {max_question_chars}"
        )
    # The optional tags are read outside the question: a question may quote "<type>" without typing itself.
    start = text.find("<question>")
    end = text.find("</question>", start + len("<question>")) + len("</question>")
    outside = text[:start] + " " + text[end:]
    fields: dict[str, str | None] = {}
    for tag in ("type", "answer", "program"):
        content, error = _optional_tag(outside, tag)
        if error:
            return QuestionerOutput(False, question=question, error=error)
        fields[tag] = content
    answer_type = fields["type"]
    if answer_type is not None:
        answer_type = _TYPE_ALIASES.get(answer_type.lower(), answer_type.lower())
        if answer_type not in ANSWER_TYPES:
            return QuestionerOutput(
                False,
                question=question,
                error=f"<type> must be one of {', '.join(ANSWER_TYPES)}, got {fields['type']!r}",
            )
    return QuestionerOutput(True, question, answer_type, fields["answer"], fields["program"])
