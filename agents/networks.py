"""Actor-critic networks for Gymnasium ``Box`` and ``Dict`` observations (PPO's policy and value function).

:class:`ActorCritic` reads every image and vector entry of the observation:

- an image (a ``uint8`` ``Box`` of shape ``(H, W, C)``) goes through a small Nature-style CNN
  (HWC -> CHW, divided by 255); several images get one CNN each;
- vectors (any other ``Box``, flattened) are concatenated, optionally normalised by running statistics;
- text entries (``gymnasium.spaces.Text``, including vista-envs' ``UnicodeText``, e.g. the prompt of
  ``VistaRobotEE-v0(obs_mode="vlm")``; its array modes have none) are **ignored**: these networks do not read language;
  :attr:`ActorCritic.ignored_keys` lists them and a warning says so at construction.

The image features and the vectors are concatenated and fed to two MLPs, one for the policy and one
for the value (CleanRL's layout: separate torsos, shared CNN). The policy is a diagonal Gaussian with a
state-independent log standard deviation for ``Box`` actions, or a categorical for ``Discrete`` actions.
Layers use orthogonal initialisation as in CleanRL (gain sqrt(2); 0.01 for the policy output, 1 for the value).

Observations enter as NumPy arrays batched by a vector env; :meth:`ActorCritic.preprocess` turns them
into the tensors every other method takes.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Categorical, Distribution, Normal

__all__ = ["ActorCritic", "NatureCNN", "RunningMeanStd", "layer_init"]

# The observation key of a plain (non-Dict) Box observation space.
OBSERVATION_KEY = "observation"
# Normalised vector observations are clipped to this many standard deviations.
NORMALIZED_CLIP = 10.0


def layer_init(layer: nn.Module, std: float = math.sqrt(2), bias: float = 0.0) -> nn.Module:
    """Orthogonal weights with gain ``std`` and constant biases (CleanRL's initialisation)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class RunningMeanStd(nn.Module):
    """Running mean and variance of a stream of batches (parallel algorithm of Chan et al.), kept in buffers so
    that they are saved and loaded with the module's ``state_dict``."""

    def __init__(self, shape: Sequence[int] = (), epsilon: float = 1e-4):
        super().__init__()
        self.register_buffer("mean", torch.zeros(tuple(shape), dtype=torch.float64))
        self.register_buffer("var", torch.ones(tuple(shape), dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Fold in ``batch`` (``(n, *shape)``)."""
        batch = batch.to(torch.float64)
        batch_mean, batch_var, batch_count = batch.mean(dim=0), batch.var(dim=0, unbiased=False), batch.shape[0]
        delta = batch_mean - self.mean
        total = self.count + batch_count
        self.mean += delta * batch_count / total
        self.var.copy_(
            (self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total)
            / total
        )
        self.count.copy_(total)

    def normalize(self, x: torch.Tensor, clip: float = NORMALIZED_CLIP) -> torch.Tensor:
        """``(x - mean) / sqrt(var + 1e-8)``, clipped to ``[-clip, clip]``, as float32."""
        return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-clip, clip).to(torch.float32)


class NatureCNN(nn.Module):
    """The DQN paper's encoder: three convolutions (8x8/4, 4x4/2, 3x3/1) and a linear layer, for ``uint8``
    images of shape ``(H, W, C)``; at least 36 pixels a side."""

    def __init__(self, image_shape: Sequence[int], features: int = 512):
        super().__init__()
        height, width, channels = image_shape
        if min(height, width) < 36:
            raise ValueError(f"NatureCNN needs images of at least 36x36 pixels, got {height}x{width}")
        self.convolutions = nn.Sequential(
            layer_init(nn.Conv2d(channels, 32, 8, stride=4)),
            nn.ReLU(),
            layer_init(nn.Conv2d(32, 64, 4, stride=2)),
            nn.ReLU(),
            layer_init(nn.Conv2d(64, 64, 3, stride=1)),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            flat = self.convolutions(torch.zeros(1, channels, height, width)).shape[1]
        self.linear = nn.Sequential(layer_init(nn.Linear(flat, features)), nn.ReLU())
        self.features = features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(batch, H, W, C)`` uint8 -> ``(batch, features)``."""
        return self.linear(self.convolutions(images.permute(0, 3, 1, 2).float() / 255.0))


def _mlp(sizes: Sequence[int], output: int, output_std: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        layers += [layer_init(nn.Linear(n_in, n_out)), nn.Tanh()]
    layers.append(layer_init(nn.Linear(sizes[-1], output), std=output_std))
    return nn.Sequential(*layers)


def _is_image(space: spaces.Space[Any]) -> bool:
    return (
        isinstance(space, spaces.Box)
        and space.dtype == np.uint8
        and len(space.shape) == 3
        and space.shape[2] in (1, 3, 4)
    )


class ActorCritic(nn.Module):
    """A policy and a value function over ``observation_space`` (``Box`` or ``Dict``) for ``action_space``
    (``Box`` or ``Discrete``); see the module docstring.

    Args:
        observation_space: a single env's observation space.
        action_space: a single env's action space.
        hidden_sizes: widths of the hidden layers of the policy and value MLPs (tanh).
        image_features: output width of each image's CNN.
        normalize_observations: standardise the vectors with running statistics (updated by
            :meth:`preprocess` with ``update_statistics=True``, saved in the ``state_dict``).
        init_log_std: initial log standard deviation of the Gaussian policy.

    Raises:
        TypeError: for a space these networks cannot read (e.g. a ``Discrete`` observation or a ``Box``
            action with more than one dimension), or when nothing of the observation is readable.
    """

    def __init__(
        self,
        observation_space: spaces.Space[Any],
        action_space: spaces.Space[Any],
        hidden_sizes: Sequence[int] = (64, 64),
        image_features: int = 512,
        normalize_observations: bool = True,
        init_log_std: float = 0.0,
    ):
        super().__init__()
        entries = (
            dict(observation_space.spaces)
            if isinstance(observation_space, spaces.Dict)
            else {OBSERVATION_KEY: observation_space}
        )
        self.is_dict = isinstance(observation_space, spaces.Dict)
        self.image_keys = [key for key, space in entries.items() if _is_image(space)]
        self.vector_keys = [
            key for key, space in entries.items() if isinstance(space, spaces.Box) and key not in self.image_keys
        ]
        self.ignored_keys = [key for key, space in entries.items() if isinstance(space, spaces.Text)]
        unreadable = set(entries) - set(self.image_keys) - set(self.vector_keys) - set(self.ignored_keys)
        if unreadable:
            kinds = {key: type(entries[key]).__name__ for key in sorted(unreadable)}
            raise TypeError(
                f"ActorCritic reads Box (images and vectors) and ignores Text observations; cannot read {kinds}"
            )
        if not self.image_keys and not self.vector_keys:
            raise TypeError(f"ActorCritic found no image or vector in the observation space {observation_space}")
        if self.ignored_keys:
            warnings.warn(
                f"ActorCritic ignores the text observation entries {self.ignored_keys}: it reads images and vectors "
                "only",
                stacklevel=2,
            )

        self.cnns = nn.ModuleDict({key: NatureCNN(entries[key].shape, image_features) for key in self.image_keys})
        self.vector_size = sum(int(np.prod(entries[key].shape)) for key in self.vector_keys)
        self.observation_rms = (
            RunningMeanStd((self.vector_size,)) if normalize_observations and self.vector_size else None
        )
        features = len(self.image_keys) * image_features + self.vector_size

        if isinstance(action_space, spaces.Box):
            if len(action_space.shape) != 1:
                raise TypeError(f"ActorCritic supports Box actions of one dimension, got shape {action_space.shape}")
            outputs = action_space.shape[0]
            self.log_std: nn.Parameter | None = nn.Parameter(torch.full((outputs,), float(init_log_std)))
        elif isinstance(action_space, spaces.Discrete):
            if int(action_space.start) != 0:  # the categorical samples 0..n-1, which such an env would misread
                raise TypeError(
                    f"ActorCritic supports Discrete actions that start at 0, got start={action_space.start}"
                )
            outputs = int(action_space.n)
            self.log_std = None
        else:
            raise TypeError(f"ActorCritic supports Box and Discrete action spaces, got {type(action_space).__name__}")
        self.actor = _mlp([features, *hidden_sizes], outputs, output_std=0.01)
        self.critic = _mlp([features, *hidden_sizes], 1, output_std=1.0)

    # ---------------------------------------------------------------- inputs

    def preprocess(self, observations: Any, update_statistics: bool = False) -> dict[str, torch.Tensor]:
        """Batched observations from a vector env (a dict of arrays, or an array) -> the tensors the other methods
        take: each image as ``uint8`` ``(batch, H, W, C)``, the vectors as one normalised ``float32`` ``(batch, n)``
        under ``"vector"``. With ``update_statistics`` the running statistics first take in these vectors."""
        entries: Mapping[str, Any] = observations if self.is_dict else {OBSERVATION_KEY: observations}
        device = self.critic[-1].weight.device
        tensors = {key: torch.as_tensor(np.asarray(entries[key]), device=device) for key in self.image_keys}
        if self.vector_keys:
            vector = torch.cat(
                [
                    torch.as_tensor(np.asarray(entries[key]), device=device).flatten(1).double()
                    for key in self.vector_keys
                ],
                dim=1,
            )
            if self.observation_rms is not None:
                if update_statistics:
                    self.observation_rms.update(vector)
                tensors["vector"] = self.observation_rms.normalize(vector)
            else:
                tensors["vector"] = vector.float()
        return tensors

    def features(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The concatenated CNN features and vectors, ``(batch, features)``."""
        parts = [self.cnns[key](inputs[key]) for key in self.image_keys]
        if "vector" in inputs:
            parts.append(inputs["vector"])
        return torch.cat(parts, dim=1)

    # --------------------------------------------------------------- outputs

    def distribution(self, features: torch.Tensor) -> Distribution:
        """The policy's action distribution (a Normal over every action dimension, or a Categorical)."""
        output = self.actor(features)
        if self.log_std is None:
            return Categorical(logits=output)
        return Normal(output, self.log_std.expand_as(output).exp())

    def get_value(self, inputs: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(batch,)`` state values."""
        return self.critic(self.features(inputs)).squeeze(-1)

    def get_action_and_value(
        self, inputs: Mapping[str, torch.Tensor], action: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample an action (or score the given one): ``(action, log_prob, entropy, value)``, each per batch row
        (log-probabilities and entropies summed over a Box action's dimensions)."""
        features = self.features(inputs)
        distribution = self.distribution(features)
        if action is None:
            action = distribution.sample()
        log_prob, entropy = distribution.log_prob(action), distribution.entropy()
        if self.log_std is not None:
            log_prob, entropy = log_prob.sum(-1), entropy.sum(-1)
        return action, log_prob, entropy, self.critic(features).squeeze(-1)

    @torch.no_grad()
    def act(self, observations: Any, deterministic: bool = True) -> np.ndarray:
        """Actions for batched NumPy observations (the Gaussian's mean or the likeliest class when
        ``deterministic``), unclipped; for evaluation and deployment."""
        features = self.features(self.preprocess(observations))
        distribution = self.distribution(features)
        if not deterministic:
            return distribution.sample().cpu().numpy()
        if isinstance(distribution, Categorical):
            return distribution.probs.argmax(-1).cpu().numpy()
        return distribution.mean.cpu().numpy()
