"""A clip as data: objects on piecewise-linear paths, a box that hides them, and the exact event log.

Nothing here draws. A clip is a few dozen waypoints, so every query below is a binary search or a
little arithmetic, whatever the clip's length: ``position(obj, frame)`` on a 1,800-frame clip costs what
it costs on a 16-frame one, and :func:`derive_events` walks waypoints, never frames.

Coordinates are in the unit square (x right, y down); the renderer scales them to pixels. Frames are
integers ``0 .. n_frames - 1``. An event's ``frame`` is the first frame that shows the new state (an
object appears, vanishes, is hidden by the box, comes out of it, has a new colour), or, for contacts
(``hit``, ``wall``), the one frame at which the two bodies touch.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["EVENT_KINDS", "Clip", "Event", "Status", "Track", "derive_events"]

EVENT_KINDS = ("appear", "vanish", "enter", "leave", "colour", "hit", "wall")
Status = Literal["absent", "visible", "in_box"]
WALLS = ("left", "right", "top", "bottom")


@dataclass(frozen=True)
class Event:
    """One change in the clip.

    Attributes:
        kind: one of :data:`EVENT_KINDS`.
        frame: the first frame showing the change (the contact frame for ``hit`` and ``wall``).
        obj: the object it happens to (the striker of a ``hit``).
        other: the struck object of a ``hit``.
        value: the new colour of a ``colour`` event, the wall of a ``wall`` event.
        cause: the striker whose hit caused this ``colour`` or ``vanish`` event (None: it happened by itself).
    """

    kind: str
    frame: int
    obj: int
    other: int | None = None
    value: str | None = None
    cause: int | None = None


@dataclass(frozen=True)
class Track:
    """One object: what it looks like, when it exists, where it goes.

    ``times`` are strictly increasing waypoint frames and ``points`` the positions there; between two
    waypoints the object moves in a straight line at constant speed, before the first and after the last
    it rests. ``colours`` lists ``(frame, colour)`` changes, the first at ``appear``. The object exists
    on frames ``appear <= f < vanish``.
    """

    ident: int
    shape: str
    appear: int
    vanish: int
    times: tuple[int, ...]
    points: tuple[tuple[float, float], ...]
    colours: tuple[tuple[int, str], ...]

    def position(self, frame: float) -> tuple[float, float]:
        times = self.times
        if frame <= times[0]:
            return self.points[0]
        if frame >= times[-1]:
            return self.points[-1]
        i = bisect.bisect_right(times, frame) - 1
        (x0, y0), (x1, y1) = self.points[i], self.points[i + 1]
        share = (frame - times[i]) / (times[i + 1] - times[i])
        return (x0 + (x1 - x0) * share, y0 + (y1 - y0) * share)

    def colour(self, frame: int) -> str:
        i = bisect.bisect_right(self.colours, (frame, "\uffff")) - 1
        return self.colours[max(i, 0)][1]


def _inside(box: tuple[float, float, float, float], point: tuple[float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


@dataclass(frozen=True)
class Clip:
    """A whole clip: its tracks, the box, and the events (sorted by frame) that the tracks imply.

    Attributes:
        n_frames: frames in the clip.
        fps: frames per second (for questions asked in seconds).
        radius: every object's radius, in units of the frame width.
        box: ``(x0, y0, x1, y1)`` of the opaque box, drawn over the objects. An object is ``in_box``
            when the box covers all of it (its centre is at least ``radius`` inside every edge); one that
            only overlaps the box still shows, so "hidden" is exactly what a viewer sees.
        tracks: the objects, by ``ident - 1``.
        events: every change, in frame order (ties: in the order of :data:`EVENT_KINDS`, then object).
        script: the script the clip was drawn from (:func:`generate.script_summary`), which decides its split.
    """

    n_frames: int
    fps: int
    radius: float
    box: tuple[float, float, float, float]
    tracks: tuple[Track, ...]
    events: tuple[Event, ...]
    script: tuple = ()

    def track(self, obj: int) -> Track:
        return self.tracks[obj - 1]

    @property
    def hiding_region(self) -> tuple[float, float, float, float]:
        """Where an object's centre must be for the box to cover it entirely."""
        x0, y0, x1, y1 = self.box
        r = self.radius
        return (x0 + r, y0 + r, x1 - r, y1 - r)

    def status(self, obj: int, frame: int) -> Status:
        track = self.track(obj)
        if not track.appear <= frame < track.vanish:
            return "absent"
        return "in_box" if _inside(self.hiding_region, track.position(frame)) else "visible"

    def contacts(self, frame: int) -> list[Event]:
        """The ``hit`` and ``wall`` events at ``frame`` (the renderer marks each with a spark)."""
        i = bisect.bisect_left(self._event_frames, frame)
        found = []
        while i < len(self.events) and self.events[i].frame == frame:
            if self.events[i].kind in ("hit", "wall"):
                found.append(self.events[i])
            i += 1
        return found

    def overlaps(self, frame: int, gap: float = 0.01) -> list[tuple[int, int]]:
        """Pairs of objects in view at ``frame`` that overlap or nearly touch (closer than ``gap`` apart),
        other than the two objects of a hit on that frame: where one shape covers another, a viewer
        cannot read both, so episodes avoid asking about such frames."""
        hits = {frozenset((e.obj, e.other)) for e in self.contacts(frame) if e.kind == "hit"}
        shown = [(t.ident, t.position(frame)) for t in self.tracks if self.status(t.ident, frame) == "visible"]
        found = []
        for i, (a, pa) in enumerate(shown):
            for b, pb in shown[i + 1 :]:
                if math.dist(pa, pb) < 2 * self.radius + gap and frozenset((a, b)) not in hits:
                    found.append((a, b))
        return found

    @property
    def _event_frames(self) -> list[int]:
        cached = self.__dict__.get("_frames_cache")
        if cached is None:
            cached = [event.frame for event in self.events]
            object.__setattr__(self, "_frames_cache", cached)
        return cached

    def summary(self) -> tuple:
        """The clip's content as nested tuples of plain values (what decides its split)."""
        return (
            self.n_frames,
            self.fps,
            self.box,
            tuple((t.ident, t.shape, t.appear, t.vanish, t.times, t.points, t.colours) for t in self.tracks),
        )


