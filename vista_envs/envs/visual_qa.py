"""VisualQA-v0: answer one question about a procedurally generated image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from vista_envs.answers import format_answer
from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.conversation import Conversation, answering_system_prompt
from vista_envs.envs.task_env import TaskEnv
from vista_envs.pixels import image_array
from vista_envs.rendering import caption_image
from vista_envs.rewards import RewardWeights
from vista_envs.spaces import UnicodeText
from vista_envs.tasks import family_names, get_family

__all__ = ["VisualQAEnv"]

MAX_TEXT_CHARS = 2048


class VisualQAEnv(TaskEnv):
    r"""A single-turn visual question answering environment with rule rewards (the "VLM GRPO" setting).

    ## Description
    Each episode shows one procedurally generated image and a question about it (counting, attributes,
    spatial relations, comparison, charts, small text, clocks, grounding, mazes, geometry,
    odd-one-out, temporal order of frames, ... see ``vista-envs list``). The agent answers with one
    text response, which is parsed, verified against the exact ground truth and paid by rule rewards.
    Tasks are generated from ``(seed, family, difficulty, split)``, so there is no dataset to download
    and every answer is exact.

    ## Action Space
    ``UnicodeText(max_response_chars)``: the model's full response, by default
    ``<think>reasoning</think><answer>answer</answer>``. Any string is accepted; a non-string or an
    over-long response is scored as invalid (see Rewards) and reported in ``info["error"]``.

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(2048))``. The text is the complete prompt:
    the question, which says how to phrase the answer (units, choice letters, ``[x0, y0, x1, y1]`` for boxes,
    ``H:MM`` for times), then the response format's instruction (``Think inside <think>...</think>, then give
    the final answer in <answer>...</answer>.``), so an agent that reads only the observation can earn full
    reward. ``info["messages"]`` holds the same conversation in chat format (a system prompt with the format,
    then the user turn with a ``{"type": "image"}`` placeholder for ``info["images"][0]``), at reset and after
    the answer, so ``processor.apply_chat_template(info["messages"])`` renders it.

    ## Rewards
    With weights :math:`w` (constructor kwargs) and terms reported in ``info["reward_terms"]``:

    .. math::

        R = w_c\,\mathrm{correctness} + w_f\,\mathrm{format} + w_r\,\mathrm{reasoning} + w_l\,\mathrm{length}

    - correctness :math:`\in [0, 1]`: the verifier's score of the extracted answer: 1 for an exact match
      after normalisation (case, number words, units, yes/no synonyms, choice letters), within the
      task's numeric tolerance, or the IoU for bounding boxes.
    - format :math:`\in \{0, 1\}`: 1 when the response follows the response format exactly.
    - reasoning :math:`\in [0, 1]`: 1 for a non-degenerate reasoning block of ``reasoning_words``
      words (no repetition loops), decaying linearly past the maximum.
    - length :math:`\in [-1, 0]`: :math:`-\min(1, \max(0, n_{chars} - L) / L)` with budget :math:`L`.

    An invalid action (not a ``str``, or longer than ``max_response_chars``) scores 0 on every term and -1
    on length. Defaults: :math:`w_c = 1, w_f = 0.2, w_r = 0.2, w_l = 0.1`, so a perfect answer earns 1.4.

    ## Starting State
    ``reset(seed, options)`` draws a family, a difficulty and a task seed from the env's RNG; options
    ``{"split": "train"|"eval"|"test", "family": name, "difficulty": 1..5, "task_seed": int}`` fix them.
    Splits are disjoint by construction (a task belongs to the split its content hash falls in).

    ## Episode End
    The episode terminates after the one answer. ``info`` then holds ``answer`` (ground truth),
    ``is_success`` (correct, or IoU >= 0.5), ``extracted_answer``, ``reward_terms``, and the task's
    ``split`` and ``task_seed``. The ground truth, and anything that regenerates it, is never in an
    observation or in ``info`` before the step that ends the episode: at reset ``info`` holds only
    ``family``, ``difficulty``, ``answer_type``, ``options`` (a multiple-choice question's option texts)
    and the conversation.

    ## Arguments
    - ``families`` (sequence of str | None): families to draw from; default every family that needs no
      tools (the tool-oriented families of ``VistaTool-v0`` can be named explicitly).
    - ``difficulty`` (int | (int, int)): a level 1..5 or an inclusive range, default ``(1, 5)``.
    - ``split`` (str): default split, ``"train"``.
    - ``image_size`` (int | (height, width)): default 224.
    - ``family_configs`` (dict): per-family config overrides.
    - ``response_format`` (str | ResponseFormat): ``"think_answer"`` (default), ``"boxed"``, ``"answer_only"``.
    - ``correctness_weight``, ``format_weight``, ``reasoning_weight``, ``length_weight`` (float).
    - ``reasoning_words`` ((int, int)): default ``(3, 512)``; ``length_budget`` (int chars, default 2048);
      ``max_response_chars`` (int, default 16384).
    - ``render_mode``: ``"rgb_array"`` returns the image with the question (and, after the answer,
      the response and ground truth) written beneath.

    ## Version History
    - v0: initial release. Changed before the first release: the prompt moved from ``obs["question"]`` to
      ``obs["text"]`` and carries the format instruction; ``info["messages"]``/``info["images"]`` added;
      ``task_seed`` and ``split`` are reported only at the episode's end.
    """

    env_id = "VisualQA-v0"

    def __init__(
        self,
        families: Sequence[str] | None = None,
        difficulty: int | tuple[int, int] = (1, 5),
        split: str = "train",
        image_size: int | tuple[int, int] = 224,
        family_configs: Mapping[str, Any] | None = None,
        response_format: str | ResponseFormat = "think_answer",
        correctness_weight: float = 1.0,
        format_weight: float = 0.2,
        reasoning_weight: float = 0.2,
        length_weight: float = 0.1,
        reasoning_words: tuple[int, int] = (3, 512),
        length_budget: int = 2048,
        max_response_chars: int = 16384,
        render_mode: str | None = None,
    ):
        if families is None:  # the families whose answer the image alone gives (tool families are opt-in)
            families = [name for name in family_names() if not get_family(name).tools_help]
        width, height = self._init_task_env(
            families=families,
            difficulty=difficulty,
            split=split,
            image_size=image_size,
            family_configs=family_configs,
            response_format=response_format,
            weights=RewardWeights(correctness_weight, format_weight, reasoning_weight, length_weight),
            reasoning_words=reasoning_words,
            length_budget=length_budget,
            max_response_chars=max_response_chars,
            render_mode=render_mode,
        )
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (height, width, 3), np.uint8),
                "text": UnicodeText(MAX_TEXT_CHARS),
            }
        )
        self.action_space = UnicodeText(max_response_chars)
        self._image = np.zeros(self.observation_space["image"].shape, np.uint8)
        self._conversation = Conversation("")
        self._last_response: str | None = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self.task = self.sampler.sample(self.np_random, options)
        self._start_episode()
        self._last_response = None
        prompt = self._prompt()
        if len(prompt) > MAX_TEXT_CHARS:
            raise RuntimeError(f"family {self.task.family!r} produced a prompt longer than {MAX_TEXT_CHARS} characters")
        self._image = image_array(self.sampler.observed_image(self.task))
        self._conversation = Conversation(answering_system_prompt(self.scorer.format))
        self._conversation.user(prompt, [self._image])
        return {"image": self._image, "text": prompt}, {**self._task_info(), **self._conversation.info()}

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._require_running()
        task = self.task
        assert task is not None
        scored = self.scorer.score(action, task.spec)
        self._end_episode()
        self._last_response = action if isinstance(action, str) else repr(action)
        self._conversation.assistant(action if isinstance(action, str) else "")
        info = {
            **self._task_info(),
            **self._task_identity(),
            "reward_terms": scored.terms,
            "answer": format_answer(task.spec),
            "extracted_answer": scored.answer,
            "is_success": scored.is_success,
            **self._conversation.info(),
        }
        if scored.error:
            info["error"] = scored.error
        # A copy: returned observations never share memory (a memcpy is 3x cheaper than re-converting the image).
        observation = {"image": self._image.copy(), "text": self._prompt()}
        return observation, scored.reward, True, False, info

    def oracle(self) -> str:
        """A correct, well-formed response to the current task (for tests and SFT demonstrations)."""
        task = self._require_task("oracle")
        return self.scorer.oracle(task.spec, format_answer(task.spec))

    def render(self) -> np.ndarray | None:
        if not self._render_allowed():
            return None
        lines = [f"Q: {self.task.question}"]
        if self.episode_ended:
            lines += [f"Response: {self._last_response}", f"Ground truth: {format_answer(self.task.spec)}"]
        return np.asarray(caption_image(self.sampler.observed_image(self.task), lines))
