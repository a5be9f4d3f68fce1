"""Tiny random vision-language models, built offline, for tests, demos and CPU benchmarks.

No weights can be downloaded, so tests and demos need a model made on the spot. :func:`build_tiny_vlm`
writes a LLaVA-style model directory (a CLIP vision tower, a linear projector and a Qwen2 text tower,
all randomly initialised) together with a byte-level BPE tokenizer trained on a small corpus of
vista-envs prompts, a CLIP image processor and a ChatML chat template that renders images, tools and
tool calls. The directory loads back through the ordinary Hugging Face path::

    from transformers import AutoModelForImageTextToText, AutoProcessor
    from vista_agents.tiny import build_tiny_vlm

    path = build_tiny_vlm("/tmp/tiny-vlm", seed=0)
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)

From a shell: ``python -m vista_agents.tiny /tmp/tiny-vlm --seed 0``. Building takes about a second and is
deterministic: the same arguments give byte-identical tokenizer files and identical weights.

The envs' tags (``<think>``, ``</think>``, ``<answer>``, ``</answer>``, ``<tool_call>``, ``</tool_call>``,
``<tool_response>``, ``</tool_response>``) are single tokens, so a tiny model can learn the response
format quickly.
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import torch
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
    ProcessorMixin,
    Qwen2Config,
)

from vista_envs.tasks.drawing import COLOR_NAMES, SHAPES
from vista_envs.tools.toolbox import DEFAULT_TOOLS

__all__ = [
    "CHAT_TEMPLATE",
    "FORMAT_TAGS",
    "build_tiny_vlm",
    "chat_template",
    "save_random_model",
    "tiny_corpus",
    "train_tokenizer",
]

# Chat control tokens (special: never produced as text) and the envs' tags (plain text, one token each).
PAD_TOKEN, IM_START, IM_END, IMAGE_TOKEN = "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"
SPECIAL_TOKENS = (PAD_TOKEN, IM_START, IM_END, IMAGE_TOKEN)
FORMAT_TAGS = (
    "<think>",
    "</think>",
    "<answer>",
    "</answer>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
)

# ChatML, as the Qwen2 family writes it: tool schemas listed in the system turn, assistant tool calls
# as Hermes-style <tool_call> JSON, tool results as user turns wrapped in <tool_response>. Each image
# part becomes the markup in place of _IMAGE_MARKUP (see chat_template).
_IMAGE_MARKUP = "@IMAGE@"
_CHAT_TEMPLATE_SOURCE = r"""{%- macro render(content) -%}
{%- if content is string -%}{{ content }}
{%- else -%}{%- for part in content -%}
{%- if part.type == 'image' or part.type == 'image_url' -%}@IMAGE@
{%- elif part.type == 'text' -%}{{ part.text }}{%- endif -%}
{%- endfor -%}{%- endif -%}
{%- endmacro -%}
{%- if tools or messages[0].role == 'system' -%}
{{- '<|im_start|>system\n' -}}
{%- if messages[0].role == 'system' -%}{{- render(messages[0].content) -}}{%- endif -%}
{%- if tools -%}
{{- '\n\n# Tools\n\n<tools>\n' -}}
{%- for tool in tools -%}{{- tool | tojson -}}{{- '\n' -}}{%- endfor -%}
{{- '</tools>\n\nCall a tool as <tool_call>{"name": <tool>, "arguments": {...}}</tool_call>' -}}
{%- endif -%}
{{- '<|im_end|>\n' -}}
{%- endif -%}
{%- for message in messages -%}
{%- if message.role == 'tool' -%}
{{- '<|im_start|>user\n<tool_response>\n' + render(message.content) + '\n</tool_response><|im_end|>\n' -}}
{%- elif message.role != 'system' -%}
{{- '<|im_start|>' + message.role + '\n' -}}
{%- if message.content -%}{{- render(message.content) -}}{%- endif -%}
{%- for call in message.tool_calls or [] -%}
{%- set function = call.function if call.function is defined else call -%}
{{- '<tool_call>{"name": ' + (function.name | tojson) + ', "arguments": ' -}}
{{- (function.arguments | tojson) if function.arguments is mapping else function.arguments -}}
{{- '}</tool_call>' -}}
{%- endfor -%}
{{- '<|im_end|>\n' -}}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}
"""


def chat_template(image_markup: str) -> str:
    """The tiny models' ChatML template (tools, tool calls and tool results included), writing ``image_markup``
    for each image part of a message: the processor then expands its image token to the image's features."""
    return _CHAT_TEMPLATE_SOURCE.replace(_IMAGE_MARKUP, image_markup)


