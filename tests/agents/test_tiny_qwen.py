"""Qwen2.5-VL on CPU: a tiny random model loaded through the real ``from_pretrained`` path, HFPolicy generation
with image grids and multimodal RoPE, multi-turn rollouts with loss masks and matched image tokens, GRPO steps."""

from __future__ import annotations

import dataclasses
import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.grpo import GRPOConfig, train
from vista_agents.policies import HFPolicy, ScriptedPolicy
from vista_agents.rollout import RolloutCollector, Trajectory, check_image_tokens, collate, sequence_logprobs
from vista_agents.tiny import FORMAT_TAGS
from vista_agents.tiny_qwen import QWEN_SPECIAL_TOKENS, build_tiny_qwen2_5_vl, main

COUNTING = {"families": ["counting"], "difficulty": 1, "image_size": 64}
ZOOM_THEN_ANSWER = [
    '<think>Look closer.</think><tool_call>{"name": "zoom", "arguments": {"x": 32, "y": 32}}</tool_call>',
    "<think>I see them now.</think><answer>3</answer>",
]
IMAGE_TOKENS = 16  # a 64 px image: 8 x 8 patches of 8 px, merged 2 x 2
TEMPERATURE = 0.7


@pytest.fixture(scope="module")
def policy(tiny_qwen) -> HFPolicy:
    return HFPolicy(tiny_qwen, max_new_tokens=8, temperature=TEMPERATURE, batch_size=4)


def reset_visualqa(count: int) -> tuple[list[dict], list[dict]]:
    """Reset observations and infos of ``count`` VisualQA-v0 envs (seeds 0, 1, ...): prompts of different lengths."""
    env = gym.make("VisualQA-v0")
    observations, infos = zip(*(env.reset(seed=seed) for seed in range(count)))
    return list(observations), list(infos)


def unpadded_logits(
    policy: HFPolicy, observation: dict, info: dict, completion_ids: torch.Tensor, multimodal_positions: bool = True
) -> torch.Tensor:
    """Logits predicting each completion token, from one forward pass over this env's prompt alone plus the completion.

    With ``multimodal_positions`` image tokens get 2-D (height, width) rotary positions: the model finds them
    by ``mm_token_type_ids`` (image 1, text 0, completion tokens included); without, every token gets a 1-D position.
    """
    inputs = policy.prepare_inputs([observation], [info])
    prompt_length = inputs["input_ids"].shape[1]
    token_types = torch.cat([inputs["mm_token_type_ids"][0], torch.zeros_like(completion_ids)]).unsqueeze(0)
    with torch.no_grad():
        logits = policy.model(
            input_ids=torch.cat([inputs["input_ids"][0], completion_ids]).unsqueeze(0),
            pixel_values=inputs["pixel_values"],
            image_grid_thw=inputs["image_grid_thw"],
            mm_token_type_ids=token_types if multimodal_positions else None,
        ).logits
    return logits[0, prompt_length - 1 : -1]


def token_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits / TEMPERATURE, dim=-1).gather(-1, ids.unsqueeze(-1)).squeeze(-1)


def segments(trajectory: Trajectory) -> list[tuple[bool, list[int]]]:
    """The trajectory as maximal runs of equal mask value: ``(trainable, token ids)``."""
    runs = itertools.groupby(
        zip(trajectory.loss_mask.tolist(), trajectory.input_ids.tolist()), key=lambda pair: pair[0]
    )
    return [(trainable, [token for _, token in run]) for trainable, run in runs]


# -- the tiny model ------------------------------------------------------------------------------------


def test_tiny_qwen_builds_deterministically_from_its_seed(tiny_qwen, tmp_path):
    main([str(tmp_path / "same"), "--seed", "0"])
    other = build_tiny_qwen2_5_vl(tmp_path / "other", seed=1)
    assert (tmp_path / "same" / "tokenizer.json").read_bytes() == (tiny_qwen / "tokenizer.json").read_bytes()
    weights, same, different = (load_file(path / "model.safetensors") for path in (tiny_qwen, tmp_path / "same", other))
    assert all(torch.equal(value, same[name]) for name, value in weights.items())
    assert not all(torch.equal(value, different[name]) for name, value in weights.items())


def test_tiny_qwen_loads_through_the_auto_classes_with_qwen_tokens(tiny_qwen):
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen)
    processor = AutoProcessor.from_pretrained(tiny_qwen)
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    # Qwen2_5_VLProcessor requires a torchvision video processor; the image-only Qwen2-VL-style processor does not.
    assert (type(processor).__name__, type(processor.image_processor).__name__) == (
        "PaddleOCRVLProcessor",
        "Qwen2VLImageProcessorPil",
    )
    tokenizer = processor.tokenizer
    assert all(tokenizer.tokenize(token) == [token] for token in QWEN_SPECIAL_TOKENS + FORMAT_TAGS)
    ids = tokenizer.convert_tokens_to_ids(["<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>"])
    config = model.config
    assert ids == [
        config.image_token_id,
        config.video_token_id,
        config.vision_start_token_id,
        config.vision_end_token_id,
    ]
    head_dim = config.text_config.hidden_size // config.text_config.num_attention_heads
    assert (
        sum(config.text_config.rope_parameters["mrope_section"]) == head_dim // 2
    )  # (time, height, width) cover every frequency
    text = "Größe: 7 <think>x</think> 数字"
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_builder_rejects_heads_too_narrow_for_three_rope_sections(tmp_path):
    with pytest.raises(ValueError, match="heads of an even width >= 8"):
        build_tiny_qwen2_5_vl(tmp_path, hidden_size=16, num_attention_heads=4)


