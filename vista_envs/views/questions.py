"""The question families of ``VistaViews-v0``: questions that need more than one view, answered exactly from the
simulator.

Each family is drafted in two stages. :meth:`QuestionFamily.draft` picks what does not depend on the cameras
(for the view-independent families, the scene's candidate questions in the order it prefers them: the colours
to count, the pairs of objects to relate in the robot's frame); :meth:`QuestionFamily.finish` reads the drawn
rig's :class:`Visibility` (off the segmentation masks of the very views the agent is shown) and returns the
first candidate the rig can answer, or None (the env then draws another rig: about 5% of rigs at 2 views,
fewer at 4). Rigs around one scene thus mostly ask the same question (96% of rigs ask the scene's most asked
one, measured on 40 test scenes x 4 rigs), with one answer. What "needs more than one view" means, per family:

=====================  ===========================================================================
family                 the question, and why one view is not enough
=====================  ===========================================================================
``correspondence``     an object is ringed in view *a*; objects carry numbers in view *b*: which
                       number is it? The ring and the numbers are in different views.
``same_object``        a ringed object in view *a*, another in view *b*: the same physical object?
                       Look-alikes (same colour and shape) make the "no" cases need the layout.
``occluded_count``     how many objects of a colour? Every one is clearly seen in some view, and one
                       is occluded in View 1 (hidden though inside its frame; 99% of test episodes)
                       or, when no colour of the scene allows that, not clear in View 1.
``relation``           in the robot's frame: left/right of, or closer to the robot. Each object is
                       clear in some view, some view shows the robot (its pedestal or 15 cm of its
                       bar), and View 1 does not show both objects clearly with the robot.
``camera_relation``    left/right as seen from camera *k*, where one of the two objects is hidden
                       in view *k* (occluded, or out of its frame) and clear elsewhere; the other is
                       clear in some view (in view *k* where the rig allows).
=====================  ===========================================================================

Marks (rings, tags, labels) are placed only on objects clearly seen in their view, and only where no other
visible object stands within :data:`ISOLATION` of the mark, so a mark never points at two things.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vista_envs.tasks.base import TaskSpec
from vista_envs.views.marks import Mark
from vista_envs.views.scene import Layout
from vista_envs.views.visibility import CLEAR, Visibility

__all__ = [
    "FAMILIES",
    "ISOLATION",
    "VIEW_INDEPENDENT_FAMILIES",
    "Context",
    "Question",
    "QuestionFamily",
    "get_question_family",
]

ISOLATION = 0.08  # share of the image: no other visible object's centre this close to a marked one
EDGE = 0.08  # share of the image: marked and labelled objects stand at least this far inside the borders
LABEL_SPACING = 0.08  # share of the image between the centres of two number labels
LABEL_LIFT = 0.045  # share of the image height between an object's top and its label's centre
MARGIN_M = 0.06  # metres: relations in the robot's frame are asked only with at least this margin
IMAGE_MARGIN = 0.05  # share of the image width: left/right in a camera's view needs this gap


class Context:
    """What a family may use: the layout, the visibility in each view, and which views show where the robot is
    (its pedestal or the black bar between it and the objects; read off the masks only when a family asks)."""

    def __init__(
        self, layout: Layout, visibility: Visibility, robot_views: Callable[[], tuple[int, ...]] | tuple[int, ...]
    ):
        self.layout = layout
        self.visibility = visibility
        self._robot_views = robot_views

    @functools.cached_property
    def robot_views(self) -> tuple[int, ...]:
        return self._robot_views() if callable(self._robot_views) else tuple(self._robot_views)

    @property
    def n_views(self) -> int:
        return int(self.visibility.seen.shape[0])

    def name(self, i: int) -> str:
        return self.layout.objects[i].name

    def unique(self) -> list[int]:
        """Objects whose look (colour and shape) no other object shares: a name refers to them alone."""
        return [i for i, o in enumerate(self.layout.objects) if self.layout.count(o.name) == 1]

    def centre(self, view: int, i: int) -> tuple[float, float]:
        u, v = self.visibility.centre[view, i]
        return float(u), float(v)

    def ring(self, view: int, i: int, tag: str) -> Mark:
        """A ring tagged ``tag`` around object ``i`` in ``view``, sized from how tall the object appears there."""
        centre = self.centre(view, i)
        half_height = float(np.hypot(*(self.visibility.top[view, i] - self.visibility.projected[view, i])))
        return Mark("ring", tag, centre, radius=min(0.12, max(0.035, 1.6 * half_height)))

    def above(self, view: int, i: int) -> tuple[float, float]:
        """Where a label of object ``i`` goes in ``view``: just above its top, so it hides the object least."""
        u, v = self._tops[view][i]
        return u, v - LABEL_LIFT

    @functools.cached_property
    def _tops(self) -> list[list[list[float]]]:
        # As nested lists of floats: the label spacing compares every pair of labels of a view.
        return self.visibility.top.tolist()

    def isolated(self, view: int, i: int) -> bool:
        """No other object seen in ``view`` has its centre within :data:`ISOLATION` of ``i``'s."""
        return bool(self._isolated[view, i])

    def inside(self, view: int, i: int) -> bool:
        """The seen part's centre is at least :data:`EDGE` from the image borders (a mark there is plainly in view)."""
        return self._inside_lists[view][i]

    def markable(self, view: int, i: int) -> bool:
        return self._markable_lists[view][i]

    # Nested lists of the tables families read one object at a time (an array costs more to index than to compare).
    @functools.cached_property
    def _inside_lists(self) -> list[list[bool]]:
        return self._inside.tolist()

    @functools.cached_property
    def _markable_lists(self) -> list[list[bool]]:
        return self._markable.tolist()

    # Every view and object at once (families ask about most of them): arrays (n_views, n_objects).
    # The two coordinates are handled as separate (n_views, n_objects) tables: NumPy loops over a trailing axis of
    # two one pair at a time (the same comparisons and arithmetic, a fraction of the time).
    @functools.cached_property
    def _inside(self) -> np.ndarray:
        centre = self.visibility.centre
        inside = (centre >= EDGE) & (centre <= 1 - EDGE)  # NaN (nothing seen) compares False, silently
        return inside[..., 0] & inside[..., 1]

    @functools.cached_property
    def _isolated(self) -> np.ndarray:
        centres = self.visibility.centre
        u, v = centres[..., 0], centres[..., 1]
        du, dv = u[:, :, None] - u[:, None, :], v[:, :, None] - v[:, None, :]
        near = (du**2 + dv**2 < ISOLATION**2) & (self.visibility.seen > 0)[:, None, :]
        n = centres.shape[1]
        near.reshape(near.shape[0], n * n)[:, :: n + 1] = False  # an object is not near itself
        return ~np.logical_or.reduce(near, axis=2)

    @functools.cached_property
    def _markable(self) -> np.ndarray:
        return (self.visibility.seen >= CLEAR) & self._inside & self._isolated

    def seen_in(self, i: int) -> str:
        views = [str(v + 1) for v in self.visibility.clear_views(i)]
        return ("View " if len(views) == 1 else "Views ") + ", ".join(views)


