"""Rollouts: groups of episodes per task, token sequences whose loss mask covers the policy's own tokens only."""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pytest
import torch

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.policies import HFPolicy, OraclePolicy, ScriptedPolicy
from vista_agents.rollout import (
    RolloutCollector,
    Trajectory,
    check_image_tokens,
    collate,
    sequence_logprobs,
    summarize,
    unbatch,
)

COUNTING = {"families": ["counting"], "difficulty": 1, "image_size": 64}
ZOOM_THEN_ANSWER = [
    '<think>Look closer.</think><tool_call>{"name": "zoom", "arguments": {"x": 32, "y": 32}}</tool_call>',
    "<think>I see them now.</think><answer>3</answer>",
]
IMAGE_TOKENS = 16  # (32 px / 8 px patches)^2


@pytest.fixture(scope="module")
def policy(tiny_vlm_32px) -> HFPolicy:
    torch.manual_seed(0)
    return HFPolicy(tiny_vlm_32px, max_new_tokens=10, batch_size=8)


def segments(trajectory: Trajectory) -> list[tuple[bool, torch.Tensor]]:
    """The trajectory as maximal runs of equal mask value: ``(trainable, token ids)``."""
    mask = trajectory.loss_mask.tolist()
    runs, start = [], 0
    for index in range(1, len(mask) + 1):
        if index == len(mask) or mask[index] != mask[start]:
            runs.append((mask[start], trajectory.input_ids[start:index]))
            start = index
    return runs


# -- vector env plumbing -----------------------------------------------------------------------------


def test_unbatch_splits_observations_and_keeps_only_the_info_keys_each_env_set():
    info = {
        "answer": np.array(["3", None], dtype=object),
        "_answer": np.array([True, False]),
        "reward_terms": {"format": np.array([1.0, 0.0]), "_format": np.array([True, True])},
        "_reward_terms": np.array([True, True]),
    }
    assert unbatch(info, 2) == [{"answer": "3", "reward_terms": {"format": 1.0}}, {"reward_terms": {"format": 0.0}}]
    observations = unbatch({"image": np.zeros((2, 4, 4, 3)), "question": ("a?", "b?")}, 2)
    assert [observation["question"] for observation in observations] == ["a?", "b?"]


def test_collector_refuses_vector_envs_that_autoreset_in_the_same_step(policy):
    envs = gym.make_vec(
        "VisualQA-v0", num_envs=2, vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP}, **COUNTING
    )
    with pytest.raises(ValueError, match="NEXT_STEP"):
        RolloutCollector(envs, policy)


# -- single-turn groups (GRPO) -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sampled_groups(policy):
    envs = gym.make_vec(
        "VisualQA-v0", num_envs=5, **COUNTING
    )  # 3 tasks x 4 episodes in waves of 5 (the last one short)
    return RolloutCollector(envs, policy).collect([11, 22, 33], group_size=4)


def test_each_group_is_one_task_played_group_size_times(sampled_groups):
    assert [t.group for t in sampled_groups] == [0] * 4 + [1] * 4 + [2] * 4
    task_of_group = {t.group: t.info["task_seed"] for t in sampled_groups}
    assert all(t.info["task_seed"] == task_of_group[t.group] for t in sampled_groups)
    assert len(set(task_of_group.values())) == 3


def test_a_sampled_turn_is_the_only_trainable_segment_and_decodes_to_the_action(policy, sampled_groups):
    for trajectory in sampled_groups:
        runs = segments(trajectory)
        assert [trainable for trainable, _ in runs] == [False, True]
        assert 1 <= len(runs[1][1]) <= policy.max_new_tokens
        assert policy.tokenizer.decode(runs[1][1], skip_special_tokens=True) == trajectory.turns[0]
        assert len(trajectory.rewards) == 1 and trajectory.reward == trajectory.rewards[0]


def test_recorded_logprobs_are_the_models_at_policy_tokens_and_zero_elsewhere(policy, sampled_groups):
    for trajectory in sampled_groups[:3]:
        assert trajectory.logprobs is not None
        assert torch.all(trajectory.logprobs[~trajectory.loss_mask] == 0)
        assert torch.all(trajectory.logprobs[trajectory.loss_mask] < 0)
        alone, _ = sequence_logprobs(
            policy.model, collate([trajectory], policy.tokenizer.pad_token_id), policy.temperature
        )
        torch.testing.assert_close(alone[0] * trajectory.loss_mask, trajectory.logprobs, atol=1e-5, rtol=1e-5)


def test_logprobs_of_a_sequence_do_not_depend_on_the_padding_around_it(policy, sampled_groups):
    short = min(sampled_groups, key=lambda t: len(t.input_ids))
    longest = max(sampled_groups, key=lambda t: len(t.input_ids))
    pad = policy.tokenizer.pad_token_id
    alone, _ = sequence_logprobs(policy.model, collate([short], pad))
    padded, _ = sequence_logprobs(policy.model, collate([short, longest], pad))
    assert padded.shape[1] >= alone.shape[1]
    torch.testing.assert_close(
        padded[0, : alone.shape[1]] * short.loss_mask, alone[0] * short.loss_mask, atol=1e-5, rtol=1e-5
    )


