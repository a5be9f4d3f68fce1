r"""VisPlay: a Questioner and a Reasoner, both grown from one VLM, trained in alternation by self-play.

Each iteration runs three phases, readable top to bottom in :func:`train`:

1. **Questioner** (:func:`questioner_phase`): ``questioner_steps`` GRPO steps in ``VisPlayQuestioner-v0``.
   For each of ``images_per_step`` images the Questioner asks ``questions_per_image`` (G) questions; a
   frozen snapshot of the Reasoner, taken when the iteration starts, answers each ``samples`` (m)
   times inside the env. With :math:`c` the majority answer's vote share and :math:`s` the share of the
   question's BLEU cluster among the last ``images_per_step`` x G questions (about one step's worth),

   .. math::

       R_Q = \mathrm{valid} \cdot (1 - |2c - 1|) - \lambda_{div}\, s

   (highest when the Reasoner is split 50/50; 0 for an output that does not parse).
2. **Dataset** (:func:`build_reasoner_dataset`): the updated Questioner asks G questions about each
   of ``dataset_images`` new images, the snapshot answers each m times, the majority answer becomes
   the pseudo-label ỹ (:func:`label_round`) and only questions with
   :math:`c_{low} \le c \le c_{high}` are kept (:func:`band_filter`).
3. **Reasoner** (:func:`reasoner_phase`): ``reasoner_steps`` GRPO steps in ``VisPlayReasoner-v0`` over
   that question bank, ``answers_per_question`` (G) answers per question, paid
   :math:`R_R = 0.9\,[\hat y \equiv \tilde y] + 0.1\,\mathrm{format}` (weights are env kwargs).

Both GRPO phases take the GRPO step of :mod:`vista_agents.grpo_step` (:func:`policy_update`), the one
:mod:`vista_agents.grpo` takes, with every setting of :class:`~vista_agents.grpo_step.GRPOLossConfig` (by default one
on-policy optimiser step per batch of episodes and no KL penalty; the KL reference is the initial model).
In grounded mode (``grounded=True``) every question carries a program that computes its true
answer on the scene, so the pseudo-labels' accuracy and the Reasoner's accuracy against the truth
are measured too. The Reasoner is also evaluated on held-out ``VisualQA-v0`` tasks of the same
scene families (``eval/*``, when ``eval_episodes > 0``) and on held-out questions of the scripted Questioner, the
templates VisPlay's Questioner is warm started on (``eval_templates/*`` by kind, when ``eval_template_episodes > 0``,
:func:`evaluate_templates`).

The two roles are separate copies of ``model`` (``shared_model=False``, as in VisPlay) or one set of
weights trained on both roles' losses. Small models that cannot yet write the formats can be warm
started by SFT on both envs' oracle demonstrations (``warm_start_demonstrations``, :func:`warm_start`). With two
copies the warm start may be limited to one role (``warm_start_roles``): with ``("questioner",)`` the Questioner
learns to ask from its own demonstrations only and the Reasoner starts from ``model`` untouched, so a model that
already answers (e.g. the object-token warm start of :mod:`vista_agents.object_tokens`) keeps what it learned;
the role SFT on both roles' demonstrations was seen to erase such a start.

Metrics, one row per iteration (Questioner and Reasoner ones averaged over the phase's steps):

- ``questioner/reward``, ``/uncertainty``, ``/diversity`` (the reward and its two terms),
  ``/valid_rate`` (outputs that parse; grounded: and whose program runs), ``/confidence`` (mean c of
  the scored questions), and the update's ``/reward_std``, ``/zero_variance_groups``,
  ``/trained_sequences``, ``/loss``, ``/grad_norm``;
- ``dataset/questions``, ``/valid_rate``, ``/confidence``, ``/kept`` and ``/kept_share`` (kept by the
  band, of the scored questions), ``/pseudo_label_accuracy`` (kept questions whose ỹ is the true
  answer) and ``/snapshot_accuracy`` (share of the snapshot's answers that are right), both grounded;
- ``reasoner/reward``, ``/agreement`` (answers equal to ỹ), ``/accuracy`` (answers equal to the true
  answer, grounded), ``/format_rate`` and the update's statistics; ``eval/*``, ``eval_templates/*`` and
  ``time/*_s``.

A metric with nothing to measure is NaN (``null`` in the files). Outputs under ``output_dir``:
``metrics.jsonl``/``metrics.csv`` (every name in :data:`VISPLAY_METRICS`),
``questioner/checkpoints/step_N`` and ``reasoner/checkpoints/step_N`` (or
``shared/...``), and ``warm_start/`` (the model warm started on the ``warm_start_roles``' demonstrations, which
those roles start from) when warm started. Run it with
``vista-agents train visplay --model PATH`` or :func:`train`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm
from transformers import PreTrainedModel, ProcessorMixin

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.checkpoint import save_checkpoint
from vista_agents.config import ModelConfig, RunConfig, at_least
from vista_agents.distributed import DataParallel, launched_processes
from vista_agents.grpo_step import GRPOLossConfig, group_episodes, grpo_update, load_reference
from vista_agents.policies.hf import HFPolicy
from vista_agents.rollout import RolloutCollector, Trajectory
from vista_agents.run_session import RunSession, TrainResult
from vista_agents.sft import collect_demonstrations, demonstration_loss
from vista_agents.training import (
    EVAL_SEED_OFFSET,
    LoadedModel,
    autocast,
    chunks,
    evaluate_policy,
    held_out_episodes,
    load_model,
    make_optimizer,
    optimizer_step,
    resolve_device,
    set_learning_rate,
    use_bf16,
)
from vista_envs.answers import get_response_format
from vista_envs.envs.visplay import SCENE_FAMILIES
from vista_envs.visplay import ConfidenceBand, DiversityTracker, answer_key, majority_vote
from vista_envs.visplay.bank import labelled_record, question_key
from vista_envs.visplay.rewards import QUESTIONER_FORMS
from vista_envs.visplay.scripted import TemplateQuestion

__all__ = [
    "ENV_KWARGS",
    "ROLES",
    "TRUE_ANSWER_REASONER",
    "VISPLAY_METRICS",
    "Role",
    "VisPlayConfig",
    "VisPlayResult",
    "answer_matches",
    "band_filter",
    "build_reasoner_dataset",
    "evaluate_templates",
    "label_round",
    "phase_seeds",
    "policy_update",
    "pseudo_label_accuracy",
    "questioner_phase",
    "reasoner_phase",
    "template_accuracy",
    "train",
    "warm_start",
]

# The env kwargs a user may set: the scenes and how answers are written and paid, shared by both roles' envs.
ENV_KWARGS: tuple[str, ...] = (
    "families",
    "difficulty",
    "image_size",
    "response_format",
    "agreement_weight",
    "format_weight",
)
_UPDATE_METRICS = ("reward_std", "zero_variance_groups", "trained_sequences", "loss", "grad_norm")
# Every metric an iteration logs (evaluation rows add eval/* keys). NaN (null in the files) where there
# was nothing to measure: no truth outside grounded mode, no Reasoner step when no question was kept.
VISPLAY_METRICS: tuple[str, ...] = (
    *(
        f"questioner/{name}"
        for name in ("reward", "valid_rate", "confidence", "uncertainty", "diversity", *_UPDATE_METRICS)
    ),
    *(
        f"dataset/{name}"
        for name in (
            "questions",
            "valid_rate",
            "confidence",
            "kept",
            "kept_share",
            "pseudo_label_accuracy",
            "snapshot_accuracy",
        )
    ),
    *(f"reasoner/{name}" for name in ("reward", "agreement", "accuracy", "format_rate", *_UPDATE_METRICS)),
    "time/questioner_s",
    "time/dataset_s",
    "time/reasoner_s",
)
_PHASES = {"questioner": 0, "dataset": 1, "reasoner": 2}
# The two roles, in the order the warm start collects their demonstrations.
ROLES: tuple[str, ...] = ("questioner", "reasoner")
# VisPlayReasoner-v0 settings under which its oracle gives the true answers to the scripted Questioner's questions,
# every one served: the Reasoner's warm-start demonstrations (and object_tokens.visplay_scene_tasks) come from it.
TRUE_ANSWER_REASONER: dict[str, Any] = {
    "grounded": True,
    "reward_target": "ground_truth",
    "confidence_band": (0.0, 1.0),
    "player_timeout": None,
}


@dataclass
class VisPlayConfig(GRPOLossConfig, ModelConfig, RunConfig):
    """VisPlay hyper-parameters: both roles' GRPO steps take the settings of
    :class:`~vista_agents.grpo_step.GRPOLossConfig`; the model and run layers are
    :class:`~vista_agents.config.ModelConfig` and :class:`~vista_agents.config.RunConfig`.

    There is no env layer: the trainer runs its role envs (``VisPlayQuestioner-v0``, ``VisPlayReasoner-v0``) itself,
    in this process, because the Reasoner snapshot answers inside them. A step is an iteration: ``total_steps``,
    ``checkpoint_every`` and ``eval_every`` count iterations.
    """

    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """settings of both roles' envs: families, difficulty, image_size, response_format, agreement_weight,
    format_weight"""
    num_envs: int = 16
    """parallel envs of each role's vector env (episodes run in waves of this many)"""
    total_steps: int = 5
    """iterations: Questioner / dataset / Reasoner alternations"""
    questioner_steps: int = 4
    """Questioner GRPO steps per iteration"""
    reasoner_steps: int = 4
    """Reasoner GRPO steps per iteration"""
    images_per_step: int = 8
    """images per Questioner step"""
    questions_per_image: int = 4
    """G of the Questioner: questions sampled per image (Questioner steps and dataset)"""
    samples: int = 10
    """m: Reasoner answers per question; their majority is the pseudo-label, its vote share the confidence"""
    dataset_images: int = 32
    """images the updated Questioner asks about to build the Reasoner's data each iteration"""
    questions_per_step: int = 8
    """questions per Reasoner step (drawn from the kept questions)"""
    answers_per_question: int = 8
    """G of the Reasoner: answers sampled per question"""
    confidence_band: tuple[float, float] = (0.25, 0.75)
    """questions whose confidence lies in [low, high] train the Reasoner"""
    grounded: bool = False
    """questions carry a program that computes their true answer, so pseudo-label accuracy is measured"""
    shared_model: bool = False
    """one set of weights plays both roles (else two copies of model, as in VisPlay)"""
    reward_form: str = "paper"
    """Questioner uncertainty reward: 'paper' (1 - |2c - 1|) or 'min' (min(c, 1 - c))"""
    diversity_weight: float = 1.0
    """lambda_div: weight of the penalty for questions like the others of their step (BLEU clusters)"""
    diversity_threshold: float = 0.5
    """BLEU-distance threshold of that clustering (0.5 as published). Questions of one template about different
    objects ("How many red circles are there?", "How many blue squares are there?") lie about 0.65 apart, so only a
    threshold above that puts them in one cluster and penalises a Questioner that asks nothing else"""
    temperature: float = 1.0
    """sampling temperature of both roles and of the snapshot (must be > 0: the m answers must vary)"""
    learning_rate: float = 1e-6
    """AdamW learning rate of both roles (its peak when lr_scheduler is not 'constant')"""
    max_new_tokens: int = 256
    """the longest question or answer in tokens"""
    warm_start_demonstrations: int = 0
    """oracle demonstrations per role for an SFT warm start before the first iteration; 0: none"""
    warm_start_epochs: int = 20
    """passes over the warm-start demonstrations (batches of micro_batch_size)"""
    warm_start_learning_rate: float = 1e-3
    """AdamW learning rate of the warm start"""
    warm_start_roles: tuple[str, ...] = ROLES
    """the roles the warm start trains, each on its own demonstrations, and that start from it; the others start from
    model untouched (e.g. ('questioner',) keeps a Reasoner that already answers). Both when shared_model: one model
    plays both roles, so a one-role warm start is refused"""
    eval_template_episodes: int = 0
    """held-out questions of the scripted Questioner (VisPlay's own templates: exists, count, query, relate, more) on
    ``eval_split`` scenes, answered by the Reasoner at each evaluation and checked against their true answers
    (``eval_templates/*``, with the accuracy by template kind); 0: none"""
    output_dir: str = "runs/visplay"
    """where metrics, both roles' checkpoints and the warm-started model go"""

    def __post_init__(self) -> None:
        super().__post_init__()
        unknown = sorted(set(self.env_kwargs) - set(ENV_KWARGS))
        if unknown:
            raise ValueError(
                f"env_kwargs {unknown} are not settable here; allowed: {list(ENV_KWARGS)} (the rest are config fields)"
            )
        if len(self.confidence_band) != 2:
            raise ValueError(f"confidence_band must be (low, high), got {self.confidence_band!r}")
        ConfidenceBand(*self.confidence_band)  # raises unless 0 <= low <= high <= 1
        counts = {
            "total_steps": self.total_steps,
            "num_envs": self.num_envs,
            "images_per_step": self.images_per_step,
            "dataset_images": self.dataset_images,
            "questions_per_step": self.questions_per_step,
            "samples": self.samples,
        }
        too_small = [name for name, value in counts.items() if value < 1]
        if too_small:
            raise ValueError(f"{', '.join(too_small)} must be >= 1")
        if min(self.questioner_steps, self.reasoner_steps) < 0 or self.questioner_steps + self.reasoner_steps == 0:
            raise ValueError("questioner_steps and reasoner_steps must be >= 0, and at least one of them > 0")
        if min(self.questions_per_image, self.answers_per_question) < 2:
            raise ValueError(
                "questions_per_image and answers_per_question must be >= 2: advantages compare the members of a group"
            )
        if self.reward_form not in QUESTIONER_FORMS:
            raise ValueError(f"reward_form must be one of {QUESTIONER_FORMS}, got {self.reward_form!r}")
        if self.diversity_weight < 0:
            raise ValueError(f"diversity_weight must be >= 0, got {self.diversity_weight}")
        if not 0.0 <= self.diversity_threshold <= 1.0:
            raise ValueError(f"diversity_threshold must be a BLEU distance in [0, 1], got {self.diversity_threshold}")
        if self.eval_template_episodes < 0:
            raise ValueError(f"eval_template_episodes must be >= 0, got {self.eval_template_episodes}")
        if self.temperature <= 0:
            raise ValueError(
                "temperature must be > 0: with greedy decoding the m answers agree and every confidence is 1"
            )
        at_least(self, 0, "warm_start_learning_rate")
        if self.warm_start_demonstrations < 0 or self.warm_start_epochs < 1:
            raise ValueError("warm_start_demonstrations must be >= 0 and warm_start_epochs >= 1")
        if set(self.warm_start_roles) - set(ROLES) or len(set(self.warm_start_roles)) < len(self.warm_start_roles):
            raise ValueError(f"warm_start_roles must name each of {ROLES} at most once, got {self.warm_start_roles!r}")
        if self.warm_start_demonstrations and not self.warm_start_roles:
            raise ValueError("warm_start_roles is empty: name a role to warm start, or set warm_start_demonstrations 0")
        if self.warm_start_demonstrations and self.shared_model and set(self.warm_start_roles) != set(ROLES):
            raise ValueError(
                "with shared_model one model plays both roles: warm_start_roles must name both "
                f"(got {self.warm_start_roles!r})"
            )

    @property
    def band(self) -> ConfidenceBand:
        return ConfidenceBand(*self.confidence_band)