@pytest.mark.parametrize(
    ("height", "width", "grid"), [(64, 64, [1, 8, 8]), (224, 224, [1, 8, 8]), (120, 200, [1, 6, 10])]
)
def test_an_image_becomes_its_merged_patch_grid_between_vision_markers(policy, height, width, grid):
    # Resized to at most 64 x 64 px in multiples of 16 px (120 x 200 -> 48 x 80), cut into 8 px patches, merged 2 x 2.
    image = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    inputs = policy.prepare_inputs([{"image": image, "text": "How many circles?"}], [{}])
    tokens = policy.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    n_tokens = grid[1] * grid[2] // 4
    start = tokens.index("<|vision_start|>")
    assert tokens[start + 1 : start + 2 + n_tokens] == ["<|image_pad|>"] * n_tokens + ["<|vision_end|>"]
    assert inputs["image_grid_thw"].tolist() == [grid]
    assert inputs["pixel_values"].shape[0] == grid[1] * grid[2]
    is_image_token = inputs["input_ids"][0] == policy.model.config.image_token_id
    assert torch.equal(inputs["mm_token_type_ids"][0].bool(), is_image_token)
    features = policy.model.get_image_features(
        pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"]
    )
    assert features.pooler_output[0].shape == (n_tokens, policy.model.config.text_config.hidden_size)


# -- HFPolicy ------------------------------------------------------------------------------------------


def test_generate_on_visualqa_returns_text_ids_and_the_logprobs_of_an_unpadded_forward_pass(policy):
    observations, infos = reset_visualqa(3)
    torch.manual_seed(0)
    completions = policy.generate(observations, infos)
    assert len({len(c.prompt_ids) for c in completions}) == 3  # the batch really is left-padded
    for observation, info, completion in zip(observations, infos, completions):
        assert completion.text == policy.tokenizer.decode(completion.completion_ids, skip_special_tokens=True)
        assert 1 <= len(completion.completion_ids) == len(completion.logprobs) <= policy.max_new_tokens
        logits = unpadded_logits(policy, observation, info, completion.completion_ids)
        torch.testing.assert_close(
            completion.logprobs, token_logprobs(logits, completion.completion_ids), atol=1e-5, rtol=1e-5
        )


def test_the_image_tokens_rotary_positions_change_the_logprobs(policy):
    # With 1-D positions the numbers differ, so the matches with multimodal positions above are not vacuous.
    observations, infos = reset_visualqa(1)
    torch.manual_seed(0)
    (completion,) = policy.generate(observations, infos)
    logits = unpadded_logits(policy, observations[0], infos[0], completion.completion_ids, multimodal_positions=False)
    assert not torch.allclose(
        completion.logprobs, token_logprobs(logits, completion.completion_ids), atol=1e-5, rtol=1e-5
    )


def test_the_sampler_draws_from_the_distribution_the_logprobs_score(policy):
    # generate() decodes a left-padded batch incrementally (cached keys, rope deltas); every step's logits must be
    # those of the unpadded teacher-forced pass, or RL ratios would be off before any update.
    observations, infos = reset_visualqa(3)
    inputs = policy.prepare_inputs(observations, infos)
    torch.manual_seed(0)
    output = policy.model.generate(
        **inputs, **policy.sampling_kwargs(), output_logits=True, return_dict_in_generate=True
    )
    step_logits = torch.stack(output.logits, dim=1)
    completions = output.sequences[:, inputs["input_ids"].shape[1] :]
    for row, (observation, info) in enumerate(zip(observations, infos)):
        expected = unpadded_logits(policy, observation, info, completions[row])
        torch.testing.assert_close(step_logits[row], expected, atol=1e-5, rtol=1e-5)


def test_hf_policy_never_samples_image_or_video_placeholders(policy):
    placeholders = policy.tokenizer.convert_tokens_to_ids(["<|image_pad|>", "<|video_pad|>"])

    def favour_placeholders(module, args, logits):
        logits = logits.clone()
        logits[..., placeholders] = 1e4
        return logits

    hook = policy.model.lm_head.register_forward_hook(favour_placeholders)
    try:
        completions = policy.generate(*reset_visualqa(2))
    finally:
        hook.remove()
    assert policy.sampling_kwargs()["suppress_tokens"] == sorted(placeholders)
    assert all(not set(placeholders) & set(c.completion_ids.tolist()) for c in completions)


