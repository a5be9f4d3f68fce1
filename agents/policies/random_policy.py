"""The chance baseline: a well-formed response with a random answer of the right type."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from vista_agents.policies.base import check_batch
from vista_envs.answers import ResponseFormat
from vista_envs.bench.baselines import RandomGuesser

__all__ = ["RandomPolicy"]


class RandomPolicy:
    """Answers every question with a uniformly random guess of the right answer type: the chance baseline.

    The answer type comes from ``info["answer_type"]`` (``VisualQA-v0`` and ``VistaTool-v0`` put it in
    every info), the options from the question text where it names them. The response is always well
    formed in ``response_format``, so on leaderboards the policy scores the format reward and chance-level
    correctness. Guesses by type:

    - ``yes_no``: yes or no; ``choice``: one of the letters of ``info["options"]``, or those the question
      names ("(A-F)", "(A, B, C)"), else A-D; ``sequence``: those letters shuffled;
    - ``number``: an integer in ``number_range``; ``time``: a random ``H:MM``;
    - ``text``: one of the two words of an "X or Y?" question, else a common colour/shape/size word;
    - ``box``: a random box inside the image (its size from the observation).

    Args:
        seed: seeds the guesses; the same seed and inputs give the same responses.
        response_format: the env's response format: a name (``"think_answer"``, ``"boxed"``,
            ``"answer_only"``) or a :class:`vista_envs.answers.ResponseFormat`.
        number_range: inclusive range of numeric guesses.
    """

    def __init__(
        self,
        seed: int | None = None,
        response_format: str | ResponseFormat = "think_answer",
        number_range: tuple[int, int] = (0, 10),
    ):
        self.rng = random.Random(seed)
        # The bench's chance baseline does the guessing; this policy gives it one seeded stream and checks its input.
        self.guesser = RandomGuesser(response_format, number_range)
        self.response_format = self.guesser.response_format
        self.number_range = number_range

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        check_batch(observations, infos)
        return [
            self.response_format.wrap("A random guess.", self.guess(obs, info))
            for obs, info in zip(observations, infos)
        ]

    def guess(self, observation: dict[str, Any], info: dict[str, Any]) -> str:
        """A random answer (without the response format) for one env."""
        answer_type = info.get("answer_type")
        if answer_type is None:
            raise ValueError("RandomPolicy needs info['answer_type'] (set by VisualQA-v0 and VistaTool-v0)")
        if answer_type not in RandomGuesser.ANSWER_TYPES:
            raise ValueError(f"RandomPolicy cannot guess answers of type {answer_type!r}")
        return self.guesser.guess(observation, info, self.rng)
