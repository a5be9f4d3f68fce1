"""What the VisPlay envs share: shape-scene images, the prompts of both roles, in-env players' inputs, rendering.

The three envs over the rules of :mod:`vista_envs.visplay` each live in a module of their own:
:mod:`~vista_envs.envs.visplay.questioner` (``VisPlayQuestioner-v0``), :mod:`~vista_envs.envs.visplay.reasoner`
(``VisPlayReasoner-v0``) and :mod:`~vista_envs.envs.visplay.selfplay` (``VisPlay-v0``). Images are shape scenes
(the counting, attributes, spatial, ... families), whose scene description lets grounded mode check questions exactly.
"""

from __future__ import annotations

import random
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.base import VistaEnv
from vista_envs.envs.conversation import Conversation, answering_system_prompt
from vista_envs.envs.task_sampler import TaskSampler
from vista_envs.pixels import image_array, normalize_image_size
from vista_envs.rendering import caption_image
from vista_envs.tasks import Task, family_names
from vista_envs.visplay.diversity import DiversityTracker
from vista_envs.visplay.game import Judgement
from vista_envs.visplay.parsing import OUTPUT_FORMAT_HELP
from vista_envs.visplay.query import LANGUAGE_HELP, scene_objects
from vista_envs.visplay.scripted import TEMPLATE_FORMS, ScriptedQuestioner

__all__ = [
    "MAX_TEXT_CHARS",
    "QUESTIONER",
    "REASONER",
    "SCENE_FAMILIES",
    "SceneEnv",
    "final_info",
    "question_limit",
    "questioner_instruction",
    "questioner_system_prompt",
    "reasoner_prompt",
    "tracker_for",
]

# Families whose scenes are lists of objects with shape, colour, size and position.
SCENE_FAMILIES: tuple[str, ...] = ("attributes", "comparison", "counting", "grounding", "odd_one_out", "spatial")
MAX_TEXT_CHARS = 2048
QUESTIONER = "questioner"
REASONER = "reasoner"
QUESTIONER_SYSTEM_PROMPT = "You ask questions about images that test a vision-language model."


def questioner_instruction(grounded: bool) -> str:
    """What the Questioner is asked to do (grounded mode adds the query language)."""
    text = (
        "Ask one question about this image that can be answered from the image alone and that a strong "
        "vision-language model would find hard. " + OUTPUT_FORMAT_HELP
    )
    if grounded:
        text += (
            f" Ask it in one of these forms: {TEMPLATE_FORMS}, and also give <program>...</program> that computes its"
            " answer from the scene. " + LANGUAGE_HELP
        )
    return text


def questioner_system_prompt() -> str:
    """The Questioner's system prompt: its role and its output format (the user turn holds the whole instruction)."""
    return f"{QUESTIONER_SYSTEM_PROMPT} {OUTPUT_FORMAT_HELP}"


def reasoner_prompt(question: str, response_format: ResponseFormat) -> str:
    """The Reasoner's complete prompt: the question and how to phrase the answer."""
    return f"{question}\n{response_format.describe()}"


