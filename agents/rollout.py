"""Rollouts: a policy steps Gymnasium vector envs, and each episode becomes one token sequence to train on.

An episode is recorded token-in, token-out: the model continues exactly the tokens it will later be
trained on, so the log-probabilities of sampling and of training agree. Its :class:`Trajectory` is

    prompt  | turn 1 | env reply   | turn 2 | ...
    mask 0  | mask 1 | mask 0      | mask 1 |

where the turns are the tokens the policy produced (``loss_mask`` 1: the only tokens a learner trains on)
and everything else, the first prompt, tool results, new images, chat-template glue, is masked. After
each multi-turn step the env's conversation (``info["messages"]``, ``info["images"]``) is rendered with
the policy's chat template; the text past the previous prompt, minus the template's own copy of the
assistant turn, is the env reply. This needs an append-only chat template (ChatML, Qwen2.5-VL's, the
tiny models'): one that rewrites earlier turns is reported with an error.

Actions come from the :class:`~vista_agents.policies.hf.HFPolicy` itself (sampling, the RL case) or from any
text :class:`~vista_agents.policies.base.Policy` given as ``actor`` (oracle demonstrations for SFT, scripted
tests), whose text is tokenised and closed with the end-of-turn token.

:meth:`RolloutCollector.collect` runs groups: ``group_size`` episodes of each task, the task being what
``reset(seed=s)`` draws, as GRPO needs. Episodes run in waves of ``envs.num_envs``; an env whose
episode has ended idles (its next steps, an autoreset and empty actions, are ignored) until the
wave ends. The vector env must use Gymnasium's default ``NEXT_STEP`` autoreset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from PIL import Image
from transformers import PreTrainedModel

from vista_agents.policies.base import Policy
from vista_agents.policies.chat import as_pil
from vista_agents.policies.hf import HFPolicy

__all__ = [
    "Batch",
    "RolloutCollector",
    "Trajectory",
    "check_image_tokens",
    "collate",
    "sequence_logprobs",
    "summarize",
    "unbatch",
]

# Info keys that hold the conversation itself: too large to keep in every finished trajectory.
_CONVERSATION_KEYS = ("messages", "images", "tools")


def _is_token_key(key: str) -> bool:
    """Processor outputs with one entry per token (the rest, pixel values and image grids, have one per image)."""
    return key in ("input_ids", "attention_mask") or key.endswith("token_type_ids")


@dataclass
class Trajectory:
    """One episode as the model saw it: a single token sequence, the images in it, and what the env paid.

    Attributes:
        input_ids: every token of the episode, ``(length,)``.
        loss_mask: ``(length,)`` bool, True at the tokens the policy produced (its turns, end-of-turn
            tokens included); prompts, env replies, tool results and template glue are False.
        token_inputs: other per-token model inputs the processor made (e.g. Qwen2.5-VL's
            ``mm_token_type_ids``), each ``(length,)``; policy tokens are text (0).
        image_inputs: per-image model inputs (``pixel_values``, ``image_grid_thw``, ...) of every image of
            the episode, concatenated in order along dim 0.
        turns: the text of each policy turn, as the env received it.
        rewards: the env's reward for each turn.
        info: the last step's info, without the conversation (``messages``, ``images``, ``tools``).
        group: index of the task group (episodes of one group share a task).
        seed: the reset seed that drew the task.
        truncated: whether the episode ended by truncation rather than termination.
        logprobs: ``(length,)`` log-probabilities of each policy token at the sampling temperature (0 at
            masked positions), or None when not recorded.
    """

    input_ids: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    loss_mask: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.bool))
    token_inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    image_inputs: dict[str, torch.Tensor] = field(default_factory=dict)
    turns: list[str] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    group: int = 0
    seed: int | None = None
    truncated: bool = False
    logprobs: torch.Tensor | None = None

    @property
    def reward(self) -> float:
        """The episode return (undiscounted sum of the turn rewards)."""
        return float(sum(self.rewards))

    @property
    def success(self) -> bool:
        return bool(self.info.get("is_success", False))

    @property
    def num_policy_tokens(self) -> int:
        return int(self.loss_mask.sum())

    def extend(
        self, input_ids: torch.Tensor, trainable: bool, model_inputs: dict[str, torch.Tensor] | None = None
    ) -> None:
        """Append tokens, with the per-token and per-image inputs the processor made for them (none for policy
        tokens)."""
        model_inputs = model_inputs or {}
        length = len(input_ids)
        extras = {
            key: value.reshape(-1)
            for key, value in model_inputs.items()
            if _is_token_key(key) and key not in ("input_ids", "attention_mask")
        }
        for key in set(self.token_inputs) | set(extras):
            current = self.token_inputs.get(key, self.input_ids.new_zeros(len(self.input_ids)))
            new = extras.get(key, current.new_zeros(length))
            self.token_inputs[key] = torch.cat([current, new.to(current.dtype)])
        for key, value in model_inputs.items():
            if not _is_token_key(key):
                self.image_inputs[key] = (
                    torch.cat([self.image_inputs[key], value]) if key in self.image_inputs else value
                )
        self.input_ids = torch.cat([self.input_ids, input_ids.reshape(-1).long()])
        self.loss_mask = torch.cat([self.loss_mask, torch.full((length,), trainable, dtype=torch.bool)])


@dataclass
class Batch:
    """Trajectories padded into model inputs.

    Attributes:
        inputs: keyword arguments for the model (``input_ids``, ``attention_mask``, per-token extras,
            per-image tensors).
        loss_mask: ``(batch, length)`` bool, the policy's tokens (False on padding).
        logprobs: ``(batch, length)`` recorded log-probabilities, or None unless every trajectory has them.
    """

    inputs: dict[str, torch.Tensor]
    loss_mask: torch.Tensor
    logprobs: torch.Tensor | None

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            {key: value.to(device) for key, value in self.inputs.items()},
            self.loss_mask.to(device),
            self.logprobs.to(device) if self.logprobs is not None else None,
        )


def _pad(sequences: Sequence[torch.Tensor], value: float | int | bool, side: str) -> torch.Tensor:
    length = max(len(sequence) for sequence in sequences)
    padded = sequences[0].new_full((len(sequences), length), value)
    for row, sequence in enumerate(sequences):
        if side == "left":
            padded[row, length - len(sequence) :] = sequence
        else:
            padded[row, : len(sequence)] = sequence
    return padded


def collate(trajectories: Sequence[Trajectory], pad_token_id: int, padding_side: str = "right") -> Batch:
    """Pad trajectories into one batch. Training pads on the right (positions then count from 0 without
    position ids); generation pads on the left, so that new tokens are appended at the same place in every row."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    inputs = {
        "input_ids": _pad([t.input_ids for t in trajectories], pad_token_id, padding_side),
        "attention_mask": _pad([torch.ones_like(t.input_ids) for t in trajectories], 0, padding_side),
    }
    for key in trajectories[0].token_inputs:
        inputs[key] = _pad([t.token_inputs[key] for t in trajectories], 0, padding_side)
    for key in trajectories[0].image_inputs:
        inputs[key] = torch.cat([t.image_inputs[key] for t in trajectories if key in t.image_inputs])
    loss_mask = _pad([t.loss_mask for t in trajectories], False, padding_side)
    recorded = [t.logprobs for t in trajectories]
    logprobs = _pad(recorded, 0.0, padding_side) if all(lp is not None for lp in recorded) else None  # type: ignore[arg-type]
    return Batch(inputs, loss_mask, logprobs)