@dataclass(frozen=True)
class Question:
    """A finished question: its spec (text, ground truth, rationale), the marks per view, the answers a
    guesser picks from, what a perfect perceiver of View 1 alone would answer (None: it must guess), and
    the layout indices of the objects it is about (for tests and the gallery; never shown to the agent)."""

    family: str
    spec: TaskSpec
    marks: dict[int, list[Mark]] = field(default_factory=dict)
    options: tuple[str, ...] = ()
    view_one_answer: str | None = None
    subjects: tuple[int, ...] = ()
    needed_views: tuple[int, ...] = (
        0,
    )  # View 1 and the views that together decide the answer (what a view-tool oracle asks for)


class QuestionFamily:
    """A question family: see the module docstring."""

    name: str = ""
    view_independent: bool = False  # the same scene asks the same question (same answer) from any rig

    def draft(self, layout: Layout, rng: random.Random) -> Any | None:
        """The camera-independent part of the question, or None when this scene cannot ask it."""
        return True

    def hide(self, draft: Any, layout: Layout, rng: random.Random) -> int | None:
        """An object that View 1 should preferably not see (the rig aims its first camera accordingly), or None."""
        return None

    def finish(self, draft: Any, context: Context, rng: random.Random) -> Question | None:
        raise NotImplementedError


def _view_pairs(n_views: int, rng: random.Random) -> list[tuple[int, int]]:
    pairs = [(a, b) for a in range(n_views) for b in range(n_views) if a != b]
    rng.shuffle(pairs)
    return pairs


