"""VisPlay: a Questioner and a Reasoner co-evolve by self-play on procedural images.

Three envs over the same rules (:mod:`vista_envs.visplay`):

- ``VisPlayQuestioner-v0``: the agent asks; a pluggable Reasoner inside the env answers ``m`` times.
- ``VisPlayReasoner-v0``: the agent answers questions from a pluggable Questioner or a question bank,
  paid against majority-vote pseudo-labels.
- ``VisPlay-v0``: the whole round, turn based: the agent plays both roles.

Images are shape scenes (the counting, attributes, spatial, ... families), whose scene description
lets grounded mode check questions exactly.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.task_sampler import TaskSampler, normalize_image_size
from vista_envs.pixels import image_array
from vista_envs.rendering import caption_image
from vista_envs.spaces import UnicodeText
from vista_envs.tasks import SPLITS, Task, family_names, generate_task, get_family
from vista_envs.tasks.base import check_difficulty
from vista_envs.visplay.diversity import DiversityTracker
from vista_envs.visplay.game import Judgement, Proposal, VisPlayRules
from vista_envs.visplay.parsing import OUTPUT_FORMAT_HELP
from vista_envs.visplay.players import PlayerCaller, PlayerError
from vista_envs.visplay.query import LANGUAGE_HELP, scene_objects
from vista_envs.visplay.rewards import ConfidenceBand
from vista_envs.visplay.scripted import ScriptedQuestioner, ScriptedReasoner, template_answer
from vista_envs.visplay.voting import AnswerKey, answer_key

__all__ = ["SCENE_FAMILIES", "VisPlayEnv", "VisPlayQuestionerEnv", "VisPlayReasonerEnv", "questioner_instruction"]

# Families whose scenes are lists of objects with shape, colour, size and position.
SCENE_FAMILIES: tuple[str, ...] = ("attributes", "comparison", "counting", "grounding", "odd_one_out", "spatial")
MAX_TEXT_CHARS = 2048
QUESTIONER = "questioner"
REASONER = "reasoner"


def questioner_instruction(grounded: bool) -> str:
    """What the Questioner is asked to do (grounded mode adds the query language)."""
    text = (
        "Ask one question about this image that can be answered from the image alone and that a strong "
        "vision-language model would find hard. " + OUTPUT_FORMAT_HELP
    )
    if grounded:
        text += " Also give <program>...</program> that computes the answer from the scene. " + LANGUAGE_HELP
    return text


class _SceneEnv(gym.Env[dict[str, Any], str]):
    """What the VisPlay envs share: scene images, the image space, per-call player seeds, rendering."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 1}
    env_id = "VisPlay"

    def __init__(
        self,
        families: Sequence[str] | None,
        difficulty: int | tuple[int, int],
        split: str,
        image_size: int | tuple[int, int],
        render_mode: str | None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        width, height = normalize_image_size(image_size)
        names = tuple(families) if families is not None else tuple(name for name in SCENE_FAMILIES if name in family_names())
        self.sampler = TaskSampler(names, difficulty, split, (width, height))
        for name, family in self.sampler.families.items():
            _check_scene_family(name, family.sample(random.Random(0), 1, (width, height)).scene)
        self.image_space = spaces.Box(0, 255, (height, width, 3), np.uint8)
        self.task: Task | None = None
        self._image = np.zeros(self.image_space.shape, np.uint8)
        self._done = False

    @property
    def scene(self) -> dict[str, Any]:
        """The current scene description (for scripted players and tests; never in an observation or info)."""
        self._require_task("scene")
        return self.task.spec.scene  # type: ignore[union-attr]

    def _require_task(self, what: str) -> None:
        if self.task is None:
            raise gym.error.ResetNeeded(f"{self.env_id}: call reset() before {what}.")

    def _require_running(self) -> None:
        self._require_task("step()")
        if self._done:
            raise gym.error.ResetNeeded(f"{self.env_id}: the episode has ended; call reset().")

    def _use_task(self, task: Task) -> None:
        self.task = task
        self._image = image_array(task.image)
        self._done = False

    def _task_info(self) -> dict[str, Any]:
        assert self.task is not None
        return {"family": self.task.family, "difficulty": self.task.difficulty, "split": self.task.split, "task_seed": self.task.seed}

    def _image_key(self) -> Hashable:
        assert self.task is not None
        return (self.task.family, self.task.split, self.task.difficulty, self.task.seed)

    def _player_infos(self, n: int, privileged: bool) -> list[dict[str, Any]]:
        """Per-call infos for an in-env player: a seed from the env's RNG, the index, and the scene if privileged."""
        seeds = self.np_random.integers(2**31 - 1, size=n)
        infos = [{"seed": int(seed), "sample": j} for j, seed in enumerate(seeds)]
        if privileged:
            for info in infos:
                info["scene"] = self.scene
        return infos

    def _oracle_question(self, grounded: bool) -> str:
        """A valid, answerable question about the current scene (with its program when ``grounded``)."""
        assert self.task is not None
        return ScriptedQuestioner().ask(self.scene, random.Random(self.task.seed), with_program=grounded)

    def _caption(self) -> list[str]:
        return []

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_id}: render() needs render_mode='rgb_array' at construction.")
            return None
        self._require_task("render()")
        return np.asarray(caption_image(self.task.image, self._caption()))  # type: ignore[union-attr]


