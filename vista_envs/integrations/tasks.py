"""Tasks drawn from an env as dataset rows, and the env's own scoring of a response to one.

Every trainer bridge needs the same three things from a task env (``VisualQA-v0``, ``VistaTool-v0``):

- the **prompt** exactly as the env shows it (``obs["text"]``, ``info["messages"]``, the image);
- a **task reference** (:class:`TaskRef`: env id, family, difficulty, split, task seed) from which
  ``env.reset(options=ref.options())`` rebuilds the same task; it is kept out of the prompt, because a task
  seed regenerates the answer;
- the **ground truth** (:func:`ground_truth_json`): a JSON string with what the verifier reads (answer, answer
  type, options, aliases, tolerance) and the env's scoring settings (response format, weights, reasoning
  and length budgets), so :func:`score_response` pays a response exactly as the env's ``step`` would,
  without rendering the task again.

A model never sees the reference or the ground truth: the bridges put them in dataset columns that trainers
pass to reward functions only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image

from vista_envs.answers import format_answer
from vista_envs.answers.extract import ResponseFormat
from vista_envs.rewards import RewardWeights
from vista_envs.scoring import ResponseScorer, ScoredResponse
from vista_envs.tasks import TaskSpec, family_names

__all__ = [
    "ANSWER_TERMS",
    "TASK_ENV_IDS",
    "ExportedTask",
    "TaskRef",
    "check_families",
    "ground_truth_json",
    "iter_tasks",
    "make_task_env",
    "parse_ground_truth",
    "score_response",
]

# The ids whose episode is one generated task answered in text: the ones a dataset row can stand for.
TASK_ENV_IDS = ("VisualQA-v0", "VistaTool-v0")

# The reward terms of an answer, in the order the envs report them.
ANSWER_TERMS = ("correctness", "format", "reasoning", "length")


@dataclass(frozen=True)
class TaskRef:
    """Where a task comes from: ``make_task_env(env_id, **env_kwargs).reset(options=ref.options())`` rebuilds it."""

    env_id: str
    family: str
    difficulty: int
    split: str
    task_seed: int

    def options(self) -> dict[str, Any]:
        """The ``reset`` options that fix this task."""
        return {"family": self.family, "difficulty": self.difficulty, "split": self.split, "task_seed": self.task_seed}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskRef:
        return cls(
            str(data["env_id"]),
            str(data["family"]),
            int(data["difficulty"]),
            str(data["split"]),
            int(data["task_seed"]),
        )


@dataclass(frozen=True)
class ExportedTask:
    """One task as the env shows it at reset, with its reference and ground truth.

    Attributes:
        ref: the task's reference.
        prompt: ``obs["text"]``, the complete prompt.
        messages: ``info["messages"]`` at reset (system prompt, then the user turn with ``{"type": "image"}``).
        pixels: the observed image, ``obs["image"]`` (an ``(H, W, 3)`` uint8 array); ``image`` is it as a PIL image.
        tools: ``info["tools"]`` (OpenAI function schemas) for a tool env, else None.
        ground_truth: :func:`ground_truth_json` of the task under the env's scoring settings.
        answer: the canonical answer text (what an oracle writes inside the answer tags).
        answer_type: the verifier's answer type.
    """

    ref: TaskRef
    prompt: str
    messages: list[dict[str, Any]]
    pixels: np.ndarray
    tools: list[dict[str, Any]] | None
    ground_truth: str
    answer: str
    answer_type: str

    @property
    def image(self) -> Image.Image:
        return Image.fromarray(self.pixels)


def make_task_env(env_id: str, **env_kwargs: Any) -> gym.Env:
    """``gym.make(env_id, **env_kwargs)`` for an id in :data:`TASK_ENV_IDS`, with a clear error for any other id."""
    import vista_envs  # noqa: F401  (registers the ids)

    if env_id not in TASK_ENV_IDS:
        raise ValueError(f"{env_id!r} is not a task env; tasks can be exported from {', '.join(TASK_ENV_IDS)}")
    return gym.make(env_id, **env_kwargs)


def check_families(env_id: str, families: Sequence[str] | None, env: gym.Env | None = None) -> None:
    """Raise ``ValueError`` when ``families`` names a family that ``env_id`` (built as ``env``) cannot draw.

    A name that no family has is refused; so is one outside ``env``'s configured families.
    """
    if families is None:
        return
    if isinstance(families, str) or not families:
        raise ValueError(f"families must be a non-empty sequence of family names, got {families!r}")
    unknown = [name for name in families if name not in family_names()]
    if unknown:
        raise ValueError(
            f"{env_id} has no family {', '.join(map(repr, unknown))}; available: {', '.join(family_names())}"
        )
    if env is not None:
        available = tuple(env.unwrapped.sampler.families)
        missing = [name for name in families if name not in available]
        if missing:
            raise ValueError(
                f"{env_id} (as configured) has no family {', '.join(map(repr, missing))}; it has: "
                f"{', '.join(available)}"
            )


def _scoring_settings(scorer: ResponseScorer) -> dict[str, Any]:
    fmt = scorer.format
    return {
        "response_format": {"name": fmt.name, "answer_tags": fmt.answer_tags, "think_tags": fmt.think_tags},
        "weights": asdict(scorer.weights),
        "reasoning_words": list(scorer.reasoning_words),
        "length_budget": scorer.length_budget,
        "max_response_chars": scorer.max_response_chars,
    }


def ground_truth_json(spec: TaskSpec, scorer: ResponseScorer) -> str:
    """What :func:`score_response` needs to pay a response to ``spec`` as ``scorer`` does, as a JSON string.

    It holds the verifier's fields (``answer``, ``answer_type``, ``choices``, ``aliases``, ``tolerance``) and
    ``scoring`` (response format, weights, reasoning words, length budget, response limit), not the question,
    the scene or the seed.
    """
    answer = spec.answer
    if isinstance(answer, tuple):
        answer = list(answer)
    elif isinstance(answer, np.generic):
        answer = answer.item()
    return json.dumps(
        {
            "answer": answer,
            "answer_type": spec.answer_type,
            "choices": list(spec.choices),
            "aliases": list(spec.aliases),
            "tolerance": float(spec.tolerance),
            "scoring": _scoring_settings(scorer),
        },
        sort_keys=True,
    )


@functools.lru_cache(maxsize=64)
def _scorer(settings: str) -> ResponseScorer:
    data = json.loads(settings)
    fmt = data["response_format"]
    tags = {key: tuple(fmt[key]) if fmt[key] is not None else None for key in ("answer_tags", "think_tags")}
    return ResponseScorer(
        response_format=ResponseFormat(fmt["name"], **tags),
        weights=RewardWeights(**data["weights"]),
        reasoning_words=tuple(data["reasoning_words"]),
        length_budget=int(data["length_budget"]),
        max_response_chars=int(data["max_response_chars"]),
    )


@functools.lru_cache(maxsize=4096)
def parse_ground_truth(ground_truth: str) -> tuple[TaskSpec, ResponseScorer]:
    """The verifier's view of the task (a :class:`TaskSpec` without question, scene or rationale) and the env's
    scorer."""
    try:
        data = json.loads(ground_truth)
        answer = data["answer"]
        if data["answer_type"] in ("box", "sequence"):
            answer = tuple(answer)
        # Only the verifier's fields matter for scoring; the question, scene and rationale stay empty.
        spec = TaskSpec(
            question="",
            answer=answer,
            answer_type=data["answer_type"],
            scene={},
            rationale="",
            choices=tuple(data["choices"]),
            aliases=tuple(data["aliases"]),
            tolerance=float(data["tolerance"]),
        )
        scorer = _scorer(json.dumps(data["scoring"], sort_keys=True))
    except (TypeError, ValueError, KeyError) as error:
        raise ValueError(f"not a vista-envs ground truth (see ground_truth_json): {error}") from None
    return spec, scorer


def score_response(response: Any, ground_truth: str) -> ScoredResponse:
    """The env's score of ``response`` (an answer turn) for the task ``ground_truth`` describes.

    Equal to ``info["reward_terms"]`` and the reward of ``VisualQA-v0``'s ``step(response)`` on that task (and of
    ``VistaTool-v0``'s answer turn). Like the env, it never raises on the response (any object); it raises
    ``ValueError`` only for a ground truth that is not one.
    """
    if not isinstance(ground_truth, str):
        raise ValueError(
            f"not a vista-envs ground truth (see ground_truth_json): a {type(ground_truth).__name__}, not a str"
        )
    spec, scorer = parse_ground_truth(ground_truth)
    return scorer.score(response, spec)


def iter_tasks(
    env_id: str,
    n: int,
    *,
    split: str = "train",
    seed: int = 0,
    families: Sequence[str] | None = None,
    **env_kwargs: Any,
) -> Iterator[ExportedTask]:
    """Draw ``n`` tasks of ``split`` from ``env_id`` (built with ``families`` and ``env_kwargs``), deterministically.

    The env's own RNG, seeded once with ``seed``, picks each task's family and difficulty (within the env's
    settings) as its ``reset`` would; the task seeds are ``n`` distinct draws from ``seed``. Bad arguments
    (an unknown id, a family the env does not have, ``n < 0``, a bad split) raise before the first task is drawn.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if split not in ("train", "eval", "test"):
        raise ValueError(f"split must be 'train', 'eval' or 'test', got {split!r}")
    check_families(env_id, families)
    if families is not None:
        env_kwargs["families"] = list(families)
    env = make_task_env(env_id, **env_kwargs)
    check_families(env_id, families, env)
    try:
        base = env.unwrapped
        task_seeds = np.random.default_rng(seed).choice(2**31 - 1, size=n, replace=False) if n else []
        for index, task_seed in enumerate(task_seeds):
            observation, info = env.reset(
                seed=seed if index == 0 else None, options={"split": split, "task_seed": int(task_seed)}
            )
            task = base.task
            ref = TaskRef(env_id, task.family, task.difficulty, task.split, task.seed)
            yield ExportedTask(
                ref=ref,
                prompt=observation["text"],
                messages=info["messages"],
                pixels=observation["image"],
                tools=info.get("tools"),
                ground_truth=ground_truth_json(task.spec, base.scorer),
                answer=format_answer(task.spec),
                answer_type=task.answer_type,
            )
    finally:
        env.close()