class Correspondence(QuestionFamily):
    name = "correspondence"

    def finish(self, draft: Any, context: Context, rng: random.Random) -> Question | None:
        layout = context.layout
        for a, b in _view_pairs(context.n_views, rng):
            # Numbers go on objects clear in View b and away from its borders, skipping any whose label would
            # crowd one placed before; the ringed object is one of the numbered (their look-alikes may not be).
            labelled: list[int] = []
            for i in range(len(layout.objects)):
                if context.visibility.clear(b, i) and context.inside(b, i):
                    if all(math.dist(context.above(b, i), context.above(b, j)) >= LABEL_SPACING for j in labelled):
                        labelled.append(i)
            candidates = [i for i in labelled if context.markable(a, i)]
            if len(labelled) < 2 or not candidates:
                continue
            # Prefer a target with a look-alike among the labelled objects: appearance alone cannot decide.
            twins = [
                i for i in candidates if sum(layout.objects[j].name == layout.objects[i].name for j in labelled) > 1
            ]
            target = rng.choice(twins if twins and layout.difficulty >= 3 else candidates)
            numbers = list(range(1, len(labelled) + 1))
            rng.shuffle(numbers)
            label = dict(zip(labelled, numbers))
            text = (
                f"In View {a + 1} one object is ringed and tagged '?'. In View {b + 1} the objects carry number "
                "labels. "
                f"Which number does the ringed object carry in View {b + 1}? Answer with the number."
            )
            twin_note = (
                " Another object looks the same, so I match it by where it stands among the other objects."
                if target in twins
                else ""
            )
            rationale = (
                f"The ringed object in View {a + 1} is a {context.name(target)}.{twin_note} "
                f"In View {b + 1} that object is labelled {label[target]}."
            )
            spec = TaskSpec(text, label[target], "number", {}, rationale)
            marks = {
                a: [context.ring(a, target, "?")],
                b: [Mark("label", str(label[i]), context.above(b, i)) for i in labelled],
            }
            return Question(
                self.name,
                spec,
                marks,
                tuple(str(n) for n in sorted(numbers)),
                None,
                (target,),
                tuple(sorted({0, a, b})),
            )
        return None


class SameObject(QuestionFamily):
    name = "same_object"

    def finish(self, draft: Any, context: Context, rng: random.Random) -> Question | None:
        layout = context.layout
        want_same = rng.random() < 0.5
        for a, b in _view_pairs(context.n_views, rng):
            in_a = [i for i in range(len(layout.objects)) if context.markable(a, i)]
            in_b = [i for i in range(len(layout.objects)) if context.markable(b, i)]
            if want_same:
                both = [i for i in in_a if i in in_b]
                if not both:
                    continue
                first = second = rng.choice(both)
            else:
                pairs = [(i, j) for i in in_a for j in in_b if i != j]
                if not pairs:
                    continue
                if layout.difficulty >= 2:
                    # Hard "no" cases: a look-alike, else the same colour.
                    for same in (
                        lambda i, j: layout.objects[i].name == layout.objects[j].name,
                        lambda i, j: layout.objects[i].spec.color == layout.objects[j].spec.color,
                    ):
                        close = [pair for pair in pairs if same(*pair)]
                        if close:
                            pairs = close
                            break
                first, second = rng.choice(pairs)
            answer = "yes" if first == second else "no"
            text = (
                f"In View {a + 1} one object is ringed and tagged 'A'; in View {b + 1} one object is ringed and "
                "tagged 'B'. "
                "Are A and B the same physical object? Answer yes or no."
            )
            if answer == "yes":
                rationale = (
                    f"A is a {context.name(first)}; B stands at the same place among the other objects, so it "
                    f"is the same {context.name(first)}."
                )
            elif layout.objects[first].name == layout.objects[second].name:
                rationale = (
                    f"A and B are both {context.name(first)}s, but they stand at different places in the "
                    "scene: two different objects."
                )
            else:
                rationale = f"A is a {context.name(first)} and B a {context.name(second)}: different objects."
            spec = TaskSpec(text, answer, "yes_no", {}, rationale)
            marks = {a: [context.ring(a, first, "A")], b: [context.ring(b, second, "B")]}
            return Question(self.name, spec, marks, ("yes", "no"), None, (first, second), tuple(sorted({0, a, b})))
        return None


