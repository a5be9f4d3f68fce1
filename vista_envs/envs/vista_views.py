"""VistaViews-v0: questions about one PyBullet tabletop seen from several cameras, answered exactly."""

from __future__ import annotations

import functools
import math
import numbers
import random
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from PIL import Image

from vista_envs.answers import format_answer
from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.base import StepResult, VistaEnv
from vista_envs.envs.conversation import Conversation
from vista_envs.envs.task_sampler import choose_task
from vista_envs.rendering import caption_image
from vista_envs.rewards import RewardWeights, checked_weights
from vista_envs.scoring import ResponseScorer
from vista_envs.spaces import UnicodeText
from vista_envs.tasks.base import SPLITS

__all__ = ["VistaViewsEnv"]

MAX_TEXT_CHARS = 4096
OPTION_KEYS = ("split", "family", "difficulty", "task_seed", "view_seed")
MIN_VIEWS, MAX_VIEWS = 2, 4
# Scenes and rigs tried before giving up (measured acceptance: see tests/test_vista_views.py).
_MAX_SCENES = 40
_MAX_RIGS = 24
_AIMED_RIGS = 8  # rigs aimed before free ones are mixed in
_MAX_SEED = 2**63 - 1


def _seed_option(options: dict[str, Any], key: str, rng: np.random.Generator) -> int:
    if key not in options:
        return int(rng.integers(2**31 - 1))
    value = options[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value <= _MAX_SEED:
        raise ValueError(f"VistaViews-v0: reset option {key!r} must be an int in [0, 2**63), got {value!r}")
    return int(value)


class VistaViewsEnv(VistaEnv[dict[str, Any], str]):
    r"""Multi-view 3D questions about a PyBullet tabletop seen from 2-4 cameras, with exact answers.

    ## Description
    Each episode builds a tabletop scene (the robot envs' coloured objects, look-alikes included, thin dark
    screens that hide things, the robot's black pedestal at the origin of the robot frame and a low black bar
    on its side of the objects) and places 2-4
    cameras around it at random azimuths (at least 60 degrees apart), elevations and distances. The agent
    sees every view and answers one question that needs more than one of them (see
    :mod:`vista_envs.views.questions`): which number an object ringed in one view carries in another
    (``correspondence``), whether two ringed objects are the same one (``same_object``), how many objects
    of a colour there are when one is occluded in View 1 (``occluded_count``), a left/right or
    closer-to-the-robot relation in the robot's frame (``relation``), or a left/right relation as seen from
    a camera in whose view one of the objects is hidden (``camera_relation``). The views are drawn first and
    what each shows is read off their segmentation masks (drawn by the same ``getCameraImage`` calls): the
    question is one the drawn views answer, so every question is answerable from exactly the pixels the agent
    sees, and every answer is exact. A consequence: the same seeds may ask another question at another
    ``image_size``.

    With ``view_tool=True`` the episode is multi-turn: the agent starts with View 1 only and asks for other
    views with the ``view`` tool (``<tool_call>{"name": "view", "arguments": {"index": 2}}</tool_call>``),
    paying a small cost per view, until it answers: choosing which views to look at becomes part of the task.

    ## Action Space
    ``UnicodeText(max_response_chars)``: the model's full response, by default
    ``<think>reasoning</think><answer>answer</answer>``. Any action is accepted: a non-string or an
    over-long response is scored as invalid and reported in ``info["error"]``.

    ## Observation Space
    ``Dict(image=Box(0, 255, (rows * S, cols * S, 3), uint8), text=UnicodeText(4096))`` with ``S`` =
    ``image_size``: ``image`` is a mosaic of the views, row by row (1x2 when ``n_views`` is at most 2, else
    2x2; tiles without a view are dark gray); each view is titled "View k" in its top-left corner.
    ``info["images"]`` holds the views one by one (``S x S`` each), matching the ``{"type": "image"}``
    placeholders of the user message in ``info["messages"]``. ``text`` is the complete prompt: the scene's
    conventions, the question and the answer format. With ``view_tool=True``, the mosaic holds the views
    shown so far (the others dark gray), ``info["images"]`` the views in the order they were shown (each
    behind a placeholder of the user message that brought it), ``info["tools"]`` the tool's JSON schema,
    ``info["views_shown"]`` the 1-based views shown, and ``text`` after a tool turn the tool's results.

    ## Rewards
    With weights :math:`w` (constructor kwargs), terms in ``info["reward_terms"]``:

    .. math::

        R = w_c\,\mathrm{correctness} + w_f\,\mathrm{format} + w_r\,\mathrm{reasoning} + w_l\,\mathrm{length}

    as in ``VisualQA-v0``: correctness :math:`\in \{0, 1\}` (exact after normalisation: numbers, yes/no,
    ``left``/``right``, object names), format :math:`\in \{0, 1\}`, reasoning :math:`\in [0, 1]`, length
    :math:`\in [-1, 0]`. Defaults :math:`w_c = 1, w_f = 0.2, w_r = 0.2, w_l = 0.1`: a perfect answer earns 1.4.
    For GRPO groups that see the same scene through different rigs,
    :func:`vista_envs.views.consistency.consistency_rewards` adds an agreement bonus (not part of ``R``).

    With ``view_tool=True`` every turn's terms also hold ``views`` (minus the number of new views the turn
    asked for) and ``invalid`` (minus the number of unreadable turns and bad calls: malformed JSON, an
    unknown tool, a view that does not exist, too many calls), weighed by ``view_cost_weight`` (default
    0.05) and ``invalid_cost_weight`` (default 0.2):
    :math:`R_t = \ldots + w_v\,\mathrm{views} + w_i\,\mathrm{invalid}`, both terms :math:`\le 0`.

    ## Starting State
    ``reset(seed, options)`` draws a family, a difficulty, a scene seed and a rig seed from the env's RNG;
    options ``{"split": "train"|"eval"|"test", "family": name, "difficulty": 1..5, "task_seed": int,
    "view_seed": int}`` fix them. The scene (objects, screens) follows ``task_seed``; the cameras, light,
    table colour and image noise follow ``view_seed``: on the view-independent families (``occluded_count``,
    ``relation``) one ``task_seed`` with several ``view_seed`` asks, of the same scene, the first of the
    scene's candidate questions each rig can answer: mostly the same question (96% of rigs ask the scene's most
    asked one), and one question always has one answer (unless a scene admits no valid rig for one of them,
    when the next scene is drawn). Group consistency rewards by question.
    Splits are disjoint by content: a scene belongs to the split its colours and shapes hash to (80/10/10), so
    no eval or test scene shows the colours with the shapes of a train scene.
    Difficulty raises the number of objects (4-8) and screens (2-3), look-alikes, and lowers the cameras.

    ## Episode End
    The episode terminates after the one answer; ``info`` then holds ``answer`` (ground truth),
    ``is_success``, ``extracted_answer``, ``reward_terms`` and the episode's identity (``split`` is there at every
    step; ``task_seed`` and ``view_seed`` only then). Nothing before that step reveals the answer or the seeds.
    With ``view_tool=True`` a turn without an answer is a tool turn (an unreadable action is penalised, never
    final), and the episode is truncated after ``max_turns`` turns without an answer.

    ## Arguments
    - ``families`` (sequence of str | None): question families to draw from; default all five.
    - ``n_views`` (int | (int, int)): views per episode, 2-4, or an inclusive range drawn per episode;
      default ``(2, 4)``.
    - ``difficulty`` (int | (int, int)): a level 1..5 or an inclusive range; default ``(1, 5)``.
    - ``split`` (str): default split, ``"train"``.
    - ``image_size`` (int): side of each (square) view in pixels (64-1024), default 224; the mosaic is 1x2 or 2x2 views.
    - ``randomization``: domain randomisation of the robot envs (:class:`vista_envs.robot.randomization.Randomization`,
      a level name or a dict of knobs): light, object colours and textures, table colour, object yaw, image
      noise as there; ``camera`` adds its jitter on top of the random rig; ``distractors`` adds 0-3 objects.
    - ``response_format``, ``correctness_weight``, ``format_weight``, ``reasoning_weight``, ``length_weight``,
      ``reasoning_words``, ``length_budget``, ``max_response_chars``: as in ``VisualQA-v0``.
    - ``view_tool`` (bool, default False): start with View 1 and ask for the others with the ``view`` tool;
      ``view_cost_weight``, ``invalid_cost_weight`` (float >= 0), ``max_turns`` (default 6),
      ``max_calls_per_turn`` (default 4) apply to it.
    - ``render_mode``: ``"rgb_array"`` returns the mosaic with the question (and, at the end, the response
      and ground truth) written beneath.

    ## Version History
    - v0: initial release.
    - v0, suite version 4 (task content changed): visibility read off the segmentation masks of the views shown
      instead of ray tests before drawing; a drawn rig asks the first candidate question it can answer instead
      of being rejected (rigs that aim View 1 past a screen are checked by projection first); the split follows
      from the colours and shapes of a scene, drawn from the split's palettes; ``camera_relation`` may hide its
      object out of view *k*'s frame and compare it with any object clear somewhere; the robot's pedestal also
      shows where the robot is; cameras see 48 degrees (was 42); sample points reach just under an object's top.
    - v0, same content: the final ``info`` also holds ``task_seed`` and ``view_seed``, as the agent contract says.
    """

    env_id = "VistaViews-v0"
    public_info_keys = frozenset({"n_views", "views_shown"})
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 1}

    def __init__(
        self,
        families: Sequence[str] | None = None,
        n_views: int | tuple[int, int] = (MIN_VIEWS, MAX_VIEWS),
        difficulty: int | tuple[int, int] = (1, 5),
        split: str = "train",
        image_size: int = 224,
        randomization: Any = None,
        response_format: str | ResponseFormat = "think_answer",
        correctness_weight: float = 1.0,
        format_weight: float = 0.2,
        reasoning_weight: float = 0.2,
        length_weight: float = 0.1,
        reasoning_words: tuple[int, int] = (3, 512),
        length_budget: int = 2048,
        max_response_chars: int = 16384,
        view_tool: bool = False,
        view_cost_weight: float = 0.05,
        invalid_cost_weight: float = 0.2,
        max_turns: int = 6,
        max_calls_per_turn: int = 4,
        render_mode: str | None = None,
    ):
        self._init_render_mode(render_mode)
        # Imported here: PyBullet belongs to the ``robot`` extra, and importing vista_envs must not need it.
        from vista_envs.robot.randomization import Randomization
        from vista_envs.robot.sim import PyBullet
        from vista_envs.views.questions import FAMILIES, get_question_family

        names = tuple(FAMILIES) if families is None else ((families,) if isinstance(families, str) else tuple(families))
        if not names:
            raise ValueError(f"{self.env_id}: families must name at least one question family")
        self.families = {name: get_question_family(name) for name in names}
        self.view_range = self._range("n_views", n_views, MIN_VIEWS, MAX_VIEWS)
        self.difficulty_range = self._range("difficulty", difficulty, 1, 5)
        if split not in SPLITS:
            raise ValueError(f"{self.env_id}: split must be one of {SPLITS}, got {split!r}")
        self.split = split
        if isinstance(image_size, bool) or not isinstance(image_size, numbers.Integral) or not 64 <= image_size <= 1024:
            raise ValueError(f"{self.env_id}: image_size must be an int in [64, 1024], got {image_size!r}")
        self.image_size = int(image_size)
        self.randomization = Randomization.from_any(randomization)
        checked_weights(
            self.env_id,
            correctness_weight=correctness_weight,
            format_weight=format_weight,
            reasoning_weight=reasoning_weight,
            length_weight=length_weight,
            view_cost_weight=view_cost_weight,
            invalid_cost_weight=invalid_cost_weight,
        )
        weights = (
            correctness_weight,
            format_weight,
            reasoning_weight,
            length_weight,
            view_cost_weight,
            invalid_cost_weight,
        )
        if not isinstance(view_tool, bool):
            raise TypeError(f"{self.env_id}: view_tool must be a bool, got {view_tool!r}")
        for name, value in (("max_turns", max_turns), ("max_calls_per_turn", max_calls_per_turn)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 1 <= value <= 100:
                raise ValueError(f"{self.env_id}: {name} must be an int in [1, 100], got {value!r}")
        self.view_tool = view_tool
        self.view_cost_weight, self.invalid_cost_weight = float(view_cost_weight), float(invalid_cost_weight)
        self.max_turns, self.max_calls_per_turn = int(max_turns), int(max_calls_per_turn)
        self.scorer = ResponseScorer(
            response_format=response_format,
            weights=RewardWeights(*(float(w) for w in weights[:4])),
            reasoning_words=reasoning_words,
            length_budget=length_budget,
            max_response_chars=max_response_chars,
        )
        from vista_envs.views.marks import ViewBuffer, mosaic_grid

        self.grid = mosaic_grid(self.view_range[1])
        rows, columns = self.grid
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (rows * self.image_size, columns * self.image_size, 3), np.uint8),
                "text": UnicodeText(MAX_TEXT_CHARS),
            }
        )
        self.action_space = UnicodeText(max_response_chars)
        from vista_envs.views.scene import SceneBuilder

        self.sim = PyBullet()
        self.builder = SceneBuilder(self.sim)
        self.question: Any = None
        self.difficulty = 0
        self.episode_split = split
        self.views: list[np.ndarray] = []
        self.cameras: list[Any] = []
        self.visibility: Any = None
        self.layout: Any = None
        self.style: Any = None
        self.bodies: list[int] = []
        self._image = np.zeros(self.observation_space["image"].shape, np.uint8)
        # The views are drawn and marked in buffers kept between episodes (see ViewBuffer), then copied into the
        # mosaic.
        self._view_buffers = [
            ViewBuffer(np.empty((self.image_size, self.image_size, 4), np.uint8)) for _ in range(self.view_range[1])
        ]
        self._conversation = Conversation("")
        self._seeds: dict[str, int] = {}
        self._last_response: str | None = None
        self.shown: list[int] = []  # the views shown so far, in the order shown
        self.turn = 0

    def _range(self, name: str, value: Any, low: int, high: int) -> tuple[int, int]:
        pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
        if (
            len(pair) != 2
            or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in pair)
            or not low <= pair[0] <= pair[1] <= high
        ):
            raise ValueError(
                f"{self.env_id}: {name} must be an int in [{low}, {high}] or an inclusive (low, high) range, got "
                f"{value!r}"
            )
        return int(pair[0]), int(pair[1])

    # ---------------------------------------------------------------- episodes

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        options = {} if options is None else options  # choose_task checks that it is a mapping
        split, family_name, difficulty = choose_task(
            self.np_random,
            options,
            names=tuple(self.families),
            difficulty_range=self.difficulty_range,
            default_split=self.split,
            option_keys=OPTION_KEYS,
            env_id=self.env_id,
        )
        task_seed = _seed_option(options, "task_seed", self.np_random)
        view_seed = _seed_option(options, "view_seed", self.np_random)
        self._generate(family_name, difficulty, split, task_seed, view_seed)
        self._seeds = {"task_seed": task_seed, "view_seed": view_seed}  # they regenerate the episode: only at the end
        self._start_episode()
        self._last_response = None
        self.turn = 0
        return {"image": self._image.copy(), "text": self._prompt}, self._info()

    def _generate(self, family_name: str, difficulty: int, split: str, task_seed: int, view_seed: int) -> None:
        from vista_envs.views.questions import Context
        from vista_envs.views.rig import render_view, sample_rig
        from vista_envs.views.scene import sample_layout
        from vista_envs.views.visibility import measure_visibility, sample_points, screened

        family = self.families[family_name]
        # String seeds: random.Random hashes them with SHA-512, the same in every process.
        scene_rng = random.Random(f"vista-views-scene:{task_seed}:{family_name}:{difficulty}:{split}")
        view_rng = random.Random(f"vista-views-rig:{view_seed}")
        n_views = view_rng.randint(*self.view_range)
        style = self.randomization.style(view_rng)
        background = _table_pixel(style.lighting, style.table_rgba)
        size = self.image_size
        for _ in range(_MAX_SCENES):
            layout = sample_layout(scene_rng, difficulty, split, self.randomization)
            draft = family.draft(layout, scene_rng)
            if draft is None:
                continue
            look_rng = random.Random(scene_rng.getrandbits(64))
            bodies, _ = self.builder.build(layout, look_rng, self.randomization)
            points = sample_points(layout)
            drawn_rigs = 0
            for attempt in range(_MAX_RIGS):
                # Rigs aim View 1 past a screen at the object the family wants hidden there (checked by projection
                # before drawing, so a missed aim costs next to nothing); after a few, every third rig is free.
                hide = family.hide(draft, layout, view_rng) if attempt < _AIMED_RIGS or attempt % 3 != 2 else None
                screen = _hiding_screen(layout, hide) if hide is not None else None
                behind = ((layout.objects[hide].x, layout.objects[hide].y), screen[:2]) if screen else None
                cameras = sample_rig(view_rng, n_views, difficulty, self.randomization, behind)
                if screen is not None and not screened(cameras[0], points[hide], screen):
                    if attempt + 1 >= _AIMED_RIGS and not drawn_rigs:
                        break  # no aim hides it: another scene costs less than drawing rigs that will not do
                    continue  # the aim misses: drawing this rig would most likely be wasted
                drawn_rigs += 1
                # The views are drawn before the question is chosen: it is chosen from what they show.
                drawn = [
                    render_view(self.sim, camera, style.lighting, size, size, background, out=buffer.pixels)
                    for camera, buffer in zip(cameras, self._view_buffers)
                ]
                masks = [mask for _, mask in drawn]
                visibility = measure_visibility(masks, cameras, bodies, points)
                robot_views = functools.partial(self._robot_views, cameras, masks)
                question = family.finish(
                    draft, Context(layout, visibility, robot_views), random.Random(view_rng.getrandbits(64))
                )
                if question is not None:
                    self.bodies = bodies
                    self._show(
                        layout,
                        cameras,
                        [image for image, _ in drawn],
                        visibility,
                        question,
                        style,
                        difficulty,
                        split,
                        view_rng.getrandbits(64),  # the noise's seed (drawn with or without noise)
                    )
                    return
        raise RuntimeError(
            f"{self.env_id}: no {family_name!r} question found in {_MAX_SCENES} scenes x {_MAX_RIGS} rigs"
        )  # pragma: no cover

    def _robot_views(self, cameras: list[Any], masks: list[np.ndarray]) -> tuple[int, ...]:
        """Views that show where the robot is (in their segmentation masks): the robot's pedestal (any of its
        sample points seen), or at least 2 of the 5 points along the black bar, so at least 15 cm of it, which
        shows its direction."""
        from vista_envs.views.visibility import seen_counts

        seen = seen_counts(masks, cameras, _robot_points(), [self.builder.robot_bar, self.builder.pedestal])
        shown = (seen[:, 0] >= 2) | (seen[:, 1] >= 1)
        return tuple(int(v) for v in np.flatnonzero(shown))

    def _show(
        self,
        layout: Any,
        cameras: list[Any],
        images: list[np.ndarray],
        visibility: Any,
        question: Any,
        style: Any,
        difficulty: int,
        split: str,
        noise_seed: int,
    ) -> None:
        """Add the noise, marks and titles to the accepted rig's views, and start the conversation."""
        from vista_envs.tasks.drawing import add_noise
        from vista_envs.views.marks import mark_view, marked_mosaic, marked_view
        from vista_envs.views.view_tool import call_text, view_tool_schema

        marked = []
        noise_rng = random.Random(noise_seed) if style.noise_sigma > 0 else None
        for k, image in enumerate(images):
            title, marks = f"View {k + 1}", question.marks.get(k, ())
            if noise_rng is None:  # drawn into the view's buffer (``image`` is its pixels)
                marked.append(mark_view(self._view_buffers[k], title, marks))
            else:
                rgb = Image.frombuffer("RGBA", (self.image_size,) * 2, image, "raw", "RGBA", 0, 1).convert("RGB")
                marked.append(marked_view(np.asarray(add_noise(rgb, style.noise_sigma, noise_rng)), title, marks))
        if self.view_tool:  # the mosaic changes as views are shown: the views are arrays of their own
            views = [np.array(view.convert("RGB")) for view in marked]  # (views drawn in the RGBA buffer)
        else:  # the mosaic holds every view for the whole episode: the views are its tiles
            mosaic, views = marked_mosaic(marked, self.grid)
        self.layout, self.cameras, self.visibility, self.question, self.style = (
            layout,
            cameras,
            visibility,
            question,
            style,
        )
        self.difficulty, self.episode_split, self.views = difficulty, split, views
        n = len(views)
        intro = (
            f"You see one tabletop scene from {n} cameras placed around the table: View 1 to View {n}, each titled "
            "in its "
            "top-left corner. The robot stands at one end of the table, behind the low black bar (its base is the "
            "black pedestal); "
            "in the robot's frame x points from the robot across the table (past the bar) and y to the robot's left. "
            "Dark gray "
            "screens stand on the table; they and the bar are not objects."
        )
        system = (
            "You answer questions about a 3D tabletop scene seen from several cameras, combining what the views show. "
        )
        tools = None
        if self.view_tool:
            intro += (
                f" Only View 1 is shown now: ask for another view with {call_text(2)} (index 1 to {n}; several calls "
                "per turn "
                "are fine). Each view you ask for costs a little reward."
            )
            system += f"Call the tool as {call_text(2)}; the view comes back in the next message. "
            tools = [view_tool_schema(n)]
        self.shown = [0] if self.view_tool else list(range(n))
        self._prompt = f"{intro}\nQuestion: {question.spec.question}\n{self.scorer.format.describe()}"
        self._conversation = Conversation(system + self.scorer.format.describe(), tools)
        self._conversation.user(self._prompt, [views[k] for k in self.shown])
        self._image = self._mosaic() if self.view_tool else mosaic

    def _mosaic(self) -> np.ndarray:
        """The observation's image: the views shown so far in their tiles (the rest dark gray)."""
        from vista_envs.views.marks import mosaic

        shown = set(self.shown)
        blank = np.full_like(self.views[0], 40)
        return mosaic([view if k in shown else blank for k, view in enumerate(self.views)], self.grid)

    def _info(self) -> dict[str, Any]:
        return {
            **self._conversation.info(),
            "family": self.question.family,
            "difficulty": self.difficulty,
            "split": self.episode_split,
            "n_views": len(self.views),
            "answer_type": self.question.spec.answer_type,
            "views_shown": [k + 1 for k in self.shown],
            "turn": self.turn,
        }

    def step(self, action: Any) -> StepResult:
        self._require_running("step")
        self.turn += 1
        readable = isinstance(action, str) and len(action) <= self.scorer.max_response_chars
        if self.view_tool and (not readable or self.scorer.format.parse(action).answer is None):
            return self._tool_turn(action)  # unreadable turns cost a penalty there; the episode goes on
        return self._answer_turn(action)

    def _terms(self, **values: float) -> dict[str, float]:
        terms = {"correctness": 0.0, "format": 0.0, "reasoning": 0.0, "length": 0.0}
        if self.view_tool:
            terms.update(views=0.0, invalid=0.0)
        terms.update(values)
        return terms

    def _reward(self, terms: dict[str, float]) -> float:
        answer = {name: terms[name] for name in ("correctness", "format", "reasoning", "length")}
        costs = self.view_cost_weight * terms.get("views", 0.0) + self.invalid_cost_weight * terms.get("invalid", 0.0)
        return self.scorer.weights.total(answer) + costs

    def _answer_turn(self, action: Any) -> StepResult:
        spec = self.question.spec
        scored = self.scorer.score(action, spec)
        self._last_response = action if isinstance(action, str) else f"<{type(action).__name__}>"
        self._conversation.assistant(self._last_response[: self.scorer.max_response_chars])
        self._end_episode()
        terms = self._terms(**scored.terms)
        info = {
            **self._info(),
            "reward_terms": terms,
            "answer": format_answer(spec),
            "extracted_answer": scored.answer,
            "is_success": scored.is_success,
            **self._seeds,
        }
        text = "The episode has ended."
        if scored.error:
            info["error"] = scored.error
            text = f"{scored.error[: MAX_TEXT_CHARS - 64]}\n{text}"
        return {"image": self._image.copy(), "text": text}, self._reward(terms), True, False, info

    def _tool_turn(self, action: Any) -> StepResult:
        """A turn of the view-tool mode without an answer: run its ``view`` calls (or explain what is wrong)."""
        from vista_envs.tools.protocol import parse_tool_calls
        from vista_envs.views.view_tool import TOOL_NAME, call_text, check_call

        terms = self._terms()
        outputs: list[str] = []
        errors: list[str] = []
        new: list[int] = []
        if not isinstance(action, str):
            calls, n_calls = [], -1
            errors.append(f"Error: the action must be a str (the assistant's turn), got {type(action).__name__}.")
        elif len(action) > self.scorer.max_response_chars:
            calls, n_calls = [], -1
            errors.append(
                f"Error: the turn has {len(action)} characters, over the limit of {self.scorer.max_response_chars}."
            )
        else:
            calls, n_calls = parse_tool_calls(action, self.max_calls_per_turn)
        if n_calls < 0:
            terms["invalid"] -= 1.0
            outputs.append(errors[-1])
            action = "" if not isinstance(action, str) else action[:200]
        checked = [check_call(call, len(self.views)) for call in calls]
        valid = [(call, index) for call, (index, _) in zip(calls, checked) if index is not None]
        ids = self._conversation.assistant(action, [(TOOL_NAME, call.arguments) for call, _ in valid])
        ids_by_call = dict(zip((id(call) for call, _ in valid), ids))
        for call, (index, problem) in zip(calls, checked):
            if index is None:
                terms["invalid"] -= 1.0
                errors.append(problem)
                outputs.append(problem)
                self._conversation.tool(call.name[:80] or "invalid", problem)
            elif index in self.shown:
                note = f"View {index + 1} is already shown."
                outputs.append(note)
                self._conversation.tool(TOOL_NAME, note, ids_by_call[id(call)])
            else:
                terms["views"] -= 1.0
                self.shown.append(index)
                new.append(index)
                note = f"View {index + 1} follows."
                outputs.append(note)
                self._conversation.tool(TOOL_NAME, note, ids_by_call[id(call)])
        if n_calls > len(calls):
            terms["invalid"] -= 1.0
            errors.append(
                f"Error: {n_calls} tool calls in one turn; only the first {self.max_calls_per_turn} were run."
            )
            outputs.append(errors[-1])
        if n_calls == 0:
            terms["invalid"] -= 1.0
            hint = call_text(2)
            errors.append(
                f"Error: the turn has neither a tool call nor an answer. Ask for a view as {hint} or answer. "
                f"{self.scorer.format.describe()}"
            )
            outputs.append(errors[-1])
        if new:
            self._conversation.user(
                "The views you asked for: " + ", ".join(f"View {k + 1}" for k in new) + ".",
                [self.views[k] for k in new],
            )
        elif errors:
            self._conversation.user(" ".join(errors))
        self._image = self._mosaic()
        truncated = self.turn >= self.max_turns
        info = {**self._info(), "reward_terms": terms}
        if errors:
            info["error"] = " | ".join(errors)
        if truncated:
            self._end_episode()
            info.update(
                answer=format_answer(self.question.spec), extracted_answer=None, is_success=False, **self._seeds
            )
            outputs.append(f"The turn limit ({self.max_turns}) is reached without an answer; the episode has ended.")
        text = "\n".join(outputs)[:MAX_TEXT_CHARS]
        return {"image": self._image.copy(), "text": text}, self._reward(terms), False, truncated, info

    def oracle(self) -> str:
        """A correct, well-formed response to the current question (for tests and SFT demonstrations); in the
        view-tool mode, first a turn that asks for the views that decide the answer."""
        from vista_envs.views.view_tool import call_text

        self._require_running("oracle")
        missing = [k for k in self.question.needed_views if k not in self.shown]
        if self.view_tool and missing:
            asks = ", ".join(f"View {k + 1}" for k in missing)
            return f"<think>I need {asks} to answer.</think>" + "".join(call_text(k + 1) for k in missing)
        return self.scorer.oracle(self.question.spec, format_answer(self.question.spec))

    def render(self) -> np.ndarray | None:
        if not self._render_allowed():
            return None
        lines = [f"Q: {self.question.spec.question}"]
        if self.episode_ended:  # first, so that a long question cannot push it out of the caption
            lines.insert(0, f"Ground truth: {format_answer(self.question.spec)}; response: {self._last_response}")
        return np.asarray(caption_image(Image.fromarray(self._image), lines, caption_lines=10))

    def close(self) -> None:
        if getattr(self, "sim", None) is not None:
            self.sim.close()
            self.sim = None
        super().close()


