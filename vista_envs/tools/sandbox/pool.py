"""Pre-forked idle interpreters, kept ready by one background thread that owns the zygote."""

from __future__ import annotations

import collections
import threading
import time

from vista_envs.tools.sandbox.launcher import (
    STARTUP_TIMEOUT_S,
    SandboxUnavailableError,
    ZygoteLauncher,
)
from vista_envs.tools.sandbox.worker import Worker

# After a session takes an interpreter, the pool waits this long before forking its replacement
# (unless none is left): the fork then does not compete for the CPU with that episode's first call.
_REFILL_QUIET_S = 0.01


class WorkerPool:
    """``size`` idle interpreters forked ahead of demand; each is handed out once, never reused.

    The same thread starts the zygote and asks it for every interpreter, because bwrap's
    ``--die-with-parent`` (and the process mode's parent-death signal) fire when the *thread*
    that started the zygote exits.
    """

    def __init__(self, launcher: ZygoteLauncher, size: int) -> None:
        self._launcher = launcher
        self._size = size
        self._idle: collections.deque[Worker] = collections.deque()
        self._retired: list[Worker] = []  # killed at the end of their episode, not yet seen to exit
        self._last_acquire = 0.0
        self._waiting = 0
        self._failure: str | None = None
        self._refill_paused = False
        self._closed = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name="python-sandbox-pool", daemon=True)
        self._thread.start()

    def acquire(self) -> Worker:
        """Take an idle interpreter, waiting for one to start; raises SandboxUnavailableError."""
        with self._condition:
            self._waiting += 1
            self._refill_paused = False
            self._condition.notify_all()
            try:
                while not self._idle:
                    if self._closed:
                        raise RuntimeError("the sandbox is closed")
                    if self._failure is not None:
                        failure, self._failure = self._failure, None
                        raise SandboxUnavailableError(failure)
                    self._condition.wait()
                self._last_acquire = time.monotonic()
                return self._idle.popleft()
            finally:
                self._waiting -= 1
                self._condition.notify_all()

    def retire(self, worker: Worker) -> None:
        """Kill an episode's interpreter without making the episode wait for its exit; the pool's
        thread releases it once it is gone (and :meth:`close` waits for all)."""
        worker.kill()
        with self._condition:
            self._retired.append(worker)
            self._condition.notify_all()

    def _release_retired(self) -> None:
        with self._condition:
            retired, self._retired = self._retired, []
        still = [worker for worker in retired if not worker.gone()]
        if still:
            with self._condition:
                self._retired.extend(still)

    def close(self) -> None:
        """Stop the thread, destroy the idle interpreters and the zygote (with every interpreter)."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(timeout=STARTUP_TIMEOUT_S)
        with self._condition:
            leftovers = list(self._idle)
            self._idle.clear()
        for worker in leftovers:
            worker.destroy()
        for worker in self._retired:
            worker.gone(timeout_s=10.0)
        self._retired.clear()
        self._launcher.close()

    def _wanted(self) -> bool:
        if self._refill_paused:
            return False
        if len(self._idle) < 1 + self._waiting:  # none to spare: fork now
            return True
        return len(self._idle) < self._size and self._quiet_left() <= 0

    def _quiet_left(self) -> float:
        return self._last_acquire + _REFILL_QUIET_S - time.monotonic()

    def _serve(self) -> None:
        while True:
            self._release_retired()
            with self._condition:
                while not (self._closed or self._wanted()):
                    # Wake when a deferred refill is due, and now and then while killed
                    # interpreters are still exiting.
                    timeouts = [0.05] if self._retired else []
                    if len(self._idle) < self._size and not self._refill_paused:
                        timeouts.append(max(self._quiet_left(), 0.001))
                    self._condition.wait(timeout=min(timeouts) if timeouts else None)
                    if self._retired:
                        break
                if self._closed:
                    return
                if not self._wanted():
                    continue
            try:
                worker = self._launcher.spawn()
            except Exception as error:  # noqa: BLE001 - this thread must live on, or acquire() hangs
                with self._condition:
                    self._failure = str(error) if isinstance(error, SandboxUnavailableError) else repr(error)
                    self._refill_paused = True  # retry only when someone asks for an interpreter again
                    self._condition.notify_all()
                continue
            with self._condition:
                if not self._closed:
                    self._idle.append(worker)
                    self._condition.notify_all()
                    continue
            worker.destroy()
