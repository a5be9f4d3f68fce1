"""One episode's content: a clip, a question about it, and the task spec its answer is scored against.

The split of an episode is decided by the hash of its clip's script (every scripted event: who, what,
when, where), with the same function as the image task families (:func:`vista_envs.tasks.base.split_of`):
the sampler re-draws until a script lands in the asked split, so a train seed can never produce an
eval or test clip, and no question about a held-out clip is ever asked in training. Scripts are cheap,
so the ~10 draws of a held-out split cost little.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from vista_envs.tasks.base import SPLITS, TaskSpec, check_difficulty, split_of
from vista_envs.video.clip import Clip
from vista_envs.video.evidence import Truth
from vista_envs.video.generate import ClipConfig, sample_clip
from vista_envs.video.questions import Question, get_kind

__all__ = ["VideoEpisode", "sample_episode", "script_split"]

_MAX_ATTEMPTS = 500


@dataclass(frozen=True)
class VideoEpisode:
    """A clip, its question, the spec that scores answers, and the frames that decide the answer."""

    clip: Clip
    question: Question
    spec: TaskSpec
    deciding_frames: tuple[int, ...]


def _answer_value(question: Question, text: str):
    if question.answer_type == "sequence":
        return tuple(part.strip() for part in text.split(","))
    if question.answer_type == "number":
        value = float(text)
        return int(value) if value.is_integer() else value
    return text


def script_split(script: tuple) -> str:
    """The split that owns a clip script (:attr:`Clip.script`): :func:`split_of` on a spec whose content is the
    script."""
    return split_of(
        "video", TaskSpec(question="video clip", answer="", answer_type="text", scene={"script": script}, rationale="")
    )


def sample_episode(
    kind_name: str, seed: int, difficulty: int, split: str, config: ClipConfig, max_deciding_frames: int
) -> VideoEpisode:
    """The episode of question kind ``kind_name`` for ``(seed, difficulty, split, config)``.

    Questions that would need more than ``max_deciding_frames`` frames (the env's budget) are re-drawn,
    so the oracle always stays within the budget.
    """
    kind = get_kind(kind_name)
    check_difficulty(difficulty)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    for attempt in range(_MAX_ATTEMPTS):
        # A str seed is hashed with SHA-512 by `random`: stable across processes and runs.
        rng = random.Random(
            f"video|{kind_name}|{difficulty}|{config.frames_for(difficulty)}|{config.fps}|{split}|{seed}|{attempt}"
        )
        clip = sample_clip(rng, difficulty, config, keep=lambda script: script_split(script) == split)
        if clip is None:
            continue
        question = kind.ask(clip, rng, difficulty)
        if question is None:
            continue
        deciding = kind.deciding_frames(question, clip)
        # The deciding frames must be readable by eye: no shape hiding another there.
        if len(deciding) > max_deciding_frames or any(clip.overlaps(frame) for frame in deciding):
            continue
        truth = kind.answer(question, Truth(clip))
        spec = TaskSpec(
            question=question.text,
            answer=_answer_value(question, truth),
            answer_type=question.answer_type,
            scene={"clip": clip.summary(), "params": question.params},
            rationale=kind.rationale(question, clip),
            choices=question.choices,
            tolerance=question.tolerance,
        )
        return VideoEpisode(clip, question, spec, deciding)
    raise RuntimeError(
        f"no {split} episode of kind {kind_name!r} at difficulty {difficulty} in {_MAX_ATTEMPTS} draws; raise the "
        "frame budget or the clip length"
    )