@dataclass
class Role:
    """A model being trained for one role (``"questioner"``, ``"reasoner"``) or both (``"shared"``), with its
    optimiser."""

    name: str
    loaded: LoadedModel
    optimizer: torch.optim.Optimizer
    bf16: bool
    checkpoint: Path | None = None
    reference: torch.nn.Module | None = None
    """the frozen KL reference (the initial model) when the KL penalty is on without LoRA"""
    parameters: list[torch.nn.Parameter] = field(init=False)
    parallel: DataParallel = field(init=False, default_factory=DataParallel)  # VisPlay runs in one process

    def __post_init__(self) -> None:
        self.parameters = self.loaded.trainable_parameters()

    @property
    def model(self) -> PreTrainedModel:
        return self.loaded.model

    @property
    def training_model(self) -> PreTrainedModel:
        return self.loaded.model

    def directory(self, config: VisPlayConfig) -> Path:
        return Path(config.output_dir) / self.name


@dataclass
class VisPlayResult(TrainResult):
    """:class:`~vista_agents.training.TrainResult` whose ``checkpoint`` is the Reasoner's (the shared model's), plus the
    Questioner's."""

    questioner_checkpoint: Path | None = None


# -- labelling: majority vote, confidence band, accuracy against the truth -------------------------------


def answer_matches(answer: str | None, truth: str | None, answer_type: str | None) -> bool:
    """Whether ``answer`` means ``truth`` (grouped as the majority vote groups answers: "3" = "three")."""
    key = answer_key(answer, answer_type)
    return key is not None and key == answer_key(truth, answer_type)


