r"""verl's reward function for exported vista-envs tasks, and the multi-turn ``VistaTool-v0`` rollout its agent loop
runs.

Single turn: verl loads ``compute_score`` by path (``custom_reward_function.path=<this file>``,
``custom_reward_function.name=compute_score``) and calls it once per response with the row's
``data_source`` and ``reward_model.ground_truth``; it returns the env's reward under ``score`` and the reward
terms beside it (verl logs the extra keys).

Multi-turn: :class:`VistaToolRollout` is the token-in/token-out episode loop, written against verl's
``server_manager.generate(request_id=..., prompt_ids=..., sampling_params=..., image_data=...)`` (which returns
an object with ``token_ids`` and ``log_probs``). The verl class that wraps it,
``vista_envs.integrations.verl_agent_loop.VistaToolAgentLoop`` (registered as ``"vista_tool_agent"``), is in its
own module because it imports verl. This module does not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import uuid4

import numpy as np
from PIL import Image

from vista_envs.integrations.tasks import TaskRef, make_task_env, score_response

__all__ = ["RolloutResult", "VistaToolRollout", "compute_score"]


def compute_score(
    data_source: str, solution_str: str, ground_truth: str, extra_info: Mapping[str, Any] | None = None, **kwargs: Any
) -> dict[str, float]:
    """verl's ``compute_score``: the env's reward for ``solution_str`` (an answer turn) under ``score``, and its terms.

    ``ground_truth`` is the exported row's ``reward_model["ground_truth"]``. A row that is not a vista-envs row
    (another ``data_source``) raises ``ValueError``, so a mixed dataset is not silently scored as ours.
    """
    if not str(data_source).startswith("vista_envs/"):
        raise ValueError(f"data_source {data_source!r} is not a vista-envs export (expected 'vista_envs/<env id>')")
    scored = score_response(solution_str, ground_truth)
    return {"score": scored.reward, **scored.terms}


class GenerateOutput(Protocol):
    token_ids: list[int]
    log_probs: list[float] | None


class ServerManager(Protocol):
    """The part of verl's LLM server client the rollout uses (verl 0.9's ``server_manager.generate``)."""

    async def generate(
        self,
        request_id: str,
        *,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        image_data: list[Any] | None = None,
        **kwargs: Any,
    ) -> GenerateOutput: ...


@dataclass
class RolloutResult:
    """A finished episode in verl's token layout.

    ``response_ids`` holds the model's tokens and the tool/observation tokens in order; ``response_mask`` is 1
    exactly on the model's tokens. ``images`` are every image of the conversation in order (the task image, then
    each new view), for ``multi_modal_data["images"]``; ``reward`` is the env's episode return and
    ``reward_terms`` its terms summed over the turns.
    """

    prompt_ids: list[int]
    response_ids: list[int] = field(default_factory=list)
    response_mask: list[int] = field(default_factory=list)
    response_logprobs: list[float] | None = None
    images: list[Image.Image] = field(default_factory=list)
    reward: float = 0.0
    reward_terms: dict[str, float] = field(default_factory=dict)
    num_turns: int = 0
    is_success: bool = False


class VistaToolRollout:
    """Runs one ``VistaTool-v0`` episode against a generation server, token in and token out.

    The prompt is the env's ``info["messages"]`` and ``info["tools"]`` rendered by the processor's chat template;
    each generation's token ids are appended as they are (never re-tokenized), decoded and stepped into the env;
    the env's new messages (tool results, the new view) are rendered with the same template and appended with
    mask 0. The loop ends when the env ends the episode, or when ``response_length`` tokens are used.

    Args:
        tokenizer: the model's tokenizer (its ``eos_token`` ends an assistant turn in the template).
        processor: the model's processor (renders the template and expands image tokens), or None for text only.
        response_length: the most response tokens (model and tool) an episode may use.
        env_kwargs: ``VistaTool-v0``'s constructor kwargs.
    """

    def __init__(self, tokenizer: Any, processor: Any, response_length: int, **env_kwargs: Any):
        self.tokenizer = tokenizer
        self.processor = processor
        self.response_length = response_length
        self.env = make_task_env("VistaTool-v0", **env_kwargs)

    def close(self) -> None:
        self.env.close()

    def _render(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, generation_prompt: bool
    ) -> str:
        template = self.processor if self.processor is not None else self.tokenizer
        return template.apply_chat_template(
            messages, tools=tools, add_generation_prompt=generation_prompt, tokenize=False
        )

    def _encode(self, text: str, images: Sequence[Image.Image]) -> list[int]:
        if self.processor is not None and images:
            return [
                int(i) for i in self.processor(text=[text], images=list(images), return_tensors="np")["input_ids"][0]
            ]
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    async def run(
        self, server_manager: ServerManager, sampling_params: dict[str, Any], task: Mapping[str, Any] | TaskRef
    ) -> RolloutResult:
        """Play the episode of ``task`` (the row's ``extra_info``, or a :class:`TaskRef`) with ``server_manager``."""
        ref = task if isinstance(task, TaskRef) else TaskRef.from_dict({"env_id": "VistaTool-v0", **task})
        _, info = self.env.reset(options=ref.options())
        tools = info.get("tools")
        messages = info["messages"]
        images = [Image.fromarray(np.asarray(image)) for image in info["images"]]
        result = RolloutResult(
            prompt_ids=self._encode(self._render(messages, tools, True), images), images=list(images)
        )
        logprobs: list[float] = []
        terms: dict[str, float] = {}
        eos = self.tokenizer.eos_token_id
        request_id = uuid4().hex
        while True:
            output = await server_manager.generate(
                request_id=request_id,
                prompt_ids=result.prompt_ids + result.response_ids,
                sampling_params=sampling_params,
                image_data=result.images or None,
            )
            budget = self.response_length - len(result.response_ids)
            ids = list(output.token_ids)[:budget]
            result.response_ids += ids
            result.response_mask += [1] * len(ids)
            logprobs += list(output.log_probs or [0.0] * len(output.token_ids))[: len(ids)]
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            _, reward, terminated, truncated, info = self.env.step(text)
            result.reward += reward
            result.num_turns += 1
            for name, value in info["reward_terms"].items():
                terms[name] = terms.get(name, 0.0) + value
            if terminated or truncated or len(result.response_ids) >= self.response_length:
                result.is_success = bool(info.get("is_success", False))
                break
            # The env's messages after this assistant turn: tool results, maybe the new view.
            turn_index = _last_assistant(info["messages"])
            new_images = [Image.fromarray(np.asarray(image)) for image in info["images"][len(result.images) :]]
            delta = self._continuation(info["messages"][: turn_index + 1], info["messages"][turn_index + 1 :], tools)
            closing = [] if ids and ids[-1] == eos else [eos]  # a turn cut short still ends as the template ends turns
            observation = closing + self._encode(delta, new_images)
            observation = observation[: self.response_length - len(result.response_ids)]
            result.response_ids += observation
            result.response_mask += [0] * len(observation)
            logprobs += [0.0] * len(observation)
            result.images += new_images
            if len(result.response_ids) >= self.response_length:
                break
        result.reward_terms = terms
        result.response_logprobs = logprobs
        return result

    def _continuation(
        self, history: list[dict[str, Any]], new: list[dict[str, Any]], tools: list[dict[str, Any]] | None
    ) -> str:
        """The template's text for ``new`` messages after ``history`` (which ends with the assistant's turn), up to
        the next assistant header: the full render minus the history's render, cut right after the turn's end token."""
        before = self._render(history, tools, False)
        after = self._render(history + new, tools, True)
        eos_text = self.tokenizer.eos_token
        cut = before.rfind(eos_text) + len(eos_text) if eos_text and eos_text in before else len(before)
        if not after.startswith(before[:cut]):
            raise ValueError("the chat template is not prefix-preserving: appending messages changed earlier text")
        return after[cut:]


def _last_assistant(messages: Sequence[Mapping[str, Any]]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index]["role"] == "assistant":
            return index
    raise ValueError("no assistant turn in the conversation")