def _check_scene_family(name: str, scene: Mapping[str, Any]) -> None:
    try:
        scene_objects(scene)
    except ValueError as error:
        raise ValueError(f"family {name!r} cannot be used for VisPlay ({error}); use families with object scenes such as {SCENE_FAMILIES}") from None


def _tracker(window: int, threshold: float, scope: str, shared: DiversityTracker | None) -> DiversityTracker:
    """The shared tracker when one is given, else a new one of this window, threshold and scope."""
    return shared if shared is not None else DiversityTracker(window, threshold, scope)


def _final_info(judgement: Judgement) -> dict[str, Any]:
    """The judgement's info plus the episode-end entries: the true answer (grounded) and success."""
    truth = judgement.proposal.truth
    return {**judgement.info(), "answer": truth.text if truth is not None else None, "is_success": judgement.admitted}


class VisPlayQuestionerEnv(_SceneEnv):
    r"""The VisPlay Questioner: ask a question about an image that the Reasoner finds hard but answerable.

    ## Description
    Each episode shows one procedurally generated scene of coloured shapes. The agent (the
    Questioner) writes one question about it; the env asks a pluggable Reasoner ``m`` times, takes
    the majority answer ỹ with vote share (confidence) :math:`c`, and pays the Questioner for the
    Reasoner's uncertainty — most when the Reasoner is split 50/50 — minus a penalty for asking what
    it recently asked. This is the Questioner half of VisPlay's self-play; the Reasoner's rewards
    for the same answers are reported too, so one rollout can train both.

    ## Action Space
    ``UnicodeText(max_output_chars)``: ``<question>…</question>``, optionally with
    ``<type>number|text|yes_no|…</type>``, ``<answer>…</answer>`` and (grounded mode, required there)
    ``<program>…</program>`` in the query language of :mod:`vista_envs.visplay.query`, e.g.
    ``count(filter(color=red, shape=circle))``. Any value is accepted; one that does not parse is an
    invalid question (``info["error"]`` says why).

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(2048))``: at reset the instruction
    (:func:`questioner_instruction`); after the step, feedback (the error, or the confidence).

    ## Rewards
    With ``valid`` the output parses (grounded: and its program runs on the scene and refers only to
    objects that are there), :math:`c` the majority's share of the ``m`` answers, :math:`s` the share
    of the question's BLEU cluster among the last ``diversity_window`` questions:

    .. math::

        R = \mathrm{valid} \cdot \max\big(0,\ U(c) - \lambda_{div} \cdot s\big), \qquad
        U(c) = 1 - |2c - 1| \ (\texttt{"paper"}) \ \text{or} \ \min(c, 1 - c) \ (\texttt{"min"})

    ``info["reward_terms"] = {"uncertainty": valid·U(c), "diversity": -s}`` (weights 1 and
    :math:`\lambda_{div}`; their weighted sum before the clip at 0). An invalid question earns 0 and is
    not clustered; the clip keeps a valid question from ever earning less. Answers are grouped by
    meaning ("3", "three", "3.0" are one answer), read as the program's type, else the ``<type>``.

    ## Starting State
    ``reset(seed, options)`` draws a scene family, a difficulty (clutter, occlusion, noise) and a
    task seed; options ``{"split", "family", "difficulty", "task_seed"}`` fix them.

    ## Episode End
    After the one question. ``info`` holds ``question``, ``valid``, ``answers`` and ``responses``
    (the Reasoner's ``m`` answers, read and raw), ``pseudo_label`` (ỹ), ``confidence``, ``votes``,
    ``cluster``/``cluster_size``/``cluster_share``, ``admitted`` (:math:`c` in the confidence band:
    the question may train the Reasoner), ``reasoner_rewards`` (:math:`0.9\,[\hat y \equiv \tilde y]
    + 0.1\,\mathrm{format}` per answer), ``is_success`` (= admitted) and ``answer`` (the program's
    answer in grounded mode, else None). Grounded mode adds ``pseudo_label_correct`` (ỹ equals the
    true answer) and ``reasoner_accuracy`` (share of the ``m`` answers that are right). If the
    Reasoner fails (raises, exceeds ``reasoner_timeout``, returns the wrong number of answers) the
    episode is *truncated* with reward 0, ``info["reasoner_failed"] = True`` and the reason in
    ``info["error"]``; the question is not clustered, and the env stays usable.

    ## Arguments
    - ``reasoner``: an object with ``act(observations, infos) -> list[str]`` or such a callable; it
      gets ``m`` observations ``{"image", "question"}`` per question (see
      :mod:`vista_envs.visplay.players`). Default: :class:`~vista_envs.visplay.scripted.ScriptedReasoner`.
    - ``samples`` (int): ``m``, default 10. ``reasoner_timeout`` (float | None): seconds, default 300.
    - ``reward_form``: ``"paper"`` (default) or ``"min"``. ``diversity_weight``: :math:`\lambda_{div}`,
      default 1.0 (0 turns clustering off). ``diversity_window`` (256), ``diversity_threshold`` (0.5),
      ``diversity_scope`` (``"batch"``: all recent questions; ``"image"``: those about the same image),
      ``diversity_tracker``: a :class:`~vista_envs.visplay.diversity.DiversityTracker` to share
      between envs of one process (overrides the three before).
    - ``confidence_band`` ((float, float)): default (0.25, 0.75).
    - ``grounded`` (bool): require and run ``<program>``; default False.
    - ``agreement_weight`` (0.9), ``format_weight`` (0.1), ``response_format`` (how Reasoner responses
      are read; default ``"think_answer"``).
    - ``families``, ``difficulty``, ``split``, ``image_size``: the scenes (default: every shape-scene family).
    - ``max_question_chars`` (1024), ``max_output_chars`` (16384), ``max_response_chars`` (16384).
    - ``render_mode``: ``"rgb_array"`` draws the image with the question and the vote beneath.

    ## Version History
    - v0: initial release.
    """

    env_id = "VisPlayQuestioner-v0"

    def __init__(
        self,
        reasoner: Any = None,
        samples: int = 10,
        reasoner_timeout: float | None = 300.0,
        reward_form: str = "paper",
        diversity_weight: float = 1.0,
        diversity_window: int = 256,
        diversity_threshold: float = 0.5,
        diversity_scope: str = "batch",
        diversity_tracker: DiversityTracker | None = None,
        confidence_band: tuple[float, float] = (0.25, 0.75),
        grounded: bool = False,
        agreement_weight: float = 0.9,
        format_weight: float = 0.1,
        response_format: str | ResponseFormat = "think_answer",
        families: Sequence[str] | None = None,
        difficulty: int | tuple[int, int] = (1, 5),
        split: str = "train",
        image_size: int | tuple[int, int] = 224,
        max_question_chars: int = 1024,
        max_output_chars: int = 16384,
        max_response_chars: int = 16384,
        render_mode: str | None = None,
    ):
        super().__init__(families, difficulty, split, image_size, render_mode)
        self.rules = VisPlayRules(
            samples=samples, reward_form=reward_form, diversity_weight=diversity_weight,
            diversity=_tracker(diversity_window, diversity_threshold, diversity_scope, diversity_tracker),
            band=ConfidenceBand(*confidence_band), grounded=grounded, agreement_weight=agreement_weight,
            format_weight=format_weight, response_format=response_format, max_question_chars=_question_limit(max_question_chars),
            max_output_chars=max_output_chars, max_response_chars=max_response_chars,
        )  # fmt: skip
        self.reasoner = PlayerCaller(reasoner if reasoner is not None else ScriptedReasoner(), REASONER, reasoner_timeout)
        self.instruction = questioner_instruction(grounded)
        self.observation_space = spaces.Dict({"image": self.image_space, "text": UnicodeText(MAX_TEXT_CHARS)})
        self.action_space = UnicodeText(max_output_chars)
        self._last: dict[str, Any] = {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._use_task(self.sampler.sample(self.np_random, options))
        self._last = {}
        return {"image": self._image, "text": self.instruction}, self._task_info()

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._require_running()
        self._done = True
        proposal = self.rules.examine(action, self.scene)
        if not proposal.valid:
            return self._finish(self.rules.refuse(proposal), responses=[])
        observations = [{"image": self._image, "question": proposal.question} for _ in range(self.rules.samples)]
        try:
            responses = self.reasoner(observations, self._player_infos(self.rules.samples, self.reasoner.privileged))
        except PlayerError as error:
            return self._reasoner_failed(proposal, str(error))
        return self._finish(self.rules.judge(proposal, responses, self._image_key()), responses)

    def oracle(self) -> str:
        """A valid, answerable question about the current image (a scripted template question; for tests and SFT)."""
        self._require_task("oracle()")
        return self._oracle_question(self.rules.grounded)

    def _finish(self, judgement: Judgement, responses: list[Any]) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        info = {**self._task_info(), **_final_info(judgement), "responses": responses, "reasoner_failed": False}
        self._last = info
        if judgement.vote is None:
            feedback = info["error"]
        else:
            feedback = f"Your question was answered {self.rules.samples} times; the majority answer had confidence {judgement.vote.confidence:.2f}."
        return self._observation(feedback), judgement.questioner_reward, True, False, info

    def _reasoner_failed(self, proposal: Proposal, error: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        info = {
            **self._task_info(),
            "question": proposal.question,
            "valid": True,
            "reward_terms": {"uncertainty": 0.0, "diversity": 0.0},
            "answer": None,
            "is_success": False,
            "reasoner_failed": True,
            "error": error,
        }
        self._last = info
        return self._observation(f"The question could not be scored: {error}"), 0.0, False, True, info

    def _observation(self, text: str) -> dict[str, Any]:
        return {"image": self._image.copy(), "text": text[:MAX_TEXT_CHARS]}

    def _caption(self) -> list[str]:
        if not self._last:
            return ["Questioner: ask a hard but answerable question."]
        lines = [f"Q: {self._last.get('question')}"]
        if "pseudo_label" in self._last:
            lines.append(f"majority: {self._last['pseudo_label']} (c = {self._last['confidence']:.2f}); votes: {self._last['votes']}")
        if "error" in self._last:
            lines.append(f"error: {self._last['error']}")
        return lines

    def close(self) -> None:
        self.reasoner.close()
        super().close()


class PseudoLabel(NamedTuple):
    """A question's pseudo-label ỹ (canonical text and answer group) and its confidence c."""

    text: str | None
    key: AnswerKey | None
    confidence: float


class VisPlayReasonerEnv(_SceneEnv):
    r"""The VisPlay Reasoner: answer generated questions, paid for agreeing with the majority-vote pseudo-label.

    ## Description
    Each episode shows a shape-scene image and one question from a pluggable Questioner (or from a
    question bank). The question's pseudo-label ỹ is the majority answer of ``m`` samples of a
    Reasoner snapshot (``label_reasoner``), computed once per (image, question) and cached. Only
    questions whose confidence :math:`c` lies in the band are served: too easy ones teach nothing,
    too uncertain ones have unreliable labels. Questions that do not parse (or, grounded, whose
    program is refused) are skipped.

    ## Action Space
    ``UnicodeText(max_response_chars)``: the response, by default
    ``<think>…</think><answer>…</answer>``. A response without an answer tag counts as a bare
    answer (with no format credit); a non-string or over-long one as no answer.

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), question=UnicodeText(2048))``.

    ## Rewards
    .. math::

        R = 0.9 \cdot [\hat y \equiv y^\ast] + 0.1 \cdot \mathrm{format}

    where :math:`y^\ast` is the pseudo-label ỹ (default) or, with ``reward_target="ground_truth"``
    (grounded mode), the program's answer, and :math:`\equiv` groups answers by meaning ("3" ≡
    "three" ≡ "3.0"). ``info["reward_terms"] = {"agreement", "format"}``; weights are kwargs.

    ## Starting State
    ``reset`` draws scenes and questions until one is admitted (at most ``max_draws``, else it raises
    RuntimeError saying how many draws were invalid, failed or outside the band). With a Questioner,
    options ``{"split", "family", "difficulty"}`` fix every draw's scene kind and ``"task_seed"`` the
    first draw's scene; with a bank, ``{"index": i}`` picks record ``i`` (which must be admitted).

    ## Episode End
    After the one answer. ``info`` holds ``answer`` (:math:`y^\ast`), ``pseudo_label``,
    ``confidence``, ``extracted_answer``, ``is_success`` (the answer matches :math:`y^\ast`), and in
    grounded mode ``true_answer`` and ``pseudo_label_correct``. None of these is shown before the
    answer. ``info["skipped"]`` (at reset) counts the draws that were passed over.

    ## Arguments
    - ``questioner``: an in-env player (``act(observations, infos)`` or callable) that gets
      ``{"image", "text": instruction}`` and returns Questioner outputs. Default:
      :class:`~vista_envs.visplay.scripted.ScriptedQuestioner`.
    - ``question_bank``: instead of a Questioner, a sequence of records with ``question``, ``family``,
      ``task_seed``, ``difficulty`` and optionally ``split``, ``answer_type``, ``program``,
      ``pseudo_label`` + ``confidence`` (used as they are, no snapshot call). The ``info`` of a
      ``VisPlayQuestioner-v0`` step is such a record.
    - ``label_reasoner``: the Reasoner snapshot for pseudo-labels (same protocol as a Questioner
      env's ``reasoner``). Default: :class:`~vista_envs.visplay.scripted.ScriptedReasoner`.
    - ``samples`` (10), ``confidence_band`` ((0.25, 0.75)), ``max_draws`` (64),
      ``player_timeout`` (300 s), ``label_cache_size`` (100,000 questions).
    - ``grounded`` (bool), ``reward_target`` (``"pseudo_label"`` | ``"ground_truth"``).
    - ``agreement_weight`` (0.9), ``format_weight`` (0.1), ``response_format`` (``"think_answer"``),
      ``max_response_chars`` (16384).
    - ``families``, ``difficulty``, ``split``, ``image_size``, ``render_mode``: as in ``VisPlayQuestioner-v0``.

    ## Version History
    - v0: initial release.
    """

    env_id = "VisPlayReasoner-v0"
    _BANK_KEYS = ("question", "family", "task_seed", "difficulty")

    def __init__(
        self,
        questioner: Any = None,
        question_bank: Sequence[Mapping[str, Any]] | None = None,
        label_reasoner: Any = None,
        samples: int = 10,
        confidence_band: tuple[float, float] = (0.25, 0.75),
        grounded: bool = False,
        reward_target: str = "pseudo_label",
        max_draws: int = 64,
        player_timeout: float | None = 300.0,
        label_cache_size: int = 100_000,
        agreement_weight: float = 0.9,
        format_weight: float = 0.1,
        response_format: str | ResponseFormat = "think_answer",
        families: Sequence[str] | None = None,
        difficulty: int | tuple[int, int] = (1, 5),
        split: str = "train",
        image_size: int | tuple[int, int] = 224,
        max_response_chars: int = 16384,
        render_mode: str | None = None,
    ):
        super().__init__(families, difficulty, split, image_size, render_mode)
        if questioner is not None and question_bank is not None:
            raise ValueError("give either questioner= or question_bank=, not both")
        if max_draws < 1 or label_cache_size < 1:
            raise ValueError("max_draws and label_cache_size must be at least 1")
        self.rules = VisPlayRules(
            samples=samples, diversity_weight=0.0, band=ConfidenceBand(*confidence_band), grounded=grounded,
            reasoner_target=reward_target, agreement_weight=agreement_weight, format_weight=format_weight,
            response_format=response_format, max_response_chars=max_response_chars,
        )  # fmt: skip
        self.bank = self._check_bank(question_bank) if question_bank is not None else None
        self.questioner = None if self.bank is not None else PlayerCaller(
            questioner if questioner is not None else ScriptedQuestioner(), QUESTIONER, player_timeout
        )
        self.label_reasoner = PlayerCaller(label_reasoner if label_reasoner is not None else ScriptedReasoner(), REASONER, player_timeout)
        self.instruction = questioner_instruction(grounded)
        self.max_draws = max_draws
        self.label_cache_size = label_cache_size
        self._labels: OrderedDict[tuple[Hashable, str], PseudoLabel] = OrderedDict()
        self.observation_space = spaces.Dict({"image": self.image_space, "question": UnicodeText(MAX_TEXT_CHARS)})
        self.action_space = UnicodeText(max_response_chars)
        self._proposal: Proposal | None = None
        self._label = PseudoLabel(None, None, 0.0)
        self._last: dict[str, Any] = {}

    def _check_bank(self, bank: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        records = list(bank)
        if not records:
            raise ValueError("question_bank is empty")
        for index, record in enumerate(records):
            missing = [key for key in self._BANK_KEYS if not isinstance(record, Mapping) or key not in record]
            if missing:
                raise ValueError(f"question_bank record {index} lacks {missing}; records need {list(self._BANK_KEYS)}")
            if ("pseudo_label" in record) != ("confidence" in record):
                raise ValueError(f"question_bank record {index} must give both pseudo_label and confidence, or neither")
            if record.get("split", self.sampler.split) not in SPLITS:
                raise ValueError(f"question_bank record {index} has an unknown split {record.get('split')!r}")
            check_difficulty(record["difficulty"])
        return records

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        options = dict(options or {})
        if self.bank is not None and set(options) - {"index"}:
            raise ValueError(f"with a question bank the only reset option is 'index', got {sorted(options)}")
        skipped = {"invalid": 0, "failed": 0, "outside_band": 0}
        last_error = None
        for _ in range(self.max_draws):
            try:
                proposal, label = self._draw(options)
            except PlayerError as error:
                skipped["failed"] += 1
                last_error = str(error)
                continue
            finally:
                options.pop("task_seed", None)  # a fixed scene is tried once; later draws are fresh
            if not proposal.valid:
                skipped["invalid"] += 1
                last_error = proposal.error
            elif not self.rules.band.admits(label.confidence):
                skipped["outside_band"] += 1
            else:
                self._proposal, self._label, self._last = proposal, label, {}
                info = {**self._task_info(), "skipped": skipped}
                return {"image": self._image, "question": proposal.question}, info
            if "index" in options:
                break
        self._done, self._proposal = True, None  # the last drawn scene is no episode: step() needs a new reset()
        raise RuntimeError(
            f"{self.env_id}: no question was admitted after {sum(skipped.values())} draws "
            f"({skipped['invalid']} invalid, {skipped['failed']} player failures, {skipped['outside_band']} outside the "
            f"confidence band {self.rules.band.low}..{self.rules.band.high}); last problem: {last_error}. "
            "Widen confidence_band, raise max_draws, or check the questioner / question bank."
        )

    def _draw(self, options: dict[str, Any]) -> tuple[Proposal, PseudoLabel]:
        """One candidate: a scene, a question about it (examined), and its cached or fresh pseudo-label."""
        if self.bank is not None:
            index = options["index"] if "index" in options else int(self.np_random.integers(len(self.bank)))
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < len(self.bank):
                raise ValueError(f"option 'index' must be an int in [0, {len(self.bank)}), got {index!r}")
            record = self.bank[int(index)]
            task = generate_task(
                get_family(record["family"]), int(record["task_seed"]), record["difficulty"],
                record.get("split", self.sampler.split), self.sampler.image_size,
            )  # fmt: skip
            self._use_task(task)
            proposal = self.rules.examine(_as_output(record), self.scene)
            if proposal.valid and "pseudo_label" in record:
                label = None if record["pseudo_label"] is None else str(record["pseudo_label"])
                return proposal, PseudoLabel(label, answer_key(label, proposal.answer_type), float(record["confidence"]))
        else:
            self._use_task(self.sampler.sample(self.np_random, options))
            outputs = self.questioner([{"image": self._image, "text": self.instruction}], self._player_infos(1, self.questioner.privileged))  # type: ignore[misc]
            proposal = self.rules.examine(outputs[0], self.scene)
        if not proposal.valid:
            return proposal, PseudoLabel(None, None, 0.0)
        return proposal, self._pseudo_label(proposal)

    def _pseudo_label(self, proposal: Proposal) -> PseudoLabel:
        """ỹ, its key and c for the current image and question, from the cache or ``m`` snapshot samples."""
        samples = self.rules.samples
        # Seeds are drawn even on a cache hit, so the env's RNG stream does not depend on the cache.
        infos = self._player_infos(samples, self.label_reasoner.privileged)
        key = (self._image_key(), proposal.question or "")
        if key in self._labels:
            self._labels.move_to_end(key)
            return self._labels[key]
        observations = [{"image": self._image, "question": proposal.question} for _ in range(samples)]
        responses = self.label_reasoner(observations, infos)
        vote, _ = self.rules.vote(proposal, responses)
        self._labels[key] = PseudoLabel(vote.label, vote.key, vote.confidence)
        if len(self._labels) > self.label_cache_size:
            self._labels.popitem(last=False)
        return self._labels[key]

    def _target(self) -> tuple[str | None, AnswerKey | None]:
        assert self._proposal is not None
        if self.rules.reasoner_target == "ground_truth":
            truth = self._proposal.truth
            return (truth.text if truth else None), self.rules.truth_key(self._proposal)
        return self._label.text, self._label.key

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._require_running()
        self._done = True
        assert self._proposal is not None
        read = self.rules.read_response(action)
        target_text, target_key = self._target()
        key = answer_key(read.answer, self._proposal.answer_type)
        reward, terms = self.rules.pay_reasoner(key, read.well_formed, target_key)
        info: dict[str, Any] = {
            **self._task_info(),
            "question": self._proposal.question,
            "reward_terms": terms,
            "answer": target_text,
            "pseudo_label": self._label.text,
            "confidence": self._label.confidence,
            "extracted_answer": read.answer,
            "is_success": bool(terms["agreement"]),
        }
        truth = self._proposal.truth
        if truth is not None:
            info["true_answer"] = truth.text
            info["pseudo_label_correct"] = self._label.key == self.rules.truth_key(self._proposal)
        if not isinstance(action, str):
            info["error"] = f"the action must be a str (the model's response), got {type(action).__name__}"
        elif not read.well_formed:
            info["error"] = f"malformed response. {self.rules.format.describe()}"
        self._last = info
        observation = {"image": self._image.copy(), "question": self._proposal.question}
        return observation, reward, True, False, info

    def oracle(self) -> str:
        """A well-formed response that earns the full reward (it gives the paid label)."""
        self._require_task("oracle()")
        target_text, _ = self._target()
        return self.rules.format.wrap("I answer as the majority of the Reasoner's samples did.", target_text or "")

    def _caption(self) -> list[str]:
        lines = [f"Q: {self._proposal.question}"] if self._proposal else []
        if self._last:
            lines += [f"Response: {self._last['extracted_answer']}", f"Label: {self._last['answer']} (c = {self._last['confidence']:.2f})"]
        return lines

    def close(self) -> None:
        if self.questioner is not None:
            self.questioner.close()
        self.label_reasoner.close()
        super().close()


def _question_limit(max_question_chars: int) -> int:
    """``max_question_chars``, if a question that long fits the text observations that show it to the Reasoner."""
    if isinstance(max_question_chars, bool) or not isinstance(max_question_chars, int) or not 1 <= max_question_chars <= MAX_TEXT_CHARS:
        raise ValueError(f"max_question_chars must be an int in [1, {MAX_TEXT_CHARS}] (the length of a text observation), got {max_question_chars!r}")
    return max_question_chars


def _as_output(record: Mapping[str, Any]) -> str:
    """A bank record as the Questioner output it came from."""
    output = f"<question>{record['question']}</question>"
    for tag, key in (("type", "answer_type"), ("program", "program")):
        if record.get(key):
            output += f"<{tag}>{record[key]}</{tag}>"
    return output


class VisPlayEnv(_SceneEnv):
    r"""The whole VisPlay round as one turn-based env: the agent asks, then answers its own question ``m`` times.

    ## Description
    A self-play round for one policy playing both roles (or two policies taking turns; see the
    PettingZoo wrapper :mod:`vista_envs.visplay.pettingzoo_env`). ``info["role"]`` says who acts:
    first the ``"questioner"`` writes a question about the image, then the ``"reasoner"`` answers it
    ``m`` times (``info["sample"]`` = 0..m-1), each time seeing only the image and the question. The
    round is then scored as in ``VisPlayQuestioner-v0`` and both roles' rewards are reported.

    ## Action Space
    ``UnicodeText(max_output_chars)``: the Questioner's output (see ``VisPlayQuestioner-v0``) on the
    first turn; a Reasoner response (``<think>…</think><answer>…</answer>`` by default) on the others.

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(2048))``: the instruction on the
    Questioner's turn, the question on the Reasoner's turns, feedback at the end.

    ## Rewards
    Nothing is credited before the round ends. Then, with :math:`R_Q` the Questioner's reward and
    :math:`R_{R,j}` the Reasoner's for answer :math:`j` (formulas in ``VisPlayQuestioner-v0``):

    .. math::

        r_{\text{last step}} = R_Q + \sum_{j=1}^{m} R_{R,j}, \qquad
        \texttt{info["rewards"]} = \{\texttt{"questioner"}: R_Q,\ \texttt{"reasoner"}: [R_{R,1}, \dots, R_{R,m}]\}

    ``info["reward_terms"]`` = ``{"uncertainty", "diversity", "agreement", "format"}`` (the last two
    summed over the ``m`` answers) with weights 1, :math:`\lambda_{div}`, 0.9, 0.1; every earlier
    step reports them as 0. A trainer should credit each role with its own entry of
    ``info["rewards"]`` and train the Reasoner only on ``info["admitted"]`` rounds.

    ## Starting State
    As ``VisPlayQuestioner-v0``: a scene drawn from ``reset(seed, options)``.

    ## Episode End
    After the ``m``-th answer, or right after the question when it is invalid (the Reasoner then
    never acts; ``info["rewards"]["reasoner"]`` is empty). The final ``info`` holds everything
    ``VisPlayQuestioner-v0`` reports (``pseudo_label``, ``confidence``, ``votes``, ``cluster_share``,
    ``admitted``, grounded: ``answer``, ``pseudo_label_correct``, ``reasoner_accuracy``) and
    ``info["role"] = None``. The true answer is never shown before the end.

    ## Arguments
    As ``VisPlayQuestioner-v0`` without ``reasoner`` and ``reasoner_timeout``, plus
    ``reasoner_target`` (``"pseudo_label"`` | ``"ground_truth"``, grounded mode) as in ``VisPlayReasoner-v0``.

    ## Version History
    - v0: initial release.
    """

    env_id = "VisPlay-v0"

    def __init__(
        self,
        samples: int = 10,
        reward_form: str = "paper",
        diversity_weight: float = 1.0,
        diversity_window: int = 256,
        diversity_threshold: float = 0.5,
        diversity_scope: str = "batch",
        diversity_tracker: DiversityTracker | None = None,
        confidence_band: tuple[float, float] = (0.25, 0.75),
        grounded: bool = False,
        reasoner_target: str = "pseudo_label",
        agreement_weight: float = 0.9,
        format_weight: float = 0.1,
        response_format: str | ResponseFormat = "think_answer",
        families: Sequence[str] | None = None,
        difficulty: int | tuple[int, int] = (1, 5),
        split: str = "train",
        image_size: int | tuple[int, int] = 224,
        max_question_chars: int = 1024,
        max_output_chars: int = 16384,
        render_mode: str | None = None,
    ):
        super().__init__(families, difficulty, split, image_size, render_mode)
        self.rules = VisPlayRules(
            samples=samples, reward_form=reward_form, diversity_weight=diversity_weight,
            diversity=_tracker(diversity_window, diversity_threshold, diversity_scope, diversity_tracker),
            band=ConfidenceBand(*confidence_band), grounded=grounded, reasoner_target=reasoner_target,
            agreement_weight=agreement_weight, format_weight=format_weight, response_format=response_format,
            max_question_chars=_question_limit(max_question_chars), max_output_chars=max_output_chars, max_response_chars=max_output_chars,
        )  # fmt: skip
        self.instruction = questioner_instruction(grounded)
        self.observation_space = spaces.Dict({"image": self.image_space, "text": UnicodeText(MAX_TEXT_CHARS)})
        self.action_space = UnicodeText(max_output_chars)
        self.role: str | None = None
        self._proposal: Proposal | None = None
        self._responses: list[Any] = []
        self._last: dict[str, Any] = {}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._use_task(self.sampler.sample(self.np_random, options))
        self.role, self._proposal, self._responses, self._last = QUESTIONER, None, [], {}
        return {"image": self._image, "text": self.instruction}, {**self._task_info(), "role": QUESTIONER}

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._require_running()
        if self.role == QUESTIONER:
            self._proposal = self.rules.examine(action, self.scene)
            if not self._proposal.valid:
                return self._finish(self.rules.refuse(self._proposal))
            self.role = REASONER
            return self._reasoner_turn()
        self._responses.append(action)
        if len(self._responses) < self.rules.samples:
            return self._reasoner_turn()
        assert self._proposal is not None
        return self._finish(self.rules.judge(self._proposal, self._responses, self._image_key()))

    def oracle(self) -> str:
        """The acting role's correct move: a valid, answerable question, or the true answer to the question.

        Raises RuntimeError on a Reasoner turn when the true answer is unknown (not grounded, and the
        question is not one of the scripted templates).
        """
        self._require_running()
        if self.role == QUESTIONER:
            return self._oracle_question(self.rules.grounded)
        assert self._proposal is not None and self._proposal.question is not None
        truth = self._proposal.truth or template_answer(self._proposal.question, self.scene)
        if truth is None:
            raise RuntimeError(f"{self.env_id}: the true answer to {self._proposal.question!r} is unknown (ask with a <program>)")
        return self.rules.format.wrap("I find the objects the question names and check them.", truth.text)

    def _zero_terms(self) -> dict[str, float]:
        return {"uncertainty": 0.0, "diversity": 0.0, "agreement": 0.0, "format": 0.0}

    def _reasoner_turn(self) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        assert self._proposal is not None
        info = {**self._task_info(), "role": REASONER, "sample": len(self._responses), "reward_terms": self._zero_terms()}
        return {"image": self._image.copy(), "text": self._proposal.question}, 0.0, False, False, info

    def _finish(self, judgement: Judgement) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._done, self.role = True, None
        terms = {
            **judgement.questioner_terms,
            "agreement": sum(t["agreement"] for t in judgement.reasoner_terms),
            "format": sum(t["format"] for t in judgement.reasoner_terms),
        }
        rewards = {QUESTIONER: judgement.questioner_reward, REASONER: list(judgement.reasoner_rewards)}
        info = {
            **self._task_info(),
            **_final_info(judgement),
            "role": None,
            "rewards": rewards,
            "reward_terms": terms,
            "responses": list(self._responses),
        }
        self._last = info
        if judgement.vote is None:
            feedback = info["error"]
        else:
            feedback = f"Round over: majority answer {judgement.vote.label!r} with confidence {judgement.vote.confidence:.2f}."
        total = judgement.questioner_reward + sum(judgement.reasoner_rewards)
        return {"image": self._image.copy(), "text": feedback[:MAX_TEXT_CHARS]}, total, True, False, info

    def _caption(self) -> list[str]:
        lines = [f"Q: {self._proposal.question}"] if self._proposal and self._proposal.question else ["Questioner's turn."]
        if self._responses:
            lines.append("answers: " + ", ".join(str(self.rules.read_response(r).answer) for r in self._responses))
        if "pseudo_label" in self._last:
            lines.append(f"majority: {self._last['pseudo_label']} (c = {self._last['confidence']:.2f})")
        if "error" in self._last:
            lines.append(f"error: {self._last['error']}")
        return lines