def label_round(info: Mapping[str, Any]) -> dict[str, Any] | None:
    """A scored ``VisPlayQuestioner-v0`` round as a ``VisPlayReasoner-v0`` question-bank record, labelled by majority
    vote.

    The record (format: :mod:`vista_envs.visplay.bank`) holds the question and its scene, ``pseudo_label``
    (ỹ, None when no answer was readable), ``confidence`` (ỹ's share of the m answers) and ``true_answer``
    (grounded mode, else None). Returns None for a round without a scored question (invalid, or the Reasoner failed).
    """
    if not info.get("valid") or not info.get("answers"):
        return None
    return labelled_record(info, majority_vote(list(info["answers"]), info.get("answer_type")))


def band_filter(records: Sequence[Mapping[str, Any]], band: ConfidenceBand) -> list[Mapping[str, Any]]:
    """The records with a pseudo-label whose confidence is in the band: neither too easy nor too uncertain to label."""
    return [record for record in records if record["pseudo_label"] is not None and band.admits(record["confidence"])]


def pseudo_label_accuracy(records: Sequence[Mapping[str, Any]]) -> float:
    """The share of records whose pseudo-label is the true answer, over those with a truth (NaN when none has one)."""
    graded = [
        answer_matches(r["pseudo_label"], r["true_answer"], r["answer_type"])
        for r in records
        if r["true_answer"] is not None
    ]
    return float(np.mean(graded)) if graded else math.nan


