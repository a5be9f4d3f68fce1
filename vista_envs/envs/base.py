"""The one base of every vista-envs environment: render-mode checks, episode guards and their messages.

Gymnasium's own envs repeat these few lines in each class; here they live once so that every id raises
the same clear errors (naming the registered id) for the same misuse. What *all* subclasses set:
:attr:`VistaEnv.env_id` (the registered id, for messages), the spaces, ``reset`` and ``step``. What *some*
set: ``metadata["render_fps"]`` (default 1) and extra render modes.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar

import gymnasium as gym
import numpy as np

__all__ = ["StepResult", "VistaEnv"]

ObsType = TypeVar("ObsType")
ActType = TypeVar("ActType")

StepResult = tuple[Any, float, bool, bool, dict[str, Any]]
"""``(observation, reward, terminated, truncated, info)``, as Gymnasium's ``step`` returns it."""


class VistaEnv(gym.Env[ObsType, ActType], Generic[ObsType, ActType]):
    """Base of the vista-envs environments.

    An episode is *running* between ``reset`` and the step that ends it; the guards below raise
    :class:`gymnasium.error.ResetNeeded` with the env's id when it is not. Subclasses call
    :meth:`_init_render_mode` in ``__init__``, :meth:`_start_episode` in ``reset``,
    :meth:`_require_running` at the top of ``step`` and :meth:`_end_episode` when it ends.
    """

    env_id: ClassVar[str] = "VistaEnv"
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 1}
    # Keys of ``info`` beyond the agent contract's public ones (family, difficulty, answer_type, options, the
    # conversation) that say nothing about the answer, e.g. a clip's length: a leaderboard passes them to agents.
    public_info_keys: ClassVar[frozenset[str]] = frozenset()

    _started: bool = False
    _ended: bool = False

    def _init_render_mode(self, render_mode: str | None) -> None:
        """Check ``render_mode`` against ``metadata["render_modes"]`` and keep it."""
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"{self.env_id}: render_mode must be None or one of {self.metadata['render_modes']}, got "
                f"{render_mode!r}"
            )
        self.render_mode = render_mode

    def _start_episode(self) -> None:
        self._started = True
        self._ended = False

    def _end_episode(self) -> None:
        self._ended = True

    @property
    def episode_ended(self) -> bool:
        """True once the current episode has terminated or truncated (until the next ``reset``)."""
        return self._ended

    def _require_reset(self, method: str) -> None:
        """``ResetNeeded`` when ``reset`` was never called (``method`` names the caller in the message)."""
        if not self._started:
            raise gym.error.ResetNeeded(f"{self.env_id}: call reset() before {method}().")

    def _require_running(self, method: str = "step") -> None:
        """``ResetNeeded`` when there is no episode or it has ended."""
        self._require_reset(method)
        if self._ended:
            raise gym.error.ResetNeeded(f"{self.env_id}: the episode has ended; call reset() before {method}().")

    def _render_allowed(self) -> bool:
        """False (with a warning) when the env was built without a render mode; needs an episode."""
        if self.render_mode is None:
            gym.logger.warn(f"{self.env_id}: render() needs render_mode='rgb_array' at construction.")
            return False
        self._require_reset("render")
        return True

    def render(self) -> np.ndarray | None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError
