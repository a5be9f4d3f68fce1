"""Sampling a clip: a pure function of (rng, difficulty, config), and cheap whatever the clip's length.

The recipe scripts the events first and lets the motion follow: each object gets key waypoints
(touching a wall, meeting another object for a hit, resting inside the box), free waypoints between
them, and straight lines between waypoints. Hits and wall touches are exact because they are
waypoints; enter/leave events then follow from the geometry (:func:`clip.derive_events`). The number of
waypoints depends on the difficulty, not on the clip's length: a longer clip has slower motion, not
more work. Paths that would make two objects touch outside a scripted hit are repaired a few times
(bounded work); crowded clips may keep a pass-over, which is why the renderer marks every logged hit
with a spark and the prompt says that objects may pass in front of each other.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from vista_envs.tasks.base import FamilyConfig
from vista_envs.tasks.drawing import COLOR_NAMES
from vista_envs.video.clip import Clip, Event, Track, derive_events

__all__ = ["CLIP_FRAMES", "ClipConfig", "sample_clip", "script_summary"]

# Default clip length by difficulty: from two seconds to a minute at 30 fps.
CLIP_FRAMES = (48, 150, 300, 900, 1800)
RADIUS = 0.04
SHAPES = ("circle", "square", "triangle", "diamond", "hexagon")
# Colours that stay apart from the box (brown), the sparks (yellow) and each other at thumbnail size.
PALETTE = tuple(c for c in COLOR_NAMES if c not in ("brown", "yellow", "gray"))
_BOX_COLOUR_MARGIN = 3 * RADIUS
_MAX_PATH_TRIES = 12
_MAX_CLIP_TRIES = 8


@dataclass(frozen=True)
class ClipConfig(FamilyConfig):
    """Knobs of the clips.

    Attributes:
        n_frames: frames per clip (16 .. 100,000), or None for the difficulty ladder :data:`CLIP_FRAMES`.
        fps: frames per second, for questions that ask for a time in seconds.
    """

    n_frames: int | None = None
    fps: int = 30

    def __post_init__(self) -> None:
        if self.n_frames is not None and (
            isinstance(self.n_frames, bool) or not isinstance(self.n_frames, int) or not 16 <= self.n_frames <= 100_000
        ):
            raise ValueError(f"n_frames must be an int in [16, 100000] or None, got {self.n_frames!r}")
        if isinstance(self.fps, bool) or not isinstance(self.fps, int) or not 1 <= self.fps <= 240:
            raise ValueError(f"fps must be an int in [1, 240], got {self.fps!r}")

    def frames_for(self, difficulty: int) -> int:
        return self.n_frames if self.n_frames is not None else CLIP_FRAMES[difficulty - 1]


@dataclass
class _Draft:
    """An object while its clip is being scripted: key waypoints are fixed, free ones may be redrawn."""

    ident: int
    shape: str
    # The vertical strip of the frame where the object wanders between its key waypoints: giving each
    # object its own strip keeps free motion from crossing paths, so few paths need resampling.
    strip: tuple[float, float]
    appear: int
    vanish: int
    keys: dict[int, tuple[float, float]]
    free: dict[int, tuple[float, float]]
    colours: list[tuple[int, str]]

    def busy(self, frame: int, gap: int) -> bool:
        return any(abs(frame - t) < gap for t in self.keys) or not self.appear + gap <= frame < self.vanish - gap

    def track(self) -> Track:
        waypoints = sorted({**self.free, **self.keys}.items())
        return Track(
            self.ident,
            self.shape,
            self.appear,
            self.vanish,
            tuple(t for t, _ in waypoints),
            tuple(p for _, p in waypoints),
            tuple(sorted(self.colours)),
        )


def _outside_box(
    rng: random.Random,
    box: tuple[float, float, float, float],
    margin: float,
    edge: float,
    strip: tuple[float, float] = (0.0, 1.0),
) -> tuple[float, float]:
    """A point at least ``edge`` from the walls, ``margin`` clear of the box, with x within ``strip``."""
    for _ in range(1000):
        point = (rng.uniform(max(edge, strip[0]), min(1 - edge, strip[1])), rng.uniform(edge, 1 - edge))
        if not (box[0] - margin <= point[0] <= box[2] + margin and box[1] - margin <= point[1] <= box[3] + margin):
            return point
    return (rng.uniform(max(edge, strip[0]), min(1 - edge, strip[1])), rng.choice((edge, 1 - edge)))


def _ladder(difficulty: int, values: tuple[int, ...]) -> int:
    return values[difficulty - 1]


def _free_times(draft: _Draft, n_frames: int, rng: random.Random) -> list[int]:
    """Frames for free waypoints: one inside every long gap between key waypoints (and the clip's ends)."""
    keys = sorted(draft.keys)
    bounds = [draft.appear] + keys + [min(draft.vanish, n_frames) - 1]
    times = []
    for a, b in itertools.pairwise(bounds):
        if b - a >= 6:
            times.append(rng.randint(a + 2, b - 2))
    if draft.appear not in draft.keys:
        times.append(draft.appear)
    return times


def _min_distance(p: tuple[float, float], dp: tuple[float, float], span: float) -> tuple[float, float]:
    """``(min |p + dp * s|, argmin s)`` for ``s`` in ``[0, span]``."""
    speed2 = dp[0] ** 2 + dp[1] ** 2
    s = 0.0 if speed2 == 0 else min(max(-(p[0] * dp[0] + p[1] * dp[1]) / speed2, 0.0), span)
    return math.hypot(p[0] + dp[0] * s, p[1] + dp[1] * s), s


def _conflict(a: Track, b: Track, hits: set[int], box: tuple[float, float, float, float]) -> float | None:
    """When ``a`` and ``b`` touch (or overlap) other than at their scripted hits ``hits`` (frames), else None.

    Between the union of their waypoints both move in straight lines, so their distance on each piece
    has a closed-form minimum. A piece that ends or starts at a hit may come down to touching (2r) but
    not overlap; any other piece keeps a visible gap. Overlaps while both are hidden in the box are allowed.
    """
    start, end = max(a.appear, b.appear), min(a.vanish, b.vanish) - 1
    if start >= end:
        return None
    cuts = sorted({start, end, *(t for t in a.times + b.times if start < t < end)})
    for t0, t1 in itertools.pairwise(cuts):
        (ax, ay), (bx, by) = a.position(t0), b.position(t0)
        (ax1, ay1), (bx1, by1) = a.position(t1), b.position(t1)
        rel, drel = ((ax - bx, ay - by), ((ax1 - bx1) - (ax - bx), (ay1 - by1) - (ay - by)))
        distance, s = _min_distance(rel, drel, 1.0)
        floor = 2 * RADIUS - 1e-9 if (t0 in hits or t1 in hits) else 2 * RADIUS + 0.015
        if distance < floor:
            where = t0 + s * (t1 - t0)
            pa, pb = a.position(where), b.position(where)
            if not all(box[0] <= p[0] <= box[2] and box[1] <= p[1] <= box[3] for p in (pa, pb)):
                return where
    return None


def _repair(draft: _Draft, when: float, box: tuple, rng: random.Random) -> None:
    """Move ``draft`` off a clash at frame ``when``: redraw the free waypoint of the piece it was on, or
    add one (a detour) when both ends of the piece are key waypoints."""
    times = sorted({**draft.free, **draft.keys})
    before = max((t for t in times if t <= when), default=None)
    after = min((t for t in times if t > when), default=None)
    movable = [t for t in (before, after) if t is not None and t in draft.free]
    if movable:
        draft.free[rng.choice(movable)] = _outside_box(rng, box, RADIUS, RADIUS + 0.04, draft.strip)
    elif before is not None and after is not None and after - before >= 4:
        draft.free[rng.randint(before + 2, after - 2)] = _outside_box(rng, box, RADIUS, RADIUS + 0.04, draft.strip)


def _script(rng: random.Random, difficulty: int, n_frames: int) -> tuple[list[_Draft], tuple, list[Event], dict]:
    """Objects, the box, and the scripted contacts (hits and wall touches) with what the hits cause."""
    width, height = rng.uniform(0.24, 0.3), rng.uniform(0.2, 0.26)
    x0, y0 = rng.uniform(0.2, 0.8 - width), rng.uniform(0.2, 0.8 - height)
    box = (round(x0, 4), round(y0, 4), round(x0 + width, 4), round(y0 + height, 4))
    gap = max(3, n_frames // 40)
    edge = max(2, n_frames // 24)
    n_objects = _ladder(difficulty, (2, 3, 4, 5, 6))
    shapes = rng.sample(SHAPES, k=min(len(SHAPES), n_objects)) + [
        rng.choice(SHAPES) for _ in range(n_objects - len(SHAPES))
    ]
    drafts = []
    for ident in range(1, n_objects + 1):
        appear = 0 if ident <= 2 or rng.random() < 0.6 else rng.randint(edge, n_frames // 3)
        strip = ((ident - 1) / n_objects, ident / n_objects)
        drafts.append(
            _Draft(ident, shapes[ident - 1], strip, appear, n_frames, {}, {}, [(appear, rng.choice(PALETTE))])
        )
    contacts: list[Event] = []
    causes: dict[tuple[int, int], int] = {}
    # Hits: the striker and the target meet, touching, at a key waypoint of each; the hit recolours the
    # target on the next frame, or makes it vanish.
    for _ in range(_ladder(difficulty, (1, 1, 2, 2, 3))):
        striker, target = rng.sample(drafts, 2)
        for _try in range(20):
            frame = rng.randint(edge, n_frames - edge - 2)
            if not (striker.busy(frame, gap) or target.busy(frame, gap) or target.busy(frame + 1, gap)):
                break
        else:
            continue
        centre = _outside_box(rng, box, _BOX_COLOUR_MARGIN + RADIUS, 3 * RADIUS)
        angle = rng.uniform(0, 2 * math.pi)
        ux, uy = math.cos(angle) * RADIUS, math.sin(angle) * RADIUS
        striker.keys[frame] = (centre[0] - ux, centre[1] - uy)
        target.keys[frame] = (centre[0] + ux, centre[1] + uy)
        contacts.append(Event("hit", frame, striker.ident, other=target.ident))
        later_keys = [t for t in target.keys if t > frame]
        if rng.random() < 0.3 and not later_keys and target.appear < frame - gap:
            target.vanish = frame + 1
        else:
            current = max(target.colours)[1]
            target.colours.append((frame + 1, rng.choice([c for c in PALETTE if c != current])))
        causes[(target.ident, frame + 1)] = striker.ident
    # Wall touches.
    for draft in drafts:
        for _ in range(_ladder(difficulty, (1, 1, 2, 2, 3))):
            frame = rng.randint(edge, n_frames - edge)
            if draft.busy(frame, gap):
                continue
            sides = [2, 3] + [0] * (draft.ident == 1) + [1] * (draft.ident == len(drafts))
            wall, along = rng.choice(sides), rng.uniform(0.15, 0.85)
            if wall >= 2:
                along = rng.uniform(draft.strip[0] + RADIUS, draft.strip[1] - RADIUS)
            draft.keys[frame] = [(RADIUS, along), (1 - RADIUS, along), (along, RADIUS), (along, 1 - RADIUS)][wall]
            contacts.append(Event("wall", frame, draft.ident, value=("left", "right", "top", "bottom")[wall]))
    # Visits to the box: two key waypoints inside it, some time apart.
    for _ in range(_ladder(difficulty, (1, 1, 2, 3, 3))):
        draft = rng.choice(drafts)
        stay = rng.randint(max(2, n_frames // 20), max(3, n_frames // 6))
        for _try in range(20):
            frame = rng.randint(edge + gap, n_frames - edge - stay - gap)
            if not any(draft.busy(t, 2 * gap) for t in range(frame, frame + stay + 1, max(1, gap))):
                break
        else:
            continue
        for t in (frame, frame + stay):
            inset = RADIUS + 0.01
            draft.keys[t] = (rng.uniform(box[0] + inset, box[2] - inset), rng.uniform(box[1] + inset, box[3] - inset))
    # Colour changes that happen by themselves.
    for _ in range(_ladder(difficulty, (1, 1, 1, 2, 2))):
        draft = rng.choice(drafts)
        frame = rng.randint(edge, n_frames - edge)
        if not any(abs(frame - t) < gap for t, _ in draft.colours) and draft.appear < frame < draft.vanish:
            current = [c for t, c in sorted(draft.colours) if t < frame][-1]
            draft.colours.append((frame, rng.choice([c for c in PALETTE if c != current])))
    # Colours were scheduled in no particular order: make every change a change.
    for draft in drafts:
        draft.colours.sort()
        for k in range(1, len(draft.colours)):
            frame, colour = draft.colours[k]
            following = draft.colours[k + 1][1] if k + 1 < len(draft.colours) else None
            if colour == draft.colours[k - 1][1]:
                draft.colours[k] = (frame, rng.choice([c for c in PALETTE if c not in (colour, following)]))
    # A spontaneous vanish at the higher levels.
    if difficulty >= 3:
        draft = rng.choice(drafts)
        frame = rng.randint(2 * n_frames // 3, n_frames - edge)
        if (
            draft.vanish == n_frames
            and not any(t >= frame - gap for t in draft.keys)
            and not any(t >= frame - gap for t, _ in draft.colours)
        ):
            draft.vanish = frame
    return drafts, box, contacts, causes


def _draw_free(draft: _Draft, box: tuple, n_frames: int, rng: random.Random) -> None:
    draft.free = {
        t: _outside_box(rng, box, RADIUS, RADIUS + 0.04, draft.strip)
        for t in _free_times(draft, n_frames, rng)
        if t not in draft.keys
    }


def _untangle(drafts: list[_Draft], hits: dict[tuple[int, int], set[int]], box: tuple, rng: random.Random) -> None:
    """Repair free waypoints where two objects would touch outside a scripted hit, a bounded number of times.

    Clashes are kept by pair; a repair moves one object, so only that object's pairs are checked again.
    """
    tracks = [draft.track() for draft in drafts]

    def clash_of(i: int, j: int) -> float | None:
        return _conflict(tracks[i], tracks[j], hits.get((i + 1, j + 1), set()), box)

    clashes = {
        (i, j): when
        for i in range(len(tracks))
        for j in range(i + 1, len(tracks))
        if (when := clash_of(i, j)) is not None
    }
    for _try in range(_MAX_PATH_TRIES):
        if not clashes:
            return
        (i, j), when = min(clashes.items())
        moved = j if rng.random() < 0.7 else i
        _repair(drafts[moved], when, box, rng)
        tracks[moved] = drafts[moved].track()
        for other in range(len(tracks)):
            if other != moved:
                pair = (min(other, moved), max(other, moved))
                clashes.pop(pair, None)
                if (when := clash_of(*pair)) is not None:
                    clashes[pair] = when


def _visible_where_it_matters(clip: Clip) -> bool:
    """Every colour change and hit effect happens in view, and no object starts inside the box."""
    for track in clip.tracks:
        if clip.status(track.ident, track.appear) != "visible":
            return False
        for frame, _ in track.colours[1:]:
            if clip.status(track.ident, frame) != "visible" or clip.status(track.ident, frame - 1) != "visible":
                return False
        if track.vanish < clip.n_frames and clip.status(track.ident, track.vanish - 1) != "visible":
            return False
    return True


def script_summary(drafts: list[_Draft], box: tuple, contacts: list[Event], n_frames: int, fps: int) -> tuple:
    """A clip's script as plain values: what happens to whom, when and where, before any path is drawn."""
    objects = tuple(
        (d.ident, d.shape, d.appear, d.vanish, tuple(sorted(d.keys.items())), tuple(sorted(d.colours))) for d in drafts
    )
    return (n_frames, fps, box, objects, tuple((e.kind, e.frame, e.obj, e.other, e.value) for e in contacts))


def sample_clip(
    rng: random.Random, difficulty: int, config: ClipConfig | None = None, keep: Callable[[tuple], bool] | None = None
) -> Clip | None:
    """A clip for ``difficulty`` (1..5), drawn from ``rng`` only.

    ``keep``, when given, sees each script (:func:`script_summary`) before any path is drawn; a script it
    refuses ends the call with None. The env decides a clip's split this way, on its script, so the many
    draws a held-out split needs cost a script each, not a clip.
    """
    config = config or ClipConfig()
    n_frames = config.frames_for(difficulty)
    clip = None
    for _attempt in range(_MAX_CLIP_TRIES):
        drafts, box, contacts, causes = _script(rng, difficulty, n_frames)
        script = script_summary(drafts, box, contacts, n_frames, config.fps)
        if keep is not None and not keep(script):
            return None
        hits = {}
        for event in contacts:
            if event.kind == "hit":
                for pair in ((event.obj, event.other), (event.other, event.obj)):
                    hits.setdefault(pair, set()).add(event.frame)
        for draft in drafts:
            _draw_free(draft, box, n_frames, rng)
        _untangle(drafts, hits, box, rng)
        tracks = tuple(draft.track() for draft in drafts)
        hiding = (box[0] + RADIUS, box[1] + RADIUS, box[2] - RADIUS, box[3] - RADIUS)
        events = derive_events(tracks, hiding, n_frames, contacts, causes)
        clip = Clip(n_frames, config.fps, RADIUS, box, tracks, events, script)
        if _visible_where_it_matters(clip):
            return clip
    assert clip is not None
    return clip
