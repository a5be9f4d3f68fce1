"""VisPlayReasoner-v0: answer generated questions, paid for agreeing with the majority-vote pseudo-label."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from gymnasium import spaces

from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.base import StepResult
from vista_envs.envs.conversation import answering_system_prompt
from vista_envs.envs.visplay.scene_env import (
    MAX_TEXT_CHARS,
    QUESTIONER,
    REASONER,
    SceneEnv,
    questioner_instruction,
    questioner_system_prompt,
    reasoner_prompt,
)
from vista_envs.spaces import UnicodeText
from vista_envs.tasks import generate_task, get_family
from vista_envs.visplay.bank import check_bank, questioner_output
from vista_envs.visplay.game import Proposal, VisPlayRules
from vista_envs.visplay.players import PlayerCaller, PlayerError
from vista_envs.visplay.rewards import ConfidenceBand
from vista_envs.visplay.scripted import ScriptedQuestioner, ScriptedReasoner
from vista_envs.visplay.voting import AnswerKey, answer_key

__all__ = ["PseudoLabel", "VisPlayReasonerEnv"]


class PseudoLabel(NamedTuple):
    """A question's pseudo-label ỹ (canonical text and answer group) and its confidence c."""

    text: str | None
    key: AnswerKey | None
    confidence: float


