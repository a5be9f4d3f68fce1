"""What can be known about a clip: everything (the truth), or only what some frames show (an observer).

Questions are answered by one function per kind over an :class:`Evidence`, so the ground truth and
the answer of a viewer who saw only some frames come from the same reasoning:

- :class:`Truth` knows every event at its exact frame.
- :class:`Observer` knows what the frames it saw show, and no more: at each seen frame, which objects
  are in view, their colours and positions, and the sparks of hits and wall touches on that frame. It
  is generous in one way: it tells an object hidden in the box from one that is absent (not yet
  appeared, or vanished), as a viewer who saw where it disappeared would; this can only help baselines.
  Between two consecutive seen frames ``a < b`` it learns that something changed in ``(a, b]`` (an
  object came into view, went into the box, changed colour...), not when, and it misses changes that
  undo themselves in between. Its estimate of such a frame is the middle of the gap: exact when it saw
  the frames on both sides of the change.

The oracle sees just the frames that decide its question (and the overview); the baselines see the
overview, or as many frames as the budget buys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vista_envs.video.clip import Clip

__all__ = ["Evidence", "Observer", "Seen", "Truth"]

_CHANGES = {
    ("absent", "visible"): "appear",
    ("visible", "absent"): "vanish",
    ("visible", "in_box"): "enter",
    ("in_box", "visible"): "leave",
}


@dataclass(frozen=True)
class Seen:
    """An event as known: it happened on a frame in ``(lo, hi]`` (contacts: exactly on ``hi``)."""

    kind: str
    obj: int
    other: int | None
    value: str | None
    lo: int
    hi: int

    @property
    def frame(self) -> int:
        """The best single-frame estimate: exact when ``hi - lo == 1``, else the middle of the gap."""
        return self.hi if self.hi - self.lo <= 1 else (self.lo + 1 + self.hi) // 2

    @property
    def exact(self) -> bool:
        return self.hi - self.lo <= 1


class Evidence:
    """What a reasoner knows about a clip (see the module docstring)."""

    clip: Clip

    def events(self) -> list[Seen]:
        raise NotImplementedError

    def colour_at(self, obj: int, frame: int) -> str | None:
        raise NotImplementedError

    def position_at(self, obj: int, frame: int) -> tuple[float, float] | None:
        raise NotImplementedError

    def saw(self, frame: int) -> bool:
        """Whether ``frame`` itself is known (always, for the truth)."""
        raise NotImplementedError

    def find(self, kind: str, obj: int, other: int | None = None, value: str | None = None) -> Seen | None:
        """The first known event matching the description (a hit matches its two objects in either order)."""
        for e in self.events():
            if e.kind != kind or (value is not None and e.value != value):
                continue
            if (e.obj == obj and (other is None or e.other == other)) or (
                kind == "hit" and {e.obj, e.other} == {obj, other}
            ):
                return e
        return None


class Truth(Evidence):
    def __init__(self, clip: Clip):
        self.clip = clip
        self._events = [Seen(e.kind, e.obj, e.other, e.value, e.frame - 1, e.frame) for e in clip.events]

    def events(self) -> list[Seen]:
        return self._events

    def colour_at(self, obj: int, frame: int) -> str | None:
        return self.clip.track(obj).colour(frame) if self.clip.status(obj, frame) == "visible" else None

    def position_at(self, obj: int, frame: int) -> tuple[float, float] | None:
        return self.clip.track(obj).position(frame) if self.clip.status(obj, frame) == "visible" else None

    def saw(self, frame: int) -> bool:
        return True


class Observer(Evidence):
    """Knows only ``frames`` (any iterable of frame indices within the clip)."""

    def __init__(self, clip: Clip, frames: Iterable[int]):
        self.clip = clip
        self.frames = sorted({int(f) for f in frames})
        self._seen = set(self.frames)
        objects = [track.ident for track in clip.tracks]
        states = {f: {obj: clip.status(obj, f) for obj in objects} for f in self.frames}
        events: list[Seen] = []
        for a, b in zip(self.frames, self.frames[1:]):
            for obj in objects:
                change = _CHANGES.get((states[a][obj], states[b][obj]))
                if change:
                    events.append(Seen(change, obj, None, None, a, b))
                elif states[a][obj] == states[b][obj] == "visible":
                    before, after = clip.track(obj).colour(a), clip.track(obj).colour(b)
                    if before != after:
                        events.append(Seen("colour", obj, None, after, a, b))
        for f in self.frames:
            for event in clip.contacts(f):
                events.append(Seen(event.kind, event.obj, event.other, event.value, f - 1, f))
        self._events = sorted(events, key=lambda e: (e.frame, e.hi))
        self._states = states

    def events(self) -> list[Seen]:
        return self._events

    def _nearest_visible(self, obj: int, frame: int) -> int | None:
        """The seen frame closest to ``frame`` (earlier wins ties) on which ``obj`` is in view."""
        candidates = [f for f in self.frames if self._states[f][obj] == "visible"]
        return min(candidates, key=lambda f: (abs(f - frame), f > frame), default=None)

    def colour_at(self, obj: int, frame: int) -> str | None:
        nearest = self._nearest_visible(obj, frame)
        return None if nearest is None else self.clip.track(obj).colour(nearest)

    def position_at(self, obj: int, frame: int) -> tuple[float, float] | None:
        nearest = self._nearest_visible(obj, frame)
        return None if nearest is None else self.clip.track(obj).position(nearest)

    def saw(self, frame: int) -> bool:
        return frame in self._seen
