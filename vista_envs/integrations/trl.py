"""TRL's ``GRPOTrainer`` on vista-envs tasks: datasets, per-term reward functions, and a tool environment.

Single turn (``VisualQA-v0``)::

    from trl import GRPOConfig, GRPOTrainer
    from vista_envs.integrations.trl import make_dataset, reward_functions

    dataset = make_dataset("VisualQA-v0", 512, split="train")
    funcs, weights = reward_functions("VisualQA-v0")
    trainer = GRPOTrainer(model=path, reward_funcs=funcs, args=GRPOConfig(..., reward_weights=weights),
                          train_dataset=dataset)

Multi-turn with tools (``VistaTool-v0``): ``environment_factory=VistaToolEnvironment`` (or
``environment_factory(**env_kwargs)``), with ``reward_functions("VistaTool-v0")`` for the answer's terms; the
environment's ``get_reward()`` pays the tool costs. ``docs/integrations.md`` has runnable versions of both.

Needs the ``trl`` extra (``trl``, ``datasets``); both are imported only when used.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from vista_envs.integrations.tasks import (
    ANSWER_TERMS,
    TaskRef,
    iter_tasks,
    make_task_env,
    parse_ground_truth,
    score_response,
)
from vista_envs.tools.protocol import TOOL_CALL_CLOSE, TOOL_CALL_OPEN

__all__ = [
    "VistaToolEnvironment",
    "completion_text",
    "environment_factory",
    "make_dataset",
    "reward_functions",
    "reward_weights",
]

RewardFunction = Callable[..., list[float | None]]


def _require_datasets() -> Any:
    try:
        import datasets
    except ImportError as error:  # pragma: no cover - the extra is installed in CI
        raise ImportError("make_dataset needs the `datasets` package: pip install 'vista-envs[trl]'") from error
    return datasets


def _as_parts(content: Any) -> list[dict[str, Any]]:
    """Message content as a list of parts (Arrow needs one type per column, and TRL reads either form)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(part) for part in content]


def make_dataset(
    env_id: str,
    n: int,
    split: str = "train",
    *,
    seed: int = 0,
    families: Sequence[str] | None = None,
    **env_kwargs: Any,
) -> Any:
    """``n`` tasks of ``env_id`` as a ``datasets.Dataset`` in TRL's conversational vision-language format.

    Columns:

    - ``prompt``: the env's ``info["messages"]`` at reset (system prompt with the answer format and, for
      ``VistaTool-v0``, the tool-call form; the user turn with an ``{"type": "image"}`` placeholder and
      ``obs["text"]``), every ``content`` a list of parts;
    - ``images``: ``[image]``, the observed image (TRL fills the placeholder with it);
    - ``task``: the :class:`~vista_envs.integrations.tasks.TaskRef` as a dict (env id, family, difficulty,
      split, task seed): it rebuilds the task, so it must stay out of the prompt, and it does;
    - ``ground_truth``: the verifier's JSON (:func:`~vista_envs.integrations.tasks.ground_truth_json`);
    - ``family``, ``difficulty``: for grouping metrics.

    Tasks are drawn as :func:`~vista_envs.integrations.tasks.iter_tasks` draws them (same ``seed``, same rows).
    """
    datasets = _require_datasets()
    rows = {"prompt": [], "images": [], "task": [], "ground_truth": [], "family": [], "difficulty": []}
    for task in iter_tasks(env_id, n, split=split, seed=seed, families=families, **env_kwargs):
        rows["prompt"].append(
            [{"role": message["role"], "content": _as_parts(message["content"])} for message in task.messages]
        )
        rows["images"].append([task.image])
        rows["task"].append(task.ref.to_dict())
        rows["ground_truth"].append(task.ground_truth)
        rows["family"].append(task.ref.family)
        rows["difficulty"].append(task.ref.difficulty)
    part = {"type": datasets.Value("string"), "text": datasets.Value("string")}
    features = datasets.Features(
        {
            "prompt": datasets.List({"role": datasets.Value("string"), "content": datasets.List(part)}),
            "images": datasets.List(datasets.Image()),
            "task": {
                "env_id": datasets.Value("string"),
                "family": datasets.Value("string"),
                "difficulty": datasets.Value("int32"),
                "split": datasets.Value("string"),
                "task_seed": datasets.Value("int64"),
            },
            "ground_truth": datasets.Value("string"),
            "family": datasets.Value("string"),
            "difficulty": datasets.Value("int32"),
        }
    )
    return datasets.Dataset.from_dict(rows, features=features)


# -- completions as the env reads them --------------------------------------------------------------


