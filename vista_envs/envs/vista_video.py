"""VistaVideo-v0: answer a question about a procedural video clip, choosing which frames to look at."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from PIL import Image

from vista_envs.answers import format_answer
from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.base import VistaEnv
from vista_envs.envs.conversation import Conversation
from vista_envs.envs.task_sampler import TaskSampler, choose_task
from vista_envs.pixels import image_array, normalize_image_size
from vista_envs.rendering import caption_image
from vista_envs.rewards import RewardWeights, checked_weights
from vista_envs.scoring import ResponseScorer
from vista_envs.spaces import UnicodeText
from vista_envs.tasks.base import SPLITS
from vista_envs.tools.protocol import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, parse_tool_calls
from vista_envs.video.episode import VideoEpisode, sample_episode
from vista_envs.video.evidence import Observer
from vista_envs.video.generate import ClipConfig
from vista_envs.video.questions import KINDS, get_kind
from vista_envs.video.render import FrameRenderer
from vista_envs.video.tools import FrameTools

__all__ = ["VistaVideoEnv"]

TERMS = ("correctness", "format", "reasoning", "length", "temporal", "frames", "invalid")
# Frames per tool call in the oracle's grids: four frames tile a 2x2 grid, each tile at the frame's own size.
_ORACLE_GRID = 4


MIN_TEXT_CHARS = 2048


def _clip_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 40] + f"\n[... {len(text) - limit + 40} characters cut]"


class VistaVideoEnv(VistaEnv[dict[str, Any], str]):
    r"""Interactive video question answering: an overview, tools to fetch frames, a budget on frames viewed.

    ## Description
    Each episode is a procedural clip (16 to 1,800+ frames) of numbered shapes on a walled floor: they
    move in straight lines, touch walls and collide (a yellow spark marks every touch, on its frame),
    go into an opaque box that hides them and come out, appear, vanish and change colour (by
    themselves, or because something hit them). The clip comes with an exact event log, so every
    question has an exact answer. Question kinds (``options={"family": ...}``): ``order`` (of 3-5 events),
    ``count`` (of events), ``before_after``, ``cause`` (which hit caused a change, if any), ``state`` (a
    colour, or how many objects are in the box, at a frame), ``first_time`` (a frame index or a time in
    seconds, with a tolerance) and ``compare`` (which of two objects moves faster, or stays in the box longer).

    The agent starts with an overview (a grid of a few evenly spaced frames) and fetches more with
    tools, in the house format ``<tool_call>{"name": "frames", "arguments": {"start": 10, "end": 13}}</tool_call>``:
    ``frames`` (a range or a list, as one grid), ``frame`` (one frame, full size), ``zoom`` (a region of a
    frame). Frames are drawn only when asked for, so starting an episode costs the same for any length.

    ## Action Space
    ``UnicodeText(max_response_chars)``: the assistant's turn: tool calls, or a final answer
    (``<think>...</think><answer>...</answer>`` by default).

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(max_text_chars))``. At reset the image
    is the overview grid and the text the complete prompt (the setting, the question, the tools, the
    budget and the answer format); after a tool turn, the last image a tool returned and the tools'
    messages. ``info["messages"]``/``info["images"]``/``info["tools"]`` hold the conversation in chat
    format (``{"type": "image"}`` placeholders in the order of ``info["images"]``).

    ## Rewards
    ``info["reward_terms"]`` has the same keys at every step; the reward is their weighted sum:

    .. math::

        r_t = w_c\,\mathrm{correctness} + w_f\,\mathrm{format} + w_r\,\mathrm{reasoning} + w_l\,\mathrm{length}
              + w_t\,\mathrm{temporal} - \lambda\,N^{frames}_t - \mu\,N^{invalid}_t

    - correctness :math:`\in [0, 1]`, format, reasoning, length: as in ``VisualQA-v0``, on the answer turn.
      A sequence answer is correct only in the exact order; a frame or time answer within the tolerance.
    - temporal :math:`\in [0, 1]`, answer turn of ``order`` and ``first_time`` questions: partial credit
      for time. For an order, :math:`(1 + \tau) / 2` with Kendall's :math:`\tau` between the given and the
      true order (1 in order, 0.5 for a random order on average, 0 reversed; 0 if the letters are not a
      permutation); for a frame or time, :math:`\max(0, 1 - |x - x^*| / (4\,\mathrm{tol}))`. 0 otherwise.
    - :math:`N^{frames}_t`: frames the tools showed at this turn (a grid of 4 counts 4; the overview is
      free), reported as ``frames = -N``; weight :math:`\lambda` = ``frame_cost_weight``.
    - :math:`N^{invalid}_t`: malformed, unknown or refused tool calls (out-of-range frames, bad boxes,
      the budget spent), calls past the per-turn limit (counted once), turns with neither a call nor an
      answer, non-str or over-long actions; reported as ``invalid = -N``, weight :math:`\mu` = ``invalid_cost_weight``.

    Defaults: :math:`w_c = 1, w_f = 0.2, w_r = 0.2, w_l = 0.1, w_t = 0.5, \lambda = 0.005, \mu = 0.1`.

    ## Starting State
    ``reset(seed, options={"split", "family", "difficulty", "task_seed"})``: the kind (``family``), the
    difficulty and a task seed are drawn from the env's RNG unless given. Difficulty makes the clip
    longer (48, 150, 300, 900, 1,800 frames unless ``clip_frames`` is set), with more objects and
    events and more of them hidden in the box, and the questions harder (more events to order, events
    closer in time down to the same frame, tighter tolerances, closer speeds). Splits are disjoint by
    content: a clip belongs to the split that the hash of its script (every scripted event) falls in, so
    no eval or test clip is ever shown in training.

    ## Episode End
    Terminates on the answer turn; truncates after ``max_turns`` turns without one. Then ``info`` holds
    ``answer`` (ground truth), ``is_success``, ``extracted_answer``, ``frames_viewed`` and the task's identity
    (``split``, ``task_seed``); the answer, and the seed that regenerates it, are never in an observation or
    ``info`` before that. Public metadata at every step: ``family``, ``difficulty``,
    ``answer_type``, ``options``, ``n_frames``, ``fps``, ``overview_frames``, ``frames_viewed``, ``frames_left``.

    ## Arguments
    - ``families`` (str | sequence of str | None): question kinds to draw from (a str names one), default all of
      :data:`KINDS`.
    - ``difficulty`` (int | (int, int)): a level 1..5 or an inclusive range, default ``(1, 5)``.
    - ``split`` (str): default split, ``"train"``.
    - ``clip_frames`` (int | None): frames per clip (16..100,000), default by difficulty; ``fps`` (int, 30).
    - ``frame_size`` (int | (height, width)): the clip's frame size in pixels, default 224.
    - ``image_size`` (int | (height, width)): the observation image, default 448 (a 2x2 grid shows
      frames at full size).
    - ``n_overview`` (int, default 4): frames in the reset overview (2..16).
    - ``max_frames`` (int, default 48): the frame budget per episode; ``max_grid`` (int, default 16):
      frames per ``frames`` call.
    - ``max_turns`` (int, default 8), ``max_calls_per_turn`` (int, default 4).
    - ``response_format``, ``correctness_weight``, ``format_weight``, ``reasoning_weight``, ``length_weight``,
      ``reasoning_words``, ``length_budget``, ``max_response_chars``: as in ``VisualQA-v0``.
    - ``temporal_weight`` (0.5), ``frame_cost_weight`` (0.005), ``invalid_cost_weight`` (0.1).
    - ``max_text_chars`` (int >= 2048, default 8192); ``include_images_in_info`` (bool, default True).
    - ``render_mode``: ``"rgb_array"`` shows the current image with the question and the last message.

    ## Version History
    - v0: initial release.
    - v0, same content: the final ``info`` also holds ``split`` and ``task_seed``, as the agent contract says;
      ``families`` may be one kind's name; ``max_text_chars`` must be at least 2048 (was 1024, which cut the
      answer format off the longest prompts).
    """

    env_id = "VistaVideo-v0"
    public_info_keys = frozenset({"n_frames", "fps", "overview_frames", "frames_viewed", "frames_left"})

    def __init__(
        self,
        families: Sequence[str] | None = None,
        difficulty: int | tuple[int, int] = (1, 5),
        split: str = "train",
        clip_frames: int | None = None,
        fps: int = 30,
        frame_size: int | tuple[int, int] = 224,
        image_size: int | tuple[int, int] = 448,
        n_overview: int = 4,
        max_frames: int = 48,
        max_grid: int = 16,
        max_turns: int = 8,
        max_calls_per_turn: int = 4,
        response_format: str | ResponseFormat = "think_answer",
        correctness_weight: float = 1.0,
        format_weight: float = 0.2,
        reasoning_weight: float = 0.2,
        length_weight: float = 0.1,
        temporal_weight: float = 0.5,
        frame_cost_weight: float = 0.005,
        invalid_cost_weight: float = 0.1,
        reasoning_words: tuple[int, int] = (3, 512),
        length_budget: int = 2048,
        max_response_chars: int = 16384,
        max_text_chars: int = 8192,
        include_images_in_info: bool = True,
        render_mode: str | None = None,
    ):
        self._init_render_mode(render_mode)
        # A str names one kind (tuple("order") would read it letter by letter).
        self.kinds = tuple(KINDS) if families is None else (families,) if isinstance(families, str) else tuple(families)
        if not self.kinds:
            raise ValueError(f"{self.env_id}: families must name at least one question kind")
        for name in self.kinds:
            get_kind(name)
        self.difficulty_range = TaskSampler._difficulty_range(difficulty)  # the same (low, high) rule as the task envs
        if split not in SPLITS:
            raise ValueError(f"{self.env_id}: split must be one of {SPLITS}, got {split!r}")
        self.split = split
        self.clip_config = ClipConfig(n_frames=clip_frames, fps=fps)
        self.frame_size = normalize_image_size(frame_size)
        self.image_size = normalize_image_size(image_size)
        for name, value, low, high in (
            ("n_overview", n_overview, 2, 16),
            ("max_frames", max_frames, 1, 100_000),
            ("max_grid", max_grid, 1, 64),
            ("max_turns", max_turns, 1, 1000),
            ("max_calls_per_turn", max_calls_per_turn, 1, 64),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{self.env_id}: {name} must be an int in [{low}, {high}], got {value!r}")
        weights = {
            "correctness_weight": correctness_weight,
            "format_weight": format_weight,
            "reasoning_weight": reasoning_weight,
            "length_weight": length_weight,
            "temporal_weight": temporal_weight,
            "frame_cost_weight": frame_cost_weight,
            "invalid_cost_weight": invalid_cost_weight,
        }
        checked_weights(self.env_id, **weights)
        # The longest prompt (the tools, the question and the answer format) is about 1,700 characters: a smaller
        # limit would cut the answer format off it.
        if isinstance(max_text_chars, bool) or not isinstance(max_text_chars, int) or max_text_chars < MIN_TEXT_CHARS:
            raise ValueError(
                f"{self.env_id}: max_text_chars must be an int >= {MIN_TEXT_CHARS}, got {max_text_chars!r}"
            )
        self.n_overview = n_overview
        self.max_turns, self.max_calls_per_turn = max_turns, max_calls_per_turn
        self.scorer = ResponseScorer(
            response_format=response_format,
            weights=RewardWeights(correctness_weight, format_weight, reasoning_weight, length_weight),
            reasoning_words=reasoning_words,
            length_budget=length_budget,
            max_response_chars=max_response_chars,
        )
        self.weights = {
            "correctness": correctness_weight,
            "format": format_weight,
            "reasoning": reasoning_weight,
            "length": length_weight,
            "temporal": float(temporal_weight),
            "frames": float(frame_cost_weight),
            "invalid": float(invalid_cost_weight),
        }
        self.max_text_chars = max_text_chars
        self.include_images_in_info = include_images_in_info
        self.tools = FrameTools(self.frame_size, self.image_size, max_frames, max_grid)
        width, height = self.image_size
        self.observation_space = spaces.Dict(
            {"image": spaces.Box(0, 255, (height, width, 3), np.uint8), "text": UnicodeText(max_text_chars)}
        )
        self.action_space = UnicodeText(max_response_chars)
        self.episode: VideoEpisode | None = None
        self.conversation: Conversation | None = None
        self.turn = 0
        self.overview_frames: tuple[int, ...] = ()
        self._view = np.zeros((height, width, 3), np.uint8)
        self._last_text = ""
        self._difficulty = 0

    # -- episode -------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        options = {} if options is None else options  # choose_task checks that it is a mapping
        split, kind, difficulty = choose_task(
            self.np_random,
            options,
            names=self.kinds,
            difficulty_range=self.difficulty_range,
            default_split=self.split,
            env_id=self.env_id,
        )
        task_seed = options.get("task_seed", int(self.np_random.integers(2**31 - 1)))
        if isinstance(task_seed, bool) or not isinstance(task_seed, (int, np.integer)) or task_seed < 0:
            raise ValueError(f"{self.env_id}: task_seed must be a non-negative int, got {task_seed!r}")
        self.episode = sample_episode(kind, int(task_seed), difficulty, split, self.clip_config, self.tools.max_frames)
        self._difficulty = difficulty
        self._identity = {"split": split, "task_seed": int(task_seed)}  # they regenerate the clip: only at the end
        self._start_episode()
        clip = self.episode.clip
        renderer = FrameRenderer(clip, self.frame_size)
        self.tools.start(renderer)
        self.turn = 0
        self.overview_frames = tuple(
            sorted({round(i * (clip.n_frames - 1) / (self.n_overview - 1)) for i in range(self.n_overview)})
        )
        self._view = image_array(renderer.grid(self.overview_frames, self.image_size))
        self.conversation = Conversation(self._system_prompt(), self.tools.schemas())
        prompt = self._prompt()
        self.conversation.user(prompt, [self._view])
        self._last_text = prompt
        info = self._info()
        return {"image": self._view.copy(), "text": _clip_text(prompt, self.max_text_chars)}, info

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._require_running()
        assert self.episode is not None and self.conversation is not None
        self.turn += 1
        terms = dict.fromkeys(TERMS, 0.0)
        errors: list[str] = []
        if not isinstance(action, str) or len(action) > self.scorer.max_response_chars:
            reason = (
                f"the action must be a str (the assistant's turn), got {type(action).__name__}"
                if not isinstance(action, str)
                else f"the turn has {len(action)} characters, over the limit of {self.scorer.max_response_chars}"
            )
            self.conversation.assistant("" if not isinstance(action, str) else action[:200])
            feedback = self._reject(terms, errors, reason)
        else:
            calls, n_calls = parse_tool_calls(action, self.max_calls_per_turn)
            if self.scorer.format.parse(action).answer is not None:
                return self._answer(action, terms, n_calls)
            valid = [call for call in calls if call.error is None]
            ids = self.conversation.assistant(action, [(c.name, c.arguments) for c in valid])
            if n_calls == 0:
                feedback = self._reject(
                    terms, errors, "the turn has neither a tool call nor an answer. " + self._call_hint()
                )
            else:
                feedback = self._run_calls(calls, n_calls, ids, terms, errors)
        truncated = self.turn >= self.max_turns
        info = self._info()
        if errors:
            info["error"] = " | ".join(errors)
        if truncated:
            self._finish(info, extracted=None, success=False)
        info["reward_terms"] = terms
        self._last_text = feedback
        return (
            {"image": self._view.copy(), "text": _clip_text(feedback, self.max_text_chars)},
            self._weigh(terms),
            False,
            truncated,
            info,
        )

    def _run_calls(self, calls, n_calls: int, ids: list[str], terms: dict[str, float], errors: list[str]) -> str:
        assert self.conversation is not None
        outputs, images, id_iter = [], [], iter(ids)
        for call in calls:
            result = self.tools.call(call)
            self.conversation.tool(call.name or "invalid", result.text, next(id_iter) if call.error is None else None)
            outputs.append(f"[{call.name or 'invalid call'}] {result.text}")
            terms["frames"] -= float(len(result.frames))
            if not result.ok:
                terms["invalid"] -= 1.0
                errors.append(result.text)
            if result.image is not None:
                images.append(image_array(result.image))
        if n_calls > len(calls):
            message = f"Error: {n_calls} tool calls in one turn; only the first {self.max_calls_per_turn} were run."
            terms["invalid"] -= 1.0
            outputs.append(message)
            errors.append(message)
        if images:
            # One user turn after the tool results carries their images, in call order; the observation
            # holds one image, the last, and says so when there were more.
            self._view = images[-1]
            if len(images) > 1:
                outputs.append(
                    f"Note: this turn's calls returned {len(images)} images; the image here is the last one (all are "
                    "in the conversation)."
                )
            self.conversation.user(f"The image(s) from this turn's tool calls, in call order ({len(images)}).", images)
        return "\n".join(outputs)

    def _answer(self, action: str, terms: dict[str, float], ignored_calls: int) -> tuple:
        assert self.episode is not None and self.conversation is not None
        episode = self.episode
        scored = self.scorer.score(action, episode.spec)
        terms.update(scored.terms)
        truth = format_answer(episode.spec)
        terms["temporal"] = get_kind(episode.question.kind).temporal_credit(episode.question, scored.answer, truth)
        self.conversation.assistant(action)
        errors = [scored.error] if scored.error else []
        if ignored_calls:
            errors.append(f"{ignored_calls} tool call(s) in the answer turn were not run")
        info = self._info()
        if errors:
            info["error"] = " | ".join(errors)
        self._finish(info, extracted=scored.answer, success=scored.is_success)
        info["reward_terms"] = terms
        text = "The episode is over." + (" " + info["error"] if errors else "")
        self._last_text = text
        return (
            {"image": self._view.copy(), "text": _clip_text(text, self.max_text_chars)},
            self._weigh(terms),
            True,
            False,
            info,
        )

    def _reject(self, terms: dict[str, float], errors: list[str], reason: str) -> str:
        assert self.conversation is not None
        terms["invalid"] -= 1.0
        errors.append(reason)
        self.conversation.user(f"Error: {reason}")
        return f"Error: {reason}"

    def _finish(self, info: dict[str, Any], extracted: str | None, success: bool) -> None:
        assert self.episode is not None
        self._end_episode()
        info["answer"] = format_answer(self.episode.spec)
        info["is_success"] = bool(success)
        info["extracted_answer"] = extracted
        info["n_turns"] = self.turn
        info.update(self._identity)

    def _weigh(self, terms: dict[str, float]) -> float:
        return float(sum(self.weights[name] * value for name, value in terms.items()))

    # -- oracle and observers -------------------------------------------------------------------

    def seen_frames(self) -> set[int]:
        """The frames this episode has shown so far: the overview and every frame a tool returned."""
        return set(self.overview_frames) | self.tools.viewed

    def observer_answer(self) -> str:
        """The best answer from the frames seen so far only (perfect perception, no more frames)."""
        self._require_running("observer_answer")
        assert self.episode is not None
        question = self.episode.question
        return get_kind(question.kind).answer(question, Observer(self.episode.clip, self.seen_frames()))

    def oracle(self) -> str:
        """The next turn of an agent that looks at exactly the frames that decide the answer, then answers.

        Missing deciding frames are fetched as ``frames`` grids of four (legible tiles), up to
        ``max_calls_per_turn`` calls a turn; the answer is then worked out from the frames seen only. If
        the budget left cannot buy the missing frames, it answers at once from what the episode has seen.
        """
        self._require_running("oracle")
        assert self.episode is not None
        missing = [f for f in self.episode.deciding_frames if f not in self.seen_frames()]
        # When earlier turns spent the budget that the deciding frames need, it answers from what it has.
        if missing and len(missing) <= self.tools.left:
            chunks = [missing[i : i + _ORACLE_GRID] for i in range(0, len(missing), _ORACLE_GRID)][
                : self.max_calls_per_turn
            ]
            calls = "".join(
                f'{TOOL_CALL_OPEN}{{"name": "frames", "arguments": {{"indices": {chunk}}}}}{TOOL_CALL_CLOSE}'
                for chunk in chunks
            )
            shown = ", ".join(str(f) for chunk in chunks for f in chunk)
            return f"<think>The answer depends on frames {shown}; I look at them.</think>{calls}"
        return self.scorer.format.wrap(self.episode.spec.rationale, self.observer_answer())

    # -- text ------------------------------------------------------------------------------------

    def _system_prompt(self) -> str:
        return (
            "You answer questions about a video clip. You see a few frames first and can look at more with tools, "
            f'called as {TOOL_CALL_OPEN}{{"name": <tool>, "arguments": {{...}}}}{TOOL_CALL_CLOSE} (several per turn '
            "allowed); "
            "their results come back in the next message. Every frame a tool shows costs a little reward, and there is "
            "a budget of frames per episode. " + self.scorer.format.describe()
        )

    def _prompt(self) -> str:
        assert self.episode is not None
        clip, question = self.episode.clip, self.episode.question
        width, height = self.frame_size
        tools = "; ".join(f"{s['function']['name']}: {s['function']['description']}" for s in self.tools.schemas())
        return (
            f"A video clip of {clip.n_frames} frames (0 to {clip.n_frames - 1}, {clip.fps} frames per second, "
            f"{clip.n_frames / clip.fps:.1f} s), each {width}x{height} pixels. Numbered shapes move on a walled floor. "
            "They can touch a wall or collide with each other (a yellow spark marks each touch, on the frame where it "
            "happens; shapes may also pass in front of each other without touching), go into the brown box (which "
            "hides "
            "them completely) and come out, appear, vanish, and change colour. Every frame is labelled with its index "
            "(in its corner, or above "
            "its tile in a grid).\n"
            f"The image shows frames {', '.join(map(str, self.overview_frames))}, as a grid in reading order.\n"
            f"Question: {question.text}\n"
            f"Tools: {tools}\n"
            f"You may view {self.tools.max_frames} more frames in this episode; each costs {self.weights['frames']:g} "
            "reward. "
            "Several calls per turn are allowed; the image that comes back with the next message is the last one a "
            "call returned. "
            f"{self._call_hint()}"
        )

    def _call_hint(self) -> str:
        example = f'{TOOL_CALL_OPEN}{{"name": "frames", "arguments": {{"start": 0, "end": 3}}}}{TOOL_CALL_CLOSE}'
        return f"Call a tool as {example}, or answer. {self.scorer.format.describe()}"

    def _info(self) -> dict[str, Any]:
        assert self.episode is not None and self.conversation is not None
        question = self.episode.question
        info: dict[str, Any] = {
            "family": question.kind,
            "difficulty": self._difficulty,
            "answer_type": question.answer_type,
            "options": list(question.choices),
            "n_frames": self.episode.clip.n_frames,
            "fps": self.episode.clip.fps,
            "overview_frames": list(self.overview_frames),
            "frames_viewed": self.tools.used,
            "frames_left": self.tools.left,
            "turn": self.turn,
        }
        info.update(self.conversation.info(include_images=self.include_images_in_info))
        return info

    def render(self) -> np.ndarray | None:
        if not self._render_allowed():
            return None
        assert self.episode is not None
        lines = [f"Q: {self.episode.question.text}", f"turn {self.turn}: {self._last_text}"]
        return np.asarray(caption_image(Image.fromarray(self._view), lines))