def _box_frames(track: Track, box: tuple[float, float, float, float], n_frames: int) -> list[tuple[int, int]]:
    """Inclusive frame ranges during which ``track``'s centre is inside ``box`` (within its lifetime).

    Each straight piece is inside the (convex) box on one interval of time, found by clipping the line
    against the box's slabs; the ends are then confirmed on whole frames with :meth:`Track.position`, so
    the ranges agree exactly with :meth:`Clip.status`.
    """
    first, last = track.appear, min(track.vanish, n_frames) - 1
    times, points = track.times, track.points
    # (first frame, last frame, position at the first frame, velocity per frame) of each straight piece.
    pieces = [(first, times[0] - 1, points[0], (0.0, 0.0)), (times[-1], last, points[-1], (0.0, 0.0))]
    for i in range(len(times) - 1):
        (x0, y0), (x1, y1), span = points[i], points[i + 1], times[i + 1] - times[i]
        pieces.insert(-1, (times[i], times[i + 1] - 1, points[i], ((x1 - x0) / span, (y1 - y0) / span)))
    ranges: list[tuple[int, int]] = []
    for a0, b0, p, velocity in pieces:
        a, b = max(a0, first), min(b0, last)
        if a > b:
            continue
        low, high = float(a), float(b)
        for axis in (0, 1):
            lo_edge, hi_edge = box[axis], box[axis + 2]
            if abs(velocity[axis]) < 1e-15:
                if not lo_edge <= p[axis] <= hi_edge:
                    low, high = 1.0, 0.0
                continue
            t1, t2 = ((lo_edge - p[axis]) / velocity[axis] + a0, (hi_edge - p[axis]) / velocity[axis] + a0)
            low, high = max(low, min(t1, t2)), min(high, max(t1, t2))
        if low > high + 1:
            continue
        start, end = max(a, math.ceil(low) - 1), min(b, math.floor(high) + 1)
        while start <= end and not _inside(box, track.position(start)):
            start += 1
        while end >= start and not _inside(box, track.position(end)):
            end -= 1
        if start > end:
            continue
        if ranges and ranges[-1][1] + 1 >= start:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], end))
        else:
            ranges.append((start, end))
    return ranges


def derive_events(
    tracks: tuple[Track, ...],
    hiding_region: tuple[float, float, float, float],
    n_frames: int,
    contacts: list[Event],
    causes: dict[tuple[int, int], int],
) -> tuple[Event, ...]:
    """The complete event log of ``tracks``: appear/vanish and colours from the tracks, enter/leave from
    the geometry of their paths and the ``box``'s hiding region, and the scripted ``contacts`` (hits and
    wall touches).

    ``causes`` maps ``(object, frame)`` of a colour or vanish event to the striker that caused it.
    """
    events = list(contacts)
    for track in tracks:
        if track.appear > 0:
            events.append(Event("appear", track.appear, track.ident))
        if track.vanish < n_frames:
            events.append(Event("vanish", track.vanish, track.ident, cause=causes.get((track.ident, track.vanish))))
        for frame, colour in track.colours[1:]:
            events.append(Event("colour", frame, track.ident, value=colour, cause=causes.get((track.ident, frame))))
        for start, end in _box_frames(track, hiding_region, n_frames):
            if start > track.appear:
                events.append(Event("enter", start, track.ident))
            if end + 1 < min(track.vanish, n_frames):
                events.append(Event("leave", end + 1, track.ident))
    order = {kind: i for i, kind in enumerate(EVENT_KINDS)}
    return tuple(sorted(events, key=lambda e: (e.frame, order[e.kind], e.obj)))
