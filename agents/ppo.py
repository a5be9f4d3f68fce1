r"""PPO for Gymnasium envs with ``Box``/``Dict`` observations and ``Box``/``Discrete`` actions, readable top to bottom
(CleanRL's ``ppo_continuous_action.py`` layout), e.g. ``VistaRobotEE-v0`` from its state vector or its camera.

Each iteration collects ``num_steps`` steps from each of ``num_envs`` envs with the current policy
(:class:`~vista_agents.networks.ActorCritic`: an MLP, plus a CNN for images), computes advantages by GAE,

.. math::

    \delta_t = r_t + \gamma V(s_{t+1})(1 - \mathrm{terminated}_t) - V(s_t), \qquad
    \hat A_t = \delta_t + \gamma\lambda\,(1 - \mathrm{done}_t)\,\hat A_{t+1}, \qquad \hat R_t = \hat A_t + V(s_t)

(``done`` = terminated or truncated: a truncated episode still bootstraps from the value of its final
observation), and takes ``update_epochs`` passes of ``num_minibatches`` Adam steps on

.. math::

    L = -\min\big(\rho_t \hat A_t,\ \mathrm{clip}(\rho_t, 1-\epsilon, 1+\epsilon)\,\hat A_t\big)
        + c_v\,\tfrac12\max\big((V_\theta - \hat R_t)^2,\ (V_{old} + \mathrm{clip}(V_\theta - V_{old}, -\epsilon,
        \epsilon) - \hat R_t)^2\big)
        - c_e\,\mathcal H[\pi_\theta]

with :math:`\rho_t = \pi_\theta(a_t|s_t) / \pi_{old}(a_t|s_t)` (the value clipping is optional). Every
hyper-parameter is a field of :class:`PPOConfig`; run it with :func:`train` (or ``vista-agents train ppo``).

**Episode ends with Gymnasium 1.x vector envs.** The vector env resets an env on the step *after* its
episode ended (``AutoresetMode.NEXT_STEP``): the step that ends an episode returns the episode's final
observation, and the next ``step()`` ignores that env's action and returns the first observation of a new
episode with reward 0. So the rollout holds, after every episode end, one step whose action did nothing:
it is marked invalid and left out of the loss, and its value, the value of the final observation, is
exactly the bootstrap value a truncated episode needs.

**Resuming.** A checkpoint (``<output_dir>/checkpoints/step_<iteration>/``) holds the network (with the
observation statistics), the optimiser, the reward statistics and every RNG state. The envs are reset
with seeds drawn from ``(seed, iteration)`` at the start and after every checkpoint (an episode running at
that moment is cut short and bootstrapped as a truncation), so a run resumed from a checkpoint continues
exactly as the original did.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from safetensors.torch import load_file, save_file
from tqdm import tqdm

import vista_envs  # noqa: F401  (registers the env ids)
from vista_agents.checkpoint import TRAINER_STATE, capture_rng, checkpoint_dir, load_trainer_state, writing_checkpoint
from vista_agents.config import EnvConfig, RunConfig, at_least
from vista_agents.distributed import launched_processes
from vista_agents.losses import clipped_surrogate
from vista_agents.networks import ActorCritic, RunningMeanStd
from vista_agents.run_session import RunSession, TrainResult
from vista_agents.training import EVAL_SEED_OFFSET, make_envs, optimizer_step, resolve_device

__all__ = [
    "PPO_METRICS",
    "PPOConfig",
    "RewardScaler",
    "compute_gae",
    "evaluate_agent",
    "load_agent",
    "ppo_loss",
    "save_agent",
    "train",
    "value_loss",
]

# Every metric a training iteration logs (evaluation rows add eval/* keys); episode statistics are null in an
# iteration where no episode ended.
PPO_METRICS = (
    "global_step",
    "episodes",
    "episode_return",
    "episode_length",
    "success_rate",
    "learning_rate",
    "policy_loss",
    "value_loss",
    "entropy",
    "approx_kl",
    "old_approx_kl",
    "clip_fraction",
    "explained_variance",
    "grad_norm",
    "action_std",
    "valid_fraction",
    "steps_per_s",
    "time/rollout_s",
    "time/update_s",
    "time/cpu_s",
    "time/wall_s",
)
MODEL_FILE = "model.safetensors"


@dataclass
class PPOConfig(EnvConfig, RunConfig):
    """PPO hyper-parameters; the env and run layers are :class:`~vista_agents.config.EnvConfig` and
    :class:`~vista_agents.config.RunConfig` (here with PPO's defaults). A step is an iteration of ``num_envs`` x
    ``num_steps`` env steps: ``eval_every`` and ``checkpoint_every`` count iterations. Each checkpoint resets every
    env (so that a resumed run replays exactly): keep ``checkpoint_every`` x ``num_steps`` well above the episode
    length, or no episode ever ends.
    """

    env_id: str = "VistaRobotEE-v0"
    """the Gymnasium env id (Box or Dict observations; Box or Discrete actions)"""
    output_dir: str = "runs/ppo"
    """where metrics (metrics.jsonl, metrics.csv) and checkpoints go"""
    seed: int = 1
    """seeds torch, numpy, random and the envs"""
    num_envs: int = 8
    """parallel envs of the vector env"""
    eval_every: int = 10
    """evaluate every this many iterations (and before the first and after the last); 0: only before and after"""
    eval_episodes: int = 32
    """episodes per evaluation (deterministic policy: the Gaussian's mean), on fixed seeds; eval_split '' for envs
    without splits"""
    torch_threads: int = 1
    """torch CPU threads while the run lasts (1 is fastest for small networks; the caller's setting is restored after);
    0 leaves torch's default"""
    total_timesteps: int = 1_000_000
    """env steps of the whole run (over all envs)"""
    num_steps: int = 256
    """steps per env per rollout; an iteration collects num_envs x num_steps steps"""
    learning_rate: float = 3e-4
    """Adam learning rate"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the run"""
    gamma: float = 0.99
    """discount factor"""
    gae_lambda: float = 0.95
    """lambda of generalised advantage estimation"""
    num_minibatches: int = 32
    """minibatches per epoch (each one Adam step)"""
    update_epochs: int = 10
    """passes over each rollout"""
    norm_adv: bool = True
    """standardise advantages within each minibatch"""
    clip_coef: float = 0.2
    """epsilon: the probability ratio (and, with clip_vloss, the value change) is clipped to this"""
    clip_vloss: bool = True
    """clip the value loss around the rollout's values (PPO2's value clipping)"""
    vf_coef: float = 0.5
    """weight of the value loss"""
    ent_coef: float = 0.0
    """weight of the entropy bonus"""
    max_grad_norm: float = 0.5
    """clip the global gradient norm to this; 0 disables clipping"""
    target_kl: float = 0.0
    """stop an iteration's epochs early once the approximate KL passes this; 0 never stops"""
    normalize_observations: bool = True
    """standardise vector observations by running statistics (part of the saved network)"""
    normalize_rewards: bool = True
    """divide rewards by the running std of the discounted return (gymnasium's NormalizeReward)"""
    hidden_sizes: tuple[int, int] = (64, 64)
    """widths of the two hidden layers of the policy and value MLPs"""
    image_features: int = 512
    """output width of the CNN of each image observation"""
    init_log_std: float = 0.0
    """initial log standard deviation of the Gaussian policy (Box actions)"""
    cpu_time_limit_s: float = 0.0
    """stop after the iteration in which this process's CPU time since train() began passes this; 0: no limit"""

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least(
            self, 1, "num_envs", "num_steps", "num_minibatches", "update_epochs", "eval_episodes", "image_features"
        )
        # 0 is each one's "off" (max_grad_norm, target_kl, cpu_time_limit_s) or torch's default; below 0 would do the
        # same silently.
        at_least(self, 0, "vf_coef", "max_grad_norm", "target_kl", "cpu_time_limit_s", "torch_threads")
        if self.total_timesteps < self.batch_size:
            raise ValueError(
                f"total_timesteps ({self.total_timesteps}) is less than one iteration: num_envs x num_steps = "
                f"{self.batch_size}"
            )
        if self.num_minibatches > self.batch_size:
            raise ValueError(
                f"num_minibatches ({self.num_minibatches}) exceeds the samples of an iteration ({self.batch_size})"
            )
        if not (0.0 <= self.gamma <= 1.0 and 0.0 <= self.gae_lambda <= 1.0):
            raise ValueError(f"gamma and gae_lambda must lie in [0, 1], got {self.gamma} and {self.gae_lambda}")
        if self.clip_coef <= 0 or self.learning_rate <= 0:
            raise ValueError(
                f"clip_coef and learning_rate must be positive, got {self.clip_coef} and {self.learning_rate}"
            )
        if len(self.hidden_sizes) != 2 or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be two positive widths, got {self.hidden_sizes}")

    @property
    def batch_size(self) -> int:
        """Steps per iteration."""
        return self.num_envs * self.num_steps

    @property
    def total_steps(self) -> int:
        """Iterations of the run: total_timesteps in batches of batch_size."""
        return self.total_timesteps // self.batch_size


# ----------------------------------------------------------------------------------------- the maths


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and value targets (see the module docstring for the formulas).

    Args:
        rewards, values, terminated, truncated: ``(steps, envs)``; ``values[t]`` is :math:`V(s_t)`.
        next_value: ``(envs,)`` the value of the observation after the last step.

    Returns:
        ``(advantages, returns)``, both ``(steps, envs)``, with ``returns = advantages + values``.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    following = torch.zeros_like(next_value)  # A_{t+1}
    for t in reversed(range(steps)):
        next_values = next_value if t == steps - 1 else values[t + 1]
        bootstrap = 1.0 - terminated[t].float()
        continues = 1.0 - (terminated[t] | truncated[t]).float()
        delta = rewards[t] + gamma * next_values * bootstrap - values[t]
        following = delta + gamma * gae_lambda * continues * following
        advantages[t] = following
    return advantages, advantages + values


def value_loss(
    new_values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, clip_coef: float, clip: bool
) -> torch.Tensor:
    r""":math:`\tfrac12` the mean squared error to the returns; with ``clip``, the larger of the errors of the new
    value and of the old value moved by at most ``clip_coef`` towards it (so the value cannot gain by moving far)."""
    unclipped = (new_values - returns).square()
    if not clip:
        return 0.5 * unclipped.mean()
    clipped_values = old_values + (new_values - old_values).clamp(-clip_coef, clip_coef)
    return 0.5 * torch.max(unclipped, (clipped_values - returns).square()).mean()


def ppo_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    *,
    clip_coef: float,
    clip_vloss: bool,
    vf_coef: float,
    ent_coef: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The PPO loss of a minibatch (module docstring) and its statistics: ``policy_loss``, ``value_loss``,
    ``entropy``, ``approx_kl`` (:math:`E[\\rho - 1 - \\log\\rho]`), ``old_approx_kl`` (:math:`E[-\\log\\rho]`) and
    ``clip_fraction`` (the share of samples whose ratio left :math:`[1-\\epsilon, 1+\\epsilon]`).

    All tensor arguments are ``(batch,)``; ``advantages`` as they should enter the loss (normalised or not).
    """
    per_sample, _, _ = clipped_surrogate(new_logprobs, old_logprobs, advantages, clip_coef, clip_coef)
    policy = per_sample.mean()
    value = value_loss(new_values, old_values, returns, clip_coef, clip_vloss)
    entropy_mean = entropy.mean()
    loss = policy + vf_coef * value - ent_coef * entropy_mean
    with torch.no_grad():
        log_ratio = new_logprobs - old_logprobs
        ratio = log_ratio.exp()
        stats = {
            "policy_loss": float(policy),
            "value_loss": float(value),
            "entropy": float(entropy_mean),
            "approx_kl": float(((ratio - 1) - log_ratio).mean()),
            "old_approx_kl": float((-log_ratio).mean()),
            "clip_fraction": float(((ratio - 1).abs() > clip_coef).float().mean()),
        }
    return loss, stats


class RewardScaler:
    """Scales each env's rewards by the running standard deviation of its discounted return (what gymnasium's
    ``NormalizeReward`` wrapper does), skipping the invalid steps after episode ends."""

    def __init__(self, num_envs: int, gamma: float):
        self.gamma = gamma
        self.returns = np.zeros(num_envs)
        self.statistics = RunningMeanStd(())

    def __call__(self, rewards: np.ndarray, valid: np.ndarray, ended: np.ndarray) -> np.ndarray:
        self.returns = np.where(valid, self.returns * self.gamma + rewards, self.returns)
        if valid.any():
            self.statistics.update(torch.as_tensor(self.returns[valid]))
        self.returns[ended] = 0.0
        return rewards / float(torch.sqrt(self.statistics.var + 1e-8))

    def reset(self) -> None:
        """Forget the running returns (the envs were reset); the statistics stay."""
        self.returns[:] = 0.0


# ------------------------------------------------------------------------------------ envs, evaluation


def reset_seeds(seed: int, iteration: int, num_envs: int) -> list[int]:
    """The envs' reset seeds at ``iteration``: a function of (seed, iteration) only, so a resumed run draws the same."""
    return np.random.default_rng([seed, iteration]).integers(2**31 - 1, size=num_envs).tolist()


def clip_to_space(actions: np.ndarray, action_space: spaces.Space[Any]) -> np.ndarray:
    """Box actions clipped to the space's bounds (the Gaussian is unbounded); Discrete actions as they are."""
    if isinstance(action_space, spaces.Box):
        return np.clip(actions, action_space.low, action_space.high).astype(action_space.dtype)
    return actions


@torch.no_grad()
def evaluate_agent(agent: ActorCritic, envs: gym.vector.VectorEnv, config: PPOConfig) -> dict[str, float]:
    """``config.eval_episodes`` episodes of the deterministic policy on ``config.eval_split`` with fixed seeds:
    ``eval/success_rate`` (``info["is_success"]`` at the end; NaN for envs without it), ``eval/return``,
    ``eval/length``."""
    options = {"split": config.eval_split} if config.eval_split else None
    returns, lengths, successes = [], [], []
    for start in range(0, config.eval_episodes, envs.num_envs):
        wanted = min(envs.num_envs, config.eval_episodes - start)  # the last wave may leave some envs idle
        observations, _ = envs.reset(seed=[EVAL_SEED_OFFSET + start + i for i in range(envs.num_envs)], options=options)
        running = np.arange(envs.num_envs) < wanted
        episode_return, episode_length, success = (
            np.zeros(envs.num_envs),
            np.zeros(envs.num_envs),
            np.full(envs.num_envs, np.nan),
        )
        while running.any():
            actions = clip_to_space(agent.act(observations, deterministic=True), envs.single_action_space)
            observations, rewards, terminated, truncated, infos = envs.step(actions)
            episode_return[running] += rewards[running]
            episode_length[running] += 1
            ended = running & (terminated | truncated)
            if "is_success" in infos:
                success[ended] = infos["is_success"][ended]
            running &= ~ended
        returns += episode_return[:wanted].tolist()
        lengths += episode_length[:wanted].tolist()
        successes += success[:wanted].tolist()
    return {
        "eval/success_rate": float(np.mean(successes)),
        "eval/return": float(np.mean(returns)),
        "eval/length": float(np.mean(lengths)),
    }


# ----------------------------------------------------------------------------------------- checkpoints


def build_agent(
    config: PPOConfig, observation_space: spaces.Space[Any], action_space: spaces.Space[Any]
) -> ActorCritic:
    """The network ``config`` describes for one env's spaces (freshly initialised)."""
    return ActorCritic(
        observation_space,
        action_space,
        hidden_sizes=config.hidden_sizes,
        image_features=config.image_features,
        normalize_observations=config.normalize_observations,
        init_log_std=config.init_log_std,
    )


def save_agent(
    config: PPOConfig, iteration: int, agent: ActorCritic, optimizer: torch.optim.Optimizer, reward_scaler: RewardScaler
) -> Path:
    """Write ``<output_dir>/checkpoints/step_<iteration>/`` (the layout of :mod:`vista_agents.checkpoint`); returns
    it."""
    with writing_checkpoint(config.output_dir, iteration) as staging:
        save_file({name: tensor.contiguous() for name, tensor in agent.state_dict().items()}, staging / MODEL_FILE)
        state = {
            "step": iteration,
            "optimizer": optimizer.state_dict(),
            "reward_statistics": reward_scaler.statistics.state_dict(),
            "rng": capture_rng(),
            "config": dataclasses.asdict(config),
        }
        torch.save(state, staging / TRAINER_STATE)
    return checkpoint_dir(config.output_dir, iteration)


def load_agent(checkpoint: str | Path, device: str = "cpu") -> ActorCritic:
    """The trained network of a PPO checkpoint directory, rebuilt for the env its run trained on (for deployment:
    ``agent.act(observations)``)."""
    config = PPOConfig(**load_trainer_state(checkpoint)["config"])
    env = gym.make(config.env_id, **config.env_kwargs)
    agent = build_agent(config, env.observation_space, env.action_space)
    env.close()
    agent.load_state_dict(load_file(Path(checkpoint) / MODEL_FILE))
    return agent.to(device).eval()


# ------------------------------------------------------------------------------------------- training


def train(config: PPOConfig) -> TrainResult:
    """Run PPO as configured; returns the logged metric rows and the final checkpoint."""
    if launched_processes() > 1:  # every rank would run the same PPO and write over the others' files
        raise RuntimeError("PPO runs in one process: start it without accelerate launch / torchrun")
    # torch's thread count belongs to the whole process: the caller gets its own back however the run ends.
    threads = torch.get_num_threads()
    if config.torch_threads > 0:
        torch.set_num_threads(config.torch_threads)
    try:
        return _train(config)
    finally:
        torch.set_num_threads(threads)


def _train(config: PPOConfig) -> TrainResult:
    # -- setup: envs, network, optimiser, logging (resumed from the latest checkpoint if asked) ------------
    run = RunSession.start(config, config.total_steps)
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    device = resolve_device(config.device)
    envs = make_envs(config)
    eval_envs = make_envs(config, min(config.num_envs, config.eval_episodes))
    action_space = envs.single_action_space
    agent = build_agent(config, envs.single_observation_space, action_space).to(device)
    optimizer = torch.optim.Adam(agent.parameters(), lr=config.learning_rate, eps=1e-5)
    reward_scaler = RewardScaler(config.num_envs, config.gamma)
    checkpoint, start = run.checkpoints[""], run.start_step
    if run.resumed:
        state = run.states[""]
        agent.load_state_dict(load_file(checkpoint / MODEL_FILE))
        optimizer.load_state_dict(state["optimizer"])
        reward_scaler.statistics.load_state_dict(state["reward_statistics"])
        run.restore_rng()
    else:
        run.log(0, evaluate_agent(agent, eval_envs, config))

    # -- rollout storage: (num_steps, num_envs, ...) ------------------------------------------------------
    shape = (config.num_steps, config.num_envs)
    action_dtype = torch.long if isinstance(action_space, spaces.Discrete) else torch.float32
    actions = torch.zeros(shape + action_space.shape, dtype=action_dtype, device=device)
    logprobs, rewards, values = (torch.zeros(shape, device=device) for _ in range(3))
    terminated, truncated, valid = (torch.zeros(shape, dtype=torch.bool, device=device) for _ in range(3))

    def reset_envs(iteration: int) -> tuple[dict[str, torch.Tensor], np.ndarray]:
        reward_scaler.reset()
        next_observations, _ = envs.reset(seed=reset_seeds(config.seed, iteration, config.num_envs))
        return agent.preprocess(next_observations, update_statistics=config.normalize_observations), np.zeros(
            config.num_envs, dtype=bool
        )

    next_inputs, ended = reset_envs(start)

    def save(iteration: int) -> None:
        """Checkpoint, then reset every env with seeds of this iteration: what a run resumed from here does."""
        nonlocal checkpoint, next_inputs, ended
        checkpoint = save_agent(config, iteration, agent, optimizer, reward_scaler)
        next_inputs, ended = reset_envs(iteration)
        episode_return[:], episode_length[:] = 0.0, 0

    observations = {
        key: torch.zeros(shape + tensor.shape[1:], dtype=tensor.dtype, device=device)
        for key, tensor in next_inputs.items()
    }
    episode_return, episode_length = np.zeros(config.num_envs), np.zeros(config.num_envs, dtype=int)
    progress = tqdm(
        range(start, config.total_steps),
        initial=start,
        total=config.total_steps,
        desc="PPO",
        disable=not config.progress_bar,
    )
    for iteration in progress:
        if config.anneal_lr:
            optimizer.param_groups[0]["lr"] = (1.0 - iteration / config.total_steps) * config.learning_rate

        # -- 1. rollout: num_steps steps of every env with the current policy ------------------------------
        started = time.perf_counter()
        finished: list[tuple[float, int, float]] = []  # (return, length, success) of the episodes that ended
        for step in range(config.num_steps):
            for key, tensor in next_inputs.items():
                observations[key][step] = tensor
            is_valid = ~ended  # after an episode end the env ignores the action and resets
            valid[step] = torch.as_tensor(is_valid)
            with torch.no_grad():
                action, logprobs[step], _, values[step] = agent.get_action_and_value(next_inputs)
            actions[step] = action
            next_observations, reward, terminations, truncations, infos = envs.step(
                clip_to_space(action.cpu().numpy(), action_space)
            )
            ended = terminations | truncations
            rewards[step] = torch.as_tensor(
                reward_scaler(reward, is_valid, ended) if config.normalize_rewards else reward, device=device
            )
            terminated[step], truncated[step] = torch.as_tensor(terminations), torch.as_tensor(truncations)
            episode_return += np.where(is_valid, reward, 0.0)
            episode_length += is_valid
            for i in np.flatnonzero(ended):
                success = float(infos["is_success"][i]) if "is_success" in infos else float("nan")
                finished.append((float(episode_return[i]), int(episode_length[i]), success))
                episode_return[i], episode_length[i] = 0.0, 0
            next_inputs = agent.preprocess(next_observations, update_statistics=config.normalize_observations)
        rollout_s = time.perf_counter() - started

        # -- 2. advantages: GAE over the rollout, bootstrapped from the value of the next observation --------
        with torch.no_grad():
            next_value = agent.get_value(next_inputs)
        advantages, returns = compute_gae(
            rewards, values, terminated, truncated, next_value, config.gamma, config.gae_lambda
        )

        # -- 3. update: update_epochs passes of num_minibatches steps over the valid samples -----------------
        started = time.perf_counter()
        keep = valid.flatten()
        batch = {key: tensor.flatten(0, 1)[keep] for key, tensor in observations.items()}
        b_actions, b_logprobs, b_advantages = (
            actions.flatten(0, 1)[keep],
            logprobs.flatten()[keep],
            advantages.flatten()[keep],
        )
        b_returns, b_values = returns.flatten()[keep], values.flatten()[keep]
        update = _update(config, agent, optimizer, batch, b_actions, b_logprobs, b_advantages, b_returns, b_values)
        update_s = time.perf_counter() - started

        # -- 4. log, evaluate, checkpoint ----------------------------------------------------------------
        done = iteration + 1
        variance = float(b_returns.var()) if len(b_returns) > 1 else float("nan")
        metrics = {
            "global_step": done * config.batch_size,
            "episodes": len(finished),
            "episode_return": float(np.mean([f[0] for f in finished])) if finished else float("nan"),
            "episode_length": float(np.mean([f[1] for f in finished])) if finished else float("nan"),
            "success_rate": float(np.mean([f[2] for f in finished])) if finished else float("nan"),
            "learning_rate": optimizer.param_groups[0]["lr"],
            **update,
            "explained_variance": 1.0 - float((b_returns - b_values).var()) / variance
            if variance > 0
            else float("nan"),
            "action_std": float(agent.log_std.detach().exp().mean()) if agent.log_std is not None else float("nan"),
            "valid_fraction": float(keep.float().mean()),
            "steps_per_s": config.batch_size / (rollout_s + update_s),
            "time/rollout_s": rollout_s,
            "time/update_s": update_s,
            "time/cpu_s": time.process_time() - cpu_start,
            "time/wall_s": time.perf_counter() - wall_start,
        }
        out_of_time = config.cpu_time_limit_s > 0 and time.process_time() - cpu_start >= config.cpu_time_limit_s
        row = run.end_step(
            done, metrics, evaluate=lambda: evaluate_agent(agent, eval_envs, config), save=save, force=out_of_time
        )
        progress.set_postfix(ret=f"{row['episode_return'] or 0:.2f}", success=f"{row['success_rate'] or 0:.2f}")
        if out_of_time:
            break
    envs.close()
    eval_envs.close()
    return TrainResult(run.close(), checkpoint)


def _update(
    config: PPOConfig,
    agent: ActorCritic,
    optimizer: torch.optim.Optimizer,
    batch: dict[str, torch.Tensor],
    actions: torch.Tensor,
    logprobs: torch.Tensor,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    values: torch.Tensor,
) -> dict[str, float]:
    """Minimise the PPO loss over one rollout's valid samples; returns the loss statistics averaged over the
    minibatches (and the gradient norm before clipping)."""
    sums: dict[str, float] = {}
    stats: dict[str, float] = {}
    minibatches = 0
    for _ in range(config.update_epochs):
        for indices in torch.randperm(len(actions)).tensor_split(config.num_minibatches):
            if len(indices) == 0:
                continue
            inputs = {key: tensor[indices] for key, tensor in batch.items()}
            _, new_logprobs, entropy, new_values = agent.get_action_and_value(inputs, actions[indices])
            minibatch_advantages = advantages[indices]
            if config.norm_adv and len(indices) > 1:
                minibatch_advantages = (minibatch_advantages - minibatch_advantages.mean()) / (
                    minibatch_advantages.std() + 1e-8
                )
            loss, stats = ppo_loss(
                new_logprobs,
                logprobs[indices],
                minibatch_advantages,
                new_values,
                values[indices],
                returns[indices],
                entropy,
                clip_coef=config.clip_coef,
                clip_vloss=config.clip_vloss,
                vf_coef=config.vf_coef,
                ent_coef=config.ent_coef,
            )
            loss.backward()
            stats["grad_norm"] = optimizer_step(list(agent.parameters()), optimizer, config.max_grad_norm)
            for name, value in stats.items():
                sums[name] = sums.get(name, 0.0) + value
            minibatches += 1
        if config.target_kl > 0 and stats.get("approx_kl", 0.0) > config.target_kl:
            break
    return {name: total / max(minibatches, 1) for name, total in sums.items()}
