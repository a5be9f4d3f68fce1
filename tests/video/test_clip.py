"""The video clips of VistaVideo-v0: the event log is exact, sampling is cheap and pure, frames show what
the log says, and the question kinds' verifiers and deciding frames are right."""

import random

import numpy as np
import pytest

from vista_envs.tasks.drawing import COLORS
from vista_envs.video.evidence import Observer, Truth
from vista_envs.video.generate import ClipConfig, sample_clip
from vista_envs.video.questions import KINDS, kendall_credit
from vista_envs.video.render import SPARK, FrameRenderer

_CHANGES = {
    ("absent", "visible"): "appear",
    ("visible", "absent"): "vanish",
    ("visible", "in_box"): "enter",
    ("in_box", "visible"): "leave",
}


def first_clip_with(kind, difficulty):
    clips = (sample_clip(random.Random(seed), difficulty) for seed in range(50))
    return next(clip for clip in clips if any(e.kind == kind for e in clip.events))


def frame_by_frame_log(clip):
    """The changes found by looking at every frame in turn: what the analytic log must equal."""
    found = []
    for track in clip.tracks:
        for frame in range(1, clip.n_frames):
            before, after = (clip.status(track.ident, frame - 1), clip.status(track.ident, frame))
            if before != after:
                found.append((frame, track.ident, _CHANGES[(before, after)]))
            elif after == "visible" and track.colour(frame) != track.colour(frame - 1):
                found.append((frame, track.ident, "colour"))
    return sorted(found)


@pytest.mark.parametrize("difficulty", [1, 2, 3, 4])
def test_the_event_log_equals_what_frame_by_frame_viewing_finds(difficulty):
    for seed in range(12):
        clip = sample_clip(random.Random(seed), difficulty, ClipConfig(n_frames=120))
        logged = sorted((e.frame, e.obj, e.kind) for e in clip.events if e.kind not in ("hit", "wall"))
        assert logged == frame_by_frame_log(clip)


def test_hits_and_wall_touches_are_exact_contacts_on_their_frame():
    for seed in range(10):
        clip = sample_clip(random.Random(seed), 3)
        for event in clip.events:
            x, y = clip.track(event.obj).position(event.frame)
            if event.kind == "hit":
                other = clip.track(event.other).position(event.frame)
                assert np.hypot(x - other[0], y - other[1]) == pytest.approx(2 * clip.radius)
            elif event.kind == "wall":
                edge = {"left": x, "right": 1 - x, "top": y, "bottom": 1 - y}[event.value]
                assert edge == pytest.approx(clip.radius)


def test_a_hit_causes_the_change_on_the_next_frame_and_spontaneous_changes_have_no_cause():
    causes = []
    for seed in range(20):
        clip = sample_clip(random.Random(seed), 2)
        hits = {(e.frame + 1, e.other): e.obj for e in clip.events if e.kind == "hit"}
        for event in clip.events:
            if event.kind in ("colour", "vanish"):
                assert event.cause == hits.get((event.frame, event.obj))
                causes.append(event.cause)
    assert any(c is None for c in causes) and any(c is not None for c in causes)


def test_sampling_is_a_pure_function_of_the_rng_and_its_work_does_not_grow_with_length():
    assert sample_clip(random.Random("x"), 4) == sample_clip(random.Random("x"), 4)
    for difficulty in (1, 5):
        short = [sample_clip(random.Random(s), difficulty, ClipConfig(n_frames=16)) for s in range(5)]
        long = [sample_clip(random.Random(s), difficulty, ClipConfig(n_frames=100_000)) for s in range(5)]
        # Waypoints and events are scripted per object and per difficulty, not per frame.
        assert max(sum(len(t.times) for t in c.tracks) for c in long) <= 12 * len(long[0].tracks)
        assert max(len(c.events) for c in long) <= 6 * max(len(c.events) for c in short) + 40


def test_difficulty_brings_more_objects_events_and_longer_clips():
    easy = [sample_clip(random.Random(s), 1) for s in range(10)]
    hard = [sample_clip(random.Random(s), 5) for s in range(10)]
    assert max(len(c.tracks) for c in easy) < min(len(c.tracks) for c in hard)
    assert easy[0].n_frames == 48 and hard[0].n_frames == 1800
    assert np.mean([len(c.events) for c in easy]) * 2 < np.mean([len(c.events) for c in hard])