CHAT_TEMPLATE = chat_template(IMAGE_TOKEN)

# The envs' own words, derived so a new colour, shape or tool reaches the tiny models' vocabulary. The extras
# ("grey" is an alias the envs read as "gray", "object" the generic noun; the rest were in the first corpus) stay
# so that the tokenizer, and the trainer metrics pinned on it, are unchanged: the corpus is a multiset of
# sentences, and BPE training does not depend on their order (the built model was hashed before and after).
_COLORS = (*COLOR_NAMES, "grey", "black", "white")
_SHAPES = (*SHAPES, "pentagon", "cross", "object")
_SIZES = ("small", "large")
_TOOLS = tuple(tool.name for tool in DEFAULT_TOOLS)


def tiny_corpus() -> Iterator[str]:
    """Sentences in the envs' language: questions, reasoning, tagged answers, tool calls and numbers."""
    for size, color, shape in itertools.product(_SIZES, _COLORS, _SHAPES):
        yield f"How many {size} {color} {shape}s are there? What color is the {size} {shape}?"
        yield f"<think>I count the {size} {color} {shape}s in the image.</think><answer>{len(color) % 7}</answer>"
        yield f"Is there a {size} {shape} to the left of the {color} {shape}? <answer>yes</answer> <answer>no</answer>"
    for tool in _TOOLS:
        yield (
            f'<tool_call>{{"name": "{tool}", "arguments": {{"x": 10, "y": 20, "code": '
            '"print(image.shape)"}}</tool_call>'
        )
        yield f"<tool_response>\n[{tool}] The current view after {tool}.\n</tool_response>"
    for number in range(0, 1001, 7):
        x, y = number % 224, number % 97
        yield f"{number} {number / 10:.1f} [{x}, {y}, {x + 20}, {y + 30}] {number % 12 + 1}:{number % 60:02d}"
    yield (
        "Answer with its letter: A, B, C, D, E. Put the frames in chronological order, earliest first. "
        "What is the value of the bar labelled 'Mon'? What time does the clock show? Answer as H:MM. "
        "Give the bounding box in pixels as [x0, y0, x1, y1]. Think inside <think>...</think>, then give the "
        "final answer in <answer>...</answer>. You answer questions about an image. Before answering you may call "
        'tools; their results come back in the next message. {"type": "function", "function": {"name", '
        '"description", "parameters": {"type": "object", "properties": {}, "required": []}}}'
    )


