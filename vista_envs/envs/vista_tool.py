"""VistaTool-v0: multi-turn visual reasoning with tools (the VISTA-Gym setting)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from vista_envs.answers import format_answer
from vista_envs.answers.extract import ResponseFormat
from vista_envs.envs.conversation import Conversation
from vista_envs.envs.task_env import TaskEnv
from vista_envs.pixels import image_array
from vista_envs.rendering import caption_image
from vista_envs.rewards import RewardWeights, checked_weights
from vista_envs.rewards_composite import CompositeReward, TurnCheck, extract_seen, seen_score
from vista_envs.spaces import UnicodeText
from vista_envs.tasks import ToolStep
from vista_envs.tools.image_view import ImageView
from vista_envs.tools.protocol import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ToolCall, parse_tool_calls
from vista_envs.tools.session import EpisodeTools
from vista_envs.tools.toolbox import Toolbox

__all__ = ["VistaToolEnv"]

MAX_TOOL_OUTPUT_CHARS = 2000


def _strip_tool_calls(text: str) -> str:
    """``text`` without its ``<tool_call>...</tool_call>`` blocks (they go to ``tool_calls`` in messages)."""
    kept, position = [], 0
    while (start := text.find(TOOL_CALL_OPEN, position)) != -1:
        end = text.find(TOOL_CALL_CLOSE, start)
        if end == -1:
            break
        kept.append(text[position:start])
        position = end + len(TOOL_CALL_CLOSE)
    kept.append(text[position:])
    return "".join(kept).strip()


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 40] + f"\n[... {len(text) - limit + 40} characters cut]"


class VistaToolEnv(TaskEnv):
    r"""Multi-turn, tool-augmented visual question answering: look, call tools, then answer.

    ## Description
    Each episode is a task from the procedural task library (every VisualQA family, plus families
    where tools genuinely help: chart arithmetic, tiny text, flag → knowledge lookup, pixel
    measurement, financial charts, product prices). Each step is one assistant turn. A turn may call
    tools, Hermes/Qwen style, ``<tool_call>{"name": "zoom", "arguments": {"x": 40, "y": 60}}</tool_call>``
    (the VISTA-Gym form ``{"tool": ..., "parameters": ...}`` is accepted too), up to
    ``max_calls_per_turn`` calls; a turn with an answer (``<answer>...</answer>`` by default) ends the episode.

    Tools: ``python`` (sandboxed interpreter, the current view preloaded as the numpy array ``image``,
    state kept for the episode), ``search`` (BM25 over the shipped knowledge base), ``crop`` and ``zoom``
    (re-rendered from the full-resolution source), ``draw_box``, ``mark_point``, ``grid``, ``calculator``.

    ## Action Space
    ``UnicodeText(max_response_chars)``: the assistant's turn.

    ## Observation Space
    ``Dict(image=Box(0, 255, (H, W, 3), uint8), text=UnicodeText(max_text_chars))``: at reset the task
    image and the complete prompt (the question, how to call tools, the answer format); after a tool turn
    the current view (changed by crop/zoom/annotations) and the tools' outputs (errors included).
    ``info["messages"]`` holds the whole conversation in chat format (system prompt with the tool-call and
    answer formats; assistant turns with ``tool_calls`` whose ids the ``role: "tool"`` results name in
    ``tool_call_id``; ``{"type": "image"}`` placeholders matching ``info["images"]`` in order), and
    ``info["tools"]`` holds the tools' JSON schemas (OpenAI function format), so
    ``processor.apply_chat_template(info["messages"], tools=info["tools"])`` renders the conversation.

    ## Rewards
    Every step reports ``info["reward_terms"]`` with the same keys; the step reward is their weighted sum:

    .. math::

        r_t = w_c\,\mathrm{correctness} + w_f\,\mathrm{format} + w_r\,\mathrm{reasoning} + w_l\,\mathrm{length}
              - \lambda\,N^{tools}_t - \mu\,N^{invalid}_t

    correctness, format, reasoning and length are scored on the answer turn only, exactly as in
    ``VisualQA-v0``; :math:`N^{tools}_t` counts the tool calls run at turn :math:`t`, and
    :math:`N^{invalid}_t` the malformed or failed calls, calls past the per-turn limit (counted once),
    and turns with neither a call nor an answer; ``info["reward_terms"]`` reports them with their sign
    (``tools`` :math:`= -N^{tools}_t`, ``invalid`` :math:`= -N^{invalid}_t`). Over an episode,
    :math:`R = R_{accuracy} + R_{reasoning} + R_{format} + R_{length} - \lambda N_{tools} - \mu N_{invalid}`.

    With ``reward="composite"`` the reward is instead the staged composite reward of
    ``vista_envs.rewards_composite`` (:math:`0.2\,\mathrm{visual} + 0.3\,\mathrm{tool} + 0.5\,\mathrm{outcome}`,
    paid on the last turn) minus :math:`\mu N^{invalid}_t`: visual is checked on the answer turn (its
    ``<see>`` tag against the ground truth), tool every turn (calls run without error and use tools of the
    oracle's plan); ``info["stage_failed"]``, ``info["process_reward"]`` every turn, ``info["process_rewards"]`` at the
    end.

    ## Starting State
    As in ``VisualQA-v0``: ``reset(seed, options={"split", "family", "difficulty", "task_seed"})``.

    ## Episode End
    Terminates on the answer turn; truncates after ``max_turns`` turns without an answer. At the end
    ``info`` holds ``answer`` (ground truth), ``is_success``, ``extracted_answer``, the task's ``split`` and
    ``task_seed``; never before (at every step ``info`` holds ``family``, ``difficulty``, ``answer_type``,
    ``options`` for multiple-choice questions, ``turn``, ``sandbox`` and the conversation).

    ## Arguments
    Those of ``VisualQA-v0`` (``families``, ``difficulty``, ``split``, ``image_size``, ``family_configs``,
    ``response_format``, the four weights, ``reasoning_words``, ``length_budget``, ``max_response_chars``), and:

    - ``tools`` (sequence of str | None): tools to offer, default all.
    - ``max_turns`` (int, default 8), ``max_calls_per_turn`` (int, default 4).
    - ``tool_cost_weight`` (λ >= 0, default 0.05), ``invalid_call_cost_weight`` (μ >= 0, default 0.1).
    - ``sandbox`` (``"auto"`` | ``"bwrap"`` | ``"process"``): isolation of the Python tool; ``auto`` uses
      bubblewrap when it works and otherwise warns once; ``info["sandbox"]`` names what is in force:
      ``"bwrap"``, ``"none"`` (no Python tool), or ``"process (...)"`` saying what process mode does not stop.
    - ``python_timeout_s`` (float, default 5): wall-clock limit of one Python call.
    - ``search_backend`` (``"local"`` | ``"web"``): the offline BM25 index, or ddgs (extra ``search``).
    - ``max_text_chars`` (int, default 8192): the observation text limit (tool outputs are cut to fit).
    - ``include_images_in_info`` (bool, default True): put the conversation's images in ``info["images"]``.
    - ``reward`` (``"rules"`` | ``"composite"``), ``visual_weight``, ``tool_weight``, ``outcome_weight``
      (0.2, 0.3, 0.5): see Rewards.

    ## Version History
    - v0: initial release. Changed before the first release: ``tool_penalty``/``invalid_call_penalty``
      renamed ``tool_cost_weight``/``invalid_call_cost_weight`` (>= 0, subtracted); the reset text carries
      the tool-call instruction; tool results carry ``tool_call_id``; ``task_seed``/``split`` only at the end.
    """

    env_id = "VistaTool-v0"

    def __init__(
        self,
        families: Sequence[str] | None = None,
        difficulty: int | tuple[int, int] = (1, 5),
        split: str = "train",
        image_size: int | tuple[int, int] = 224,
        family_configs: Mapping[str, Any] | None = None,
        tools: Sequence[str] | None = None,
        max_turns: int = 8,
        max_calls_per_turn: int = 4,
        tool_cost_weight: float = 0.05,
        invalid_call_cost_weight: float = 0.1,
        sandbox: str = "auto",
        python_timeout_s: float = 5.0,
        search_backend: str = "local",
        response_format: str | ResponseFormat = "think_answer",
        correctness_weight: float = 1.0,
        format_weight: float = 0.2,
        reasoning_weight: float = 0.2,
        length_weight: float = 0.1,
        reasoning_words: tuple[int, int] = (3, 512),
        length_budget: int = 2048,
        max_response_chars: int = 16384,
        max_text_chars: int = 8192,
        include_images_in_info: bool = True,
        reward: str = "rules",
        visual_weight: float = 0.2,
        tool_weight: float = 0.3,
        outcome_weight: float = 0.5,
        render_mode: str | None = None,
    ):
        if max_turns < 1 or max_calls_per_turn < 1:
            raise ValueError("max_turns and max_calls_per_turn must be >= 1")
        if max_text_chars < 256:
            raise ValueError("max_text_chars must be at least 256")
        checked_weights(
            self.env_id, tool_cost_weight=tool_cost_weight, invalid_call_cost_weight=invalid_call_cost_weight
        )
        if reward not in ("rules", "composite"):
            raise ValueError(f"{self.env_id}: reward must be 'rules' or 'composite', got {reward!r}")
        self.composite = CompositeReward(visual_weight, tool_weight, outcome_weight) if reward == "composite" else None
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
        self.toolbox = Toolbox(tools)
        self.tool_schemas = self.toolbox.schemas()
        # No sandbox (and no worker processes) when the env offers no Python tool.
        sandbox_mode = sandbox if "python" in self.toolbox.tools else None
        self.tools = EpisodeTools(
            sandbox_mode=sandbox_mode, python_timeout_s=python_timeout_s, search_backend=search_backend
        )
        self.max_turns = max_turns
        self.max_calls_per_turn = max_calls_per_turn
        self.tool_cost_weight = tool_cost_weight
        self.invalid_call_cost_weight = invalid_call_cost_weight
        self.max_text_chars = max_text_chars
        self.include_images_in_info = include_images_in_info
        self.observation_space = spaces.Dict(
            {"image": spaces.Box(0, 255, (height, width, 3), np.uint8), "text": UnicodeText(max_text_chars)}
        )
        self.action_space = UnicodeText(max_response_chars)
        self.conversation = Conversation("", self.tool_schemas)
        self.turn = 0
        self._oracle_steps: list[ToolStep] = []

    # -- episode ---------------------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        self.task = self.sampler.sample(self.np_random, options)
        self._start_episode()
        self.tools.start_episode(ImageView.full(self.task.image, self.sampler.image_size))
        self.turn = 0
        self._oracle_steps = self.sampler.families[self.task.family].tool_plan(self.task.spec)
        if self.composite is not None:
            self.composite.reset()
        prompt = f"{self.task.question}\n{self._call_hint()}"
        view = image_array(self.tools.view.image)
        self.conversation = Conversation(self._system_prompt(), self.tool_schemas)
        self.conversation.user(prompt, [view])
        return {"image": view.copy(), "text": _truncate(prompt, self.max_text_chars)}, self._with_conversation(
            self._task_info()
        )

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        self._require_running()
        self.turn += 1
        terms = {"correctness": 0.0, "format": 0.0, "reasoning": 0.0, "length": 0.0, "tools": 0.0, "invalid": 0.0}
        info = self._task_info()
        if not isinstance(action, str) or len(action) > self.scorer.max_response_chars:
            reason = (
                f"the action must be a str (the assistant's turn), got {type(action).__name__}"
                if not isinstance(action, str)
                else f"the turn has {len(action)} characters, over the limit of {self.scorer.max_response_chars}"
            )
            self.conversation.assistant("" if not isinstance(action, str) else _truncate(action, 200))
            feedback = self._reject(terms, info, reason)
        else:
            calls, n_calls = parse_tool_calls(action, self.max_calls_per_turn)
            parsed = self.scorer.format.parse(action)
            if parsed.answer is not None:
                return self._answer(action, terms, info, ignored_calls=n_calls)
            valid = [call for call in calls if call.error is None]
            ids = self.conversation.assistant(
                _strip_tool_calls(action) if valid else action, [(c.name, c.arguments) for c in valid]
            )
            call_ids = iter(ids)
            paired = [(call, next(call_ids) if call.error is None else None) for call in calls]
            if n_calls == 0:
                feedback = self._reject(
                    terms, info, "the turn has neither a tool call nor an answer. " + self._call_hint()
                )
            else:
                feedback = self._run_calls(paired, n_calls, terms, info)
        truncated = self.turn >= self.max_turns
        if truncated:
            self._end(info, answer=None, success=False)
        info["reward_terms"] = terms
        reward = self._composite_turn(action, self._weigh(terms), info)
        view = image_array(self.tools.view.image)
        return (
            {"image": view.copy(), "text": _truncate(feedback, self.max_text_chars)},
            reward,
            False,
            truncated,
            self._with_conversation(info),
        )

    def _run_calls(
        self, calls: list[tuple[ToolCall, str | None]], n_calls: int, terms: dict[str, float], info: dict[str, Any]
    ) -> str:
        outputs, errors, new_views = [], [], []
        for call, call_id in calls:
            result = self.toolbox.call(call, self.tools)
            text = _truncate(result.text, MAX_TOOL_OUTPUT_CHARS)
            outputs.append(f"[{call.name or 'invalid call'}] {text}")
            self.conversation.tool(call.name or "invalid", text, call_id)
            if result.ok:
                terms["tools"] -= 1.0
            else:
                terms["invalid"] -= 1.0
                errors.append(text)
            if result.view is not None:
                self.tools.view = result.view
                new_views.append(call.name)
        if new_views:
            # One user message after the turn's tool messages, so chat templates that group
            # consecutive tool responses still do; only the latest view is shown.
            caption = f"The current view after {', '.join(new_views)}."
            self.conversation.user(caption, [image_array(self.tools.view.image)])
        if n_calls > len(calls):
            terms["invalid"] -= 1.0
            message = f"Error: {n_calls} tool calls in one turn; only the first {self.max_calls_per_turn} were run."
            outputs.append(message)
            errors.append(message)
        if errors:
            info["error"] = " | ".join(errors)
        return "\n".join(outputs)

    def _answer(self, action: str, terms: dict[str, float], info: dict[str, Any], ignored_calls: int) -> tuple:
        assert self.task is not None
        scored = self.scorer.score(action, self.task.spec)
        terms.update(scored.terms)
        self.conversation.assistant(action)
        errors = [scored.error] if scored.error else []
        if ignored_calls:
            errors.append(f"{ignored_calls} tool call(s) in the answer turn were not run")
        if errors:
            info["error"] = " | ".join(errors)
        info["extracted_answer"] = scored.answer
        self._end(info, answer=format_answer(self.task.spec), success=scored.is_success)
        info["reward_terms"] = terms
        reward = self._composite_turn(action, self._weigh(terms), info)
        view = image_array(self.tools.view.image)
        text = "The episode is over." if not errors else "The episode is over. " + info["error"]
        return (
            {"image": view.copy(), "text": _truncate(text, self.max_text_chars)},
            reward,
            True,
            False,
            self._with_conversation(info),
        )

    def _reject(self, terms: dict[str, float], info: dict[str, Any], reason: str) -> str:
        terms["invalid"] -= 1.0
        info["error"] = reason
        self.conversation.user(f"Error: {reason}")
        return f"Error: {reason}"

    def _end(self, info: dict[str, Any], answer: str | None, success: bool) -> None:
        assert self.task is not None
        self._end_episode()
        info.update(self._task_identity())
        info["answer"] = answer if answer is not None else format_answer(self.task.spec)
        info["is_success"] = success
        info["n_turns"] = self.turn
        self.tools.end_episode()

    def _composite_turn(self, action: Any, reward: float, info: dict[str, Any]) -> float:
        """With ``reward="composite"``, the turn's staged check replaces the rule reward (the hook of
        ``rewards_composite``)."""
        if self.composite is None:
            return reward
        assert self.task is not None
        invalid = info["reward_terms"]["invalid"]
        # The value read is checked on the answer turn; a tool turn has no visual ground truth of its own.
        answered = "extracted_answer" in info
        visual = seen_score(extract_seen(action), [format_answer(self.task.spec)]) if answered else None
        planned = {call["name"] for step in self._oracle_steps for call in step.calls}
        last = next(m for m in reversed(self.conversation.messages) if m["role"] == "assistant")
        called = [item["function"]["name"] for item in last.get("tool_calls", [])]
        tool = float(invalid == 0 and (answered or (bool(called) and set(called) <= planned)))
        check = TurnCheck(visual, tool, final=self.episode_ended, outcome=float(info.get("is_success", False)))
        score = self.composite.add_turn(check)
        info["reward_terms"] = {**score.terms, "invalid": invalid}
        info["stage_failed"], info["process_reward"] = score.stage_failed, score.process_reward
        if check.final:
            info["process_rewards"] = self.composite.process_rewards
        return score.reward + self.invalid_call_cost_weight * invalid

    def _weigh(self, terms: dict[str, float]) -> float:
        answer_terms = {name: terms[name] for name in ("correctness", "format", "reasoning", "length")}
        return (
            self.scorer.weights.total(answer_terms)
            + self.tool_cost_weight * terms["tools"]
            + self.invalid_call_cost_weight * terms["invalid"]
        )

    # -- oracle, rendering, info -----------------------------------------------------------------

    def oracle_trajectory(self) -> list[str]:
        """Every assistant turn of a correct tool trajectory for the current task, the answer last."""
        task = self._require_task("oracle_trajectory")
        turns = [
            f"<think>{step.thought}</think>\n"
            + "".join(f"{TOOL_CALL_OPEN}{json.dumps(call)}{TOOL_CALL_CLOSE}" for call in step.calls)
            for step in self._oracle_steps
        ]
        return turns + [self.scorer.oracle(task.spec, format_answer(task.spec))]

    def oracle(self) -> str:
        """The oracle's next turn, given how many turns this episode has taken."""
        trajectory = self.oracle_trajectory()
        return trajectory[min(self.turn, len(trajectory) - 1)]

    def render(self) -> np.ndarray | None:
        if not self._render_allowed():
            return None
        last = self.conversation.messages[-1]["content"]
        last_text = last if isinstance(last, str) else " ".join(part.get("text", "") for part in last)
        lines = [f"Q: {self.task.question}", f"turn {self.turn}: {last_text}"]
        return np.asarray(caption_image(self.tools.view.image, lines))

    def close(self) -> None:
        self.tools.close()
        super().close()

    def _system_prompt(self) -> str:
        return (
            "You answer questions about an image. Before answering you may call tools, one or more per turn, as "
            f'{TOOL_CALL_OPEN}{{"name": <tool>, "arguments": {{...}}}}{TOOL_CALL_CLOSE}; '
            "their results come back in the next message. Coordinates are pixels of the current view. "
            "Each tool call costs a little reward, so use tools only when they help. " + self.scorer.format.describe()
        )

    def _call_hint(self) -> str:
        return (
            f'Call a tool as {TOOL_CALL_OPEN}{{"name": "zoom", "arguments": {{"x": 10, "y": 20}}}}{TOOL_CALL_CLOSE} '
            f"or answer. {self.scorer.format.describe()}"
        )

    def _task_info(self) -> dict[str, Any]:
        return {**super()._task_info(), "turn": self.turn, "sandbox": self.tools.sandbox_description}

    def _with_conversation(self, info: dict[str, Any]) -> dict[str, Any]:
        info.update(self.conversation.info(self.include_images_in_info))
        return info
