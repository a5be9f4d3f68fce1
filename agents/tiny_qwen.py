"""A tiny random Qwen2.5-VL, built offline, for CPU tests of the Qwen2.5-VL code paths.

:func:`build_tiny_qwen2_5_vl` writes a ``Qwen2_5_VLForConditionalGeneration`` (a windowed-attention ViT
with a 2 x 2 patch merger and a Qwen2 text tower with multimodal RoPE, randomly initialised, about 200
thousand weights), a tokenizer trained on the spot on the envs' language (:func:`vista_agents.tiny.tiny_corpus`)
with Qwen's special tokens, the Qwen2-VL image processor (its PIL implementation: no torchvision) and a
ChatML template that writes each image as ``<|vision_start|><|image_pad|><|vision_end|>`` and renders
tools like :mod:`vista_agents.tiny`. Images are resized to at most ``max_pixels`` (sides multiples
of ``patch_size * merge_size``) and cut into ``patch_size`` patches merged ``merge_size`` x ``merge_size``:
with the defaults a square image of 64 px or more is 16 image tokens, a 120 x 200 one 15. The directory
loads back through the ordinary Hugging Face path::

    from transformers import AutoModelForImageTextToText, AutoProcessor
    from vista_agents.tiny_qwen import build_tiny_qwen2_5_vl

    path = build_tiny_qwen2_5_vl("/tmp/tiny-qwen", seed=0)
    model = AutoModelForImageTextToText.from_pretrained(path)  # Qwen2_5_VLForConditionalGeneration
    processor = AutoProcessor.from_pretrained(path)

The processor: ``Qwen2_5_VLProcessor`` cannot be built or loaded without torchvision, because its video
processor is a required part and every transformers video processor needs torchvision. The tiny model
therefore ships transformers' image-only processor for Qwen2-VL-style vision towers,
``PaddleOCRVLProcessor``: the same image processor, the same ``<|image_pad|>`` expansion
(``prod(image_grid_thw) / merge_size**2`` tokens per image) and the same model inputs (``input_ids``,
``attention_mask``, ``pixel_values``, ``image_grid_thw``, ``mm_token_type_ids``), with no video support.
Loading it logs a transformers deprecation notice about its ``image_processor_class``; it is harmless.
Real Qwen2.5-VL checkpoints keep their own ``Qwen2_5_VLProcessor`` (and need torchvision).

From a shell: ``python -m vista_agents.tiny_qwen /tmp/tiny-qwen --seed 0``. Building is deterministic: the same
arguments give byte-identical tokenizer files and identical weights.
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Iterable
from pathlib import Path

from transformers import PaddleOCRVLProcessor, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from vista_agents.tiny import (
    IM_END,
    IM_START,
    PAD_TOKEN,
    chat_template,
    save_random_model,
    tiny_corpus,
    train_tokenizer,
)

__all__ = ["QWEN_SPECIAL_TOKENS", "build_tiny_qwen2_5_vl"]

VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD = "<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"
# Qwen2.5-VL's control tokens in its own order: chat, grounding (object refs, boxes, quads) and vision.
QWEN_SPECIAL_TOKENS = (
    PAD_TOKEN,
    IM_START,
    IM_END,
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    VISION_START,
    VISION_END,
    "<|vision_pad|>",
    IMAGE_PAD,
    VIDEO_PAD,
)


def _mrope_section(head_dim: int) -> list[int]:
    """How the rotary frequencies of one head split over (time, height, width), in Qwen2.5-VL's 2 : 3 : 3 proportion."""
    half = head_dim // 2
    temporal = half // 4
    height = (half - temporal) // 2
    return [temporal, height, half - temporal - height]