# -- GRPO on one role ------------------------------------------------------------------------------------


def policy_update(
    role: Role, trajectories: list[Trajectory], group_size: int, config: VisPlayConfig, shuffle_seed: int
) -> dict[str, float]:
    """The GRPO step of :mod:`vista_agents.grpo_step` on consecutive groups of ``group_size`` episodes; returns its
    statistics."""
    groups = group_episodes(trajectories, group_size, config)
    stats = {
        "reward_std": float(groups.rewards.std()),
        "zero_variance_groups": float(groups.zero_variance.float().mean()),
        "trained_sequences": len(groups.samples),
    }
    if not groups.samples:
        return {**stats, "loss": math.nan, "grad_norm": math.nan}
    update = grpo_update(
        role,
        config,
        groups.samples,
        reference=role.reference,
        placeholder=trajectories[0],
        micro_batch_size=config.micro_batch_size,
        max_grad_norm=config.max_grad_norm,
        max_new_tokens=config.max_new_tokens,
        shuffle_seed=shuffle_seed,
    )
    return {**stats, "loss": update["loss"], "grad_norm": update["grad_norm"]}


def _rollouts(
    collector: RolloutCollector, role: Role, seeds: list[int], group_size: int, options: dict[str, Any] | None
) -> list[Trajectory]:
    role.model.eval()
    with torch.no_grad(), autocast(role.model.device, role.bf16):
        return collector.collect(seeds, group_size, options=options)


