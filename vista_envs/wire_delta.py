"""Episode deltas of the wire format: each step's reply carries what the client does not have yet.

A text env's ``info`` grows over an episode (``messages``, ``images``) and repeats itself (``tools``), so
a full reply resends the whole conversation every step. A client asks for deltas when it resets (a
``"deltas": true`` reset parameter; ``Remote-v0`` always does). The reset's reply is complete, as without
deltas; each step's reply until the next reset follows three rules on top of :mod:`vista_envs.wire`:

1. **Arrays are numbered over the episode**, from the reset's reply on (in JSON order: ``obs``, then
   ``info``), and ``{"__ndarray__": {"same_as": k}}`` is the k-th array of the *episode*: an image the
   client already has (the unchanged view, the conversation's earlier images) never travels again.
2. A top-level ``info`` value that is a list or an object and equals that key's value in the previous
   reply is written ``{"__delta__": "same"}`` (``tools`` travels once per episode, in the reset's reply).
3. A top-level ``info`` list that begins with the whole of that key's list in the previous reply (``n``
   items) is written ``{"__delta__": {"keep": n, "append": [...]}}``: the previous list, then ``append``
   (the turns and images new since the previous step).

Everything else is as in a full reply. :class:`DeltaDecoder` applies the rules
(``DeltaDecoder().decode(observation, new_episode=...)``); any other client can in a few lines. "Equal"
is decided on the server by content, never by object identity, so an env that changes a list or an array
in place is still sent what changed. Since a reset's reply refers to nothing earlier, a client that lost
track (a reply it could not read) is whole again at its next reset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from vista_envs.wire import ARRAY_TAG, ArrayMemo, from_wire, to_wire

__all__ = ["DELTA_TAG", "DeltaDecoder", "DeltaEncoder"]

DELTA_TAG = "__delta__"
_SAME = {DELTA_TAG: "same"}
_MISSING = object()


class _UnsentArray(Exception):
    """A value holds an array the client does not have yet: it cannot equal anything sent."""


def _fingerprint(value: Any, arrays: ArrayMemo) -> str | None:
    """A text equal for two values exactly when their wire forms are equal; None when it cannot tell.

    Arrays stand for their index among those already sent, so comparing costs one lookup per array
    and no encoding; the rest is the C JSON encoder's work, far cheaper than walking the value in Python.
    """

    def default(item: Any) -> Any:
        if isinstance(item, np.ndarray):
            index = arrays.find(item)
            if index is None:
                raise _UnsentArray
            return {ARRAY_TAG: index}
        if isinstance(item, np.generic):
            return item.item()
        if isinstance(item, Mapping):
            return dict(item)
        return str(item)  # as to_wire writes it

    try:
        return json.dumps(value, default=default, ensure_ascii=False, check_circular=False)
    except (_UnsentArray, TypeError, ValueError, RecursionError):
        return None


class DeltaEncoder:
    """The server side of one session's deltas: what this episode sent, and the next reply's wire form.

    Args:
        image_encoding: ``"raw"`` or ``"png"`` (see :mod:`vista_envs.wire`).
    """

    def __init__(self, image_encoding: str = "raw"):
        self.image_encoding = image_encoding
        self._arrays = ArrayMemo(copies=True)
        # Per info key: the fingerprint of the value last sent ((length, fingerprint) for lists).
        self._last: dict[str, Any] = {}

    def encode(self, obs: Any, info: Mapping[str, Any], *, new_episode: bool) -> tuple[Any, dict[str, Any]]:
        """The wire forms of a reply's ``obs`` and ``info``; ``new_episode`` for a reset's reply."""
        if new_episode:  # the reset's reply refers to nothing earlier
            self._arrays = ArrayMemo(copies=True)
            self._last = {}
        written = len(self._arrays)
        try:
            return self._encode(obs, info)
        except BaseException:
            self._arrays.truncate(written)  # this reply is never sent: the client will not have them
            raise

    def _encode(self, obs: Any, info: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        arrays, encoding = self._arrays, self.image_encoding
        arrays.new_message()
        wire_obs = to_wire(obs, encoding, arrays)
        wire_info: dict[str, Any] = {}
        last: dict[str, Any] = {}
        for key, value in info.items():
            key = str(key)
            previous = self._last.get(key)
            if isinstance(value, (list, tuple)):
                # One fingerprint of the items the client has (not one per item): an item changed in
                # place, rare, makes the whole list travel again, which is still right.
                keep = 0
                if isinstance(previous, tuple) and 0 < previous[0] <= len(value):
                    head = value if previous[0] == len(value) else value[: previous[0]]
                    if previous[1] is not None and _fingerprint(head, arrays) == previous[1]:
                        keep = previous[0]
                if keep and keep == len(value):
                    wire_info[key], last[key] = _SAME, previous
                    continue
                if keep:
                    wire_info[key] = {DELTA_TAG: {"keep": keep, "append": to_wire(value[keep:], encoding, arrays)}}
                else:
                    wire_info[key] = to_wire(value, encoding, arrays)
                last[key] = (len(value), _fingerprint(value, arrays))  # its new arrays are sent now
            elif isinstance(value, Mapping):
                print_ = _fingerprint(value, arrays)
                if print_ is not None and print_ == previous:
                    wire_info[key] = _SAME
                else:
                    wire_info[key] = to_wire(value, encoding, arrays)
                    print_ = print_ if print_ is not None else _fingerprint(value, arrays)
                last[key] = print_
            else:
                wire_info[key] = to_wire(value, encoding, arrays)  # a number or a string: cheaper sent than compared
        self._last = last
        return wire_obs, wire_info


class DeltaDecoder:
    """The client side of one session's deltas: every reply back to the full ``(obs, info)``.

    Feed it every reply of an episode that asked for deltas, in order, from the reset's reply. Lists
    and objects rebuilt from ``same`` or ``keep`` are new lists and objects whose items are those of
    the previous reply (as a local env's ``info["messages"]`` shares its messages between steps);
    arrays are new arrays.
    """

    def __init__(self) -> None:
        self._arrays: list[np.ndarray] = []
        self._last: dict[str, Any] = {}

    def decode(self, payload: Mapping[str, Any], *, new_episode: bool) -> tuple[Any, dict[str, Any]]:
        """``(obs, info)`` of a served env's observation payload; ``new_episode`` for a reset's reply.

        Raises:
            ValueError: the payload is malformed or refers to something this episode was never sent.
        """
        if not isinstance(payload, Mapping) or not isinstance(payload.get("info"), Mapping) or "obs" not in payload:
            raise ValueError("an observation payload is an object with 'obs' and an 'info' object")
        arrays = [] if new_episode else self._arrays
        if new_episode:
            self._last = {}
        written = len(arrays)
        try:
            obs = from_wire(payload["obs"], arrays, keep_private=True)
            info = {key: self._value(key, value, arrays) for key, value in payload["info"].items()}
        except ValueError:
            del arrays[written:]
            raise
        self._arrays = arrays
        self._last = {key: _shallow_copy(value) for key, value in info.items()}
        return obs, info

    def _value(self, key: str, value: Any, arrays: list[np.ndarray]) -> Any:
        body = value.get(DELTA_TAG, _MISSING) if isinstance(value, dict) else _MISSING
        if body is _MISSING:
            return from_wire(value, arrays, keep_private=True)
        previous = self._last.get(key, _MISSING)
        if body == "same":
            if previous is _MISSING:
                raise ValueError(f"info[{key!r}] is the previous reply's, but that reply had no {key!r}")
            return _shallow_copy(previous)
        if isinstance(body, dict) and set(body) == {"keep", "append"}:
            keep, append = body["keep"], body["append"]
            if not isinstance(previous, list):
                raise ValueError(f"info[{key!r}] extends the previous reply's list, but that reply had none")
            if not isinstance(keep, int) or isinstance(keep, bool) or not 0 <= keep <= len(previous):
                raise ValueError(f"info[{key!r}] keeps {keep!r} items of a previous list of {len(previous)}")
            if not isinstance(append, list):
                raise ValueError(f"info[{key!r}]'s append must be a list")
            return previous[:keep] + from_wire(append, arrays, keep_private=True)
        raise ValueError(f"info[{key!r}] has an unknown {DELTA_TAG} {body!r}")


def _shallow_copy(value: Any) -> Any:
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value