def _hiding_screen(layout: Any, index: int) -> tuple[float, float, float]:
    """The screen ``(x, y, yaw)`` that best hides object ``index`` from a camera beyond it: the widest cover
    (the screen's width across the line from the object through it) for the distance between them (a nearer
    screen hides it from higher cameras)."""
    from vista_envs.views.scene import SCREEN_HALF

    obj = layout.objects[index]

    def cover(screen: tuple[float, float, float]) -> float:
        dx, dy = screen[0] - obj.x, screen[1] - obj.y
        distance = math.hypot(dx, dy) or 1e-9
        # The screen's face is normal to its local x axis: its width across the line of sight.
        facing = abs(dx * math.cos(screen[2]) + dy * math.sin(screen[2])) / distance
        width = 2 * SCREEN_HALF[1] * facing + 2 * SCREEN_HALF[0] * math.sqrt(max(0.0, 1 - facing * facing))
        return width / (distance + 0.05)

    return max(layout.screens, key=cover)


@functools.lru_cache(maxsize=1)
def _robot_points() -> np.ndarray:
    """The points inside the robot's bar and pedestal, as :func:`~vista_envs.views.visibility.seen_counts` takes
    them: (2, 5, 3), read-only."""
    from vista_envs.views.scene import PEDESTAL_POINTS, ROBOT_BAR_POINTS

    points = np.array([ROBOT_BAR_POINTS, PEDESTAL_POINTS])
    points.flags.writeable = False
    return points


@functools.lru_cache(maxsize=64)
def _table_pixel(lighting: Any, table_rgba: tuple[float, ...]) -> tuple[int, int, int]:
    """The table's colour under ``lighting`` as the robot envs' default camera sees it: one pixel of a probe
    render of the table alone in its own world (flat, no shadows: uniform). Cached, since most episodes
    share light and table colour."""
    from vista_envs.robot.randomization import DEFAULT_CAMERA
    from vista_envs.robot.sim import PyBullet, Shape

    probe = PyBullet()
    try:
        probe.create_body([Shape("box", (0.7, 0.8, 0.02))], (0.35, 0.0, -0.02), rgba=table_rgba, collision=False)
        pixel = probe.render(DEFAULT_CAMERA, lighting, 3, 3)[1, 1]
    finally:
        probe.close()
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))
