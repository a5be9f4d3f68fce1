"""VistaGUI-v0: operate procedurally drawn applications by click/type/key/scroll/drag tool calls."""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from PIL import Image

from vista_envs.answers.extract import tag_contents
from vista_envs.answers.verify import score_answer
from vista_envs.envs.base import VistaEnv
from vista_envs.envs.conversation import Conversation
from vista_envs.envs.task_sampler import choose_task
from vista_envs.gui.a11y import accessibility_tree
from vista_envs.gui.actions import (
    TOOL_NAMES,
    Action,
    apply_action,
    check_call,
    tool_schemas,
)
from vista_envs.gui.apps import APP_KINDS
from vista_envs.gui.goals import format_value
from vista_envs.gui.render import render_app
from vista_envs.gui.task import GuiTask, generate_gui_task
from vista_envs.pixels import image_array, normalize_image_size
from vista_envs.rendering import caption_image
from vista_envs.rewards import checked_weights
from vista_envs.rewards_composite import (
    SEE_CLOSE,
    SEE_OPEN,
    CompositeReward,
    TurnCheck,
    extract_seen,
    seen_score,
)
from vista_envs.spaces import UnicodeText
from vista_envs.tasks.base import SPLITS, check_difficulty
from vista_envs.tools.protocol import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, parse_tool_calls

__all__ = ["OBS_MODES", "REWARD_MODES", "VistaGUIEnv"]

OBS_MODES = ("screenshot", "a11y", "both")
REWARD_MODES = ("shaped", "composite")
_OPTION_KEYS = ("split", "family", "difficulty", "task_seed")
# Below this (height, width) a form's caption and its control no longer fit side by side.
_MIN_SCREEN = (128, 200)