def _questioner_rounds(
    collector: RolloutCollector, questioner: Role, seeds: list[int], group_size: int
) -> list[Trajectory]:
    """Questioner episodes on training images; raises if the snapshot failed to answer (the env would score the round
    0)."""
    trajectories = _rollouts(collector, questioner, seeds, group_size, {"split": "train"})
    failed = next((t.info for t in trajectories if t.info.get("reasoner_failed")), None)
    if failed is not None:
        raise RuntimeError(f"the Reasoner snapshot failed to answer a question: {failed['error']}")
    return trajectories


def phase_seeds(seed: int, iteration: int, phase: str, step: int, count: int) -> list[int]:
    """The reset seeds of one step of one phase: a function of its position alone, so a resumed run draws the same
    tasks."""
    return np.random.default_rng([seed, iteration, _PHASES[phase], step]).integers(2**31 - 1, size=count).tolist()


# -- the three phases ------------------------------------------------------------------------------------


def questioner_phase(
    config: VisPlayConfig, questioner: Role, envs: gym.vector.VectorEnv, iteration: int
) -> dict[str, float]:
    """``questioner_steps`` GRPO steps of the Questioner against the snapshot inside ``envs``; metrics averaged over the
    steps."""
    policy = _questioner_policy(questioner.model, questioner.loaded.processor, config)
    collector = RolloutCollector(envs, policy, record_logprobs=config.reuses_samples)
    rows = []
    for step in range(config.questioner_steps):
        seeds = phase_seeds(config.seed, iteration, "questioner", step, config.images_per_step)
        trajectories = _questioner_rounds(collector, questioner, seeds, config.questions_per_image)
        infos = [t.info for t in trajectories]
        rows.append(
            {
                "reward": _mean(t.reward for t in trajectories),
                "valid_rate": _mean(
                    bool(info.get("valid")) for info in infos
                ),  # parses (grounded: and its program runs)
                "confidence": _mean(info["confidence"] for info in infos if "confidence" in info),
                "uncertainty": _mean(info["reward_terms"]["uncertainty"] for info in infos),
                "diversity": _mean(info["reward_terms"]["diversity"] for info in infos),
                **policy_update(questioner, trajectories, config.questions_per_image, config, seeds[0]),
            }
        )
    return _phase_means("questioner", rows)


def build_reasoner_dataset(
    config: VisPlayConfig, questioner: Role, envs: gym.vector.VectorEnv, iteration: int
) -> tuple[list[Mapping[str, Any]], dict[str, float]]:
    """Generate questions with the Questioner, score them (the snapshot inside ``envs`` answers each m times),
    label each by majority vote and keep those in the confidence band; returns the question bank and its metrics."""
    collector = RolloutCollector(
        envs, _questioner_policy(questioner.model, questioner.loaded.processor, config), record_logprobs=False
    )
    seeds = phase_seeds(config.seed, iteration, "dataset", 0, config.dataset_images)
    infos = [t.info for t in _questioner_rounds(collector, questioner, seeds, config.questions_per_image)]
    labelled = [record for record in map(label_round, infos) if record is not None]
    kept = band_filter(labelled, config.band)
    graded = [info for info in infos if info.get("valid") and info.get("answers") and info.get("answer") is not None]
    metrics = {
        "questions": len(infos),
        "valid_rate": _mean(bool(info.get("valid")) for info in infos),
        "confidence": _mean(record["confidence"] for record in labelled),
        "kept": len(kept),
        "kept_share": len(kept) / len(labelled) if labelled else math.nan,
        "pseudo_label_accuracy": pseudo_label_accuracy(kept),
        # The snapshot's own accuracy: the share of its m answers that are right, over the graded questions.
        "snapshot_accuracy": _mean(
            _mean(answer_matches(a, info["answer"], info["answer_type"]) for a in info["answers"]) for info in graded
        ),
    }
    return kept, {f"dataset/{name}": value for name, value in metrics.items()}


def reasoner_phase(
    config: VisPlayConfig, reasoner: Role, records: Sequence[Mapping[str, Any]], iteration: int
) -> dict[str, float]:
    """``reasoner_steps`` GRPO steps of the Reasoner on the kept questions, paid for agreeing with their
    pseudo-labels."""
    if not records or not config.reasoner_steps:
        return _phase_means("reasoner", [])
    envs = _make_reasoner_envs(config, records)
    policy = _reasoner_policy(reasoner.model, reasoner.loaded.processor, config)
    collector = RolloutCollector(envs, policy, record_logprobs=config.reuses_samples)
    answer_types = {question_key(record): record["answer_type"] for record in records}
    rows = []
    for step in range(config.reasoner_steps):
        seeds = phase_seeds(config.seed, iteration, "reasoner", step, config.questions_per_step)
        trajectories = _rollouts(collector, reasoner, seeds, config.answers_per_question, None)
        infos = [t.info for t in trajectories]
        graded = [info for info in infos if info.get("true_answer") is not None]
        rows.append(
            {
                "reward": _mean(t.reward for t in trajectories),
                "agreement": _mean(t.success for t in trajectories),
                "accuracy": _mean(
                    answer_matches(i["extracted_answer"], i["true_answer"], answer_types[question_key(i)])
                    for i in graded
                ),
                "format_rate": _mean(info["reward_terms"]["format"] for info in infos),
                **policy_update(reasoner, trajectories, config.answers_per_question, config, seeds[0]),
            }
        )
    envs.close()
    return _phase_means("reasoner", rows)