class SceneEnv(VistaEnv[dict[str, Any], str]):
    """Base of the VisPlay envs: scene images, the image space, both roles' conversations, in-env players' inputs.

    ``info`` never holds the scene or the task seed before an episode ends: the scene is the ground truth of
    grounded mode, and the seed regenerates it.
    """

    env_id = "VisPlay"

    def __init__(
        self,
        families: Sequence[str] | None,
        difficulty: int | tuple[int, int],
        split: str,
        image_size: int | tuple[int, int],
        render_mode: str | None,
    ):
        self._init_render_mode(render_mode)
        width, height = normalize_image_size(image_size)
        names = (
            tuple(families)
            if families is not None
            else tuple(name for name in SCENE_FAMILIES if name in family_names())
        )
        self.sampler = TaskSampler(names, difficulty, split, (width, height))
        for name, family in self.sampler.families.items():
            _check_scene_family(name, family.sample(random.Random(0), 1, (width, height)).scene)
        self.image_space = spaces.Box(0, 255, (height, width, 3), np.uint8)
        self.task: Task | None = None
        self._image = np.zeros(self.image_space.shape, np.uint8)
        self.conversation = Conversation("")

    @property
    def scene(self) -> dict[str, Any]:
        """The current scene description (for scripted players and tests; never in an observation or info)."""
        self._require_task("scene")
        return self.task.spec.scene  # type: ignore[union-attr]

    def _require_task(self, what: str) -> None:
        self._require_reset(what)
        if self.task is None:  # a reset that admitted no question leaves no task
            raise gym.error.ResetNeeded(f"{self.env_id}: the last reset() found no task; call reset() again.")

    def _use_task(self, task: Task) -> None:
        self.task = task
        self._image = image_array(task.image)

    def _task_info(self) -> dict[str, Any]:
        """The scene's public description, for ``info`` at every step."""
        assert self.task is not None
        return {"family": self.task.family, "difficulty": self.task.difficulty}

    def _task_identity(self) -> dict[str, Any]:
        """``split`` and ``task_seed`` (they regenerate the scene): for ``info`` at the episode's end only."""
        assert self.task is not None
        return {"split": self.task.split, "task_seed": self.task.seed}

    # -- the two roles' conversations and in-env players' inputs -----------------------------------

    def _ask_for_question(self, instruction: str) -> dict[str, Any]:
        """Start the Questioner's conversation; returns its observation."""
        self.conversation = Conversation(questioner_system_prompt())
        self.conversation.user(instruction, [self._image])
        return {"image": self._image, "text": instruction}

    def _ask_for_answer(self, question: str, response_format: ResponseFormat) -> dict[str, Any]:
        """Start a Reasoner's conversation about ``question``; returns its observation."""
        prompt = reasoner_prompt(question, response_format)
        self.conversation = Conversation(answering_system_prompt(response_format))
        self.conversation.user(prompt, [self._image])
        return {"image": self._image.copy(), "text": prompt[:MAX_TEXT_CHARS]}

    def _player_inputs(
        self, text: str, system: str, n: int, privileged: bool, **public: Any
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``n`` observations ``{"image", "text"}`` and infos for an in-env player (a policy's ``act`` arguments).

        Each info holds a seed from the env's RNG, the sample index, the conversation in chat format, the
        ``public`` entries (e.g. the question), and the scene when the player is ``privileged``.
        """
        chat = Conversation(system)
        chat.user(text, [self._image])
        seeds = self.np_random.integers(2**31 - 1, size=n)
        infos = [{"seed": int(seed), "sample": j, **public, **chat.info()} for j, seed in enumerate(seeds)]
        if privileged:
            for info in infos:
                info["scene"] = self.scene
        return [{"image": self._image, "text": text} for _ in range(n)], infos

    def _image_key(self) -> Hashable:
        assert self.task is not None
        return (self.task.family, self.task.split, self.task.difficulty, self.task.seed)

    def _oracle_question(self, grounded: bool) -> str:
        """A valid, answerable question about the current scene (with its program when ``grounded``)."""
        assert self.task is not None
        return ScriptedQuestioner().ask(self.scene, random.Random(self.task.seed), with_program=grounded)

    def _caption(self) -> list[str]:
        return []

    def render(self) -> np.ndarray | None:
        if not self._render_allowed():
            return None
        self._require_task("render")
        return np.asarray(caption_image(self.task.image, self._caption()))  # type: ignore[union-attr]


def _check_scene_family(name: str, scene: Mapping[str, Any]) -> None:
    try:
        scene_objects(scene)
    except ValueError as error:
        raise ValueError(
            f"family {name!r} cannot be used for VisPlay ({error}); use families with object scenes such as "
            f"{SCENE_FAMILIES}"
        ) from None


def tracker_for(window: int, threshold: float, scope: str, shared: DiversityTracker | None) -> DiversityTracker:
    """The shared tracker when one is given, else a new one of this window, threshold and scope."""
    return shared if shared is not None else DiversityTracker(window, threshold, scope)


def final_info(judgement: Judgement) -> dict[str, Any]:
    """The judgement's info plus the episode-end entries: the true answer (grounded) and success."""
    truth = judgement.proposal.truth
    return {**judgement.info(), "answer": truth.text if truth is not None else None, "is_success": judgement.admitted}


def question_limit(max_question_chars: int) -> int:
    """``max_question_chars``, if a question that long fits the text observations that show it to the Reasoner."""
    if (
        isinstance(max_question_chars, bool)
        or not isinstance(max_question_chars, int)
        or not 1 <= max_question_chars <= MAX_TEXT_CHARS
    ):
        raise ValueError(
            f"max_question_chars must be an int in [1, {MAX_TEXT_CHARS}] (the length of a text observation), got "
            f"{max_question_chars!r}"
        )
    return max_question_chars