class VistaGUIEnv(VistaEnv[dict, str]):
    r"""A multimodal agent operates a synthetic application (GUI agent) or answers a question about it (data agent).

    ## Description
    Each episode draws an application with Pillow from a widget tree that is the ground truth: a form
    (login, settings with toggles, dropdowns, sliders and text boxes, a three-page checkout), a table
    (find, filter, sort, select and archive rows), a dashboard (a bar chart and a period picker; data
    questions) or a file browser (folders, a confirmation dialog). Font sizes (one typeface, Pillow's
    bundled one, so screens are identical on every machine), light and dark themes and accents, button
    capitalisation, layouts and distractors (near-duplicate labels, pop-up dialogs) are drawn at
    random; the difficulty ladder (1..5) adds widgets, shrinks targets, lengthens flows and adds near
    duplicates (see each kind's module in ``vista_envs.gui.apps``). The instruction says what to do; success is an exact
    predicate on the app state (or the exact answer).

    ## Action Space
    ``UnicodeText(max_response_chars)``: the assistant's turn, with tool calls in the house format
    ``<tool_call>{"name": "click", "arguments": {"x": 120, "y": 48}}</tool_call>``. Tools:
    ``click(x, y)``, ``type(text)``, ``key(name)``, ``scroll(dx, dy)``, ``drag(x0, y0, x1, y1)`` and
    ``answer(text)`` (``<answer>...</answer>`` is read as ``answer``). At most ``max_calls_per_turn``
    calls run per turn. A turn may state what it sees in ``<see>...</see>``: the element it acts on
    or the value it read (scored by the composite reward).

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(max_text_chars))``. ``text`` holds
    the instruction, what the last action did (errors included), how to call the tools and, with
    ``obs_mode="a11y"`` or ``"both"``, the accessibility tree (``role "name" value @(x0, y0, x1, y1)``
    per on-screen element). With ``obs_mode="a11y"`` the image is black (the tree-only ablation).
    ``info["messages"]``, ``info["images"]`` and ``info["tools"]`` hold the conversation per the
    agent contract.

    ## Rewards
    ``reward="shaped"`` (default), with :math:`\Phi` the fraction of the goal's subgoals that hold:

    .. math::

        r_t = w_s\,\mathrm{success}_t + w_p\,(\Phi_t - \Phi_{t-1}) - c_a\,N^{calls}_t - c_i\,N^{invalid}_t

    success :math:`\in \{0, 1\}` on the turn the goal is reached (or the answer is right); progress is
    potential-based, so it sums to :math:`\Phi_T - \Phi_0 \in [-1, 1]`; terms ``success``,
    ``progress``, ``action`` (:math:`-N^{calls}`) and ``invalid`` (:math:`-N^{invalid}`: malformed
    calls, unknown tools or keys, off-screen points, typing into nothing, over-long text, an answer
    in a task that asks to operate the app, turns without a call). Defaults :math:`w_s = 1, w_p = 0.5,
    c_a = 0.01, c_i = 0.1`.

    ``reward="composite"``: the seed's :math:`0.2\cdot\mathrm{visual} + 0.3\cdot\mathrm{tool} +
    0.5\cdot\mathrm{outcome}` with staged verification (``vista_envs.rewards_composite``), paid on the last turn, plus
    :math:`-c_i N^{invalid}_t` every turn. Per turn: visual = the ``<see>`` tag names an element the
    task needs now (the element the oracle would act on, or one of the subgoals that may be worked on:
    a form's values and a table's rows in any order, a press only after them), or the answer's value
    on an answer turn; tool = every call valid, and it changed the app on a right
    element (a click on such an element; another tool when the oracle's next action is that tool)
    or answered a question. ``info["stage_failed"]`` (``"seeing"``, ``"acting"``, ``"outcome"`` or
    None) and ``info["process_reward"]`` are set every turn, ``info["process_rewards"]`` at the end.

    ## Starting State
    ``reset(seed, options={"split": "train"|"eval"|"test", "family": kind, "difficulty": 1..5,
    "task_seed": int})``; unset options are drawn from the env's RNG. Splits are disjoint by the
    content hash of the app and its instruction.

    ## Episode End
    Terminates when the goal predicate holds, or on ``answer`` in a question task; truncates after
    ``max_turns`` turns. Then ``info`` holds ``answer`` (the expected answer, or the goal's
    description), ``is_success``, ``split`` and ``task_seed``; never before.

    ## Arguments
    - ``families`` (sequence of str | None): app kinds, default all of ``form``, ``table``, ``dashboard``, ``files``.
    - ``difficulty`` (int | (int, int)): a level or an inclusive range, default ``(1, 5)``.
    - ``split`` (str): default split, ``"train"``.
    - ``image_size`` (int | (height, width)): the screen, default ``(320, 512)``; an int is the height of a
      16:10 screen; at least 128x200.
    - ``obs_mode``: ``"screenshot"`` (default), ``"a11y"`` or ``"both"``.
    - ``reward``: ``"shaped"`` (default) or ``"composite"``.
    - ``success_weight``, ``progress_weight``, ``action_cost_weight``, ``invalid_cost_weight`` (shaped);
      ``visual_weight``, ``tool_weight``, ``outcome_weight``, ``stage_threshold`` (composite).
    - ``max_turns`` (int, default 30), ``max_calls_per_turn`` (int, default 1),
      ``max_response_chars`` (default 16384), ``max_text_chars`` (default 8192),
      ``include_images_in_info`` (default True).
    - ``render_mode``: ``"rgb_array"``: the screenshot with the instruction and last feedback beneath.

    ## Version History
    - v0: initial release.
    - v0, suite version 4: ``reset`` reads its options with the task sampler's ``choose_task`` (as every task env
      does): the family and the task seed are drawn from the RNG only when no option fixes them, so an episode
      with a fixed family draws another task than before for the same ``seed``.
    """

    env_id = "VistaGUI-v0"
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 2}

    def __init__(
        self,
        families: Sequence[str] | None = None,
        difficulty: int | tuple[int, int] = (1, 5),
        split: str = "train",
        image_size: int | tuple[int, int] = (320, 512),
        obs_mode: str = "screenshot",
        reward: str = "shaped",
        success_weight: float = 1.0,
        progress_weight: float = 0.5,
        action_cost_weight: float = 0.01,
        invalid_cost_weight: float = 0.1,
        visual_weight: float = 0.2,
        tool_weight: float = 0.3,
        outcome_weight: float = 0.5,
        stage_threshold: float = 0.5,
        max_turns: int = 30,
        max_calls_per_turn: int = 1,
        max_response_chars: int = 16384,
        max_text_chars: int = 8192,
        include_images_in_info: bool = True,
        render_mode: str | None = None,
    ):
        self._init_render_mode(render_mode)
        self.families = tuple(families) if families is not None else tuple(APP_KINDS)
        unknown = [f for f in self.families if f not in APP_KINDS]
        if unknown or not self.families:
            raise ValueError(
                f"{self.env_id}: families must name app kinds among {list(APP_KINDS)}, got {list(self.families)}"
            )
        self.difficulty_range = (
            (check_difficulty(difficulty[0]), check_difficulty(difficulty[1]))
            if isinstance(difficulty, tuple)
            else (check_difficulty(difficulty),) * 2
        )
        if self.difficulty_range[0] > self.difficulty_range[1]:
            raise ValueError(f"{self.env_id}: difficulty range must be (low, high) with low <= high, got {difficulty}")
        if split not in SPLITS:
            raise ValueError(f"{self.env_id}: split must be one of {SPLITS}, got {split!r}")
        if obs_mode not in OBS_MODES or reward not in REWARD_MODES:
            raise ValueError(
                f"{self.env_id}: obs_mode must be one of {OBS_MODES} and reward one of {REWARD_MODES}, got "
                f"{obs_mode!r}, {reward!r}"
            )
        checked_weights(
            self.env_id,
            success_weight=success_weight,
            progress_weight=progress_weight,
            action_cost_weight=action_cost_weight,
            invalid_cost_weight=invalid_cost_weight,
            # The composite reward's own check lets an infinite weight through: inf * 0 made every reward NaN.
            visual_weight=visual_weight,
            tool_weight=tool_weight,
            outcome_weight=outcome_weight,
        )
        for name, value, low in (
            ("max_turns", max_turns, 1),
            ("max_calls_per_turn", max_calls_per_turn, 1),
            ("max_response_chars", max_response_chars, 1),
            ("max_text_chars", max_text_chars, 1024),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{self.env_id}: {name} must be an int >= {low}, got {value!r}")
        self.split = split
        if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
            image_size = (int(image_size), round(int(image_size) * 1.6))  # screens are 16:10, not square
        width, height = normalize_image_size(image_size)
        if height < _MIN_SCREEN[0] or width < _MIN_SCREEN[1]:
            raise ValueError(
                f"{self.env_id}: the screen must be at least {_MIN_SCREEN[0]}x{_MIN_SCREEN[1]} (height x width), got "
                f"{height}x{width}"
            )
        self.screen_size = (width, height)
        self.obs_mode = obs_mode
        self.reward_mode = reward
        self.success_weight, self.progress_weight = success_weight, progress_weight
        self.action_cost_weight, self.invalid_cost_weight = (
            action_cost_weight,
            invalid_cost_weight,
        )
        self.composite = CompositeReward(visual_weight, tool_weight, outcome_weight, stage_threshold)
        self.max_turns, self.max_calls_per_turn = max_turns, max_calls_per_turn
        self.max_response_chars, self.max_text_chars = (
            max_response_chars,
            max_text_chars,
        )
        self.include_images_in_info = include_images_in_info
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (height, width, 3), np.uint8),
                "text": UnicodeText(max_text_chars),
            }
        )
        self.action_space = UnicodeText(max_response_chars)
        self.task: GuiTask | None = None
        self.turn = 0
        self._feedback = ""
        self._screen = np.zeros((height, width, 3), np.uint8)

    # -- episode -------------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        options = {} if options is None else options  # choose_task checks that it is a mapping
        split, family, difficulty = choose_task(
            self.np_random,
            options,
            names=self.families,
            difficulty_range=self.difficulty_range,
            default_split=self.split,
            option_keys=_OPTION_KEYS,
            env_id=self.env_id,
        )
        # Drawn only when no option fixes it, after the family and difficulty (choose_task's order).
        task_seed = options["task_seed"] if "task_seed" in options else int(self.np_random.integers(2**31 - 1))
        if isinstance(task_seed, bool) or not isinstance(task_seed, numbers.Integral) or task_seed < 0:
            raise ValueError(f"{self.env_id}: reset option 'task_seed' must be an int >= 0, got {task_seed!r}")
        self.task = generate_gui_task(family, int(task_seed), difficulty, split, self.screen_size)
        self._start_episode()
        self.turn = 0
        self._feedback = ""
        self._progress = self.task.goal.progress(self.task.app)
        self.composite.reset()
        self.conversation = Conversation(self._system_prompt(), tool_schemas())
        text = self._observation_text()
        self._screen = self._draw()
        self.conversation.user(text, self._images_for_messages())
        # A copy: the conversation holds the screen too, and a wrapper that edits the observation in place must not
        # rewrite the logged conversation.
        return {"image": self._screen.copy(), "text": text}, self._info()

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._require_running()
        task = self.task
        assert task is not None
        app, goal = task.app, task.goal
        self.turn += 1
        info = self._info()
        # What the agent should see and do now, and whether its input changed anything: the composite reward's checks.
        composite = self.reward_mode == "composite"
        before = app.snapshot() if composite else None
        truths, oracle_next = self._needed_now() if composite else ((), None)
        counts = {"calls": 0, "invalid": 0}
        errors: list[str] = []
        turn_errors: list[str] = []  # errors of the turn as a whole (no tool message carries them)
        messages: list[str] = []
        answered: str | None = None
        right_call = False
        if not isinstance(action, str) or len(action) > self.max_response_chars:
            reason = (
                f"the action must be a str, got {type(action).__name__}"
                if not isinstance(action, str)
                else (f"the turn has {len(action)} characters, over the limit of {self.max_response_chars}")
            )
            errors.append(reason)
            turn_errors.append(reason)
            self.conversation.assistant("")
            seen = None
        else:
            seen = extract_seen(action)
            calls, n_calls = parse_tool_calls(action, self.max_calls_per_turn)
            # One linear scan (a lazy regex rescans the rest of the turn from every unclosed <answer>).
            tags = tag_contents(action, "<answer>", "</answer>", ignore_case=True)
            checked = [check_call(call, self.screen_size) for call in calls]
            if n_calls == 0 and tags:
                checked = [Action("answer", {"text": tags[0].strip()[:1000]})]
            valid = [c for c in checked if isinstance(c, Action)]
            ids = self.conversation.assistant(_strip_calls(action), [(a.name, a.arguments) for a in valid])
            call_ids = iter(ids)
            if not checked:
                turn_errors.append("the turn has no tool call. " + self._tool_hint())
                errors.append(turn_errors[-1])
            for item in checked:
                if answered is not None:  # the answer ended the episode; every call id still gets its result
                    if isinstance(item, Action):
                        self.conversation.tool(item.name, "Not run: the answer ended the episode.", next(call_ids))
                    continue
                if isinstance(item, str):
                    errors.append(item)
                    self.conversation.tool("invalid", f"Error: {item}")
                    continue
                call_id = next(call_ids)
                if item.name == "answer":
                    if goal.asks_question:
                        counts["calls"] += 1
                        answered = item.arguments["text"]
                        right_call = True
                        self.conversation.tool("answer", "Answer received.", call_id)
                        continue
                    message = (
                        "this task asks you to operate the app, not to answer; answer() is for questions about "
                        "the screen"
                    )
                    errors.append(message)
                    self.conversation.tool("answer", f"Error: {message}", call_id)
                    continue
                counts["calls"] += 1
                element = (
                    app.element_at(item.arguments["x"], item.arguments["y"])
                    if composite and item.name == "click"
                    else None
                )
                effect = apply_action(app, item)
                self.conversation.tool(item.name, effect.message, call_id)
                if effect.refused:
                    errors.append(effect.message)
                else:
                    messages.append(effect.message)
                    right_call = composite and self._is_right(item, element, effect, truths, oracle_next)
            if n_calls > len(calls):
                turn_errors.append(f"{n_calls} tool calls in one turn; only the first {self.max_calls_per_turn} ran")
                errors.append(turn_errors[-1])
        counts["invalid"] = len(errors)
        changed = composite and app.snapshot() != before
        progress = goal.progress(app)
        progress_delta, self._progress = progress - self._progress, progress
        if answered is not None:
            score = score_answer(answered, task.spec())
            success, terminated = score >= 1.0, True
            messages.append(f"You answered {answered[:100]!r}.")
        else:
            success = goal.achieved(app)
            terminated = success
        truncated = not terminated and self.turn >= self.max_turns
        final = terminated or truncated
        if errors:
            info["error"] = " | ".join(errors)
        self._feedback = " ".join(messages + [f"Error: {e}" for e in errors])
        terms = self._terms(
            success,
            progress_delta,
            counts,
            seen,
            truths,
            right_call and (changed or answered is not None) and not errors,
            final,
            answered,
            info,
        )
        reward = self._weigh(terms)
        if final:
            self._end_episode()
            info["is_success"] = bool(success)
            info["answer"] = format_value(goal.answer) if goal.asks_question else goal.instruction
            info["n_turns"] = self.turn
            info.update(split=self.task.split, task_seed=self.task.seed)  # they regenerate the task: only at the end
            if self.reward_mode == "composite":
                info["process_rewards"] = self.composite.process_rewards
        text = self._observation_text()
        self._screen = self._draw()
        # The tool messages already hold what each call did; the user turn brings the new screen.
        caption = " ".join([f"Error: {e}" for e in turn_errors] + [f"The screen after turn {self.turn}."])
        if self.obs_mode != "screenshot":
            caption += "\nAccessibility tree (boxes are screen pixels):\n" + accessibility_tree(app)
        self.conversation.user(caption, self._images_for_messages())
        info["reward_terms"] = terms
        return (
            {"image": self._screen.copy(), "text": text},
            reward,
            terminated,
            truncated,
            self._with_conversation(info),
        )

    # -- rewards -------------------------------------------------------------------------------------

    def _needed_now(self) -> tuple[tuple[str, ...], Action]:
        """What the agent should see and act on now: the pending subgoal's elements and the oracle's target."""
        task = self.task
        assert task is not None
        app, goal = task.app, task.goal
        oracle_next = goal.next_action(app)
        truths = list(goal.elements(app))
        if oracle_next.name == "click":
            element = app.element_at(oracle_next.arguments["x"], oracle_next.arguments["y"])
            if element is not None:
                truths.append(element)
        if app.dialog is not None:
            chosen = app.dialog.buttons[app.dialog.choice].command
            truths += [b.label for b in app.dialog.buttons if b.command == chosen]
        return tuple(truths), oracle_next

    @staticmethod
    def _is_right(
        action: Action,
        element: str | None,
        effect: Any,
        truths: tuple[str, ...],
        oracle_next: Action,
    ) -> bool:
        if action.name == "click":
            return element is not None and seen_score(element, truths) == 1.0
        if action.name == "drag" and effect.target is not None:
            return seen_score(effect.target.label, truths) == 1.0
        return action.name == oracle_next.name

    def _terms(
        self,
        success: bool,
        progress_delta: float,
        counts: dict[str, int],
        seen: str | None,
        truths: tuple[str, ...],
        right_call: bool,
        final: bool,
        answered: str | None,
        info: dict[str, Any],
    ) -> dict[str, float]:
        if self.reward_mode == "shaped":
            return {
                "success": float(success),
                "progress": float(progress_delta),
                "action": float(-counts["calls"]),
                "invalid": float(-counts["invalid"]),
            }
        task = self.task
        assert task is not None
        if answered is not None:
            visual = seen_score(seen, (format_value(task.goal.answer),))
        else:
            visual = seen_score(seen, truths)
        score = self.composite.add_turn(
            TurnCheck(
                visual=visual,
                tool=float(right_call),
                final=final,
                outcome=float(success),
            )
        )
        info["stage_failed"] = score.stage_failed
        info["process_reward"] = score.process_reward
        return {**score.terms, "invalid": float(-counts["invalid"])}

    def _weigh(self, terms: dict[str, float]) -> float:
        if self.reward_mode == "shaped":
            return (
                self.success_weight * terms["success"]
                + self.progress_weight * terms["progress"]
                + self.action_cost_weight * terms["action"]
                + self.invalid_cost_weight * terms["invalid"]
            )
        c = self.composite
        return (
            c.visual_weight * terms["visual"]
            + c.tool_weight * terms["tool"]
            + c.outcome_weight * terms["outcome"]
            + self.invalid_cost_weight * terms["invalid"]
        )

    # -- oracle, observation, rendering ------------------------------------------------------------

    def oracle(self) -> str:
        """The oracle's next turn, planned from the widget tree: ``<see>`` the element, then one tool call."""
        self._require_running("oracle")
        task = self.task
        assert task is not None
        truths, action = self._needed_now()
        if action.name == "answer":
            seen = action.arguments["text"]
        elif action.name == "click":
            seen = task.app.element_at(action.arguments["x"], action.arguments["y"]) or (truths[0] if truths else "")
        else:
            seen = truths[0] if truths else ""
        return f"{SEE_OPEN}{seen}{SEE_CLOSE}{action.to_text()}"

    def _draw(self) -> np.ndarray:
        assert self.task is not None
        if self.obs_mode == "a11y":
            return np.zeros(self.observation_space["image"].shape, np.uint8)
        return image_array(render_app(self.task.app))

    def _images_for_messages(self) -> list[np.ndarray]:
        return [] if self.obs_mode == "a11y" else [self._screen]

    def render(self) -> np.ndarray | None:
        if not self._render_allowed():
            return None
        assert self.task is not None
        lines = [
            f"Task: {self.task.goal.instruction}",
            f"Turn {self.turn}: {self._feedback}",
        ]
        return np.asarray(caption_image(render_app(self.task.app), lines, caption_lines=6))

    def _system_prompt(self) -> str:
        width, height = self.screen_size
        see = (
            (
                f" Before each call, say what you see in {SEE_OPEN}...{SEE_CLOSE}: the label of the element you act "
                "on, or the value you read for an answer."
            )
            if self.reward_mode == "composite"
            else ""
        )
        return (
            f"You operate an application on a {width}x{height} screen. Call one tool per turn as "
            f'{TOOL_CALL_OPEN}{{"name": <tool>, "arguments": {{...}}}}{TOOL_CALL_CLOSE}. '
            "Tools: click(x, y) in screen pixels, type(text) into the focused box, key(name), "
            "scroll(dx, dy) (positive dy scrolls down), drag(x0, y0, x1, y1), "
            "and answer(text) when the task asks a question." + see
        )

    def _tool_hint(self) -> str:
        return (
            f'Call a tool, e.g. {TOOL_CALL_OPEN}{{"name": "click", "arguments": {{"x": 100, "y": '
            f"50}}}}{TOOL_CALL_CLOSE}; tools: {', '.join(TOOL_NAMES)}."
        )

    def _observation_text(self) -> str:
        assert self.task is not None
        parts = [f"Task: {self.task.goal.instruction}"]
        if self._feedback:
            parts.append(f"Last action: {self._feedback}")
        if self.obs_mode != "screenshot":
            parts.append("Accessibility tree (boxes are screen pixels):\n" + accessibility_tree(self.task.app))
        parts.append(self._system_prompt())
        text = "\n".join(parts)
        return text if len(text) <= self.max_text_chars else text[: self.max_text_chars - 20] + "\n[... cut]"

    def _info(self) -> dict[str, Any]:
        assert self.task is not None
        info: dict[str, Any] = {
            "family": self.task.kind,
            "difficulty": self.task.difficulty,
            "turn": self.turn,
        }
        if self.task.goal.asks_question:
            info["answer_type"] = self.task.goal.answer_type
        return self._with_conversation(info) if self.turn == 0 else info

    def _with_conversation(self, info: dict[str, Any]) -> dict[str, Any]:
        info.update(self.conversation.info(include_images=self.include_images_in_info))
        return info

    def screenshot(self) -> Image.Image:
        """The current screen as a Pillow image (for galleries and the terminal player)."""
        assert self.task is not None
        return render_app(self.task.app)


def _strip_calls(text: str) -> str:
    return re.sub(r"<tool_call>.*?(</tool_call>|$)", "", text, flags=re.DOTALL).strip()