# -- the alternation -------------------------------------------------------------------------------------


def train(config: VisPlayConfig) -> VisPlayResult:
    """Run VisPlay as configured; returns the logged metric rows and both roles' final checkpoints."""
    if launched_processes() > 1:
        raise RuntimeError(
            "the VisPlay trainer runs in one process (the Reasoner snapshot answers inside the envs): start it without "
            "a launcher"
        )
    # -- setup: both roles (from their latest checkpoints when resuming, else warm started if asked) --------
    run = RunSession.start(
        config, config.total_steps, folders=("shared",) if config.shared_model else ("questioner", "reasoner")
    )
    roles = _start_roles(config, run, resolve_device(config.device))
    questioner, reasoner = roles["questioner"], roles["reasoner"]
    start = run.start_step
    eval_envs = _make_eval_envs(config) if config.eval_episodes > 0 else None
    template_envs = _make_template_eval_envs(config) if config.eval_template_episodes > 0 else None
    evaluates = eval_envs is not None or template_envs is not None

    def evaluate() -> dict[str, float]:
        """The Reasoner on held-out VisualQA-v0 tasks of the same scenes, and on held-out template questions."""
        metrics = {}
        processor = reasoner.loaded.processor
        if eval_envs is not None:
            metrics.update(evaluate_policy(reasoner.model, processor, eval_envs, config, reasoner.bf16))
        if template_envs is not None:
            metrics.update(evaluate_templates(reasoner.model, processor, template_envs, config, reasoner.bf16))
        return metrics

    if evaluates and not run.resumed:
        run.log(0, evaluate())

    def save(iteration: int) -> None:
        for role in _distinct(roles):
            role.checkpoint = save_checkpoint(
                role.directory(config),
                iteration,
                role.loaded.saved,
                role.loaded.processor,
                role.optimizer,
                dataclasses.asdict(config),
            )

    progress = tqdm(
        range(start, config.total_steps),
        initial=start,
        total=config.total_steps,
        desc="VisPlay",
        disable=not config.progress_bar,
    )
    for iteration in progress:
        for role in _distinct(roles):
            set_learning_rate(role.optimizer, config.learning_rate_at(iteration, config.total_steps))
        # -- 0. the Reasoner snapshot the Questioner is trained against and that labels this iteration's data
        snapshot = copy.deepcopy(reasoner.model).eval().requires_grad_(False)
        questioner_envs = _make_questioner_envs(config, _reasoner_policy(snapshot, reasoner.loaded.processor, config))

        # -- 1. Questioner: GRPO on the snapshot's uncertainty minus the diversity penalty -----------------
        started = time.perf_counter()
        metrics = questioner_phase(config, questioner, questioner_envs, iteration)
        metrics["time/questioner_s"] = time.perf_counter() - started

        # -- 2. dataset: the updated Questioner asks, the snapshot answers m times, majority + band --------
        started = time.perf_counter()
        records, dataset_metrics = build_reasoner_dataset(config, questioner, questioner_envs, iteration)
        metrics.update(dataset_metrics)
        metrics["time/dataset_s"] = time.perf_counter() - started
        questioner_envs.close()
        del snapshot

        # -- 3. Reasoner: GRPO on agreement with the pseudo-labels -----------------------------------------
        started = time.perf_counter()
        metrics.update(reasoner_phase(config, reasoner, records, iteration))
        metrics["time/reasoner_s"] = time.perf_counter() - started

        # -- 4. evaluate, log, checkpoint ---------------------------------------------------------------
        run.end_step(iteration + 1, metrics, evaluate=evaluate if evaluates else None, save=save)
        progress.set_postfix(
            q_reward=_format(metrics["questioner/reward"]),
            kept=metrics["dataset/kept"],
            r_agree=_format(metrics["reasoner/agreement"]),
        )

    for envs in (eval_envs, template_envs):
        if envs is not None:
            envs.close()
    return VisPlayResult(run.close(), reasoner.checkpoint, questioner_checkpoint=questioner.checkpoint)


# -- setup -----------------------------------------------------------------------------------------------


