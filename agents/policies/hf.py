"""A policy backed by a Hugging Face vision-language model (``AutoModelForImageTextToText`` + ``AutoProcessor``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, BatchFeature, PreTrainedModel, ProcessorMixin

from vista_agents.policies.chat import DEFAULT_INSTRUCTION, Chat, ChatBuilder, as_plain_text_tools

__all__ = ["Completion", "HFPolicy"]

_PROBE_TOOL, _PROBE_CALL = "vista_probe_schema", "vista_probe_call"


@dataclass
class Completion:
    """One sampled assistant turn.

    Attributes:
        text: the decoded turn (special tokens removed), what ``act`` returns.
        prompt_ids: the prompt's token ids, padding removed (image placeholders expanded).
        completion_ids: the sampled token ids, up to and including the end-of-turn token when one was sampled.
        logprobs: ``log pi(token | prefix)`` of each completion token, same length as ``completion_ids``,
            under the model's distribution at the sampling temperature (before top-p truncation).
        finished: whether the model ended the turn itself (False when ``max_new_tokens`` cut it).
    """

    text: str
    prompt_ids: torch.Tensor
    completion_ids: torch.Tensor
    logprobs: torch.Tensor
    finished: bool


def _resolve_dtype(dtype: str | torch.dtype, device: torch.device) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        # bf16 where the hardware has it (GPU RL runs), float32 on CPU where bf16 matmuls are slow.
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    resolved = getattr(torch, dtype, None)
    if not isinstance(resolved, torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use 'auto', 'float32', 'bfloat16', 'float16' or a torch.dtype")
    return resolved


class HFPolicy:
    """Batched generation with any ``AutoModelForImageTextToText`` and its ``AutoProcessor``.

    Works with the LLaVA and Qwen2.5-VL families (tested on CPU with the tiny random models of
    ``vista_agents.tiny`` and ``vista_agents.tiny_qwen``): every tensor the processor returns (``pixel_values``,
    ``image_grid_thw``, ``mm_token_type_ids``, ...) goes to the model unchanged, so Qwen2.5-VL's
    dynamic-resolution image grids and multimodal RoPE positions are computed as the model expects, in
    generation and in the log-probability pass alike. (Real Qwen2.5-VL checkpoints load their
    ``Qwen2_5_VLProcessor``, which needs torchvision; the tiny one ships an image-only processor.)

    Prompts are rendered with the processor's chat template: for ``VisualQA-v0`` one user turn with the
    image, the question and ``instruction``; for ``VistaTool-v0`` the env's ``info["messages"]`` with
    ``info["images"]`` and the tool schemas. Chat templates that do not render tools (Qwen2.5-VL's among
    them) get the tools as plain text instead (see :func:`vista_agents.policies.chat.as_plain_text_tools`).
    Prompts are left-padded into batches of ``batch_size``.

    Sampling draws from torch's global RNG: seed it with ``torch.manual_seed`` for reproducible runs.
    ``temperature=0`` decodes greedily. The model's own ``generation_config`` sampling settings (top-k,
    repetition penalty) are overridden so that samples follow exactly ``temperature`` and ``top_p``.

    Args:
        model: a local model directory (loaded with ``AutoModelForImageTextToText.from_pretrained``) or a
            loaded model (e.g. one being trained), used as is.
        processor: the processor; default ``AutoProcessor.from_pretrained`` of ``model``'s path.
        device: where a model loaded from a path is placed.
        dtype: weights dtype of a model loaded from a path: ``"auto"`` (bf16 on a GPU that supports it,
            else float32), a name like ``"bfloat16"``, or a ``torch.dtype``.
        max_new_tokens: the longest assistant turn in tokens.
        temperature: sampling temperature; 0 means greedy decoding.
        top_p: nucleus sampling mass.
        batch_size: prompts per ``generate`` call.
        instruction, system_prompt: see :class:`vista_agents.policies.chat.ChatBuilder`.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | PreTrainedModel,
        processor: ProcessorMixin | None = None,
        *,
        device: str | torch.device = "cpu",
        dtype: str | torch.dtype = "auto",
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
        batch_size: int = 8,
        instruction: str | None = DEFAULT_INSTRUCTION,
        system_prompt: str | None = None,
    ):
        if max_new_tokens < 1 or batch_size < 1:
            raise ValueError(f"max_new_tokens and batch_size must be >= 1, got {max_new_tokens} and {batch_size}")
        if temperature < 0 or not 0 < top_p <= 1:
            raise ValueError(f"need temperature >= 0 and 0 < top_p <= 1, got {temperature} and {top_p}")
        if isinstance(model, PreTrainedModel):
            if processor is None:
                raise ValueError("pass the processor along with a loaded model")
            self.model = model
        else:
            device = torch.device(device)
            self.model = (
                AutoModelForImageTextToText.from_pretrained(model, dtype=_resolve_dtype(dtype, device))
                .to(device)
                .eval()
            )
            processor = processor if processor is not None else AutoProcessor.from_pretrained(model)
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"  # generation appends on the right, so prompts align there
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.top_p = top_p
        self.batch_size = batch_size
        self.chats = ChatBuilder(instruction, system_prompt)

    # -- the Policy protocol -----------------------------------------------------------------------

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        """One assistant turn per env, as text."""
        return [completion.text for completion in self._complete(observations, infos, with_logprobs=False)]

    def generate(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[Completion]:
        """One assistant turn per env, with its token ids and per-token log-probabilities (for policy gradients).

        The log-probabilities come from one teacher-forced forward pass over prompt + completion, the
        same computation a trainer differentiates, rather than from the sampler's cached steps.
        """
        return self._complete(observations, infos, with_logprobs=True)

    # -- prompts -----------------------------------------------------------------------------------

    def render(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        """The prompt text of each env (chat template applied, generation prompt added)."""
        return [self._render(chat) for chat in self.chats.build(observations, infos)]

    def prepare_inputs(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> BatchFeature:
        """The model inputs of one batch: everything the processor returns, left-padded, on the model's device."""
        return self._encode(self.chats.build(observations, infos))

    @cached_property
    def template_renders_tools(self) -> bool:
        """Whether the chat template writes tool schemas and assistant tool calls itself."""
        schema = {"name": _PROBE_TOOL, "description": "", "parameters": {"type": "object", "properties": {}}}
        tool = {"type": "function", "function": schema}
        messages = [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": {"name": _PROBE_CALL, "arguments": {}}}],
            },
        ]
        try:
            text = self.processor.apply_chat_template(messages, tools=[tool], tokenize=False)
        except Exception:  # a template that rejects tool messages outright does not render tools
            return False
        return _PROBE_TOOL in text and _PROBE_CALL in text

    def _render(self, chat: Chat) -> str:
        if chat.tools and not self.template_renders_tools:
            messages, tools = as_plain_text_tools(chat), None
        else:
            messages, tools = chat.messages, chat.tools
        return self.processor.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)

    def _encode(self, chats: Sequence[Chat]) -> BatchFeature:
        texts = [self._render(chat) for chat in chats]
        images = [image for chat in chats for image in chat.images]
        inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")
        return inputs.to(self.model.device)

    # -- generation --------------------------------------------------------------------------------

    @cached_property
    def _end_token_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        return ids

    @cached_property
    def _placeholder_token_ids(self) -> list[int]:
        """Image/video placeholder tokens: the model must not sample them (the next forward pass would expect pixels).

        Read from the processor and from its tokenizer, which also names the video token of a Qwen2-VL-style
        tokenizer under an image-only processor (``vista_agents.tiny_qwen``)."""
        sources = (self.processor, self.tokenizer)
        ids = (getattr(source, name, None) for source in sources for name in ("image_token_id", "video_token_id"))
        return sorted({token for token in ids if isinstance(token, int)})

    def sampling_kwargs(self) -> dict[str, Any]:
        sampling: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if self._placeholder_token_ids:
            sampling["suppress_tokens"] = self._placeholder_token_ids
        if self.temperature == 0:
            return {**sampling, "do_sample": False}
        return {
            **sampling,
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": 0,
            "repetition_penalty": 1.0,
        }

    @torch.no_grad()
    def _complete(
        self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]], with_logprobs: bool
    ) -> list[Completion]:
        chats = self.chats.build(observations, infos)
        completions: list[Completion] = []
        for start in range(0, len(chats), self.batch_size):
            inputs = self._encode(chats[start : start + self.batch_size])
            prompt_length = inputs["input_ids"].shape[1]
            sequences = self.model.generate(**inputs, **self.sampling_kwargs())
            completion_ids = sequences[:, prompt_length:]
            completion_mask = self.completion_mask(completion_ids)
            logprobs = self._logprobs(inputs, completion_ids, completion_mask) if with_logprobs else None
            for row in range(len(completion_ids)):
                length = int(completion_mask[row].sum())
                ids = completion_ids[row, :length].cpu()
                completions.append(
                    Completion(
                        text=self.tokenizer.decode(ids, skip_special_tokens=True),
                        prompt_ids=inputs["input_ids"][row][inputs["attention_mask"][row].bool()].cpu(),
                        completion_ids=ids,
                        logprobs=logprobs[row, :length].cpu() if logprobs is not None else torch.empty(0),
                        finished=length > 0 and int(ids[-1]) in self._end_token_ids,
                    )
                )
        return completions

    def completion_mask(self, completion_ids: torch.Tensor) -> torch.Tensor:
        """1 for every sampled token up to and including the first end-of-turn token, 0 for the padding after it."""
        is_end = torch.isin(completion_ids, torch.tensor(sorted(self._end_token_ids), device=completion_ids.device))
        ends_before = (is_end.long().cumsum(dim=1) - is_end.long()) > 0
        return (~ends_before).long()

    def _logprobs(
        self, inputs: BatchFeature, completion_ids: torch.Tensor, completion_mask: torch.Tensor
    ) -> torch.Tensor:
        """``log pi(completion_t | prompt, completion_<t)`` for every completion position (batch x completion
        length)."""
        batch, length = completion_ids.shape
        extended = dict(inputs)
        extended["input_ids"] = torch.cat([inputs["input_ids"], completion_ids], dim=1)
        extended["attention_mask"] = torch.cat(
            [inputs["attention_mask"], completion_mask.to(inputs["attention_mask"].dtype)], dim=1
        )
        for key, value in inputs.items():
            # Per-token modality ids (Qwen2.5-VL's mm_token_type_ids): completion tokens are text, type 0.
            if key.endswith("token_type_ids"):
                extended[key] = torch.cat([value, value.new_zeros((batch, length))], dim=1)
        # The last length+1 positions predict the completion tokens; the final one predicts past its end.
        logits = self.model(**extended, logits_to_keep=length + 1).logits[:, :-1].float()
        if self.temperature > 0:
            logits = logits / self.temperature
        # logit - logsumexp is log_softmax without a second batch x length x vocab tensor.
        return logits.gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)