class OccludedCount(QuestionFamily):
    name = "occluded_count"
    view_independent = True

    def draft(self, layout: Layout, rng: random.Random) -> Any | None:
        # The scene's colours in the order it prefers to ask them (mostly a colour with several objects first):
        # every rig asks the first one it can answer, so most rigs of one scene ask the same question.
        colours = sorted({o.spec.color for o in layout.objects})
        counts = {c: sum(o.spec.color == c for o in layout.objects) for c in colours}
        several = [c for c in colours if counts[c] >= 2]
        first = rng.choice(several if several and rng.random() < 0.8 else colours)
        rest = [c for c in colours if c != first]
        rng.shuffle(rest)
        return [first, *rest]

    def hide(self, draft: Any, layout: Layout, rng: random.Random) -> int | None:
        return rng.choice([i for i, o in enumerate(layout.objects) if o.spec.color == draft[0]])

    def finish(self, draft: Any, context: Context, rng: random.Random) -> Question | None:
        vis = context.visibility
        answerable = []
        for colour in draft:
            targets = [i for i, o in enumerate(context.layout.objects) if o.spec.color == colour]
            if all(vis.clear_views(i) for i in targets):
                answerable.append((colour, targets))
        # A colour with an object occluded in View 1, else one with an object View 1 does not show clearly.
        for hides in (lambda i: vis.occluded(0, i), lambda i: not vis.clear(0, i)):
            found = next(((c, t) for c, t in answerable if any(hides(i) for i in t)), None)
            if found is not None:
                break
        else:
            return None
        colour, targets = found
        occluded = [i for i in targets if vis.occluded(0, i)]
        text = (
            f"How many {colour} objects are on the table? An object can be hidden in one view (behind a dark screen "
            "or another object) and visible in another; count each physical object once. "
            "The dark screens and the robot's black pedestal are not objects. Answer with a number."
        )
        parts = [
            f"a {o.spec.shape} at ({o.x:.2f}, {o.y:.2f}) m, clear in {context.seen_in(i)}"
            + (", hidden in View 1" if i in occluded else "")
            for i, o in ((i, context.layout.objects[i]) for i in targets)
        ]
        rationale = (
            f"Matching the views by where things stand, the {colour} objects are: "
            + "; ".join(parts)
            + f". Counting each once gives {len(targets)}."
        )
        spec = TaskSpec(text, len(targets), "number", {}, rationale)
        shown = sum(context.visibility.seen[0, i] > 0 for i in targets)
        options = tuple(str(n) for n in range(1, len(context.layout.objects) + 1))
        cover = {0} | {context.visibility.clear_views(i)[0] for i in targets}
        return Question(self.name, spec, {}, options, str(shown), tuple(targets), tuple(sorted(cover)))


def _robot_relations(layout: Layout, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int, str]]:
    """(first, second, relation) triples with at least :data:`MARGIN_M` of margin in the robot's frame."""
    found = []
    for i, j in pairs:
        a, b = layout.objects[i], layout.objects[j]
        if abs(a.y - b.y) >= MARGIN_M:
            found.append((i, j, "left_right"))
        if abs(math.hypot(a.x, a.y) - math.hypot(b.x, b.y)) >= MARGIN_M:
            found.append((i, j, "closer"))
    return found


class RobotRelation(QuestionFamily):
    name = "relation"
    view_independent = True

    def draft(self, layout: Layout, rng: random.Random) -> Any | None:
        # The scene's relations in the order it prefers to ask them: every rig asks the first one it can answer.
        unique = [i for i, o in enumerate(layout.objects) if layout.count(o.name) == 1]
        triples = _robot_relations(layout, [(i, j) for i in unique for j in unique if i != j])
        rng.shuffle(triples)
        return triples or None

    def hide(self, draft: Any, layout: Layout, rng: random.Random) -> int | None:
        return draft[0][rng.randrange(2)]

    def finish(self, draft: Any, context: Context, rng: random.Random) -> Question | None:
        vis = context.visibility
        if not context.robot_views:
            return None  # no view shows the robot's side
        # Both objects clear in some view, and not both in View 1 when it shows the robot (View 1 alone would do).
        alone = 0 in context.robot_views
        found = next(
            (
                triple
                for triple in draft
                if vis.clear_views(triple[0])
                and vis.clear_views(triple[1])
                and not (alone and vis.clear(0, triple[0]) and vis.clear(0, triple[1]))
            ),
            None,
        )
        if found is None:
            return None
        first, second, relation = found
        a, b = context.layout.objects[first], context.layout.objects[second]
        if relation == "left_right":
            answer = "left" if a.y > b.y else "right"
            text = (
                "In the robot's frame (the robot stands at the black pedestal behind the black bar and faces across "
                "the table), "
                f"on which side of the {b.name} is the {a.name}, from the robot's point of view: left or right?"
            )
            rationale = (
                f"The {a.name} is clear in {context.seen_in(first)} and the {b.name} in {context.seen_in(second)}. "
                f"Facing across the table from the pedestal, the {a.name} is further to the {answer} than the {b.name}."
            )
            options: tuple[str, ...] = ("left", "right")
        else:
            closer = a if math.hypot(a.x, a.y) < math.hypot(b.x, b.y) else b
            answer = closer.name
            text = (
                f"Which is closer to the robot (it stands behind the black bar, at the black pedestal): the {a.name} "
                f"or the {b.name}? "
                "Answer with the object's name."
            )
            rationale = (
                f"The {a.name} is clear in {context.seen_in(first)} and the {b.name} in {context.seen_in(second)}. "
                f"Comparing their distances to the pedestal, the {closer.name} is closer."
            )
            options = (a.name, b.name)
        spec = TaskSpec(text, answer, "text", {}, rationale)
        view_one = answer if vis.seen[0, first] > 0 and vis.seen[0, second] > 0 and 0 in context.robot_views else None
        robot = next(
            (v for v in context.robot_views if vis.clear(v, first) or vis.clear(v, second)), context.robot_views[0]
        )
        needed = {0, robot, vis.clear_views(first)[0], vis.clear_views(second)[0]}
        return Question(self.name, spec, {}, options, view_one, (first, second), tuple(sorted(needed)))