def warm_start(config: VisPlayConfig) -> Path:
    """SFT ``config.model`` on ``warm_start_demonstrations`` oracle demonstrations of each role of
    ``warm_start_roles``; returns the saved model's directory.

    The Questioner's demonstrations are ``VisPlayQuestioner-v0``'s oracle questions (template
    questions, with their programs in grounded mode); the Reasoner's are true answers to the scripted
    Questioner's questions in ``VisPlayReasoner-v0``. Both are shown with the prompts the roles see in
    training. Every weight is trained (LoRA settings apply to the VisPlay phases). The model is saved
    to ``<output_dir>/warm_start``.
    """
    device = resolve_device(config.device)
    loaded = load_model(dataclasses.replace(config, lora_rank=0), device)
    model, processor = loaded.model, loaded.processor
    count, kwargs = config.warm_start_demonstrations, _role_env_kwargs(config)
    demonstrations = []
    if "questioner" in config.warm_start_roles:
        questioner_envs = gym.make_vec(
            "VisPlayQuestioner-v0", num_envs=config.num_envs, vectorization_mode="sync", reasoner_timeout=None, **kwargs
        )
        demonstrations += collect_demonstrations(
            _questioner_policy(model, processor, config), questioner_envs, count, config.seed
        )
        questioner_envs.close()
    if "reasoner" in config.warm_start_roles:
        reasoner_envs = gym.make_vec(
            "VisPlayReasoner-v0",
            num_envs=config.num_envs,
            vectorization_mode="sync",
            **{**kwargs, **TRUE_ANSWER_REASONER},
        )
        demonstrations += collect_demonstrations(
            _reasoner_policy(model, processor, config), reasoner_envs, count, config.seed
        )
        reasoner_envs.close()

    parameters = loaded.trainable_parameters()
    optimizer = torch.optim.AdamW(parameters, lr=config.warm_start_learning_rate)
    shuffle = torch.Generator().manual_seed(config.seed)
    bf16 = use_bf16(config, device)
    model.train()
    for _ in tqdm(range(config.warm_start_epochs), desc="warm start", disable=not config.progress_bar):
        order = torch.randperm(len(demonstrations), generator=shuffle).tolist()
        for batch in chunks([demonstrations[i] for i in order], config.micro_batch_size):
            tokens = sum(t.num_policy_tokens for t in batch)
            demonstration_loss(model, list(batch), processor.tokenizer.pad_token_id, tokens, bf16).backward()
            optimizer_step(parameters, optimizer, config.max_grad_norm)
    path = Path(config.output_dir) / "warm_start"
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def _start_roles(config: VisPlayConfig, run: RunSession, device: torch.device) -> dict[str, Role]:
    """Both roles (one object twice when shared), from the run's checkpoints when it resumes, else from their initial
    models: the warm start (run first when asked) for the roles of ``warm_start_roles``, ``config.model`` for the
    others. The initial model is also the KL reference, and the base of a LoRA checkpoint on resume."""
    warm_path = Path(config.output_dir) / "warm_start"
    if config.warm_start_demonstrations and not run.resumed:
        warm_path = warm_start(config)
    warmed = dataclasses.replace(config, model=str(warm_path))
    bf16 = use_bf16(config, device)
    built = {}
    for name, checkpoint in run.checkpoints.items():
        # The "shared" folder is both roles, and a shared model's warm start always trains both (the config checks).
        started = config.warm_start_demonstrations and (name == "shared" or name in config.warm_start_roles)
        initial = warmed if started else config
        loaded = load_model(initial, device, checkpoint)
        role = Role(name, loaded, make_optimizer(config, loaded.trainable_parameters()), bf16, checkpoint)
        role.reference = load_reference(config, loaded, initial.model)
        if name in run.states:
            role.optimizer.load_state_dict(run.states[name]["optimizer"])
        built[name] = role
    run.restore_rng()
    return {"questioner": built["shared"], "reasoner": built["shared"]} if config.shared_model else built


def _distinct(roles: Mapping[str, Role]) -> list[Role]:
    return list({id(role): role for role in roles.values()}.values())


def _role_env_kwargs(config: VisPlayConfig) -> dict[str, Any]:
    """The kwargs both role envs share."""
    return {
        **config.env_kwargs,
        "samples": config.samples,
        "confidence_band": config.confidence_band,
        "grounded": config.grounded,
    }


def _make_questioner_envs(config: VisPlayConfig, snapshot: HFPolicy) -> gym.vector.VectorEnv:
    # One tracker for every env, its window one step's questions: the penalty is a question's cluster share in the
    # batch.
    tracker = DiversityTracker(
        window=config.images_per_step * config.questions_per_image, threshold=config.diversity_threshold, scope="batch"
    )
    return gym.make_vec(
        "VisPlayQuestioner-v0",
        num_envs=config.num_envs,
        vectorization_mode="sync",
        reasoner=snapshot,
        reasoner_timeout=None,
        diversity_tracker=tracker,
        diversity_weight=config.diversity_weight,
        reward_form=config.reward_form,
        **_role_env_kwargs(config),
    )


def _make_reasoner_envs(config: VisPlayConfig, records: Sequence[Mapping[str, Any]]) -> gym.vector.VectorEnv:
    return gym.make_vec(
        "VisPlayReasoner-v0",
        num_envs=config.num_envs,
        vectorization_mode="sync",
        question_bank=records,
        player_timeout=None,
        **_role_env_kwargs(config),
    )


