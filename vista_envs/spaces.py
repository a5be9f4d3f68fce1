"""Gymnasium spaces for free-form text.

Gymnasium's :class:`~gymnasium.spaces.Text` only contains strings drawn from a fixed character set
(alphanumerics by default). A VLM may answer in any language and a tool may print anything, so the
suite uses :class:`UnicodeText`: every ``str`` whose length lies within the bounds is a member.

Flattening and the shared memory of :class:`~gymnasium.vector.AsyncVectorEnv` store Unicode code
points plus one (``ord(c) + 1``) instead of indices into a character set, padded with 0, so a
zeroed buffer reads as empty strings.
"""

from __future__ import annotations

import multiprocessing as mp
import string
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
from gymnasium.spaces import Box, Text
from gymnasium.spaces.utils import flatdim, flatten, flatten_space, unflatten
from gymnasium.vector.utils import (
    create_shared_memory,
    read_from_shared_memory,
    write_to_shared_memory,
)

__all__ = ["SharedTextBatch", "UnicodeText"]

# Characters used by ``sample()`` only: membership does not depend on them.
_SAMPLE_CHARSET = string.ascii_letters + string.digits + string.punctuation + " \n" + "éßøλπ中文日本語😀"
_PAD = 0
# A flattened string holds each character's code point + 1 (0 pads): at most U+10FFFF + 1.
_MAX_CODE = 0x10FFFF + 1


class UnicodeText(Text):
    """A :class:`~gymnasium.spaces.Text` space that contains any Unicode string of bounded length.

    Args:
        max_length: the longest member, in characters.
        min_length: the shortest member (default 0: the empty string is a member).
        seed: seed of the space's sampler.

    Example:
        >>> space = UnicodeText(16)
        >>> space.contains("三个圆 ✓")
        True
        >>> space.contains(b"bytes")
        False
    """

    def __init__(self, max_length: int, *, min_length: int = 0, seed: int | np.random.Generator | None = None):
        super().__init__(max_length, min_length=min_length, charset=_SAMPLE_CHARSET, seed=seed)

    def contains(self, x: Any) -> bool:
        """Return True for any ``str`` whose length is within ``[min_length, max_length]``."""
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"UnicodeText({self.max_length}, min_length={self.min_length})"

    def __eq__(self, other: object, /) -> bool:
        return (
            isinstance(other, UnicodeText)
            and self.min_length == other.min_length
            and self.max_length == other.max_length
        )

    def __hash__(self) -> int:
        return hash((UnicodeText, self.min_length, self.max_length))


def _encode(space: UnicodeText, text: str) -> np.ndarray:
    codes = np.full(space.max_length, _PAD, dtype=np.int32)
    if text:
        codes[: len(text)] = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.int32) + 1
    return codes


def _decode(codes: np.ndarray) -> str:
    valid = codes[codes != _PAD].astype(np.int32) - 1
    return valid.tobytes().decode("utf-32-le", "surrogatepass")


@flatdim.register(UnicodeText)
def _flatdim_unicode_text(space: UnicodeText) -> int:
    return space.max_length


@flatten_space.register(UnicodeText)
def _flatten_space_unicode_text(space: UnicodeText) -> Box:
    # Text's own flat space bounds codes by its sampling charset, which most Unicode lies outside.
    return Box(0, _MAX_CODE, (space.max_length,), np.int32)


@flatten.register(UnicodeText)
def _flatten_unicode_text(space: UnicodeText, x: str) -> np.ndarray:
    return _encode(space, x)


@unflatten.register(UnicodeText)
def _unflatten_unicode_text(space: UnicodeText, x: np.ndarray) -> str:
    return _decode(np.asarray(x, dtype=np.int32))


@create_shared_memory.register(UnicodeText)
def _create_unicode_text_shared_memory(space: UnicodeText, n: int = 1, ctx: ModuleType = mp):
    return ctx.Array(np.dtype(np.int32).char, n * space.max_length)


class SharedTextBatch(Sequence[str]):
    """A live, read-only view of the strings in an AsyncVectorEnv's shared observation buffer.

    ``AsyncVectorEnv`` reads its shared buffers once, at construction, and relies on the result
    staying in sync (true of numpy views, not of a tuple of ``str``). This sequence decodes the
    buffer on every access, and ``copy.deepcopy`` (what ``AsyncVectorEnv(copy=True)`` applies to
    each batch) turns it into a plain tuple snapshot.
    """

    def __init__(self, data: np.ndarray):
        self._data = data

    def __len__(self) -> int:
        return len(self._data)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(_decode(row) for row in self._data[index])
        return _decode(self._data[index])

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    def __repr__(self) -> str:
        return f"SharedTextBatch({tuple(self)!r})"


@read_from_shared_memory.register(UnicodeText)
def _read_unicode_text_from_shared_memory(space: UnicodeText, shared_memory, n: int = 1) -> SharedTextBatch:
    return SharedTextBatch(np.frombuffer(shared_memory.get_obj(), dtype=np.int32).reshape((n, space.max_length)))


@write_to_shared_memory.register(UnicodeText)
def _write_unicode_text_to_shared_memory(space: UnicodeText, index: int, value: str, shared_memory) -> None:
    destination = np.frombuffer(shared_memory.get_obj(), dtype=np.int32)
    size = space.max_length
    destination[index * size : (index + 1) * size] = _encode(space, value)