class CameraRelation(QuestionFamily):
    name = "camera_relation"

    def draft(self, layout: Layout, rng: random.Random) -> Any | None:
        unique = [i for i, o in enumerate(layout.objects) if layout.count(o.name) == 1]
        if len(unique) < 2:
            return None

        # The object to hide: one of the two uniquely named objects nearest to a screen (easiest to hide).
        def screen_distance(i: int) -> float:
            o = layout.objects[i]
            return min(math.hypot(o.x - s[0], o.y - s[1]) for s in layout.screens)

        return rng.choice(sorted(unique, key=screen_distance)[:2])

    def hide(self, draft: Any, layout: Layout, rng: random.Random) -> int | None:
        return draft

    def finish(self, draft: Any, context: Context, rng: random.Random) -> Question | None:
        vis = context.visibility
        unique = context.unique()
        views = list(range(context.n_views))
        rng.shuffle(views)
        for k in views:
            hidden = [i for i in unique if vis.hidden(k, i) and vis.clear_views(i)]
            # The other object: clear in some view; preferably clear in View k, else seen there, else anywhere.
            others = [i for i in unique if vis.clear_views(i)]
            pairs = [(h, s) for h in hidden for s in others if s != h]
            rng.shuffle(pairs)
            pairs.sort(key=lambda pair: (not vis.clear(k, pair[1]), not vis.seen[k, pair[1]] > 0))
            for h, s in pairs:
                u = _image_x(context, k, h), _image_x(context, k, s)
                if abs(u[0] - u[1]) < IMAGE_MARGIN:
                    continue
                first, second = (h, s) if rng.random() < 0.5 else (s, h)
                u_first, u_second = (u[0], u[1]) if first == h else (u[1], u[0])
                answer = "left" if u_first < u_second else "right"
                a, b = context.name(first), context.name(second)
                text = (
                    f"One of the {a} and the {b} may be hidden in View {k + 1}: find it in the other views. "
                    f"As seen from camera {k + 1} (the camera of View {k + 1}), on which side of the {b} is the {a}: "
                    "left or right?"
                )
                rationale = (
                    f"The {context.name(h)} is hidden in View {k + 1} but clear in {context.seen_in(h)}; from where "
                    "it stands relative to "
                    f"the {context.name(s)} and the screens, camera {k + 1} would see the {a} to the {answer} of the "
                    f"{b}."
                )
                needed = tuple(sorted({0, k, vis.clear_views(h)[0]}))
                return Question(
                    self.name,
                    TaskSpec(text, answer, "text", {}, rationale),
                    {},
                    ("left", "right"),
                    None,
                    (first, second),
                    needed,
                )
        return None


def _image_x(context: Context, view: int, i: int) -> float:
    """Where object ``i``'s centre projects across view ``view`` (share of the width), hidden or not."""
    return float(context.visibility.projected[view, i, 0])


def _spaced(centres: Sequence[tuple[float, float]]) -> bool:
    return all(math.dist(p, q) >= LABEL_SPACING for n, p in enumerate(centres) for q in centres[n + 1 :])


FAMILIES: dict[str, QuestionFamily] = {
    family.name: family
    for family in (Correspondence(), SameObject(), OccludedCount(), RobotRelation(), CameraRelation())
}
VIEW_INDEPENDENT_FAMILIES: tuple[str, ...] = tuple(name for name, family in FAMILIES.items() if family.view_independent)


def get_question_family(name: str) -> QuestionFamily:
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown question family {name!r}; known: {sorted(FAMILIES)}") from None
