"""Verifiers: score an extracted answer against a task's ground truth, one rule per answer type.

=========  =====================================================  ============================
type       accepted forms                                         score
=========  =====================================================  ============================
number     "3", "three", "3.0", "$3", "3 circles", "45°"           1 if |x - y| <= tolerance
text       case/whitespace/article-insensitive, aliases, plural   1 if equal after normalising
yes_no     yes/no and synonyms (true, nope, ...)                  1 if equal
choice     "B", "(b)", "Option B", or the option's text           1 if the same option
box        four numbers "[x0, y0, x1, y1]" in pixels              IoU with the true box
sequence   "C, A, B", "C -> A -> B", "CAB"                        1 if the same order
time       "3:05", "03:05", "15:05", "3 o'clock"                  1 if the same dial reading
=========  =====================================================  ============================

A task counts as solved (``is_correct``) when the score is 1, or IoU >= 0.5 for boxes.
"""

from __future__ import annotations

from vista_envs.answers.normalize import (
    normalize_text,
    parse_box,
    parse_choice,
    parse_number,
    parse_sequence,
    parse_time,
    parse_yes_no,
)
from vista_envs.tasks.base import TaskSpec

__all__ = ["BOX_SUCCESS_IOU", "box_iou", "format_answer", "is_correct", "score_answer"]

BOX_SUCCESS_IOU = 0.5


def format_answer(spec: TaskSpec) -> str:
    """The canonical text of ``spec``'s ground truth, as an oracle would write it."""
    answer = spec.answer
    if spec.answer_type == "number":
        return str(int(answer)) if float(answer).is_integer() else repr(float(answer))
    if spec.answer_type == "box":
        return "[" + ", ".join(str(int(v)) for v in answer) + "]"
    if spec.answer_type == "sequence":
        return ", ".join(answer)
    return str(answer)


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes (0 when either is degenerate)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def _singular_forms(word: str) -> set[str]:
    """``word`` and what it could be the plural of ("boxes" -> box, boxe; "circles" -> circle, circl)."""
    forms = {word}
    for suffix in ("s", "es"):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            forms.add(word[: -len(suffix)])
    return forms


def _text_matches(text: str, spec: TaskSpec) -> bool:
    given = _singular_forms(normalize_text(text))
    return any(given & _singular_forms(normalize_text(accepted)) for accepted in (str(spec.answer), *spec.aliases))


def score_answer(text: str | None, spec: TaskSpec) -> float:
    """Score an extracted answer ``text`` against ``spec``: a float in [0, 1] (see the module table)."""
    if text is None:
        return 0.0
    kind = spec.answer_type
    if kind == "number":
        value = parse_number(text)
        if value is None:
            return 0.0
        return float(abs(value - float(spec.answer)) <= spec.tolerance + 1e-9 * max(1.0, abs(float(spec.answer))))
    if kind == "text":
        return float(_text_matches(text, spec))
    if kind == "yes_no":
        return float(parse_yes_no(text) == spec.answer)
    if kind == "choice":
        return float(parse_choice(text, spec.choices) == spec.answer)
    if kind == "box":
        box = parse_box(text)
        return box_iou(box, tuple(float(v) for v in spec.answer)) if box else 0.0
    if kind == "sequence":
        return float(parse_sequence(text) == tuple(s.upper() for s in spec.answer))
    if kind == "time":
        return float(parse_time(text) == parse_time(str(spec.answer)))
    raise ValueError(f"no verifier for answer type {kind!r}")


def is_correct(score: float, spec: TaskSpec) -> bool:
    """Whether a score from :func:`score_answer` solves the task."""
    if spec.answer_type == "box":
        return score >= BOX_SUCCESS_IOU
    return score >= 1.0