def test_summarize_reports_means_over_episodes():
    episodes = [
        Trajectory(rewards=[1.0], info={"is_success": True}, turns=["a"]),
        Trajectory(rewards=[0.0, -0.5], info={}, turns=["b", "c"], truncated=True),
    ]
    summary = summarize(episodes)
    assert (
        summary["success_rate"] == 0.5
        and summary["reward"] == 0.25
        and summary["turns"] == 1.5
        and summary["truncated"] == 0.5
    )


# -- multi-turn masks (VistaTool-v0) -------------------------------------------------------------------


@pytest.fixture(scope="module")
def tool_envs():
    return gym.make_vec("VistaTool-v0", num_envs=2, tools=["zoom", "crop", "calculator"], **COUNTING)


def test_multi_turn_trajectory_trains_exactly_the_assistant_turns(policy, tool_envs):
    (trajectory,) = RolloutCollector(tool_envs, policy, actor=ScriptedPolicy(ZOOM_THEN_ANSWER)).collect([5])
    tokenizer = policy.tokenizer
    runs = segments(trajectory)
    assert [trainable for trainable, _ in runs] == [False, True, False, True]
    for (_, ids), turn in zip([run for run in runs if run[0]], ZOOM_THEN_ANSWER):
        assert (
            tokenizer.decode(ids) == turn + tokenizer.eos_token
        )  # the policy's text and its end-of-turn token, nothing else
    reply = tokenizer.decode(runs[2][1])
    assert "<tool_response>" in reply and "[zoom]" not in tokenizer.decode(runs[1][1])
    assert reply.endswith("<|im_start|>assistant\n") and reply.count("<image>") == IMAGE_TOKENS  # the zoomed view
    assert trajectory.turns == ZOOM_THEN_ANSWER and len(trajectory.rewards) == 2
    assert trajectory.image_inputs["pixel_values"].shape[0] == 2


def test_an_eos_string_inside_a_turn_does_not_end_it_early(policy, tool_envs):
    """A turn that writes the eos string as text once cut the env's reply there, duplicating part of the turn."""
    eos = policy.tokenizer.eos_token
    turns = [ZOOM_THEN_ANSWER[0] + f" then {eos} more text", ZOOM_THEN_ANSWER[1]]
    (trajectory,) = RolloutCollector(tool_envs, policy, actor=ScriptedPolicy(turns)).collect([5])
    reply = policy.tokenizer.decode(segments(trajectory)[2][1])
    assert "more text" not in reply and "<tool_response>" in reply and reply.endswith("<|im_start|>assistant\n")


def test_oracle_tool_trajectories_mask_tool_results_and_keep_images_matched(policy):
    envs = gym.make_vec(
        "VistaTool-v0", num_envs=2, families=["chart_arithmetic"], image_size=64, tools=["zoom", "crop", "calculator"]
    )
    trajectories = RolloutCollector(envs, policy, actor=OraclePolicy(envs), record_logprobs=False).collect([1, 2, 3])
    tokenizer = policy.tokenizer
    for trajectory in trajectories:
        assert trajectory.success and len(trajectory.turns) >= 2
        trained = [tokenizer.decode(ids) for trainable, ids in segments(trajectory) if trainable]
        assert trained == [turn + tokenizer.eos_token for turn in trajectory.turns]
        assert all("<tool_response>" not in text and "<|im_start|>" not in text for text in trained)
        check_image_tokens(policy.model, trajectory)


def test_image_tokens_that_do_not_match_the_images_are_reported(policy, tool_envs):
    (trajectory,) = RolloutCollector(tool_envs, policy, actor=ScriptedPolicy(ZOOM_THEN_ANSWER)).collect([5])
    one_image_dropped = dataclasses.replace(
        trajectory, image_inputs={"pixel_values": trajectory.image_inputs["pixel_values"][:1]}
    )
    with pytest.raises(ValueError, match=f"{2 * IMAGE_TOKENS} image tokens but its images make {IMAGE_TOKENS}"):
        check_image_tokens(policy.model, one_image_dropped)


def test_sampled_multi_turn_episodes_run_to_the_turn_limit_in_an_async_vector_env(policy):
    envs = gym.make_vec("VistaTool-v0", num_envs=2, vectorization_mode="async", max_turns=3, tools=["zoom"], **COUNTING)
    try:
        trajectories = RolloutCollector(envs, policy).collect([7], group_size=2)
    finally:
        envs.close()
    for trajectory in trajectories:
        assert len(trajectory.turns) == len(trajectory.rewards) <= 3
        assert sum(trainable for trainable, _ in segments(trajectory)) == len(trajectory.turns)
        assert trajectory.truncated == ("extracted_answer" not in trajectory.info)  # no answer: cut at max_turns