def build_tiny_qwen2_5_vl(
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    vocab_size: int = 1024,
    patch_size: int = 8,
    merge_size: int = 2,
    min_pixels: int = 32 * 32,
    max_pixels: int = 64 * 64,
    vision_hidden_size: int = 32,
    vision_depth: int = 2,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_attention_heads: int = 4,
    max_position_embeddings: int = 8192,
    corpus: Iterable[str] | None = None,
) -> Path:
    """Build a tiny random Qwen2.5-VL with its processor and save it to ``path``.

    Args:
        path: output directory (created; existing model files in it are overwritten).
        seed: seeds the weight initialisation.
        vocab_size: BPE vocabulary size before the envs' tags are added.
        patch_size: ViT patch side in pixels.
        merge_size: side of the square of patches the merger turns into one image token.
        min_pixels, max_pixels: images are resized (aspect ratio kept, sides multiples of
            ``patch_size * merge_size``) to an area within these bounds.
        vision_hidden_size: width of the vision tower.
        vision_depth: vision blocks; the last one attends over the whole image, the others within
            windows of 2 x 2 image tokens (Qwen2.5-VL's window attention).
        hidden_size: width of the text tower.
        num_layers: depth of the text tower.
        num_attention_heads: attention heads of the text tower (two key/value heads: grouped-query
            attention); the head width must be at least 8 for the three multimodal-RoPE sections.
        max_position_embeddings: longest sequence the text tower accepts.
        corpus: extra tokenizer training text (e.g. real env prompts), added to :func:`vista_agents.tiny.tiny_corpus`.

    Returns:
        ``path`` as a :class:`~pathlib.Path`, ready for ``AutoModelForImageTextToText.from_pretrained`` and
        ``AutoProcessor.from_pretrained``.
    """
    head_dim = hidden_size // num_attention_heads
    if hidden_size % num_attention_heads or head_dim < 8 or head_dim % 2:
        raise ValueError(
            f"hidden_size ({hidden_size}) must split into num_attention_heads ({num_attention_heads}) heads of an even "
            "width >= 8"
        )
    factor = patch_size * merge_size
    if min_pixels < factor**2 or max_pixels < min_pixels:
        raise ValueError(
            f"need (patch_size * merge_size)^2 = {factor**2} <= min_pixels ({min_pixels}) <= max_pixels ({max_pixels})"
        )
    path = Path(path)
    template = chat_template(VISION_START + IMAGE_PAD + VISION_END)
    tokenizer = train_tokenizer(
        itertools.chain(tiny_corpus(), corpus or ()),
        vocab_size=vocab_size,
        model_max_length=max_position_embeddings,
        special_tokens=QWEN_SPECIAL_TOKENS,
        extra_special_tokens={
            "image_token": IMAGE_PAD,
            "video_token": VIDEO_PAD,
            "vision_start_token": VISION_START,
            "vision_end_token": VISION_END,
        },
        template=template,
    )
    image_processor = Qwen2VLImageProcessorPil(
        patch_size=patch_size,
        merge_size=merge_size,
        temporal_patch_size=2,
        min_pixels=min_pixels,
        max_pixels=max_pixels,
    )
    processor = PaddleOCRVLProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)
    vision_config = {
        "depth": vision_depth,
        "hidden_size": vision_hidden_size,
        "intermediate_size": 2 * vision_hidden_size,
        "num_heads": 2,
        "patch_size": patch_size,
        "spatial_merge_size": merge_size,
        "temporal_patch_size": 2,  # a still image is its frame twice, as in Qwen2.5-VL
        "window_size": 2 * factor,
        "fullatt_block_indexes": [vision_depth - 1],
        "out_hidden_size": hidden_size,
    }
    text_config = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": 2 * hidden_size,
        "num_hidden_layers": num_layers,
        "num_attention_heads": num_attention_heads,
        "num_key_value_heads": 2,
        "max_position_embeddings": max_position_embeddings,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 1_000_000.0,
            "mrope_section": _mrope_section(head_dim),
        },
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": None,
    }
    config = Qwen2_5_VLConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_id=tokenizer.convert_tokens_to_ids(IMAGE_PAD),
        video_token_id=tokenizer.convert_tokens_to_ids(VIDEO_PAD),
        vision_start_token_id=tokenizer.convert_tokens_to_ids(VISION_START),
        vision_end_token_id=tokenizer.convert_tokens_to_ids(VISION_END),
        tie_word_embeddings=True,
    )
    return save_random_model(path, Qwen2_5_VLForConditionalGeneration, config, processor, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m vista_agents.tiny_qwen", description="Build a tiny random Qwen2.5-VL offline."
    )
    parser.add_argument("out_dir", help="directory to write the model and processor to")
    parser.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    parser.add_argument("--hidden-size", type=int, default=64, help="text tower width (default 64)")
    parser.add_argument("--num-layers", type=int, default=2, help="text tower depth (default 2)")
    parser.add_argument(
        "--max-pixels",
        type=int,
        default=64 * 64,
        help="largest image area after resizing (default 4096: 16 image tokens)",
    )
    args = parser.parse_args(argv)
    path = build_tiny_qwen2_5_vl(
        args.out_dir,
        seed=args.seed,
        hidden_size=args.hidden_size,
        num_layers=args.num_layers,
        max_pixels=args.max_pixels,
    )
    print(f"tiny Qwen2.5-VL written to {path}")


if __name__ == "__main__":
    main()