def sequence_logprobs(
    model: PreTrainedModel, batch: Batch, temperature: float = 1.0, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``log pi(token_t | tokens_<t)`` at every position of a right-padded batch, and optionally the entropy.

    Logits are divided by ``temperature`` (when > 0) so the probabilities are those the sampler drew
    from. Only positions from the first policy token on are computed (``logits_to_keep``); earlier
    positions, like masked ones, hold 0.

    Returns:
        ``(logprobs, entropy)``, each ``(batch, length)`` float32; entropy is None unless asked for.
    """
    input_ids = batch.inputs["input_ids"]
    length = input_ids.shape[1]
    trained_columns = batch.loss_mask.any(dim=0).nonzero()
    first = int(trained_columns[0]) if len(trained_columns) else length - 1
    first = max(first, 1)  # the first token has no prefix to be predicted from
    keep = length - first + 1
    logits = model(**batch.inputs, logits_to_keep=keep).logits[:, :-1].float()
    if temperature > 0:
        logits = logits / temperature
    targets = input_ids[:, first:]
    # logit - logsumexp is log_softmax without a second batch x length x vocab tensor.
    normaliser = torch.logsumexp(logits, dim=-1)
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - normaliser
    logprobs = picked.new_zeros(input_ids.shape)
    logprobs[:, first:] = picked
    entropy = None
    if with_entropy:
        with torch.no_grad():
            probabilities = torch.softmax(logits, dim=-1)
            entropy = logprobs.new_zeros(input_ids.shape)
            entropy[:, first:] = normaliser - (probabilities * logits).sum(-1)
    return logprobs, entropy


def check_image_tokens(model: PreTrainedModel, trajectory: Trajectory) -> None:
    """Raise unless the trajectory has one image placeholder token per image feature the vision tower makes.

    A mismatch means the prompt and the pixels disagree (an image dropped or added between turns); the
    model would fail on it later, during a training step, with a less helpful message.
    """
    image_token_id = getattr(model.config, "image_token_id", None)
    if image_token_id is None:
        image_token_id = getattr(model.config, "image_token_index", None)
    n_tokens = int((trajectory.input_ids == image_token_id).sum()) if image_token_id is not None else 0
    if not trajectory.image_inputs:
        if n_tokens:
            raise ValueError(f"the trajectory has {n_tokens} image tokens but no images")
        return
    device = next(model.parameters()).device
    with torch.no_grad():
        features = model.get_image_features(**{key: value.to(device) for key, value in trajectory.image_inputs.items()})
    per_image = features.pooler_output if hasattr(features, "pooler_output") else features
    n_features = sum(int(feature.reshape(-1, feature.shape[-1]).shape[0]) for feature in per_image)
    if n_tokens != n_features:
        raise ValueError(f"the trajectory has {n_tokens} image tokens but its images make {n_features} image features")


def unbatch(batched: dict[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Split a vector env's dict observation or info into one dict per env.

    Info keys appear in an env's dict only where the vector env's ``_key`` mask says that env set them;
    nested dicts (``reward_terms``) are split the same way.
    """
    per_env: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in batched.items():
        if key.startswith("_") and key[1:] in batched:
            continue
        present = batched.get(f"_{key}", np.ones(num_envs, dtype=bool))
        values = unbatch(value, num_envs) if isinstance(value, dict) else value
        for index in range(num_envs):
            if present[index]:
                per_env[index][key] = values[index]
    return per_env


@dataclass
class _Episode:
    """An episode being recorded: its trajectory so far, the prompt text it ends with, and how many images it shows."""

    trajectory: Trajectory
    prompt_text: str
    n_images: int
    done: bool = False


class RolloutCollector:
    """Steps a vector env with a policy and records each episode as a :class:`Trajectory`.

    Args:
        envs: a Gymnasium vector env (sync or async, ``NEXT_STEP`` autoreset) of a text-action env whose
            observations a chat policy reads (``VisualQA-v0``, ``VistaTool-v0``).
        policy: the model policy; its processor and chat template define the tokens, and it samples the
            actions unless ``actor`` is given. Sampling settings (temperature, top-p,
            ``max_new_tokens``, ``batch_size``) are the policy's.
        actor: a text policy that chooses the actions instead (e.g. an
            :class:`~vista_agents.policies.scripted.OraclePolicy` for demonstrations); its turns are tokenised
            and closed with the end-of-turn token.
        record_logprobs: fill ``Trajectory.logprobs`` with the policy's log-probabilities of the policy
            tokens (one forward pass per ``policy.batch_size`` episodes after the rollout).
        check_images: check the first trajectory's image tokens against the vision tower's features
            (see :func:`check_image_tokens`).
    """

    def __init__(
        self,
        envs: gym.vector.VectorEnv,
        policy: HFPolicy,
        actor: Policy | None = None,
        record_logprobs: bool = True,
        check_images: bool = True,
    ):
        mode = envs.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        if mode != gym.vector.AutoresetMode.NEXT_STEP:
            raise ValueError(f"RolloutCollector needs a vector env with NEXT_STEP autoreset, got {mode}")
        self.envs = envs
        self.policy = policy
        self.actor = actor
        self.record_logprobs = record_logprobs
        self._images_checked = not check_images
        self.processor = policy.processor
        self.tokenizer = policy.tokenizer
        self.end_of_turn = self.tokenizer.eos_token
        if self.end_of_turn is None:
            raise ValueError("the tokenizer needs an eos_token: it ends every assistant turn")

    # -- public --------------------------------------------------------------------------------------

    def collect(
        self, seeds: Sequence[int], group_size: int = 1, options: dict[str, Any] | None = None
    ) -> list[Trajectory]:
        """Run ``group_size`` episodes of each task; group ``g`` is the task ``reset(seed=seeds[g])`` draws.

        Args:
            seeds: one reset seed per task.
            group_size: episodes per task (G of GRPO).
            options: reset options shared by every episode (e.g. ``{"split": "test"}``).

        Returns:
            ``len(seeds) * group_size`` trajectories, grouped: ``[g0, g0, ..., g1, g1, ...]``.
        """
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        jobs = [(group, int(seed)) for group, seed in enumerate(seeds) for _ in range(group_size)]
        trajectories: list[Trajectory] = []
        for start in range(0, len(jobs), self.envs.num_envs):
            trajectories += self._run_wave(jobs[start : start + self.envs.num_envs], options)
        if not self._images_checked and trajectories:
            check_image_tokens(self.policy.model, trajectories[0])
            self._images_checked = True
        if self.record_logprobs:
            self._record_logprobs(trajectories)
        return trajectories

    # -- one wave of episodes ------------------------------------------------------------------------

    def _run_wave(self, jobs: list[tuple[int, int]], options: dict[str, Any] | None) -> list[Trajectory]:
        num_envs = self.envs.num_envs
        seeds: list[int | None] = [seed for _, seed in jobs] + [None] * (num_envs - len(jobs))
        observations, infos = self.envs.reset(seed=seeds, options=options)
        observations_list, infos_list = unbatch(observations, num_envs), unbatch(infos, num_envs)
        episodes = [
            self._start(group, seed, observations_list[i], infos_list[i]) for i, (group, seed) in enumerate(jobs)
        ]
        while not all(episode.done for episode in episodes):
            active = [i for i, episode in enumerate(episodes) if not episode.done]
            actions = [""] * num_envs
            for index, (ids, text) in zip(active, self._act(episodes, active, observations_list, infos_list)):
                episodes[index].trajectory.extend(ids, trainable=True)
                episodes[index].trajectory.turns.append(text)
                actions[index] = text
            observations, rewards, terminated, truncated, infos = self.envs.step(actions)
            observations_list, infos_list = unbatch(observations, num_envs), unbatch(infos, num_envs)
            for index in active:
                self._advance(
                    episodes[index],
                    float(rewards[index]),
                    bool(terminated[index]),
                    bool(truncated[index]),
                    observations_list[index],
                    infos_list[index],
                )
        return [episode.trajectory for episode in episodes]

    def _start(self, group: int, seed: int, observation: dict[str, Any], info: dict[str, Any]) -> _Episode:
        text = self.policy.render([observation], [info])[0]
        images = self.policy.chats.build([observation], [info])[0].images
        trajectory = Trajectory(group=group, seed=seed)
        ids, inputs = self._encode(text, images, add_special_tokens=True)
        trajectory.extend(ids, trainable=False, model_inputs=inputs)
        return _Episode(trajectory, text, n_images=len(images))

    def _advance(
        self,
        episode: _Episode,
        reward: float,
        terminated: bool,
        truncated: bool,
        observation: dict[str, Any],
        info: dict[str, Any],
    ) -> None:
        trajectory = episode.trajectory
        trajectory.rewards.append(reward)
        if terminated or truncated:
            episode.done = True
            trajectory.truncated = truncated and not terminated
            trajectory.info = {key: value for key, value in info.items() if key not in _CONVERSATION_KEYS}
            return
        if "messages" not in info:
            raise ValueError(
                "a multi-turn env must put the conversation in info['messages'] (and its images in info['images'])"
            )
        text = self.policy.render([observation], [info])[0]
        if not text.startswith(episode.prompt_text):
            raise ValueError(
                "the chat template rewrote earlier turns; token-in/token-out rollouts need an append-only template"
            )
        rendered = text[len(episode.prompt_text) :]
        # The rendering starts with the assistant's turn, whose text may itself hold the eos string (templates may
        # re-render its tool calls, so it is not found verbatim): the turn ends at the eos after as many as it wrote.
        turn_end = -1
        for _ in range(trajectory.turns[-1].count(self.end_of_turn) + 1):
            turn_end = rendered.find(self.end_of_turn, turn_end + 1)
            if turn_end == -1:
                break
        if turn_end == -1:
            raise ValueError(
                f"the chat template does not close the assistant turn with the eos token {self.end_of_turn!r}"
            )
        reply = rendered[turn_end:]
        if int(trajectory.input_ids[-1]) == self.tokenizer.eos_token_id:
            reply = reply[len(self.end_of_turn) :]  # the policy sampled the end of its turn itself
        images = [as_pil(image) for image in info.get("images", [])[episode.n_images :]]
        ids, inputs = self._encode(reply, images, add_special_tokens=False)
        trajectory.extend(ids, trainable=False, model_inputs=inputs)
        episode.prompt_text = text
        episode.n_images += len(images)

    def _encode(
        self, text: str, images: list[Image.Image], add_special_tokens: bool
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The tokens of env-side text (image placeholders expanded) and everything the processor made for it."""
        encoded = self.processor(
            text=[text], images=images or None, add_special_tokens=add_special_tokens, return_tensors="pt"
        )
        return encoded["input_ids"][0], dict(encoded)

    # -- actions -------------------------------------------------------------------------------------

    def _act(
        self,
        episodes: list[_Episode],
        active: list[int],
        observations: list[dict[str, Any]],
        infos: list[dict[str, Any]],
    ) -> list[tuple[torch.Tensor, str]]:
        """Token ids and text of the next turn of each active episode."""
        if self.actor is None:
            return self._sample([episodes[i].trajectory for i in active])
        texts = self.actor.act(observations, infos)  # every env: actors like OraclePolicy answer for all of them
        turns = []
        for index in active:
            ids = self.tokenizer(texts[index], add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            turns.append((torch.tensor(ids, dtype=torch.long), texts[index]))
        return turns

    @torch.no_grad()
    def _sample(self, trajectories: list[Trajectory]) -> list[tuple[torch.Tensor, str]]:
        policy, model = self.policy, self.policy.model
        turns: list[tuple[torch.Tensor, str]] = []
        for start in range(0, len(trajectories), policy.batch_size):
            batch = collate(trajectories[start : start + policy.batch_size], self.tokenizer.pad_token_id, "left").to(
                model.device
            )
            prompt_length = batch.inputs["input_ids"].shape[1]
            # The policy's own sampling settings and end-of-turn rule, so rollouts sample exactly as HFPolicy.act does.
            sequences = model.generate(**batch.inputs, **policy.sampling_kwargs())
            completions = sequences[:, prompt_length:]
            lengths = policy.completion_mask(completions).sum(dim=1)
            for row, length in enumerate(lengths.tolist()):
                ids = completions[row, :length].cpu()
                turns.append((ids, self.tokenizer.decode(ids, skip_special_tokens=True)))
        return turns

    @torch.no_grad()
    def _record_logprobs(self, trajectories: list[Trajectory]) -> None:
        model = self.policy.model
        temperature = self.policy.temperature
        for start in range(0, len(trajectories), self.policy.batch_size):
            chunk = trajectories[start : start + self.policy.batch_size]
            batch = collate(chunk, self.tokenizer.pad_token_id).to(model.device)
            logprobs, _ = sequence_logprobs(model, batch, temperature if temperature > 0 else 1.0)
            logprobs = (logprobs * batch.loss_mask).cpu()
            for row, trajectory in enumerate(chunk):
                trajectory.logprobs = logprobs[row, : len(trajectory.input_ids)]


def summarize(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Mean episode statistics: success rate, return, policy tokens, turns, and the truncated share."""
    if not trajectories:
        raise ValueError("no trajectories to summarise")
    return {
        "success_rate": float(np.mean([t.success for t in trajectories])),
        "reward": float(np.mean([t.reward for t in trajectories])),
        "policy_tokens": float(np.mean([t.num_policy_tokens for t in trajectories])),
        "turns": float(np.mean([len(t.turns) for t in trajectories])),
        "truncated": float(np.mean([t.truncated for t in trajectories])),
    }