def test_frames_draw_visible_objects_hide_boxed_ones_and_mark_contacts_with_a_spark():
    clip = first_clip_with("enter", 2)
    renderer = FrameRenderer(clip, (224, 224))
    hit = next(e for e in clip.events if e.kind in ("hit", "wall"))
    pixels = np.asarray(renderer.frame(hit.frame))
    assert pixels.shape == (224, 224, 3) and np.all(pixels == SPARK, axis=-1).any()
    quiet = next(f for f in range(clip.n_frames) if not clip.contacts(f))
    assert not np.all(np.asarray(renderer.frame(quiet)) == SPARK, axis=-1).any()
    enter = next(e for e in clip.events if e.kind == "enter")
    track = clip.track(enter.obj)
    colour = COLORS[track.colour(enter.frame)]
    x, y = (round(v * 224) for v in track.position(enter.frame - 1))
    assert np.all(np.asarray(renderer.frame(enter.frame - 1))[y - 2 : y + 3, x - 2 : x + 3] == colour, axis=-1).any()
    x, y = (round(v * 224) for v in track.position(enter.frame))
    assert not np.all(np.asarray(renderer.frame(enter.frame))[y - 2 : y + 3, x - 2 : x + 3] == colour, axis=-1).any()


def test_a_grid_and_a_zoom_have_the_asked_size():
    clip = sample_clip(random.Random(0), 1)
    renderer = FrameRenderer(clip, (112, 112))
    assert renderer.grid([0, 1, 2, 3, 4], (300, 200)).size == (300, 200)
    assert renderer.zoom(3, (10, 10, 50, 40), (224, 224)).size == (224, 224)


@pytest.mark.parametrize(
    ("given", "truth", "credit"),
    [
        (("A", "B", "C"), ("A", "B", "C"), 1.0),
        (("C", "B", "A"), ("A", "B", "C"), 0.0),
        (("B", "A", "C"), ("A", "B", "C"), 2 / 3),  # tau = (2 - 1) / 3
        (("A", "B", "D", "C"), ("A", "B", "C", "D"), 5 / 6),  # tau = (5 - 1) / 6
        (("B", "A", "D", "C"), ("A", "B", "C", "D"), 2 / 3),  # tau = (4 - 2) / 6
        (("A", "B"), ("A", "B", "C"), 0.0),  # not a permutation
        (("A", "B", "B"), ("A", "B", "C"), 0.0),
        (None, ("A", "B", "C"), 0.0),
    ],
)
def test_kendall_credit_of_orders_worked_out_by_hand(given, truth, credit):
    assert kendall_credit(given, truth) == pytest.approx(credit)


def test_an_observer_knows_a_change_exactly_only_when_it_saw_both_sides():
    clip = first_clip_with("colour", 1)
    change = next(e for e in clip.events if e.kind == "colour")
    close = Observer(clip, [0, change.frame - 1, change.frame, clip.n_frames - 1]).find(
        "colour", change.obj, value=change.value
    )
    assert close.exact and close.frame == change.frame
    far = Observer(clip, [0, clip.n_frames - 1]).find("colour", change.obj)
    assert far is None or (not far.exact and far.lo == 0 and far.hi == clip.n_frames - 1)


def sampled_questions(kind, tag, seeds):
    """``(clip, question, overview frames)`` for ``seeds`` clips per difficulty (clips with nothing to ask skipped)."""
    for difficulty in range(1, 6):
        for seed in range(seeds):
            rng = random.Random(f"{tag}|{kind}|{difficulty}|{seed}")
            clip = sample_clip(rng, difficulty)
            question = KINDS[kind].ask(clip, rng, difficulty)
            if question is not None:
                yield clip, question, [round(i * (clip.n_frames - 1) / 3) for i in range(4)]


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_deciding_frames_and_the_overview_suffice_to_answer_every_sampled_question(kind):
    question_kind, asked = KINDS[kind], 0
    for clip, question, overview in sampled_questions(kind, "decide", 6):
        asked += 1
        seen = set(overview) | set(question_kind.deciding_frames(question, clip))
        assert question_kind.answer(question, Observer(clip, seen)) == question_kind.answer(question, Truth(clip)), (
            question.text
        )
    assert asked >= 25


@pytest.mark.parametrize("kind", ["order", "count", "first_time"])
def test_the_overview_alone_misses_most_questions_of_the_kinds_that_need_more_frames(kind):
    question_kind, right, asked = KINDS[kind], 0, 0
    for clip, question, overview in sampled_questions(kind, "overview", 8):
        asked += 1
        right += question_kind.answer(question, Observer(clip, overview)) == question_kind.answer(question, Truth(clip))
    assert asked >= 30 and right / asked < 0.35