class VisPlayReasonerEnv(SceneEnv):
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
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(2048))``: the question and the answer format
    (the complete prompt). ``info["messages"]``/``info["images"]`` hold the conversation in chat format.

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
    answer. ``info["skipped"]`` (at reset) counts the draws that were passed over; ``split`` and
    ``task_seed`` (which regenerate the scene) come at the end.

    ## Arguments
    - ``questioner``: an in-env player (``act(observations, infos)`` or callable) that gets
      ``{"image", "text": instruction}`` (its info holds ``messages``/``images``) and returns Questioner outputs.
      Default:
      :class:`~vista_envs.visplay.scripted.ScriptedQuestioner`.
    - ``question_bank``: instead of a Questioner, a sequence of records with ``question``, ``family``,
      ``task_seed``, ``difficulty`` and optionally ``split``, ``answer_type``, ``program``,
      ``pseudo_label`` + ``confidence`` (used as they are, no snapshot call); the format is
      :mod:`vista_envs.visplay.bank`. The ``info`` of a ``VisPlayQuestioner-v0`` step is such a record.
    - ``label_reasoner``: the Reasoner snapshot for pseudo-labels (same protocol as a Questioner
      env's ``reasoner``). Default: :class:`~vista_envs.visplay.scripted.ScriptedReasoner`.
    - ``samples`` (10), ``confidence_band`` ((0.25, 0.75)), ``max_draws`` (64),
      ``player_timeout`` (300 s), ``label_cache_size`` (100,000 questions).
    - ``grounded`` (bool), ``reward_target`` (``"pseudo_label"`` | ``"ground_truth"``).
    - ``agreement_weight`` (0.9), ``format_weight`` (0.1), ``response_format`` (``"think_answer"``),
      ``max_response_chars`` (16384).
    - ``families``, ``difficulty``, ``split``, ``image_size``, ``render_mode``: as in ``VisPlayQuestioner-v0``.

    ## Version History
    - v0: initial release. Changed before the first release: the prompt moved from ``obs["question"]`` to
      ``obs["text"]`` with the format instruction; ``info["messages"]`` added; ``split``/``task_seed`` only at the end.
    """

    env_id = "VisPlayReasoner-v0"

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
            samples=samples,
            diversity_weight=0.0,
            band=ConfidenceBand(*confidence_band),
            grounded=grounded,
            reasoner_target=reward_target,
            agreement_weight=agreement_weight,
            format_weight=format_weight,
            response_format=response_format,
            max_response_chars=max_response_chars,
        )
        self.bank = check_bank(question_bank) if question_bank is not None else None
        self.questioner = (
            None
            if self.bank is not None
            else PlayerCaller(
                questioner if questioner is not None else ScriptedQuestioner(), QUESTIONER, player_timeout
            )
        )
        self.label_reasoner = PlayerCaller(
            label_reasoner if label_reasoner is not None else ScriptedReasoner(), REASONER, player_timeout
        )
        self.instruction = questioner_instruction(grounded)
        self.max_draws = max_draws
        self.label_cache_size = label_cache_size
        self._labels: OrderedDict[tuple[Hashable, str], PseudoLabel] = OrderedDict()
        self.observation_space = spaces.Dict({"image": self.image_space, "text": UnicodeText(MAX_TEXT_CHARS)})
        self.action_space = UnicodeText(max_response_chars)
        self._proposal: Proposal | None = None
        self._label = PseudoLabel(None, None, 0.0)
        self._last: dict[str, Any] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._start_episode()
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
                assert proposal.question is not None
                observation = self._ask_for_answer(proposal.question, self.rules.format)
                return observation, {**self._task_info(), "skipped": skipped, **self.conversation.info()}
            if "index" in options:
                break
        self._end_episode()  # the last drawn scene is no episode: step() needs a new reset()
        self._proposal = None
        raise RuntimeError(
            f"{self.env_id}: no question was admitted after {sum(skipped.values())} draws "
            f"({skipped['invalid']} invalid, {skipped['failed']} player failures, {skipped['outside_band']} outside "
            "the "
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
                get_family(record["family"]),
                int(record["task_seed"]),
                record["difficulty"],
                record.get("split", self.sampler.split),
                self.sampler.image_size,
            )
            self._use_task(task)
            proposal = self.rules.examine(questioner_output(record), self.scene)
            if proposal.valid and "pseudo_label" in record:
                label = None if record["pseudo_label"] is None else str(record["pseudo_label"])
                return proposal, PseudoLabel(
                    label, answer_key(label, proposal.answer_type), float(record["confidence"])
                )
        else:
            self._use_task(self.sampler.sample(self.np_random, options))
            assert self.questioner is not None
            outputs = self.questioner(
                *self._player_inputs(self.instruction, questioner_system_prompt(), 1, self.questioner.privileged)
            )
            proposal = self.rules.examine(outputs[0], self.scene)
        if not proposal.valid:
            return proposal, PseudoLabel(None, None, 0.0)
        return proposal, self._pseudo_label(proposal)

    def _pseudo_label(self, proposal: Proposal) -> PseudoLabel:
        """ỹ, its key and c for the current image and question, from the cache or ``m`` snapshot samples."""
        samples = self.rules.samples
        question = proposal.question or ""
        # Seeds are drawn even on a cache hit, so the env's RNG stream does not depend on the cache.
        observations, infos = self._player_inputs(
            reasoner_prompt(question, self.rules.format),
            answering_system_prompt(self.rules.format),
            samples,
            self.label_reasoner.privileged,
            question=question,
        )
        key = (self._image_key(), question)
        if key in self._labels:
            self._labels.move_to_end(key)
            return self._labels[key]
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

    def step(self, action: str) -> StepResult:
        self._require_running()
        self._end_episode()
        assert self._proposal is not None
        self.conversation.assistant(action if isinstance(action, str) else "")
        read = self.rules.read_response(action)
        target_text, target_key = self._target()
        key = answer_key(read.answer, self._proposal.answer_type)
        reward, terms = self.rules.pay_reasoner(key, read.well_formed, target_key)
        info: dict[str, Any] = {
            **self._task_info(),
            **self._task_identity(),
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
        observation = {
            "image": self._image.copy(),
            "text": reasoner_prompt(self._proposal.question or "", self.rules.format)[:MAX_TEXT_CHARS],
        }
        return observation, reward, True, False, {**info, **self.conversation.info()}

    def oracle(self) -> str:
        """A well-formed response that earns the full reward (it gives the paid label)."""
        self._require_task("oracle")
        target_text, _ = self._target()
        return self.rules.format.wrap("I answer as the majority of the Reasoner's samples did.", target_text or "")

    def _caption(self) -> list[str]:
        lines = [f"Q: {self._proposal.question}"] if self._proposal else []
        if self._last:
            lines += [
                f"Response: {self._last['extracted_answer']}",
                f"Label: {self._last['answer']} (c = {self._last['confidence']:.2f})",
            ]
        return lines

    def close(self) -> None:
        if self.questioner is not None:
            self.questioner.close()
        self.label_reasoner.close()
        super().close()
