"""VisPlayQuestioner-v0: ask a question about an image that the in-env Reasoner finds hard but answerable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gymnasium import spaces

from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.base import StepResult
from vista_envs.envs.conversation import answering_system_prompt
from vista_envs.envs.visplay.scene_env import (
    MAX_TEXT_CHARS,
    REASONER,
    SceneEnv,
    final_info,
    question_limit,
    questioner_instruction,
    reasoner_prompt,
    tracker_for,
)
from vista_envs.spaces import UnicodeText
from vista_envs.visplay.diversity import DiversityTracker
from vista_envs.visplay.game import Judgement, Proposal, VisPlayRules
from vista_envs.visplay.players import PlayerCaller, PlayerError
from vista_envs.visplay.rewards import ConfidenceBand
from vista_envs.visplay.scripted import ScriptedReasoner

__all__ = ["VisPlayQuestionerEnv"]


class VisPlayQuestionerEnv(SceneEnv):
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
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(2048))``: at reset the complete instruction
    (:func:`~vista_envs.envs.visplay.scene_env.questioner_instruction`, with the output format); after the step,
    feedback (the error, or the confidence). ``info["messages"]``/``info["images"]`` hold the conversation in
    chat format at reset and after the step.

    ## Rewards
    With ``valid`` the output parses (grounded: and its program runs on the scene, refers only to
    objects that are there, and computes what the question asks: the question takes one of the template
    forms of :mod:`vista_envs.visplay.scripted` and the program's answer is the answer to it), :math:`c` the
    majority's share of the ``m`` answers, :math:`s` the share of the question's BLEU cluster among the last
    ``diversity_window`` questions:

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
    After the one question. ``info`` holds the scene's ``split`` and ``task_seed``, ``question``, ``valid``, ``answers``
    and ``responses`` (the Reasoner's ``m`` answers, read and raw), ``pseudo_label`` (ỹ), ``confidence``, ``votes``,
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
      gets ``m`` observations ``{"image", "text"}`` per question (``text`` the question and the answer
      format; each info holds ``question``, ``messages``, ``images``, a ``seed`` and the ``sample`` index; see
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
    - v0: initial release. Changed before the first release: in-env Reasoners get ``{"image", "text"}`` with
      the format instruction (was ``{"image", "question"}``); ``info["messages"]`` added; ``split`` and
      ``task_seed`` only at the end; grounded mode checks the program against the question's text (a program that
      runs used to validate any text).
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
            samples=samples,
            reward_form=reward_form,
            diversity_weight=diversity_weight,
            diversity=tracker_for(diversity_window, diversity_threshold, diversity_scope, diversity_tracker),
            band=ConfidenceBand(*confidence_band),
            grounded=grounded,
            agreement_weight=agreement_weight,
            format_weight=format_weight,
            response_format=response_format,
            max_question_chars=question_limit(max_question_chars),
            max_output_chars=max_output_chars,
            max_response_chars=max_response_chars,
        )
        self.reasoner = PlayerCaller(
            reasoner if reasoner is not None else ScriptedReasoner(), REASONER, reasoner_timeout
        )
        self.instruction = questioner_instruction(grounded)
        self.observation_space = spaces.Dict({"image": self.image_space, "text": UnicodeText(MAX_TEXT_CHARS)})
        self.action_space = UnicodeText(max_output_chars)
        self._last: dict[str, Any] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._use_task(self.sampler.sample(self.np_random, options))
        self._start_episode()
        self._last = {}
        observation = self._ask_for_question(self.instruction)
        return observation, {**self._task_info(), **self.conversation.info()}

    def step(self, action: str) -> StepResult:
        self._require_running()
        self._end_episode()
        self.conversation.assistant(action if isinstance(action, str) else "")
        proposal = self.rules.examine(action, self.scene)
        if not proposal.valid:
            return self._finish(self.rules.refuse(proposal), responses=[])
        assert proposal.question is not None
        observations, infos = self._player_inputs(
            reasoner_prompt(proposal.question, self.rules.format),
            answering_system_prompt(self.rules.format),
            self.rules.samples,
            self.reasoner.privileged,
            question=proposal.question,
        )
        try:
            responses = self.reasoner(observations, infos)
        except PlayerError as error:
            return self._reasoner_failed(proposal, str(error))
        return self._finish(self.rules.judge(proposal, responses, self._image_key()), responses)

    def oracle(self) -> str:
        """A valid, answerable question about the current image (a scripted template question; for tests and SFT)."""
        self._require_task("oracle")
        return self._oracle_question(self.rules.grounded)

    def _finish(self, judgement: Judgement, responses: list[Any]) -> StepResult:
        info = {
            **self._task_info(),
            **self._task_identity(),
            **final_info(judgement),
            "responses": responses,
            "reasoner_failed": False,
        }
        self._last = info
        if judgement.vote is None:
            feedback = info["error"]
        else:
            feedback = (
                f"Your question was answered {self.rules.samples} times; the majority answer had confidence "
                f"{judgement.vote.confidence:.2f}."
            )
        self.conversation.user(feedback)
        return (
            self._observation(feedback),
            judgement.questioner_reward,
            True,
            False,
            {**info, **self.conversation.info()},
        )

    def _reasoner_failed(self, proposal: Proposal, error: str) -> StepResult:
        info = {
            **self._task_info(),
            **self._task_identity(),
            "question": proposal.question,
            "valid": True,
            "reward_terms": {"uncertainty": 0.0, "diversity": 0.0},
            "answer": None,
            "is_success": False,
            "reasoner_failed": True,
            "error": error,
        }
        self._last = info
        feedback = f"The question could not be scored: {error}"
        self.conversation.user(feedback)
        return self._observation(feedback), 0.0, False, True, {**info, **self.conversation.info()}

    def _observation(self, text: str) -> dict[str, Any]:
        return {"image": self._image.copy(), "text": text[:MAX_TEXT_CHARS]}

    def _caption(self) -> list[str]:
        if not self._last:
            return ["Questioner: ask a hard but answerable question."]
        lines = [f"Q: {self._last.get('question')}"]
        if "pseudo_label" in self._last:
            lines.append(
                f"majority: {self._last['pseudo_label']} (c = {self._last['confidence']:.2f}); votes: "
                f"{self._last['votes']}"
            )
        if "error" in self._last:
            lines.append(f"error: {self._last['error']}")
        return lines

    def close(self) -> None:
        self.reasoner.close()
        super().close()
