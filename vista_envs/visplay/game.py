"""The rules of one VisPlay round, shared by the three envs: check a question, count the votes, pay both roles.

A round: the Questioner writes an output about an image (:meth:`VisPlayRules.examine` parses it and,
in grounded mode, runs its program on the scene); the Reasoner answers the question ``m`` times;
:meth:`VisPlayRules.judge` reads the answers, takes the majority vote, clusters the question with the
recent ones and pays both roles (formulas in :mod:`vista_envs.visplay.rewards`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vista_envs.answers import get_response_format
from vista_envs.answers.extract import ResponseFormat
from vista_envs.visplay.diversity import ClusterAssignment, DiversityTracker
from vista_envs.visplay.parsing import QuestionerOutput, parse_questioner_output
from vista_envs.visplay.query import QueryError, QueryResult, run_query
from vista_envs.visplay.rewards import (
    QUESTIONER_FORMS,
    ConfidenceBand,
    questioner_reward,
    questioner_terms,
    reasoner_reward,
    reasoner_terms,
)
from vista_envs.visplay.scripted import TEMPLATE_FORMS, TemplateQuestion
from vista_envs.visplay.voting import AnswerKey, Vote, answer_key, majority_vote

__all__ = ["REASONER_TARGETS", "Judgement", "Proposal", "ReadResponse", "VisPlayRules"]

REASONER_TARGETS: tuple[str, ...] = ("pseudo_label", "ground_truth")


@dataclass(frozen=True)
class Proposal:
    """A Questioner's output as the rules see it.

    Attributes:
        output: the parsed tags.
        truth: grounded mode: the program's answer on the scene.
        error: why the question is refused (it does not parse; grounded: no program, or the program
            fails or refers to an object that is not there).
    """

    output: QuestionerOutput
    truth: QueryResult | None = None
    error: str | None = None

    @property
    def valid(self) -> bool:
        return self.error is None

    @property
    def question(self) -> str | None:
        return self.output.question

    @property
    def answer_type(self) -> str | None:
        """The type the answers are read as: the program's, else the ``<type>`` tag's (None: guess per answer)."""
        return self.truth.answer_type if self.truth is not None else self.output.answer_type


@dataclass(frozen=True)
class ReadResponse:
    """A Reasoner response read by the response format: the answer (None if unreadable) and whether it is well
    formed."""

    answer: str | None
    well_formed: bool


@dataclass(frozen=True)
class Judgement:
    """Everything a round decided. ``vote`` is None when the question was refused."""

    proposal: Proposal
    vote: Vote | None
    responses: tuple[ReadResponse, ...]
    questioner_terms: dict[str, float]
    questioner_reward: float
    reasoner_terms: tuple[dict[str, float], ...]
    reasoner_rewards: tuple[float, ...]
    cluster: ClusterAssignment | None
    admitted: bool
    pseudo_label_correct: bool | None = None
    reasoner_accuracy: float | None = None

    def info(self) -> dict[str, Any]:
        """The round as ``info`` entries; the vote's and the cluster's entries are absent when there was none."""
        info: dict[str, Any] = {
            "question": self.proposal.question,
            "valid": self.proposal.valid,
            "answer_type": self.proposal.answer_type,
            "program": self.proposal.output.program,
            "answers": [read.answer for read in self.responses],
            "admitted": self.admitted,
            "reward_terms": dict(self.questioner_terms),
            "reasoner_rewards": list(self.reasoner_rewards),
        }
        if self.vote is not None:
            info.update(pseudo_label=self.vote.label, confidence=self.vote.confidence, votes=dict(self.vote.counts))
        if self.cluster is not None:
            info.update(cluster=self.cluster.cluster, cluster_size=self.cluster.size, cluster_share=self.cluster.share)
        if self.pseudo_label_correct is not None:
            info.update(pseudo_label_correct=self.pseudo_label_correct, reasoner_accuracy=self.reasoner_accuracy)
        if self.proposal.error:
            info["error"] = self.proposal.error
        return info


@dataclass
class VisPlayRules:
    """The hyperparameters of VisPlay and the round logic that uses them.

    Args:
        samples: Reasoner answers per question (``m``).
        reward_form: ``"paper"`` (``1 - |2c - 1|``) or ``"min"`` (``min(c, 1 - c)``).
        diversity_weight: ``λ_div``; 0 turns clustering off.
        diversity: the tracker of recent questions (shared between envs when the same one is passed).
        band: confidences admitted to Reasoner training.
        grounded: questions must carry a ``<program>``; it gives the true answer. A question is invalid when its
            program fails or refers to an absent object, when its text is not one of the template forms
            (:data:`~vista_envs.visplay.scripted.TEMPLATE_FORMS`), or when the program's answer on the scene is not
            the answer to the text as written (so a program cannot grade a different question).
        reasoner_target: pay the Reasoner for agreeing with the ``"pseudo_label"`` (VisPlay) or with
            the ``"ground_truth"`` of the program (grounded mode only).
        agreement_weight, format_weight: weights of the Reasoner's terms (0.9, 0.1).
        response_format: how Reasoner responses are read (default ``<think>…</think><answer>…</answer>``);
            a response with no answer tag counts as a bare answer (and is not well formed).
        max_question_chars: longer questions are invalid.
        max_output_chars: longer Questioner outputs are invalid (not parsed at all).
        max_response_chars: longer Reasoner responses are unreadable.
    """

    samples: int = 10
    reward_form: str = "paper"
    diversity_weight: float = 1.0
    diversity: DiversityTracker = field(default_factory=DiversityTracker)
    band: ConfidenceBand = field(default_factory=ConfidenceBand)
    grounded: bool = False
    reasoner_target: str = "pseudo_label"
    agreement_weight: float = 0.9
    format_weight: float = 0.1
    response_format: str | ResponseFormat = "think_answer"
    max_question_chars: int = 1024
    max_output_chars: int = 16384
    max_response_chars: int = 16384

    def __post_init__(self) -> None:
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 1:
            raise ValueError(f"samples must be a positive int, got {self.samples!r}")
        if self.reward_form not in QUESTIONER_FORMS:
            raise ValueError(f"reward_form must be one of {QUESTIONER_FORMS}, got {self.reward_form!r}")
        if self.diversity_weight < 0:
            raise ValueError(f"diversity_weight must be >= 0, got {self.diversity_weight}")
        if self.reasoner_target not in REASONER_TARGETS:
            raise ValueError(f"reasoner_target must be one of {REASONER_TARGETS}, got {self.reasoner_target!r}")
        if self.reasoner_target == "ground_truth" and not self.grounded:
            raise ValueError("reasoner_target='ground_truth' needs grounded=True (only programs give a ground truth)")
        if min(self.max_question_chars, self.max_output_chars, self.max_response_chars) < 1:
            raise ValueError("max_question_chars, max_output_chars and max_response_chars must be positive")
        self.format = get_response_format(self.response_format)

    def examine(self, output: Any, scene: Mapping[str, Any]) -> Proposal:
        """Parse a Questioner output and, in grounded mode, run its program on ``scene``."""
        if isinstance(output, str) and len(output) > self.max_output_chars:
            too_long = QuestionerOutput(
                False, error=f"the output has {len(output)} characters, over the limit of {self.max_output_chars}"
            )
            return Proposal(too_long, error=f"invalid question: {too_long.error}")
        parsed = parse_questioner_output(output, self.max_question_chars)
        if not parsed.valid:
            return Proposal(parsed, error=f"invalid question: {parsed.error}")
        if not self.grounded:
            return Proposal(parsed)
        if not parsed.program:
            return Proposal(
                parsed, error="grounded mode: the question needs a <program>...</program> that computes its answer"
            )
        try:
            truth = run_query(parsed.program, scene)
        except QueryError as error:
            return Proposal(parsed, error=f"the program is refused: {error}")
        # The program grades the Reasoner, so it must compute what the question asks: otherwise a Questioner can pair
        # any text with any program that runs, and the "true" answer belongs to another question.
        template = TemplateQuestion.read(parsed.question)
        if template is None:
            return Proposal(parsed, error=f"grounded mode: the question must take one of the forms {TEMPLATE_FORMS}")
        try:
            asked = run_query(template.program, scene)
        except QueryError as error:
            return Proposal(parsed, error=f"the question is refused: {error}")
        if asked != truth:
            return Proposal(parsed, error="grounded mode: the program does not compute what the question asks")
        return Proposal(parsed, truth=truth)

    def read_response(self, response: Any) -> ReadResponse:
        """The answer in a Reasoner response: the format's answer, else the bare text; non-strings are unreadable."""
        if not isinstance(response, str) or len(response) > self.max_response_chars:
            return ReadResponse(None, False)
        parsed = self.format.parse(response)
        if parsed.answer is not None:
            return ReadResponse(parsed.answer, parsed.well_formed)
        return ReadResponse(response.strip() or None, False)

    def vote(self, proposal: Proposal, responses: Sequence[Any]) -> tuple[Vote, tuple[ReadResponse, ...]]:
        """The majority vote over Reasoner responses (answers read as the question's type)."""
        read = tuple(self.read_response(response) for response in responses)
        return majority_vote([r.answer for r in read], proposal.answer_type), read

    def target_key(self, proposal: Proposal, vote: Vote) -> AnswerKey | None:
        """What the Reasoner is paid for matching: ỹ, or the program's answer."""
        if self.reasoner_target == "ground_truth":
            return self.truth_key(proposal)
        return vote.key

    def truth_key(self, proposal: Proposal) -> AnswerKey | None:
        return answer_key(proposal.truth.text, proposal.answer_type) if proposal.truth is not None else None

    def pay_reasoner(
        self, key: AnswerKey | None, well_formed: bool, target: AnswerKey | None
    ) -> tuple[float, dict[str, float]]:
        """The Reasoner's reward and terms for one answer (its group ``key``) against ``target``."""
        agrees = target is not None and key == target
        return reasoner_reward(agrees, well_formed, self.agreement_weight, self.format_weight), reasoner_terms(
            agrees, well_formed
        )

    def refuse(self, proposal: Proposal) -> Judgement:
        """The round of a refused question: no votes, no clustering, zero reward."""
        terms = questioner_terms(False, 0.0, 0.0, self.reward_form)
        return Judgement(proposal, None, (), terms, 0.0, (), (), None, False)

    def judge(self, proposal: Proposal, responses: Sequence[Any], image_key: Hashable) -> Judgement:
        """Score a valid question given the Reasoner's ``samples`` responses; clusters it with recent questions."""
        if not proposal.valid:
            return self.refuse(proposal)
        if len(responses) != self.samples:
            raise ValueError(f"expected {self.samples} Reasoner responses, got {len(responses)}")
        vote, read = self.vote(proposal, responses)
        cluster = self.diversity.add(proposal.question, image_key) if self.diversity_weight > 0 else None  # type: ignore[arg-type]
        share = cluster.share if cluster else 0.0
        terms = questioner_terms(True, vote.confidence, share, self.reward_form)
        target = self.target_key(proposal, vote)
        paid = [self.pay_reasoner(key, r.well_formed, target) for key, r in zip(vote.keys, read)]
        truth = self.truth_key(proposal)
        correct = accuracy = None
        if truth is not None:
            correct = vote.key == truth
            accuracy = sum(key == truth for key in vote.keys) / len(vote.keys)
        return Judgement(
            proposal=proposal,
            vote=vote,
            responses=read,
            questioner_terms=terms,
            questioner_reward=questioner_reward(True, vote.confidence, share, self.reward_form, self.diversity_weight),
            reasoner_terms=tuple(t for _, t in paid),
            reasoner_rewards=tuple(r for r, _ in paid),
            cluster=cluster,
            admitted=self.band.admits(vote.confidence),
            pseudo_label_correct=correct,
            reasoner_accuracy=accuracy,
        )
