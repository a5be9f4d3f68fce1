"""Response formats: where the answer and the reasoning sit in a model's response, and whether it is well formed.

The default format is ``<think>reasoning</think><answer>answer</answer>`` (DeepSeek-R1 / VLM-R1 style);
``"boxed"`` takes the answer from the last ``\\boxed{...}`` (math style); ``"answer_only"`` needs just
the ``<answer>`` tag. A custom format is a :class:`ResponseFormat` with its own tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RESPONSE_FORMATS", "ParsedResponse", "ResponseFormat", "get_response_format", "tag_contents"]


@dataclass(frozen=True)
class ParsedResponse:
    """What a response contains. ``answer``/``reasoning`` are None when absent; ``error`` says what is malformed."""

    answer: str | None
    reasoning: str | None
    well_formed: bool
    error: str | None = None


def tag_contents(text: str, open_tag: str, close_tag: str, *, ignore_case: bool = False) -> list[str]:
    """Contents of every non-overlapping ``open_tag...close_tag`` pair, in one linear scan; with ``ignore_case``
    the tags match in any case (``<SEE>`` for ``<see>``).

    (A lazy regex would rescan the tail once per unclosed opening tag: quadratic on junk input.)
    """
    contents, position = [], 0
    if not ignore_case:  # str.find: every env's answer is read here, and it is cheaper than a regex search
        while (start := text.find(open_tag, position)) != -1:
            end = text.find(close_tag, start + len(open_tag))
            if end == -1:
                break
            contents.append(text[start + len(open_tag) : end])
            position = end + len(close_tag)
        return contents
    opening = re.compile(re.escape(open_tag), re.IGNORECASE)
    closing = re.compile(re.escape(close_tag), re.IGNORECASE)
    while (found := opening.search(text, position)) is not None:
        end = closing.search(text, found.end())
        if end is None:
            break
        contents.append(text[found.end() : end.start()])
        position = end.end()
    return contents


def _boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}``, with nested braces balanced."""
    contents = []
    start = text.find("\\boxed{")
    while start != -1:
        depth, i = 1, start + len("\\boxed{")
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth:
            break  # unclosed: nothing more to find
        contents.append(text[start + len("\\boxed{") : i - 1])
        start = text.find("\\boxed{", i)
    return contents


@dataclass(frozen=True)
class ResponseFormat:
    """A response layout: reasoning in ``think_tags`` (optional when None), the answer in ``answer_tags`` or
    ``\\boxed{}``.

    Args:
        name: a short id (shown in docs and info).
        answer_tags: ``(open, close)`` around the answer, or None to take the answer from ``\\boxed{}``.
        think_tags: ``(open, close)`` around the reasoning, or None when no reasoning block is required.
    """

    name: str
    answer_tags: tuple[str, str] | None = ("<answer>", "</answer>")
    think_tags: tuple[str, str] | None = ("<think>", "</think>")

    def describe(self) -> str:
        """A one-line instruction a prompt can show the model."""
        answer = f"{self.answer_tags[0]}...{self.answer_tags[1]}" if self.answer_tags else "\\boxed{...}"
        if self.think_tags:
            return f"Think inside {self.think_tags[0]}...{self.think_tags[1]}, then give the final answer in {answer}."
        return f"Give the final answer in {answer}."

    def wrap(self, reasoning: str, answer: str) -> str:
        """A well-formed response with ``reasoning`` and ``answer`` (used by oracles)."""
        body = (
            f"{self.answer_tags[0]}{answer}{self.answer_tags[1]}"
            if self.answer_tags
            else f"The answer is \\boxed{{{answer}}}."
        )
        if self.think_tags:
            return f"{self.think_tags[0]}{reasoning}{self.think_tags[1]}{body}"
        return body

    def parse(self, response: str) -> ParsedResponse:
        """Split ``response`` into reasoning and answer and check the layout.

        Well formed means: at most one reasoning block, placed first; exactly one answer; nothing but
        whitespace around the tags (boxed answers may sit inside a closing sentence). With several
        answers the last one is kept (so it is still scored) but the response is not well formed.
        """
        answers = tag_contents(response, *self.answer_tags) if self.answer_tags else _boxed_contents(response)
        reasoning = None
        problems = []
        if self.think_tags:
            thoughts = tag_contents(response, *self.think_tags)
            reasoning = thoughts[0] if thoughts else None
            if len(thoughts) != 1:
                problems.append(
                    f"expected one {self.think_tags[0]}...{self.think_tags[1]} block, found {len(thoughts)}"
                )
            elif not response.lstrip().startswith(self.think_tags[0]):
                problems.append(f"the response must start with {self.think_tags[0]}")
        if len(answers) != 1:
            where = f"{self.answer_tags[0]}...{self.answer_tags[1]}" if self.answer_tags else "\\boxed{...}"
            problems.append(f"expected one {where}, found {len(answers)}")
        elif self.answer_tags and not response.rstrip().endswith(self.answer_tags[1]):
            problems.append(f"nothing may follow {self.answer_tags[1]}")
        if self.answer_tags and self.think_tags and not problems:
            between = response.split(self.think_tags[1], 1)[1].split(self.answer_tags[0], 1)[0]
            if between.strip():
                problems.append(f"text between {self.think_tags[1]} and {self.answer_tags[0]}")
        answer = answers[-1].strip() if answers else None
        return ParsedResponse(
            answer=answer,
            reasoning=reasoning.strip() if reasoning is not None else None,
            well_formed=not problems,
            error="; ".join(problems) if problems else None,
        )


RESPONSE_FORMATS: dict[str, ResponseFormat] = {
    "think_answer": ResponseFormat("think_answer"),
    "boxed": ResponseFormat("boxed", answer_tags=None),
    "answer_only": ResponseFormat("answer_only", think_tags=None),
}


def get_response_format(spec: str | ResponseFormat) -> ResponseFormat:
    """A :class:`ResponseFormat` from its name in :data:`RESPONSE_FORMATS`, or the instance itself."""
    if isinstance(spec, ResponseFormat):
        return spec
    try:
        return RESPONSE_FORMATS[spec]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown response format {spec!r}; expected one of {sorted(RESPONSE_FORMATS)} or a ResponseFormat"
        ) from None