def train_tokenizer(
    corpus: Iterable[str],
    *,
    vocab_size: int,
    model_max_length: int,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
    extra_special_tokens: Mapping[str, str] | None = None,
    template: str = CHAT_TEMPLATE,
) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer (any Unicode text round-trips) wrapped as a ``transformers`` fast tokenizer.

    Args:
        corpus: training text, e.g. :func:`tiny_corpus`.
        vocab_size: BPE vocabulary size before the envs' tags (:data:`FORMAT_TAGS`, one plain token each) are added.
        model_max_length: longest sequence the tokenizer reports.
        special_tokens: control tokens with the first ids, never split nor produced from text; must include
            ``<|endoftext|>`` (padding) and ``<|im_end|>`` (end of turn).
        extra_special_tokens: named special tokens the processor looks up (default ``{"image_token": "<image>"}``).
        template: the chat template.
    """
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(corpus, trainer)
    backend.add_tokens([AddedToken(tag, special=False, normalized=False) for tag in FORMAT_TAGS])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        extra_special_tokens=dict(extra_special_tokens)
        if extra_special_tokens is not None
        else {"image_token": IMAGE_TOKEN},
        chat_template=template,
        model_max_length=model_max_length,
    )


def build_tiny_vlm(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    vocab_size: int = 1024,
    image_size: int = 32,
    patch_size: int = 8,
    vision_hidden_size: int = 32,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_attention_heads: int = 4,
    max_position_embeddings: int = 8192,
    corpus: Iterable[str] | None = None,
    vision_num_layers: int | None = None,
    vision_num_attention_heads: int = 2,
) -> Path:
    """Build a tiny random LLaVA-style VLM with its processor and save it to ``path``.

    Args:
        path: output directory (created; existing model files in it are overwritten).
        seed: seeds the weight initialisation.
        vocab_size: BPE vocabulary size before the envs' tags are added.
        image_size: side of the square image the vision tower sees; images are resized and centre-cropped to it.
        patch_size: ViT patch side; each image becomes ``(image_size // patch_size) ** 2`` image tokens.
        vision_hidden_size, hidden_size: widths of the vision and text towers.
        num_layers: depth of the text tower (and of the vision tower unless ``vision_num_layers`` is given).
        num_attention_heads: attention heads of the text tower (two key/value heads: grouped-query attention).
        max_position_embeddings: longest sequence the text tower accepts.
        corpus: extra tokenizer training text (e.g. real env prompts), added to :func:`tiny_corpus`.
        vision_num_layers: depth of the vision tower; default ``num_layers``.
        vision_num_attention_heads: attention heads of the vision tower.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, ready for ``AutoModelForImageTextToText.from_pretrained`` and
        ``AutoProcessor.from_pretrained``.
    """
    if image_size % patch_size:
        raise ValueError(f"image_size ({image_size}) must be a multiple of patch_size ({patch_size})")
    path = Path(path)
    tokenizer = train_tokenizer(
        itertools.chain(tiny_corpus(), corpus or ()), vocab_size=vocab_size, model_max_length=max_position_embeddings
    )
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        # "default" drops the vision tower's CLS feature, so an image is exactly (size / patch)^2 tokens.
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    vision_config = CLIPVisionConfig(
        image_size=image_size,
        patch_size=patch_size,
        hidden_size=vision_hidden_size,
        intermediate_size=2 * vision_hidden_size,
        num_hidden_layers=num_layers if vision_num_layers is None else vision_num_layers,
        num_attention_heads=vision_num_attention_heads,
        projection_dim=vision_hidden_size,
    )
    text_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=2,
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        image_seq_length=(image_size // patch_size) ** 2,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
        tie_word_embeddings=True,
    )
    return save_random_model(path, LlavaForConditionalGeneration, config, processor, seed)


def save_random_model(
    path: Path, model_class: type[PreTrainedModel], config: PreTrainedConfig, processor: ProcessorMixin, seed: int
) -> Path:
    """Initialise ``model_class(config)`` from ``seed`` (the caller's RNG untouched), let it end turns with the
    tokenizer's eos token and pad with its pad token, and save it with ``processor`` to ``path``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = model_class(config)
    tokenizer = processor.tokenizer
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vista_agents.tiny", description="Build a tiny random VLM (LLaVA-style) offline."
    )
    parser.add_argument("out_dir", help="directory to write the model and processor to")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    parser.add_argument("--hidden-size", type=int, default=64, help="text tower width (default 64)")
    parser.add_argument("--num-layers", type=int, default=2, help="depth of both towers (default 2)")
    parser.add_argument("--image-size", type=int, default=32, help="vision tower input side in pixels (default 32)")
    args = parser.parse_args(argv)
    path = build_tiny_vlm(
        args.out_dir,
        seed=args.seed,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        image_size=args.image_size,
    )
    print(f"tiny VLM written to {path}")


if __name__ == "__main__":
    main()
