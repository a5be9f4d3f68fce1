"""VisPlay-v0: the whole VisPlay round, turn based: the agent asks a question, then answers it ``m`` times."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gymnasium import spaces

from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.base import StepResult
from vista_envs.envs.visplay.scene_env import (
    MAX_TEXT_CHARS,
    QUESTIONER,
    REASONER,
    SceneEnv,
    final_info,
    question_limit,
    questioner_instruction,
    tracker_for,
)
from vista_envs.spaces import UnicodeText
from vista_envs.visplay.diversity import DiversityTracker
from vista_envs.visplay.game import Judgement, Proposal, VisPlayRules
from vista_envs.visplay.rewards import ConfidenceBand
from vista_envs.visplay.scripted import template_answer

__all__ = ["VisPlayEnv"]


class VisPlayEnv(SceneEnv):
    r"""The whole VisPlay round as one turn-based env: the agent asks, then answers its own question ``m`` times.

    ## Description
    A self-play round for one policy playing both roles (or two policies taking turns; see the
    PettingZoo wrapper :mod:`vista_envs.envs.visplay.pettingzoo_env`). ``info["role"]`` says who acts:
    first the ``"questioner"`` writes a question about the image, then the ``"reasoner"`` answers it
    ``m`` times (``info["sample"]`` = 0..m-1), each time seeing only the image and the question. The
    round is then scored as in ``VisPlayQuestioner-v0`` and both roles' rewards are reported.

    ## Action Space
    ``UnicodeText(max_output_chars)``: the Questioner's output (see ``VisPlayQuestioner-v0``) on the
    first turn; a Reasoner response (``<think>…</think><answer>…</answer>`` by default) on the others.

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(2048))``: the instruction on the
    Questioner's turn, the question and the answer format on the Reasoner's turns, feedback at the end.
    ``info["messages"]``/``info["images"]`` hold the acting role's conversation in chat format (each
    Reasoner sample is a fresh conversation: it sees only the image and the question).

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
    ``info["role"] = None``, the scene's ``split`` and ``task_seed``. The true answer is never shown before
    the end. A Reasoner turn that is not a string is recorded as an empty answer with ``info["error"]``.

    ## Arguments
    As ``VisPlayQuestioner-v0`` without ``reasoner`` and ``reasoner_timeout``, plus
    ``reasoner_target`` (``"pseudo_label"`` | ``"ground_truth"``, grounded mode) as in ``VisPlayReasoner-v0``.

    ## Version History
    - v0: initial release. Changed before the first release: the Reasoner's prompt carries the format
      instruction; ``info["messages"]`` added; ``split``/``task_seed`` only at the end; non-string Reasoner
      turns are recorded as empty answers with an error.
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
            samples=samples,
            reward_form=reward_form,
            diversity_weight=diversity_weight,
            diversity=tracker_for(diversity_window, diversity_threshold, diversity_scope, diversity_tracker),
            band=ConfidenceBand(*confidence_band),
            grounded=grounded,
            reasoner_target=reasoner_target,
            agreement_weight=agreement_weight,
            format_weight=format_weight,
            response_format=response_format,
            max_question_chars=question_limit(max_question_chars),
            max_output_chars=max_output_chars,
            max_response_chars=max_output_chars,
        )
        self.instruction = questioner_instruction(grounded)
        self.observation_space = spaces.Dict({"image": self.image_space, "text": UnicodeText(MAX_TEXT_CHARS)})
        self.action_space = UnicodeText(max_output_chars)
        self.role: str | None = None
        self._proposal: Proposal | None = None
        self._responses: list[Any] = []
        self._last: dict[str, Any] = {}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self._use_task(self.sampler.sample(self.np_random, options))
        self._start_episode()
        self.role, self._proposal, self._responses, self._last = QUESTIONER, None, [], {}
        observation = self._ask_for_question(self.instruction)
        return observation, {**self._task_info(), "role": QUESTIONER, **self.conversation.info()}

    def step(self, action: str) -> StepResult:
        self._require_running()
        error = (
            None
            if isinstance(action, str)
            else f"the action must be a str (the model's turn), got {type(action).__name__}"
        )
        turn = action if isinstance(action, str) else ""
        self.conversation.assistant(turn)
        if self.role == QUESTIONER:
            self._proposal = self.rules.examine(action, self.scene)
            if not self._proposal.valid:
                return self._finish(self.rules.refuse(self._proposal))
            self.role = REASONER
            return self._reasoner_turn(error)
        # Kept as text: responses go to info["responses"], which must stay JSON-serialisable.
        self._responses.append(turn)
        if len(self._responses) < self.rules.samples:
            return self._reasoner_turn(error)
        assert self._proposal is not None
        return self._finish(self.rules.judge(self._proposal, self._responses, self._image_key()), error)

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
            raise RuntimeError(
                f"{self.env_id}: the true answer to {self._proposal.question!r} is unknown (ask with a <program>)"
            )
        return self.rules.format.wrap("I find the objects the question names and check them.", truth.text)

    def _zero_terms(self) -> dict[str, float]:
        return {"uncertainty": 0.0, "diversity": 0.0, "agreement": 0.0, "format": 0.0}

    def _reasoner_turn(self, error: str | None) -> StepResult:
        assert self._proposal is not None and self._proposal.question is not None
        observation = self._ask_for_answer(self._proposal.question, self.rules.format)
        info = {
            **self._task_info(),
            "role": REASONER,
            "sample": len(self._responses),
            "reward_terms": self._zero_terms(),
        }
        if error is not None:
            info["error"] = error
        return observation, 0.0, False, False, {**info, **self.conversation.info()}

    def _finish(self, judgement: Judgement, error: str | None = None) -> StepResult:
        self._end_episode()
        self.role = None
        terms = {
            **judgement.questioner_terms,
            "agreement": sum(t["agreement"] for t in judgement.reasoner_terms),
            "format": sum(t["format"] for t in judgement.reasoner_terms),
        }
        rewards = {QUESTIONER: judgement.questioner_reward, REASONER: list(judgement.reasoner_rewards)}
        info = {
            **self._task_info(),
            **self._task_identity(),
            **final_info(judgement),
            "role": None,
            "rewards": rewards,
            "reward_terms": terms,
            "responses": list(self._responses),
        }
        if error is not None:
            info["error"] = f"{info['error']} | {error}" if "error" in info else error
        self._last = info
        if judgement.vote is None:
            feedback = info["error"]
        else:
            feedback = (
                f"Round over: majority answer {judgement.vote.label!r} with confidence {judgement.vote.confidence:.2f}."
            )
        self.conversation.user(feedback)
        total = judgement.questioner_reward + sum(judgement.reasoner_rewards)
        return (
            {"image": self._image.copy(), "text": feedback[:MAX_TEXT_CHARS]},
            total,
            True,
            False,
            {**info, **self.conversation.info()},
        )

    def _caption(self) -> list[str]:
        lines = (
            [f"Q: {self._proposal.question}"] if self._proposal and self._proposal.question else ["Questioner's turn."]
        )
        if self._responses:
            lines.append("answers: " + ", ".join(str(self.rules.read_response(r).answer) for r in self._responses))
        if "pseudo_label" in self._last:
            lines.append(f"majority: {self._last['pseudo_label']} (c = {self._last['confidence']:.2f})")
        if "error" in self._last:
            lines.append(f"error: {self._last['error']}")
        return lines