def _make_eval_envs(config: VisPlayConfig) -> gym.vector.VectorEnv:
    """Held-out ``VisualQA-v0`` tasks of the same scene families: the Reasoner against the ground truth."""
    scene = {
        key: config.env_kwargs[key]
        for key in ("difficulty", "image_size", "response_format")
        if key in config.env_kwargs
    }
    families = config.env_kwargs.get("families", SCENE_FAMILIES)
    return gym.make_vec("VisualQA-v0", num_envs=config.num_envs, vectorization_mode="sync", families=families, **scene)


def _make_template_eval_envs(config: VisPlayConfig) -> gym.vector.VectorEnv:
    """Held-out questions of the scripted Questioner, served with their true answers (``TRUE_ANSWER_REASONER``)."""
    return gym.make_vec(
        "VisPlayReasoner-v0",
        num_envs=config.num_envs,
        vectorization_mode="sync",
        **{**_role_env_kwargs(config), **TRUE_ANSWER_REASONER},
    )


@torch.no_grad()
def evaluate_templates(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    envs: gym.vector.VectorEnv,
    config: VisPlayConfig,
    bf16: bool = False,
) -> dict[str, float]:
    """The Reasoner (at ``eval_temperature``) on ``eval_template_episodes`` held-out questions of the scripted
    Questioner in ``envs`` (:func:`_make_template_eval_envs`), the same ones at every evaluation:
    ``eval_templates/success_rate`` (answers equal to the true answer), and ``eval_templates/<kind>_success_rate``
    and ``/<kind>_questions`` for each template kind asked.

    Why beside ``eval/*``: the Reasoner trains on the questions its Questioner asks, and these are the kinds of
    questions the Questioner was warm started on; ``VisualQA-v0`` asks in other words.
    """
    policy = _reasoner_policy(model, processor, config, temperature=config.eval_temperature)
    seeds = range(EVAL_SEED_OFFSET, EVAL_SEED_OFFSET + config.eval_template_episodes)
    trajectories = held_out_episodes(policy, envs, seeds, config.eval_split, bf16)
    return {f"eval_templates/{name}": value for name, value in template_accuracy(trajectories).items()}


def template_accuracy(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """``success_rate`` of the episodes, and ``<kind>_success_rate`` and ``<kind>_questions`` for each template kind
    their questions (``info["question"]``) are of; ``other`` for a question that no template reads."""
    if not trajectories:
        raise ValueError("no trajectories to measure")
    by_kind: dict[str, list[bool]] = {}
    for trajectory in trajectories:
        template = TemplateQuestion.read(trajectory.info.get("question", ""))
        by_kind.setdefault(template.kind if template else "other", []).append(trajectory.success)
    metrics = {"success_rate": float(np.mean([trajectory.success for trajectory in trajectories]))}
    for kind, wins in sorted(by_kind.items()):
        metrics[f"{kind}_success_rate"] = float(np.mean(wins))
        metrics[f"{kind}_questions"] = float(len(wins))
    return metrics


def _questioner_policy(model: PreTrainedModel, processor: ProcessorMixin, config: VisPlayConfig) -> HFPolicy:
    # The env's instruction is the whole prompt: no answer-format instruction is appended.
    return _policy(model, processor, config, instruction=None)


def _reasoner_policy(
    model: PreTrainedModel, processor: ProcessorMixin, config: VisPlayConfig, temperature: float | None = None
) -> HFPolicy:
    return _policy(
        model,
        processor,
        config,
        instruction=get_response_format(config.env_kwargs.get("response_format", "think_answer")).describe(),
        temperature=temperature,
    )


def _policy(
    model: PreTrainedModel,
    processor: ProcessorMixin,
    config: VisPlayConfig,
    instruction: str | None,
    temperature: float | None = None,
) -> HFPolicy:
    """The role's sampling policy; ``temperature`` (default ``config.temperature``) e.g. greedy for evaluation."""
    return HFPolicy(
        model,
        processor,
        max_new_tokens=config.max_new_tokens,
        temperature=config.temperature if temperature is None else temperature,
        top_p=config.top_p,
        batch_size=config.generation_batch_size,
        instruction=instruction,
    )


# -- metrics ---------------------------------------------------------------------------------------------


def _mean(values: Any) -> float:
    """The mean of the values that are numbers (bools count as 0/1), ignoring NaN; NaN when none is left."""
    kept = [float(value) for value in values if not (isinstance(value, float) and math.isnan(value))]
    return float(np.mean(kept)) if kept else math.nan


def _phase_means(phase: str, rows: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each of the phase's metrics averaged over its steps (NaN for a phase that did not run)."""
    names = [name.split("/", 1)[1] for name in VISPLAY_METRICS if name.startswith(f"{phase}/")]
    return {f"{phase}/{name}": _mean(row[name] for row in rows) for name in names}


def _format(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"
