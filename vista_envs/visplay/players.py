"""Calling an in-env player (the Reasoner inside ``VisPlayQuestioner-v0``, the Questioner inside
``VisPlayReasoner-v0``).

A player is an object with ``act(observations, infos) -> list[str]`` (the project's ``Policy``
protocol) or a plain callable with the same signature. It gets a batch of observations and one info
dict per observation holding:

- ``"seed"``: an int drawn from the env's RNG, so a stochastic player can be reproducible;
- ``"sample"``: the index of the observation in the batch;
- ``"scene"``: the scene description, **only** for a player whose ``privileged`` attribute is True
  (the scripted players). A model never sees it.

:class:`PlayerCaller` turns every way a player can fail — it raises, it hangs past the time limit,
it returns the wrong number of outputs — into a :class:`PlayerError` with a message that says what
happened, and leaves the env usable.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["PlayerCaller", "PlayerError", "check_player"]


class PlayerError(RuntimeError):
    """An in-env player failed to produce its outputs."""


def check_player(player: Any, role: str) -> None:
    """Raise TypeError unless ``player`` has an ``act`` method or is callable."""
    if not callable(getattr(player, "act", None)) and not callable(player):
        raise TypeError(
            f"the {role} must be callable as f(observations, infos) or have an act(observations, infos) method; got "
            f"{type(player).__name__}"
        )


class _Worker:
    """A daemon thread that runs calls one at a time; a hung call keeps only this thread (never joined)."""

    def __init__(self, name: str):
        self.inbox: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], queue.SimpleQueue[Any]] | None] = (
            queue.SimpleQueue()
        )
        threading.Thread(target=self._loop, name=name, daemon=True).start()

    def _loop(self) -> None:
        while (job := self.inbox.get()) is not None:
            function, args, outbox = job
            try:
                outbox.put((True, function(*args)))
            except Exception as error:  # reported to the caller, whatever it is
                outbox.put((False, error))

    def retire(self) -> None:
        """Let the thread exit once its current call (if it ever returns) is done."""
        self.inbox.put(None)


class PlayerCaller:
    """Calls a player with a batch and checks what comes back.

    Args:
        player: an object with ``act(observations, infos)`` or a callable ``f(observations, infos)``.
        role: the player's role, for messages ("reasoner", "questioner").
        timeout: seconds a call may take; None calls the player inline, with no limit. A call that
            times out is abandoned (its thread may finish later; its result is dropped) and the next
            call gets a fresh thread.
    """

    def __init__(self, player: Any, role: str, timeout: float | None = 300.0):
        check_player(player, role)
        if timeout is not None and timeout <= 0:
            raise ValueError(f"the {role} timeout must be positive seconds or None, got {timeout}")
        self.player, self.role, self.timeout = player, role, timeout
        self._function: Callable[..., Any] = player.act if callable(getattr(player, "act", None)) else player
        self._worker: _Worker | None = None

    @property
    def privileged(self) -> bool:
        """Whether the player reads the scene description (scripted players only)."""
        return bool(getattr(self.player, "privileged", False))

    def __call__(self, observations: Sequence[Mapping[str, Any]], infos: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The player's outputs, one per observation (items may be any object; callers check them)."""
        args = (list(observations), list(infos))
        if self.timeout is None:
            try:
                outputs = self._function(*args)
            except Exception as error:
                raise PlayerError(f"the {self.role} raised {type(error).__name__}: {error}") from error
        else:
            outputs = self._call_in_worker(args)
        if isinstance(outputs, (str, bytes)) or not isinstance(outputs, Sequence):
            raise PlayerError(
                f"the {self.role} must return a list of {len(observations)} strings, got {type(outputs).__name__}"
            )
        if len(outputs) != len(observations):
            raise PlayerError(f"the {self.role} returned {len(outputs)} outputs for {len(observations)} prompts")
        return list(outputs)

    def _call_in_worker(self, args: tuple[Any, ...]) -> Any:
        if self._worker is None:
            self._worker = _Worker(f"vista-{self.role}")
        outbox: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._worker.inbox.put((self._function, args, outbox))
        try:
            ok, value = outbox.get(timeout=self.timeout)
        except queue.Empty:
            self._worker.retire()
            self._worker = None
            raise PlayerError(
                f"the {self.role} did not answer within {self.timeout} s (the call was abandoned)"
            ) from None
        if not ok:
            raise PlayerError(f"the {self.role} raised {type(value).__name__}: {value}") from value
        return value

    def close(self) -> None:
        """Let the worker thread exit."""
        if self._worker is not None:
            self._worker.retire()
            self._worker = None
