"""Normalisation and parsing of free-form answers: numbers, yes/no, choices, boxes, sequences, times.

Every parser returns ``None`` when the text does not unambiguously contain a value of its kind, so a
hedge such as "3 or 4" never earns credit.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "normalize_text",
    "parse_box",
    "parse_choice",
    "parse_number",
    "parse_sequence",
    "parse_time",
    "parse_yes_no",
]

_ARTICLES = re.compile(r"^(?:the|a|an)\s+")
_EDGE_PUNCT = " \t\n\r.,;:!?\"'`()[]{}*_"
_SPACES = re.compile(r"\s+")

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000}
_NUMBER_WORD = "|".join(sorted([*_UNITS, *_TENS, *_SCALES], key=len, reverse=True))
_NUMBER_WORDS_RUN = re.compile(rf"\b(?:{_NUMBER_WORD})(?:[\s-]+(?:and[\s-]+)?(?:{_NUMBER_WORD}))*\b")
_NUMERAL = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\d.]?\d)")

_YES = {"yes", "y", "true", "correct", "yeah", "yep", "affirmative", "right", "sure", "indeed"}
_NO = {"no", "n", "false", "incorrect", "nope", "negative", "not", "wrong"}


def normalize_text(text: str) -> str:
    """Case-fold, unify Unicode forms and whitespace, drop edge punctuation and a leading article.

    >>> normalize_text("  The Red  Circle. ")
    'red circle'
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _SPACES.sub(" ", text).strip(_EDGE_PUNCT)
    return _ARTICLES.sub("", text)


def _words_to_number(phrase: str) -> int:
    total, current = 0, 0
    for word in re.split(r"[\s-]+", phrase):
        if word == "and" or not word:
            continue
        if word in _UNITS:
            current += _UNITS[word]
        elif word in _TENS:
            current += _TENS[word]
        elif word == "hundred":
            current = max(current, 1) * 100
        else:  # thousand
            total += max(current, 1) * 1000
            current = 0
    return total + current


def parse_number(text: str) -> float | None:
    """The single number in ``text`` (digits or English number words), else None.

    Thousands separators, a leading currency sign, and trailing units (%, °, "degrees", "px", ...)
    are ignored. Several different numbers make the answer ambiguous and give None.

    >>> parse_number("There are three circles.")
    3.0
    >>> parse_number("$1,234.50")
    1234.5
    >>> parse_number("3 or 4") is None
    True
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    values: list[float] = []
    for match in _NUMERAL.finditer(text):
        token = match.group(0)
        if not any(ch.isdigit() for ch in token):
            continue
        try:
            values.append(float(token.replace(",", "").replace("−", "-")))
        except ValueError:
            continue
    for match in _NUMBER_WORDS_RUN.finditer(text):
        values.append(float(_words_to_number(match.group(0))))
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def parse_yes_no(text: str) -> str | None:
    """ "yes" or "no" from the first word of ``text`` (synonyms such as "true", "nope" accepted)."""
    words = normalize_text(text).split(" ", 1)
    first = words[0].strip(_EDGE_PUNCT)
    if first in _YES:
        return "yes"
    if first in _NO:
        return "no"
    return None


_CHOICE_FORMS = (
    re.compile(r"^\(?([a-z])\)?(?:[\s.:)\-]|$)"),  # "B", "(B)", "B)", "B. text", "B: text"
    re.compile(r"^(?:option|choice|answer|item)\s*\(?([a-z])\)?(?:\W|$)"),  # "Option B"
)


def parse_choice(text: str, choices: tuple[str, ...]) -> str | None:
    """The option letter ("A", "B", ...) that ``text`` names, by letter or by the option's own text."""
    normalized = normalize_text(text)
    letters = [chr(ord("a") + i) for i in range(len(choices))]
    for form in _CHOICE_FORMS:
        match = form.match(normalized)
        if match and match.group(1) in letters:
            return match.group(1).upper()
    for letter, option in zip(letters, choices):
        if normalized == normalize_text(option):
            return letter.upper()
    return None


def parse_box(text: str) -> tuple[float, float, float, float] | None:
    """Exactly four numbers ``x0, y0, x1, y1`` (any brackets), reordered so that x0<=x1 and y0<=y1."""
    numbers = re.findall(r"[-+]?\d+(?:\.\d+)?", unicodedata.normalize("NFKC", text))
    if len(numbers) != 4:
        return None
    x0, y0, x1, y1 = (float(n) for n in numbers)
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def parse_sequence(text: str) -> tuple[str, ...] | None:
    """Labels in order: "C, A, B", "C -> A -> B", "C A B" or "CAB" all give ("C", "A", "B")."""
    normalized = unicodedata.normalize("NFKC", text).upper()
    normalized = re.sub(r"\b(?:THEN|AND|FRAME|FRAMES)\b", " ", normalized)
    tokens = [t for t in re.split(r"[\s,;>→\-–—|/]+", normalized.strip(_EDGE_PUNCT.upper())) if t]
    if len(tokens) == 1 and tokens[0].isalpha():
        tokens = list(tokens[0])
    if not tokens or not all(t.isalnum() for t in tokens):
        return None
    return tuple(tokens)


_TIME = re.compile(r"(?<!\d)(\d{1,2})\s*[:.h]\s*(\d{2})(?!\d)")
_OCLOCK = re.compile(r"(?<!\d)(\d{1,2})\s*o'?\s*clock")


def parse_time(text: str) -> str | None:
    """A clock time as "H:MM" on a 12-hour dial: "03:05", "3.05", "15:05" and "3 o'clock" are accepted."""
    normalized = unicodedata.normalize("NFKC", text).casefold()
    matches = _TIME.findall(normalized)
    if len(matches) == 1:
        hour, minute = int(matches[0][0]), int(matches[0][1])
    elif not matches and len(_OCLOCK.findall(normalized)) == 1:
        hour, minute = int(_OCLOCK.findall(normalized)[0]), 0
    else:
        return None
    if hour > 23 or minute > 59:
        return None
    hour = hour % 12 or 12
    return f"{hour}:{minute:02d}"
