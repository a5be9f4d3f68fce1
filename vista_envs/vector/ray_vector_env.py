"""A Gymnasium vector env whose sub-envs are Ray actors, on this machine or across a Ray cluster.

Ray (the ``distributed`` extra) is imported when a :class:`RayVectorEnv` is built, never when
``vista_envs`` is imported.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
from gymnasium.core import RenderFrame
from gymnasium.error import ClosedEnvironmentError
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["DEFAULT_ACTOR_OPTIONS", "RESOURCE_HINTS", "RayVectorEnv", "make_ray_vec", "replacement_seed"]

DEFAULT_ACTOR_OPTIONS: dict[str, Any] = {"num_cpus": 1}
"""Ray actor options of a sub-env whose id has no entry in :data:`RESOURCE_HINTS`."""

RESOURCE_HINTS: dict[str, dict[str, Any]] = {
    # Physics and the camera keep a core busy for the whole step.
    "VistaRobotEE-v0": {"num_cpus": 1},
    "VistaRobot-v0": {"num_cpus": 1},
    # The Python tool runs model code in sandbox subprocesses beside the env.
    "VistaTool-v0": {"num_cpus": 1},
    # Drawing one task image takes milliseconds; most of the time the env waits for the model.
    "VisualQA-v0": {"num_cpus": 0.25},
    "VisPlay-v0": {"num_cpus": 0.5},
    "VisPlayQuestioner-v0": {"num_cpus": 0.5},
    "VisPlayReasoner-v0": {"num_cpus": 0.5},
}
"""Ray actor options (resources reserved per sub-env) that :func:`make_ray_vec` uses for each vista id."""

_INSTALL_HINT = "RayVectorEnv needs Ray: pip install 'vista-envs[distributed]'"


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as error:
        raise ImportError(_INSTALL_HINT) from error
    return ray


class _EnvActor:
    """One sub-env inside a Ray actor process: the remote half of :class:`RayVectorEnv`."""

    def __init__(self, env_fn: Callable[[], gym.Env]):
        self.env = env_fn()

    def describe(self) -> dict[str, Any]:
        env = self.env
        return {
            "observation_space": env.observation_space,
            "action_space": env.action_space,
            "metadata": dict(env.metadata),
            "render_mode": env.render_mode,
        }

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        return self.env.step(action)

    def call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        attribute = self.env.get_wrapper_attr(name)
        return attribute(*args, **kwargs) if callable(attribute) else attribute

    def set_attr(self, name: str, value: Any) -> None:
        self.env.set_wrapper_attr(name, value)

    def node_id(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def close(self) -> None:
        self.env.close()


@functools.cache
def _remote_env_actor() -> Any:
    return _import_ray().remote(_EnvActor)


def replacement_seed(seed: int, restarts: int) -> int:
    """The reset seed of a replacement actor's first episode: a pure function of the sub-env's last reset
    seed and how many times its actor has been replaced, so a rerun with the same failures replays."""
    return int(np.random.SeedSequence([seed, restarts]).generate_state(1)[0])


class RayVectorEnv(VectorEnv):
    """A vector env that runs each sub-env in its own Ray actor, so that sub-envs spread over the cores
    and nodes of a Ray cluster while the learner keeps its GPUs busy.

    ## Description

    A drop-in replacement for :class:`gymnasium.vector.SyncVectorEnv` and
    :class:`~gymnasium.vector.AsyncVectorEnv`: the same seeds and actions give the same observations,
    rewards, terminations, truncations and infos (batched by Gymnasium's own ``concatenate`` and
    ``_add_info``; text observations as tuples of ``str``), with the same autoreset modes
    (``metadata["autoreset_mode"]``). Each :meth:`step` sends every actor its action at once and waits
    for all of them, at most ``step_timeout`` seconds. ``docs/ray.md`` shows how to run on a cluster.

    ## Failures

    An actor that dies (its process crashed, its node left, ``ray.kill``) or does not answer within
    ``step_timeout`` is killed and replaced by a new actor built from the same ``env_fn``:

    - during an episode, that sub-env's :meth:`step` returns ``truncated=True``, reward 0, its last
      observation, and ``info["actor_restarted"] = True`` with ``info["actor_error"]`` saying what
      happened; its next step starts a new episode as autoreset would. A failure inside :meth:`call`,
      :meth:`get_attr`, :meth:`set_attr` or :meth:`render` raises, and the episode it cut short is
      reported as truncated by the next :meth:`step`. No episode ends silently.
    - during a reset, the reset is retried once on the replacement, whose info carries the same keys.

    The replacement's first episode is seeded with :func:`replacement_seed` of the sub-env's last reset
    seed (when no seed is given for it), so runs stay reproducible. Exceptions raised by the env itself
    are not failures of the actor: they propagate, as in ``SyncVectorEnv``.

    ## Arguments

    - ``env_fns``: one callable per sub-env that builds it; it is pickled (cloudpickle) and called inside
      the actor, so on a cluster everything it imports must be installed on every node.
    - ``actor_options``: Ray options of each actor (``num_cpus``, ``num_gpus``, ``memory``,
      ``resources``, ``runtime_env``, ``scheduling_strategy``...). Default :data:`DEFAULT_ACTOR_OPTIONS`;
      :func:`make_ray_vec` picks per-id hints from :data:`RESOURCE_HINTS`.
    - ``address``: the Ray cluster to join when Ray is not initialised yet, as ``ray.init`` reads it:
      ``None`` (``RAY_ADDRESS`` if set, else the cluster last started here with ``ray start``, else a
      new local Ray), ``"auto"`` (the cluster this machine belongs to), ``"host:port"``, or ``"local"``
      (a new local Ray). When Ray is already initialised it is used as it is.
    - ``step_timeout``: seconds every call to the sub-envs (reset, step, call...) may take; ``None``
      waits forever.
    - ``start_timeout``: seconds to wait for actors to be placed and to build their env.
    - ``autoreset_mode``: Gymnasium's ``NEXT_STEP`` (default), ``SAME_STEP`` or ``DISABLED``.
    - ``copy``: return copies of the observation batch (as ``SyncVectorEnv``).

    ## Example

        >>> envs = RayVectorEnv([lambda: gym.make("CartPole-v1")] * 2, actor_options={"num_cpus": 0.5})  # doctest:
        +SKIP
        >>> observations, infos = envs.reset(seed=0)  # doctest: +SKIP
        >>> observations, rewards, terminated, truncated, infos = envs.step(envs.action_space.sample())  # doctest:
        +SKIP
        >>> envs.close()  # doctest: +SKIP
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        *,
        actor_options: Mapping[str, Any] | None = None,
        address: str | None = None,
        step_timeout: float | None = 60.0,
        start_timeout: float = 120.0,
        autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
        copy: bool = True,
    ):
        if len(env_fns) == 0:
            raise ValueError("RayVectorEnv needs at least one env_fn")
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(address=address)
        self.env_fns = list(env_fns)
        self.num_envs = len(self.env_fns)
        self.actor_options = dict(DEFAULT_ACTOR_OPTIONS if actor_options is None else actor_options)
        self.step_timeout = step_timeout
        self.start_timeout = start_timeout
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.copy = copy

        self._actors: list[Any] = [None] * self.num_envs
        self.restarts = np.zeros(self.num_envs, dtype=np.int64)
        """How many times each sub-env's actor has been replaced."""
        descriptions = self._start_actors(range(self.num_envs))

        first = descriptions[0]
        self.metadata = {**first["metadata"], "autoreset_mode": self.autoreset_mode}
        self.render_mode = first["render_mode"]
        self.single_observation_space = first["observation_space"]
        self.single_action_space = first["action_space"]
        for index, description in descriptions.items():
            if (
                description["observation_space"] != self.single_observation_space
                or description["action_space"] != self.single_action_space
            ):
                self.close()
                raise RuntimeError(
                    f"sub-env {index} has observation space {description['observation_space']} and action space "
                    f"{description['action_space']}, sub-env 0 has {self.single_observation_space} and "
                    f"{self.single_action_space}"
                )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        self._env_obs: list[Any] = [None] * self.num_envs
        self._observations = create_empty_array(self.single_observation_space, n=self.num_envs, fn=np.zeros)
        self._terminations = np.zeros(self.num_envs, dtype=np.bool_)
        self._truncations = np.zeros(self.num_envs, dtype=np.bool_)
        self._autoreset_envs = np.zeros(self.num_envs, dtype=np.bool_)
        self._last_seeds: list[int | None] = [None] * self.num_envs
        # Seeds for the first reset of replacement actors that were given no seed of their own.
        self._pending_seeds: dict[int, int] = {}
        # Episodes cut short by an actor failure outside step(), reported as truncated by the next step().
        self._lost: dict[int, str] = {}

    # -- Gymnasium API ---------------------------------------------------------------------------

    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset the sub-envs (all of them, or those in ``options["reset_mask"]``) in parallel.

        Args:
            seed: ``None`` (each env continues its own generator), an int ``s`` (env ``i`` gets ``s + i``)
                or one seed (or None) per env.
            options: passed to every sub-env's ``reset``; ``"reset_mask"`` (a bool array of shape
                ``(num_envs,)``) selects the envs to reset, as in ``SyncVectorEnv``.
        """
        self._check_open()
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + index for index in range(self.num_envs)]
        else:
            seeds = list(seed)
        if len(seeds) != self.num_envs:
            raise ValueError(
                f"If seeds are passed as a list the length must match num_envs={self.num_envs} but got "
                f"length={len(seeds)}."
            )
        options = dict(options) if options is not None else None
        reset_mask = (
            _checked_reset_mask(options.pop("reset_mask"), self.num_envs)
            if options and "reset_mask" in options
            else None
        )
        indices = [index for index in range(self.num_envs) if reset_mask is None or reset_mask[index]]
        for index in indices:
            self._lost.pop(index, None)  # the caller ends that episode anyway
        self._terminations[indices] = False
        self._truncations[indices] = False
        self._autoreset_envs[indices] = False

        results = self._reset_envs({index: seeds[index] for index in indices}, options)
        infos: dict[str, Any] = {}
        for index in indices:
            self._env_obs[index], env_info = results[index]
            infos = self._add_info(infos, env_info, index)
        self._observations = concatenate(self.single_observation_space, self._env_obs, self._observations)
        return (deepcopy(self._observations) if self.copy else self._observations), infos

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env in parallel (or, under ``NEXT_STEP``, reset those whose episode ended last step).

        Returns:
            Batched ``(observations, rewards, terminations, truncations, infos)``; see the class docstring
            for how a sub-env whose actor failed is reported.
        """
        self._check_open()
        env_actions = list(iterate(self.action_space, actions))
        if self.autoreset_mode == AutoresetMode.DISABLED and self._autoreset_envs.any():
            ended = np.flatnonzero(self._autoreset_envs).tolist()
            raise ValueError(
                f"sub-envs {ended} ended their episodes: reset them with options={{'reset_mask': ...}} before stepping "
                "(autoreset is disabled)"
            )
        autoresets = (
            self._autoreset_envs.copy()
            if self.autoreset_mode == AutoresetMode.NEXT_STEP
            else np.zeros(self.num_envs, dtype=np.bool_)
        )
        calls = {index: self._reset_call(index, None, None) for index in np.flatnonzero(autoresets).tolist()}
        for index in range(self.num_envs):
            if not autoresets[index] and index not in self._lost:
                calls[index] = ("step", (env_actions[index],))
        outcomes, failures = self._run(calls)
        failed_resets = {index: error for index, error in failures.items() if calls[index][0] == "reset"}
        outcomes.update(self._retry_resets({index: None for index in failed_resets}, failed_resets, None))
        lost = {**self._lost, **{index: error for index, error in failures.items() if calls[index][0] == "step"}}
        self._lost = {}

        rewards = np.zeros(self.num_envs, dtype=np.float64)
        results: dict[int, tuple[Any, dict[str, Any]]] = {}
        for index, outcome in outcomes.items():
            if calls[index][0] == "reset":
                results[index] = outcome
                self._terminations[index], self._truncations[index] = False, False
            else:
                observation, rewards[index], self._terminations[index], self._truncations[index], env_info = outcome
                results[index] = observation, env_info
        for index, error in lost.items():
            results[index] = self._env_obs[index], {"actor_restarted": True, "actor_error": error}
            self._terminations[index], self._truncations[index] = False, True

        final: dict[int, tuple[Any, dict[str, Any]]] = {}
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            ended = np.flatnonzero(self._terminations | self._truncations).tolist()
            final = {index: results[index] for index in ended}
            results.update(self._reset_envs({index: None for index in ended}, None))

        infos: dict[str, Any] = {}
        for index in range(self.num_envs):
            if index in final:
                final_observation, final_info = final[index]
                infos = self._add_info(infos, {"final_obs": final_observation, "final_info": final_info}, index)
            self._env_obs[index], env_info = results[index]
            infos = self._add_info(infos, env_info, index)
        self._observations = concatenate(self.single_observation_space, self._env_obs, self._observations)
        self._autoreset_envs = self._terminations | self._truncations
        return (
            deepcopy(self._observations) if self.copy else self._observations,
            rewards,
            self._terminations.copy(),
            self._truncations.copy(),
            infos,
        )

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Call method ``name`` (or read attribute ``name``) of every sub-env; one result per env.

        Raises:
            RuntimeError: an actor failed during the call (it was replaced; see the class docstring).
        """
        self._check_open()
        results, failures = self._run({index: ("call", (name, args, kwargs)) for index in range(self.num_envs)})
        self._raise_failures(failures, f"call({name!r})")
        return tuple(results[index] for index in range(self.num_envs))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        """The attribute ``name`` of every sub-env (found through its wrappers)."""
        return self.call(name)

    def set_attr(self, name: str, values: Sequence[Any] | Any) -> None:
        """Set attribute ``name`` of every sub-env: to ``values[i]`` when ``values`` is a list or tuple, else to
        ``values``."""
        self._check_open()
        if not isinstance(values, (list, tuple)):
            values = [values] * self.num_envs
        if len(values) != self.num_envs:
            raise ValueError(
                "Values must be a list or tuple with length equal to the number of environments. "
                f"Got `{len(values)}` values for {self.num_envs} environments."
            )
        _, failures = self._run({index: ("set_attr", (name, values[index])) for index in range(self.num_envs)})
        self._raise_failures(failures, f"set_attr({name!r})")

    def render(self) -> tuple[RenderFrame, ...]:
        """The frame of every sub-env (each built with the ``render_mode`` the env was made with)."""
        return self.call("render")

    @property
    def np_random_seed(self) -> tuple[int, ...]:
        """The seed of each sub-env's generator."""
        return self.get_attr("np_random_seed")

    @property
    def np_random(self) -> tuple[np.random.Generator, ...]:
        """A copy of each sub-env's generator (it lives in the actor)."""
        return self.get_attr("np_random")

    @property
    def actors(self) -> tuple[Any, ...]:
        """The Ray actor handle of each sub-env (it changes when an actor is replaced)."""
        return tuple(self._actors)

    def node_ids(self) -> tuple[str, ...]:
        """The Ray node each sub-env runs on."""
        self._check_open()
        results, failures = self._run({index: ("node_id", ()) for index in range(self.num_envs)})
        self._raise_failures(failures, "node_ids()")
        return tuple(results[index] for index in range(self.num_envs))

    def close_extras(self, **kwargs: Any) -> None:
        """Close every sub-env and kill its actor."""
        ray = _import_ray()
        actors = self._actors
        if ray.is_initialized():
            ray.wait([actor.close.remote() for actor in actors], num_returns=len(actors), timeout=self.step_timeout)
            for actor in actors:
                ray.kill(actor)
        self._actors = []

    # -- actors ----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise ClosedEnvironmentError("the RayVectorEnv is closed")

    def _start_actors(self, indices: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Start one actor per index (replacing any there) and wait until each has built its env."""
        ray = _import_ray()
        actor_class = _remote_env_actor().options(**self.actor_options)
        for index in indices:
            self._actors[index] = actor_class.remote(self.env_fns[index])
        pending = {index: self._actors[index].describe.remote() for index in indices}
        ready, _ = ray.wait(list(pending.values()), num_returns=len(pending), timeout=self.start_timeout)
        ready_refs = set(ready)
        descriptions, problems = {}, []
        for index, ref in pending.items():
            if ref not in ready_refs:
                problems.append(
                    f"sub-env {index}: its actor was not running after {self.start_timeout:g} s; each actor asks for "
                    f"{self.actor_options} and the cluster has {ray.available_resources()} free "
                    "(ask for less, e.g. actor_options={'num_cpus': 0.5}, or add nodes)"
                )
                continue
            try:
                descriptions[index] = ray.get(ref)
            except ray.exceptions.RayError as error:
                problems.append(f"sub-env {index}: its env could not be built: {error}")
        if problems:
            for index in indices:
                ray.kill(self._actors[index])
            raise RuntimeError("RayVectorEnv could not start its actors:\n" + "\n".join(problems))
        return descriptions

    def _run(self, calls: Mapping[int, tuple[str, tuple[Any, ...]]]) -> tuple[dict[int, Any], dict[int, str]]:
        """Call ``method(*args)`` on each sub-env's actor in parallel, waiting at most ``step_timeout``.

        Returns the results, and a description of the failure of each sub-env whose actor died or timed
        out (those actors are replaced). An exception raised by the env itself is re-raised.
        """
        if not calls:
            return {}, {}
        ray = _import_ray()
        deadline = None if self.step_timeout is None else time.monotonic() + self.step_timeout
        refs = {index: getattr(self._actors[index], method).remote(*args) for index, (method, args) in calls.items()}
        try:  # one ray.get for the whole batch: the common case, and the cheapest
            return dict(zip(refs, ray.get(list(refs.values()), timeout=self.step_timeout))), {}
        except ray.exceptions.RayTaskError:
            raise  # the env raised: a bug to see, as SyncVectorEnv would show it
        except ray.exceptions.RayError:
            pass  # an actor died or timed out: find out which below, within what is left of the timeout
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=remaining)
        ready_refs = set(ready)
        results: dict[int, Any] = {}
        failures: dict[int, str] = {}
        for index, ref in refs.items():
            method = calls[index][0]
            if ref not in ready_refs:
                failures[index] = f"{method} did not return within step_timeout={self.step_timeout:g} s"
                continue
            try:
                results[index] = ray.get(ref)
            except ray.exceptions.RayTaskError:
                raise
            except ray.exceptions.RayError as error:
                failures[index] = f"{method} failed: {_summary(error)}"
        if failures:
            self._replace(sorted(failures))
        return results, failures

    def _replace(self, indices: Sequence[int]) -> None:
        """Kill the actors of ``indices`` and start new ones; an episode they were in is marked lost by the caller."""
        ray = _import_ray()
        for index in indices:
            ray.kill(self._actors[index])
            self.restarts[index] += 1
            seed = self._last_seeds[index]
            if seed is not None:
                self._pending_seeds[index] = replacement_seed(seed, int(self.restarts[index]))
        self._start_actors(indices)

    def _reset_call(self, index: int, seed: int | None, options: dict[str, Any] | None) -> tuple[str, tuple[Any, ...]]:
        """The remote call that resets sub-env ``index``: a replacement actor given no seed gets its pending one."""
        pending = self._pending_seeds.pop(index, None)
        seed = seed if seed is not None else pending
        if seed is not None:
            self._last_seeds[index] = seed
        return "reset", (seed, options)

    def _reset_envs(
        self, seeds: Mapping[int, int | None], options: dict[str, Any] | None
    ) -> dict[int, tuple[Any, dict[str, Any]]]:
        """Reset the given sub-envs in parallel, retrying on a replacement actor where one failed."""
        results, failures = self._run({index: self._reset_call(index, seed, options) for index, seed in seeds.items()})
        results.update(self._retry_resets(seeds, failures, options))
        return results

    def _retry_resets(
        self, seeds: Mapping[int, int | None], failures: Mapping[int, str], options: dict[str, Any] | None
    ) -> dict[int, tuple[Any, dict[str, Any]]]:
        """Reset once more the sub-envs whose actor failed while resetting (it has been replaced by now)."""
        retried, second_failures = self._run(
            {index: self._reset_call(index, seeds[index], options) for index in failures}
        )
        if second_failures:
            details = "; ".join(
                f"sub-env {index}: {failures[index]}, then {error}" for index, error in second_failures.items()
            )
            raise RuntimeError(f"reset failed twice in a row on fresh actors ({details})")
        return {
            index: (observation, {**env_info, "actor_restarted": True, "actor_error": failures[index]})
            for index, (observation, env_info) in retried.items()
        }

    def _raise_failures(self, failures: Mapping[int, str], what: str) -> None:
        if not failures:
            return
        for index, error in failures.items():
            if self._env_obs[index] is not None and not self._autoreset_envs[index]:
                self._lost[index] = error
        details = "; ".join(f"sub-env {index}: {error}" for index, error in failures.items())
        raise RuntimeError(
            f"{what} failed ({details}); the actors were replaced and the episodes they were in end, truncated, at the "
            "next step"
        )


def _summary(error: Exception) -> str:
    """The first and last lines of a Ray error: what failed and why (the lines between are ids and addresses)."""
    lines = str(error).strip().splitlines() or [""]
    reason = f" {lines[-1].strip()}" if len(lines) > 1 else ""
    return f"{type(error).__name__}: {lines[0].strip()}{reason}"


def _checked_reset_mask(reset_mask: Any, num_envs: int) -> np.ndarray:
    if not isinstance(reset_mask, np.ndarray):
        raise TypeError(f"`options['reset_mask']` must be a numpy array, got {type(reset_mask)}")
    if reset_mask.shape != (num_envs,):
        raise ValueError(f"`options['reset_mask']` must have shape `({num_envs},)`, got {reset_mask.shape}")
    if reset_mask.dtype != np.bool_:
        raise TypeError(f"`options['reset_mask']` must have `dtype=np.bool_`, got {reset_mask.dtype}")
    if not reset_mask.any():
        raise ValueError(
            "`options['reset_mask']` must contain a boolean array with at least one True value, got "
            f"reset_mask={reset_mask}"
        )
    return reset_mask


def _make_env(env_id: str, env_kwargs: Mapping[str, Any]) -> gym.Env:
    """Build a sub-env inside its actor; importing this module there registered the vista ids."""
    return gym.make(env_id, **env_kwargs)


def make_ray_vec(
    env_id: str,
    num_envs: int,
    *,
    address: str | None = None,
    actor_options: Mapping[str, Any] | None = None,
    step_timeout: float | None = 60.0,
    autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
    **env_kwargs: Any,
) -> RayVectorEnv:
    """``gym.make_vec`` for Ray: ``num_envs`` copies of ``gym.make(env_id, **env_kwargs)``, one per actor.

    Args:
        env_id: any registered id (the vista ids are registered in every actor).
        num_envs: number of sub-envs (= actors).
        address: the Ray cluster, as in :class:`RayVectorEnv` (``None``, ``"auto"``, ``"host:port"``).
        actor_options: Ray options per actor; default ``RESOURCE_HINTS.get(env_id, DEFAULT_ACTOR_OPTIONS)``.
        step_timeout: seconds a call to the sub-envs may take.
        autoreset_mode: Gymnasium's autoreset mode.
        **env_kwargs: keyword arguments of ``gym.make``.
    """
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}")
    options = actor_options if actor_options is not None else RESOURCE_HINTS.get(env_id, DEFAULT_ACTOR_OPTIONS)
    env_fn = functools.partial(_make_env, env_id, env_kwargs)
    return RayVectorEnv(
        [env_fn] * num_envs,
        actor_options=options,
        address=address,
        step_timeout=step_timeout,
        autoreset_mode=autoreset_mode,
    )