def _message_text(message: Mapping[str, Any], think_tags: tuple[str, str] | None) -> str:
    """An assistant message as the text the model wrote: TRL's response parser may have split the reasoning
    into ``reasoning_content`` and tool calls into ``tool_calls``; they are put back in place."""
    content = message.get("content") or ""
    if not isinstance(content, str):
        content = "".join(part.get("text") or "" for part in content if isinstance(part, Mapping))
    reasoning = message.get("reasoning_content")
    if reasoning and think_tags:
        content = f"{think_tags[0]}{reasoning}{think_tags[1]}{content}"
    for call in message.get("tool_calls") or ():
        function = call.get("function", call) if isinstance(call, Mapping) else {}
        payload = {"name": function.get("name"), "arguments": function.get("arguments", {})}
        content += f"{TOOL_CALL_OPEN}{json.dumps(payload)}{TOOL_CALL_CLOSE}"
    return content


def completion_text(completion: Any, think_tags: tuple[str, str] | None = ("<think>", "</think>")) -> Any:
    """The final answer turn of a TRL completion, as text.

    A standard completion is already text. A conversational one is a list of messages (assistant turns, tool
    results); its last assistant message is the answer turn. Anything else is returned as it is, and the
    scorer pays it as the env pays an invalid action.
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        for message in reversed(completion):
            if isinstance(message, Mapping) and message.get("role") == "assistant":
                return _message_text(message, think_tags)
        return ""
    return completion


def _answer_turn(completion: Any, think_tags: tuple[str, str] | None) -> Any:
    """The answer turn of a tool rollout: its last message when that is the assistant's; after a tool
    result (the trainer stopped before the model answered) an empty turn, which the env pays as invalid."""
    if isinstance(completion, Sequence) and not isinstance(completion, str) and completion:
        last = completion[-1]
        if isinstance(last, Mapping) and last.get("role") != "assistant":
            return ""
    return completion_text(completion, think_tags)


# -- reward functions ----------------------------------------------------------------------------------


def reward_weights(env_id: str = "VisualQA-v0", **env_kwargs: Any) -> list[float]:
    """The env's weights of :data:`~vista_envs.integrations.tasks.ANSWER_TERMS`, for ``GRPOConfig(reward_weights=...)``.

    ``env_kwargs`` are the env's constructor kwargs (``correctness_weight=...`` etc.), as given to ``make_dataset``.
    """
    env = make_task_env(env_id, **env_kwargs)
    try:
        weights = env.unwrapped.scorer.weights
        return [float(getattr(weights, term)) for term in ANSWER_TERMS]
    finally:
        env.close()


def _term_function(term: str, env_id: str) -> RewardFunction:
    def reward(
        prompts: list[Any], completions: list[Any], ground_truth: list[str], **kwargs: Any
    ) -> list[float | None]:
        environments = kwargs.get("environments")
        values: list[float | None] = []
        for index, (completion, truth) in enumerate(zip(completions, ground_truth, strict=True)):
            _, scorer = parse_ground_truth(truth)
            text = completion_text(completion, scorer.format.think_tags)
            if environments is not None and isinstance(environments[index], VistaToolEnvironment):
                values.append(
                    environments[index]._finish_episode(_answer_turn(completion, scorer.format.think_tags))[term]
                )
            else:
                values.append(score_response(text, truth).terms[term])
        return values

    reward.__name__ = term  # TRL logs each reward function under its __name__
    reward.__qualname__ = term
    reward.__doc__ = f"The {env_id} reward term {term!r} of each completion (unweighted)."
    return reward


def reward_functions(env_id: str = "VisualQA-v0", **env_kwargs: Any) -> tuple[list[RewardFunction], list[float]]:
    r"""One TRL reward function per answer term, and the weights under which their sum is the env's reward.

    Returns ``(functions, weights)``: pass ``reward_funcs=functions`` to ``GRPOTrainer`` and
    ``reward_weights=weights`` to ``GRPOConfig``. Each function has TRL's signature
    ``f(prompts, completions, ground_truth, **kwargs) -> list[float]`` (``ground_truth`` is the dataset column
    of :func:`make_dataset`), is named after its term (``correctness``, ``format``, ``reasoning``, ``length``,
    so TRL logs each) and returns the term unweighted; then

    .. math:: \sum_k w_k f_k(\text{completion}) = \text{the env's reward for the completion}.

    For ``VistaTool-v0`` with :class:`VistaToolEnvironment`, the functions score the rollout's answer turn in
    its own environment, and the environment's ``get_reward()`` (which TRL adds with weight 1) pays the tool
    costs, so the sum is the env's episode return. ``env_kwargs`` must be those the dataset was made with
    (they set the weights).
    """
    functions = [_term_function(term, env_id) for term in ANSWER_TERMS]
    return functions, reward_weights(env_id, **env_kwargs)


# -- multi-turn tool use ------------------------------------------------------------------------------


class VistaToolEnvironment:
    r"""``VistaTool-v0`` in TRL's ``environment_factory`` contract: each public method is a tool the model calls.

    ## Description
    ``GRPOTrainer(environment_factory=VistaToolEnvironment, ...)`` builds one instance per rollout, calls
    ``reset(**row)`` with the dataset row of :func:`make_dataset` (``"VistaTool-v0"``), exposes the methods
    below as tools, runs the ones the model calls, and at the end asks ``get_reward()``. Behind the methods is a
    real ``VistaTool-v0`` env: each call the trainer executes is one env turn whose action is that call
    (``<tool_call>{"name": ..., "arguments": ...}</tool_call>``), so results, costs, sandboxing and errors are
    the env's own. The rollout's last assistant message is the answer turn, stepped by the reward functions of
    :func:`reward_functions` (TRL passes the environments to them).

    ## Tool results
    A tool's text result is returned as a string. When the call changed the view (``crop``, ``zoom``,
    ``draw_box``, ``mark_point``, ``grid``), the result is TRL's multimodal tool response,
    ``[{"type": "image", "image": <PIL.Image>}, {"type": "text", "text": ...}]``, so a VLM sees the new view.

    ## Rewards
    With the env's weights (``tool_cost_weight`` :math:`\lambda`, ``invalid_call_cost_weight`` :math:`\mu`):

    .. math::

        R = \underbrace{\textstyle\sum_k w_k\,\mathrm{term}_k(\text{answer turn})}_{\text{reward\_functions}}
            \underbrace{- \lambda N_{tools} - \mu N_{invalid}}_{\text{get\_reward()}}

    which is the return of the env episode made of these turns. A final message without an answer is, as in
    the env, an invalid turn (:math:`N_{invalid} + 1`) and scores 0 on the answer terms.

    ## Differences from stepping the env with whole turns
    TRL parses tool calls itself, so a call it cannot read, or one naming an unknown tool or wrong arguments,
    gets TRL's error and is not charged by the env; each executed call counts as one of the env's
    ``max_turns`` (set it, or TRL's ``max_tool_calling_iterations``, accordingly). Calls after the env has
    truncated the episode return an error without running.

    ## Arguments
    ``env_kwargs``: ``VistaTool-v0``'s constructor kwargs. All eight tools are exposed as methods; a tool the
    env was built without answers with the env's "unknown tool" error and its cost.
    """

    def __init__(self, **env_kwargs: Any):
        self.env = make_task_env("VistaTool-v0", **env_kwargs)
        self._ref: TaskRef | None = None
        self._running = False
        self._costs = {"tools": 0.0, "invalid": 0.0}
        self._answer_terms: dict[str, float] | None = None

    def reset(self, task: Mapping[str, Any] | None = None, **row: Any) -> None:
        """Start the rollout of the row's task (``row["task"]``, from :func:`make_dataset`); the prompt is the row's."""
        if task is None:
            raise ValueError(
                "VistaToolEnvironment.reset needs the row's 'task' column (make_dataset('VistaTool-v0', ...))"
            )
        self._ref = TaskRef.from_dict(task)
        if self._ref.env_id != "VistaTool-v0":
            raise ValueError(
                f"the row's task is a {self._ref.env_id} task; VistaToolEnvironment runs VistaTool-v0 tasks"
            )
        self.env.reset(options=self._ref.options())
        self._running = True
        self._costs = {"tools": 0.0, "invalid": 0.0}
        self._answer_terms = None

    # -- the tools (their docstrings are the schemas TRL shows the model) --------------------------------

    def python(self, code: str) -> str | list[dict[str, Any]]:
        """Run Python code in a sandbox. numpy is available as np and the current view as `image` (a height x width x 3
        uint8 array). Variables persist between calls.

        Args:
            code: Python source to run.

        Returns:
            The code's stdout and stderr.
        """
        return self._call("python", code=code)

    def search(self, query: str, k: int | None = None) -> str | list[dict[str, Any]]:
        """Search the knowledge base (countries: capitals, continents, currencies, languages, flags; a product catalogue
        by SKU).

        Args:
            query: what to look for.
            k: number of results (1-10, default 3).

        Returns:
            The best-matching entries.
        """
        return self._call("search", query=query, k=k)

    def crop(self, box: list[float]) -> str | list[dict[str, Any]]:
        """Show only a region of the current view, re-rendered at full resolution.

        Args:
            box: [x0, y0, x1, y1] in pixels of the current view.

        Returns:
            The new view and a description of it.
        """
        return self._call("crop", box=box)

    def zoom(self, x: float, y: float, factor: float | None = None) -> str | list[dict[str, Any]]:
        """Magnify the current view around a point (x, y) by a factor (default 2, at most 16).

        Args:
            x: horizontal pixel of the current view.
            y: vertical pixel of the current view.
            factor: magnification (default 2, at most 16).

        Returns:
            The new view and a description of it.
        """
        return self._call("zoom", x=x, y=y, factor=factor)

    def draw_box(
        self, box: list[float], color: str | None = None, label: str | None = None
    ) -> str | list[dict[str, Any]]:
        """Draw a rectangle on the current view.

        Args:
            box: [x0, y0, x1, y1] in pixels of the current view.
            color: a colour name such as red, green, blue, yellow.
            label: optional short label.

        Returns:
            The annotated view.
        """
        return self._call("draw_box", box=box, color=color, label=label)

    def mark_point(
        self, x: float, y: float, color: str | None = None, label: str | None = None
    ) -> str | list[dict[str, Any]]:
        """Mark a point on the current view.

        Args:
            x: horizontal pixel of the current view.
            y: vertical pixel of the current view.
            color: a colour name such as red, green, blue, yellow.
            label: optional short label.

        Returns:
            The annotated view.
        """
        return self._call("mark_point", x=x, y=y, color=color, label=label)

    def grid(self, step: int | None = None) -> str | list[dict[str, Any]]:
        """Overlay a labelled pixel grid on the current view.

        Args:
            step: grid spacing in pixels (default 32).

        Returns:
            The view with the grid.
        """
        return self._call("grid", step=step)

    def calculator(self, expression: str) -> str | list[dict[str, Any]]:
        """Evaluate an arithmetic expression (+ - * / // % **, parentheses, sqrt, log, round, min, max, ...).

        Args:
            expression: the expression to evaluate.

        Returns:
            Its value.
        """
        return self._call("calculator", expression=expression)

    def get_reward(self) -> float:
        """The env's tool costs of this rollout, :math:`-\\lambda N_{tools} - \\mu N_{invalid}` (the answer is paid by
        :func:`reward_functions`)."""
        base = self.env.unwrapped
        return float(
            base.tool_cost_weight * self._costs["tools"] + base.invalid_call_cost_weight * self._costs["invalid"]
        )

    # -- internals (private: TRL exposes every public method as a tool) ------------------------------

    def _call(self, name: str, **arguments: Any) -> str | list[dict[str, Any]]:
        if self._ref is None:
            raise RuntimeError("VistaToolEnvironment: call reset(**row) before calling a tool")
        if not self._running:
            return "Error: the episode is over; no more tool calls run. Give your final answer."
        # Omitted optional arguments are left to the env's defaults.
        payload = {"name": name, "arguments": {key: value for key, value in arguments.items() if value is not None}}
        observation, _, terminated, truncated, info = self.env.step(
            f"{TOOL_CALL_OPEN}{json.dumps(payload)}{TOOL_CALL_CLOSE}"
        )
        self._add_costs(info["reward_terms"])
        self._running = not (terminated or truncated)
        last = info["messages"][-1]
        # The env shows a changed view as a user turn with an image after the tool messages.
        if last["role"] == "user" and any(part.get("type") == "image" for part in last["content"]):
            return [
                {"type": "image", "image": Image.fromarray(np.asarray(observation["image"]))},
                {"type": "text", "text": observation["text"]},
            ]
        return observation["text"]

    def _add_costs(self, terms: Mapping[str, float]) -> None:
        self._costs["tools"] += terms["tools"]
        self._costs["invalid"] += terms["invalid"]

    def _finish_episode(self, answer_turn: Any) -> dict[str, float]:
        """Step the env with the rollout's final assistant turn (once; later calls return the same terms)."""
        if self._answer_terms is not None:
            return self._answer_terms
        if self._ref is None:
            raise RuntimeError("VistaToolEnvironment: the rollout was never reset")
        terms = dict.fromkeys(ANSWER_TERMS, 0.0)
        if self._running:
            _, _, terminated, truncated, info = self.env.step(answer_turn)
            self._add_costs(info["reward_terms"])
            self._running = not (terminated or truncated)
            if terminated:
                terms = {term: info["reward_terms"][term] for term in ANSWER_TERMS}
        self._answer_terms = terms
        return terms

    def __del__(self) -> None:
        # No public close(): TRL would offer it to the model as a tool. The env's sandbox workers end here.
        env = self.__dict__.get("env")
        if env is not None:
            env.close()


def environment_factory(**env_kwargs: Any) -> Callable[[], VistaToolEnvironment]:
    """A zero-argument factory of :class:`VistaToolEnvironment` built with ``env_kwargs``, for
    ``environment_factory=``."""
    return functools.partial(VistaToolEnvironment, **env_kwargs)