# -- rollouts on VistaTool-v0 --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tool_envs():
    envs = gym.make_vec("VistaTool-v0", num_envs=2, max_turns=3, tools=["zoom", "crop", "calculator"], **COUNTING)
    yield envs
    envs.close()


@pytest.fixture(scope="module")
def zoom_episode(policy, tool_envs) -> Trajectory:
    (trajectory,) = RolloutCollector(tool_envs, policy, actor=ScriptedPolicy(ZOOM_THEN_ANSWER)).collect([5])
    return trajectory


def test_a_tool_episode_trains_exactly_the_assistant_turns(policy, zoom_episode):
    tokenizer = policy.tokenizer
    runs = segments(zoom_episode)
    assert [trainable for trainable, _ in runs] == [False, True, False, True]
    assert [tokenizer.decode(ids) for trainable, ids in runs if trainable] == [
        turn + tokenizer.eos_token for turn in ZOOM_THEN_ANSWER
    ]
    reply = tokenizer.decode(runs[2][1])
    assert "<tool_response>" in reply and reply.endswith("<|im_start|>assistant\n")
    assert reply.count("<|vision_start|>") == 1 and reply.count("<|image_pad|>") == IMAGE_TOKENS  # the zoomed view
    assert zoom_episode.turns == ZOOM_THEN_ANSWER and len(zoom_episode.rewards) == 2


def test_a_tool_episode_keeps_image_grids_and_token_types_aligned_with_its_image_tokens(policy, zoom_episode):
    assert zoom_episode.image_inputs["image_grid_thw"].tolist() == [[1, 8, 8], [1, 8, 8]]
    assert zoom_episode.image_inputs["pixel_values"].shape[0] == 2 * 64
    is_image_token = zoom_episode.input_ids == policy.model.config.image_token_id
    assert torch.equal(zoom_episode.token_inputs["mm_token_type_ids"].bool(), is_image_token)
    check_image_tokens(policy.model, zoom_episode)
    first_image_only = {key: value[: len(value) // 2] for key, value in zoom_episode.image_inputs.items()}
    with pytest.raises(ValueError, match=f"{2 * IMAGE_TOKENS} image tokens but its images make {IMAGE_TOKENS}"):
        check_image_tokens(policy.model, dataclasses.replace(zoom_episode, image_inputs=first_image_only))


def test_sampled_tool_episodes_record_logprobs_that_do_not_depend_on_padding(policy, tool_envs, zoom_episode):
    trajectories = RolloutCollector(tool_envs, policy).collect([7], group_size=2)
    pad = policy.tokenizer.pad_token_id
    for trajectory in trajectories:
        assert (
            sum(trainable for trainable, _ in segments(trajectory)) == len(trajectory.turns) == len(trajectory.rewards)
        )
        assert torch.all(trajectory.logprobs[~trajectory.loss_mask] == 0) and torch.all(
            trajectory.logprobs[trajectory.loss_mask] < 0
        )
        check_image_tokens(policy.model, trajectory)
        # Alone, and second in a padded batch after an episode with two images of its own: the model must still
        # pair this episode's image tokens with its own image grids and give them the same positions.
        for row, batch in ((0, [trajectory]), (1, [zoom_episode, trajectory])):
            logprobs, _ = sequence_logprobs(policy.model, collate(batch, pad), TEMPERATURE)
            recorded = logprobs[row, : len(trajectory.input_ids)] * trajectory.loss_mask
            torch.testing.assert_close(recorded, trajectory.logprobs, atol=1e-5, rtol=1e-5)


# -- GRPO ----------------------------------------------------------------------------------------------


def test_grpo_steps_on_the_tiny_qwen_update_both_towers(tiny_qwen, tmp_path):
    config = GRPOConfig(
        model=str(tiny_qwen),
        # A tight length budget makes the random model's rewards differ within a group.
        env_kwargs={**COUNTING, "length_budget": 16, "length_weight": 1.0},
        output_dir=str(tmp_path),
        total_steps=2,
        num_tasks=2,
        group_size=2,
        num_envs=4,
        max_new_tokens=8,
        micro_batch_size=2,
        num_epochs=2,
        kl_coef=0.05,
        learning_rate=1e-3,
        eval_episodes=2,
        progress_bar=False,
    )
    result = train(config)
    assert [row["step"] for row in result.metrics] == [0, 1, 2]
    assert all(row["trained_sequences"] > 0 and np.isfinite(row["loss"]) for row in result.metrics[1:])
    before, after = load_file(tiny_qwen / "model.safetensors"), load_file(result.checkpoint / "model.safetensors")
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    # Saved in Qwen's checkpoint layout: the vision tower under visual.*, the text tower under model.*. The
    # gradient reaches the vision tower through the image tokens' features.
    assert any(name.startswith("visual.blocks.") for name in changed)
    assert any(name.startswith("model.layers.") for name in changed)
    assert len(changed) > len(before) // 2
