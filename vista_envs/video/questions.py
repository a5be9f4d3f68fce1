"""The question kinds of ``VistaVideo-v0``: how each is asked, answered, and which frames decide it.

A kind turns a clip into a :class:`Question` (``ask``), answers it from an :class:`Evidence` (``answer``:
the ground truth from :class:`Truth`, an observer's best answer from :class:`Observer`), and names the
few frames that decide it (``deciding_frames``: the oracle looks at those and nothing else). Because the
truth and the observer share ``answer``, "the oracle's frames decide the question" is a test, not a hope.

==============  =========  ==========================================================================
kind            answer     question
==============  =========  ==========================================================================
order           sequence   put 3-5 listed events in the order they happen (partial credit: Kendall)
count           number     how many hits / wall touches of one object / colour changes / box entries
before_after    yes_no     does event P happen before event Q?
cause           choice     object k changed colour (or vanished): which hit caused it, if any?
state           text/num   the colour of object k at frame f; how many objects are in the box at f
first_time      number     the frame (or second) at which something first happens, with a tolerance
compare         choice     which of two objects moves faster between frames a and b, or stays in the box longer
==============  =========  ==========================================================================

Difficulty changes the clip (more objects and events, longer, more hidden in the box) and the
question: more events to order, events closer in time, tighter tolerances, closer speeds.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, ClassVar

from vista_envs.answers.normalize import parse_number, parse_sequence
from vista_envs.video.clip import Clip, Event
from vista_envs.video.evidence import Evidence, Truth

__all__ = ["KINDS", "Question", "QuestionKind", "describe", "get_kind", "kendall_credit"]

Descriptor = tuple[str, int, Any, Any]
LETTERS = "ABCDEFGH"


@dataclass(frozen=True)
class Question:
    """A question about one clip. ``params`` holds plain values only (it is part of the content hash)."""

    kind: str
    text: str
    answer_type: str
    params: tuple
    choices: tuple[str, ...] = ()
    tolerance: float = 0.0


def describe(descriptor: Descriptor) -> str:
    """An event description a person understands without the log: "object 2 hits object 5"."""
    kind, obj, other, value = descriptor
    return {
        "appear": f"object {obj} appears",
        "vanish": f"object {obj} vanishes",
        "enter": f"object {obj} goes into the box",
        "leave": f"object {obj} comes out of the box",
        "colour": f"object {obj} turns {value}",
        "hit": f"objects {obj} and {other} collide",
        "wall": f"object {obj} touches the {value} wall",
    }[kind]


def _descriptor(event: Event) -> Descriptor:
    """What a viewer can tell of an event. A collision looks the same from both sides, so a hit is
    described by its two objects in increasing order, whichever one the script calls the striker."""
    if event.kind == "hit":
        return ("hit", min(event.obj, event.other), max(event.obj, event.other), None)
    return (event.kind, event.obj, event.other, event.value)


def _involves(event, kind: str, obj: int) -> bool:
    return event.kind == kind and (event.obj == obj or (kind == "hit" and event.other == obj))


def _unique_events(clip: Clip) -> list[Event]:
    """Events whose description names them alone (one "object 3 turns green" in the whole clip)."""
    counts = Counter(_descriptor(e) for e in clip.events)
    return [e for e in clip.events if counts[_descriptor(e)] == 1]


def _event_frames(event_frame: int, kind: str) -> tuple[int, ...]:
    """The frames that show an event: the contact frame, or the frames just before and at a change."""
    return (event_frame,) if kind in ("hit", "wall") else (event_frame - 1, event_frame)


def _estimate(evidence: Evidence, descriptor: Descriptor) -> int | None:
    seen = evidence.find(*descriptor)
    return None if seen is None else seen.frame


def kendall_credit(given: tuple[str, ...] | None, truth: tuple[str, ...]) -> float:
    """``(1 + tau) / 2`` for a permutation of ``truth`` (1 in order, 0 reversed), 0 for anything else."""
    if given is None or sorted(given) != sorted(truth) or len(truth) < 2:
        return float(given is not None and tuple(given) == tuple(truth))
    rank = {label: i for i, label in enumerate(given)}
    pairs = [(a, b) for i, a in enumerate(truth) for b in truth[i + 1 :]]
    concordant = sum(1 for a, b in pairs if rank[a] < rank[b])
    tau = (2 * concordant - len(pairs)) / len(pairs)
    return (1 + tau) / 2


class QuestionKind:
    """Base of the kinds: ``ask`` (None when the clip has nothing to ask), ``answer``, ``deciding_frames``."""

    name: ClassVar[str]
    answer_type: ClassVar[str]

    def ask(self, clip: Clip, rng: random.Random, difficulty: int) -> Question | None:
        raise NotImplementedError

    def answer(self, question: Question, evidence: Evidence) -> str:
        """The answer text the evidence supports (from :class:`Truth`: the ground truth)."""
        raise NotImplementedError

    def deciding_frames(self, question: Question, clip: Clip) -> tuple[int, ...]:
        raise NotImplementedError

    def temporal_credit(self, question: Question, answer: str | None, truth: str) -> float:
        """Partial credit for getting time right (order, or closeness of a frame); 0 for other kinds."""
        return 0.0

    def rationale(self, question: Question, clip: Clip) -> str:
        frames = ", ".join(str(f) for f in self.deciding_frames(question, clip))
        return (
            f"The frames that decide this are {frames}; from them the answer is {self.answer(question, Truth(clip))}."
        )


def _min_gap(clip: Clip, difficulty: int) -> int:
    """How far apart events to compare must be: near-simultaneous only at the top level."""
    return max(1, round(clip.n_frames * (0.12, 0.08, 0.05, 0.02, 0.0)[difficulty - 1]))


def _spread_events(clip: Clip, rng: random.Random, n: int, gap: int) -> list[Event] | None:
    candidates = _unique_events(clip)
    rng.shuffle(candidates)
    chosen: list[Event] = []
    for event in candidates:
        if all(abs(event.frame - c.frame) >= max(gap, 1) for c in chosen):
            chosen.append(event)
        if len(chosen) == n:
            return chosen
    return None


class Order(QuestionKind):
    name, answer_type = "order", "sequence"

    def ask(self, clip, rng, difficulty):
        n = (3, 3, 4, 4, 5)[difficulty - 1]
        events = _spread_events(clip, rng, n, _min_gap(clip, difficulty))
        if events is None:
            return None
        lines = "\n".join(f"{LETTERS[i]}) {describe(_descriptor(e))}" for i, e in enumerate(events))
        text = (
            f"Put these events (A-{LETTERS[n - 1]}) in the order they happen, earliest first:\n{lines}\n"
            f"Answer with the letters in order, separated by commas (e.g. {', '.join(LETTERS[:n][::-1])})."
        )
        return Question(self.name, text, "sequence", tuple(_descriptor(e) for e in events))

    def answer(self, question, evidence):
        middle = evidence.clip.n_frames // 2
        keyed = [
            (_estimate(evidence, d) if _estimate(evidence, d) is not None else middle, i)
            for i, d in enumerate(question.params)
        ]
        return ", ".join(LETTERS[i] for _, i in sorted(keyed))

    def deciding_frames(self, question, clip):
        frames = {f for d in question.params for f in _event_frames(Truth(clip).find(*d).frame, d[0])}
        return tuple(sorted(frames))

    def temporal_credit(self, question, answer, truth):
        return kendall_credit(parse_sequence(answer) if answer else None, tuple(truth.split(", ")))


_COUNTS = {
    "hit": "How many hits (two objects touching, marked by a spark) happen in the whole clip?",
    "enter": "How many times in all does an object go into the box?",
    "wall": "How many times does object {obj} touch a wall?",
    "colour": "How many times does object {obj} change colour?",
}


class Count(QuestionKind):
    name, answer_type = "count", "number"

    def ask(self, clip, rng, difficulty):
        targets = [("hit", None), ("enter", None)] + [
            (kind, t.ident) for t in clip.tracks for kind in ("wall", "colour")
        ]
        rng.shuffle(targets)
        for kind, obj in targets:
            if any(e.kind == kind and (obj is None or e.obj == obj) for e in clip.events):
                return Question(self.name, _COUNTS[kind].format(obj=obj), "number", (kind, obj))
        return None

    def _matching(self, question, events):
        kind, obj = question.params
        return [e for e in events if e.kind == kind and (obj is None or e.obj == obj)]

    def answer(self, question, evidence):
        return str(len(self._matching(question, evidence.events())))

    def deciding_frames(self, question, clip):
        return tuple(sorted({f for e in self._matching(question, clip.events) for f in _event_frames(e.frame, e.kind)}))


class BeforeAfter(QuestionKind):
    name, answer_type = "before_after", "yes_no"

    def ask(self, clip, rng, difficulty):
        events = _spread_events(clip, rng, 2, _min_gap(clip, difficulty))
        if events is None:
            return None
        first, second = (_descriptor(e) for e in events)
        return Question(
            self.name,
            f'Does "{describe(first)}" happen before "{describe(second)}"? Answer yes or no.',
            "yes_no",
            (first, second),
        )

    def answer(self, question, evidence):
        middle = evidence.clip.n_frames // 2
        a, b = (_estimate(evidence, d) for d in question.params)
        a, b = (middle if a is None else a), (middle if b is None else b)
        return "yes" if a < b else "no"

    def deciding_frames(self, question, clip):
        truth = Truth(clip)
        return tuple(sorted({f for d in question.params for f in _event_frames(truth.find(*d).frame, d[0])}))


class Cause(QuestionKind):
    name, answer_type = "cause", "choice"
    NONE = "nothing touched it: it happened by itself"

    def ask(self, clip, rng, difficulty):
        effects = [e for e in _unique_events(clip) if e.kind in ("colour", "vanish")]
        if not effects:
            return None
        effect = rng.choice(effects)
        others = [t.ident for t in clip.tracks if t.ident != effect.obj]
        n_options = min(len(others), (2, 2, 3, 3, 4)[difficulty - 1])
        suspects = rng.sample(others, n_options)
        if effect.cause is not None and effect.cause not in suspects:
            suspects[rng.randrange(n_options)] = effect.cause
        options = [f"object {s} hit it" for s in sorted(suspects)] + [self.NONE]
        what = f"turns {effect.value}" if effect.kind == "colour" else "vanishes"
        listing = "\n".join(f"{LETTERS[i]}) {o}" for i, o in enumerate(options))
        text = (
            f"At some point object {effect.obj} {what}. What made that happen? Options "
            f"(A-{LETTERS[len(options) - 1]}):\n{listing}\nAnswer with the letter of the right option."
        )
        return Question(
            self.name, text, "choice", (_descriptor(effect), tuple(sorted(suspects))), choices=tuple(options)
        )

    def answer(self, question, evidence):
        effect, suspects = question.params
        seen = evidence.find(*effect)
        none_letter = LETTERS[len(suspects)]
        if seen is None:
            return none_letter
        if seen.exact:
            hit = next((e for e in evidence.events() if _involves(e, "hit", effect[1]) and e.hi == seen.hi - 1), None)
            partner = None if hit is None else (hit.other if hit.obj == effect[1] else hit.obj)
            if partner in suspects:
                return LETTERS[suspects.index(partner)]
            if evidence.saw(seen.hi - 1):
                return none_letter
        # Not seen closely: blame the suspect nearest to the object when last seen before the change.
        where = evidence.position_at(effect[1], seen.lo)
        distances = [
            (math.dist(where, p), i)
            for i, s in enumerate(suspects)
            if where and (p := evidence.position_at(s, seen.lo))
        ]
        return LETTERS[min(distances)[1]] if distances else none_letter

    def deciding_frames(self, question, clip):
        effect = Truth(clip).find(*question.params[0])
        return (effect.hi - 1, effect.hi)


def _next_leave(clip: Clip, enter: Event) -> int:
    """The frame at which the object of ``enter`` comes out of the box again (the clip's end if never)."""
    return next(
        (e.frame for e in clip.events if e.kind == "leave" and e.obj == enter.obj and e.frame > enter.frame),
        clip.n_frames,
    )


class State(QuestionKind):
    name, answer_type = "state", "text"

    def ask(self, clip, rng, difficulty):
        # Mostly moments when the state differs from the start (just after a colour change, while an
        # object is in the box): a state that has held all along can be read off any frame.
        colour_changes = [e for e in clip.events if e.kind == "colour"]
        visits = [(e.frame, _next_leave(clip, e)) for e in clip.events if e.kind == "enter"]
        window = max(2, clip.n_frames // 10)
        for _ in range(20):
            if rng.random() < 0.5:
                if colour_changes and rng.random() < 0.8:
                    change = rng.choice(colour_changes)
                    frame, obj = min(clip.n_frames - 1, change.frame + rng.randrange(window)), change.obj
                else:
                    frame, obj = rng.randint(1, clip.n_frames - 1), rng.choice(clip.tracks).ident
                if clip.status(obj, frame) == "visible":
                    text = f"What colour is object {obj} at frame {frame}? Answer with one colour word."
                    return Question(self.name, text, "text", ("colour", obj, frame))
            elif visits:
                start, end = rng.choice(visits)
                frame = rng.randint(start, end - 1) if rng.random() < 0.8 else rng.randint(start, clip.n_frames - 1)
                text = f"How many objects are inside the box at frame {frame}? (Objects in the box are hidden by it.)"
                return Question(self.name, text, "number", ("in_box", None, frame))
        return None

    def answer(self, question, evidence):
        what, obj, frame = question.params
        if what == "colour":
            return evidence.colour_at(obj, frame) or "red"
        inside = 0
        for event in evidence.events():
            if event.frame <= frame and event.kind in ("enter", "leave"):
                inside += 1 if event.kind == "enter" else -1
        return str(max(inside, 0))

    def deciding_frames(self, question, clip):
        what, _obj, frame = question.params
        if what == "colour":
            return (frame,)
        # Every entry and exit up to the frame, and the frame itself: a change seen only later must not be
        # guessed to fall before it.
        changes = {
            f for e in clip.events if e.kind in ("enter", "leave") and e.frame <= frame for f in (e.frame - 1, e.frame)
        }
        return tuple(sorted(changes | {frame}))


_FIRST = {
    "enter": "first go into the box",
    "wall": "first touch a wall",
    "colour": "first change colour",
    "hit": "first collide with another object",
}


class FirstTime(QuestionKind):
    name, answer_type = "first_time", "number"

    def ask(self, clip, rng, difficulty):
        options = [
            (kind, t.ident)
            for t in clip.tracks
            for kind in _FIRST
            if any(_involves(e, kind, t.ident) for e in clip.events)
        ]
        if not options:
            return None
        kind, obj = rng.choice(options)
        tolerance_frames = max(1, round(clip.n_frames * (0.05, 0.03, 0.02, 0.01, 0.005)[difficulty - 1]))
        if rng.random() < 0.5:
            text = (
                f"At which frame does object {obj} {_FIRST[kind]}? Frames are numbered from 0; an answer within "
                f"{tolerance_frames} frame(s) counts."
            )
            return Question(self.name, text, "number", (kind, obj, "frame"), tolerance=float(tolerance_frames))
        seconds = tolerance_frames / clip.fps
        text = (
            f"How many seconds into the clip does object {obj} {_FIRST[kind]}? The clip runs at {clip.fps} frames per "
            f"second from 0 s; an answer within {seconds:.2f} s counts."
        )
        return Question(self.name, text, "number", (kind, obj, "seconds"), tolerance=round(seconds, 4))

    def _first(self, question, events):
        kind, obj, _unit = question.params
        return next((e for e in events if _involves(e, kind, obj)), None)

    def answer(self, question, evidence):
        first = self._first(question, evidence.events())
        frame = first.frame if first is not None else evidence.clip.n_frames // 2
        return str(frame) if question.params[2] == "frame" else f"{frame / evidence.clip.fps:.2f}"

    def deciding_frames(self, question, clip):
        first = self._first(question, clip.events)
        return _event_frames(first.frame, first.kind)

    def temporal_credit(self, question, answer, truth):
        value = parse_number(answer) if answer else None
        if value is None:
            return 0.0
        return max(0.0, 1.0 - abs(value - float(truth)) / (4 * max(question.tolerance, 1e-9)))


class Compare(QuestionKind):
    """Which of two objects moves faster over a stretch of frames, or stays in the box longer."""

    name, answer_type = "compare", "choice"

    def ask(self, clip, rng, difficulty):
        ratio = (2.0, 1.6, 1.35, 1.2, 1.1)[difficulty - 1]
        ask_duration = rng.random() < 0.5
        question = self._ask_duration(clip, rng, ratio) if ask_duration else None
        return question or self._ask_speed(clip, rng, ratio)

    def _ask_speed(self, clip, rng, ratio):
        ids = [t.ident for t in clip.tracks]
        for _ in range(60):
            i, j = rng.sample(ids, 2)
            a = rng.randint(0, clip.n_frames - 4)
            b = rng.randint(a + 2, min(clip.n_frames - 1, a + max(3, clip.n_frames // 5)))
            speeds = [self._speed(clip, obj, a, b) for obj in (i, j)]
            if None in speeds or min(speeds) <= 0 or max(speeds) / min(speeds) < ratio:
                continue
            text = (
                f"Between frame {a} and frame {b}, which moves faster (in a straight line, at a steady speed)? Options "
                "(A-B):\n"
                f"A) object {i}\nB) object {j}\nAnswer with the letter."
            )
            return Question(self.name, text, "choice", ("speed", i, j, a, b), choices=(f"object {i}", f"object {j}"))
        return None

    def _ask_duration(self, clip, rng, ratio):
        stays = {t.ident: stay for t in clip.tracks if (stay := _first_stay(clip, t.ident)) is not None}
        pairs = [
            (i, j)
            for i in stays
            for j in stays
            if i < j and max(stays[i], stays[j]) / max(1, min(stays[i], stays[j])) >= ratio
        ]
        if not pairs:
            return None
        i, j = rng.sample(rng.choice(pairs), 2)
        text = (
            f"Objects {i} and {j} each go into the box and come out again. Which stays inside longer the first time? "
            "Options (A-B):\n"
            f"A) object {i}\nB) object {j}\nAnswer with the letter."
        )
        return Question(self.name, text, "choice", ("duration", i, j), choices=(f"object {i}", f"object {j}"))

    @staticmethod
    def _speed(clip, obj, a, b):
        """The speed of ``obj`` over ``[a, b]`` if it is in view at both ends and moves on one straight piece."""
        track = clip.track(obj)
        if clip.status(obj, a) != "visible" or clip.status(obj, b) != "visible":
            return None
        if any(a < t < b for t in track.times):
            return None
        return math.dist(track.position(a), track.position(b)) / (b - a)

    def answer(self, question, evidence):
        measures = []
        for obj in question.params[1:3]:
            if question.params[0] == "speed":
                a, b = question.params[3:]
                start, end = evidence.position_at(obj, a), evidence.position_at(obj, b)
                measures.append(math.dist(start, end) if start and end else 0.0)
            else:
                enter = evidence.find("enter", obj)
                leave = next(
                    (
                        e
                        for e in evidence.events()
                        if e.kind == "leave" and e.obj == obj and enter and e.frame > enter.frame
                    ),
                    None,
                )
                measures.append(leave.frame - enter.frame if enter and leave else 0)
        return "A" if measures[0] >= measures[1] else "B"

    def deciding_frames(self, question, clip):
        if question.params[0] == "speed":
            return tuple(question.params[3:])
        frames = set()
        for obj in question.params[1:3]:
            enter = next(e for e in clip.events if e.kind == "enter" and e.obj == obj)
            frames.update((enter.frame - 1, enter.frame, _next_leave(clip, enter) - 1, _next_leave(clip, enter)))
        return tuple(sorted(frames))


def _first_stay(clip: Clip, obj: int) -> int | None:
    """How many frames ``obj`` stays in the box the first time it goes in, if it comes out again."""
    enter = next((e for e in clip.events if e.kind == "enter" and e.obj == obj), None)
    if enter is None or _next_leave(clip, enter) >= clip.n_frames:
        return None
    return _next_leave(clip, enter) - enter.frame


KINDS: dict[str, QuestionKind] = {
    kind.name: kind for kind in (Order(), Count(), BeforeAfter(), Cause(), State(), FirstTime(), Compare())
}


def get_kind(name: str) -> QuestionKind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown question kind {name!r}; expected one of {', '.join(KINDS)}") from None
