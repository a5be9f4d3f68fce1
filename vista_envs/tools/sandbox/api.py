"""The public face of the sandbox: :class:`PythonSandbox` (one per env) and :class:`PythonSession`
(one per episode). See the package docstring and ``docs/sandbox.md``."""

from __future__ import annotations

import ctypes
import os
import shutil
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from vista_envs.tools.sandbox.launcher import SandboxUnavailableError, ZygoteLauncher
from vista_envs.tools.sandbox.pool import WorkerPool
from vista_envs.tools.sandbox.worker import (
    ReplyMismatch,
    Worker,
    WorkerDied,
    WorkerTimedOut,
)

SandboxMode = Literal["auto", "bwrap", "process"]

_STARTUP_TIMEOUT_S = 60.0
_GRACE_S = 1.0  # after timeout_s, how long the interpreter gets to interrupt the code itself
_RESTARTED_NOTE = "The interpreter was restarted: variables from earlier calls are lost; `image` is loaded again."
_PR_SET_DUMPABLE = 4


def describe(isolation: str, process_uid: int | None) -> str:
    """What ``info["sandbox"]`` says: ``"bwrap"``, or for process mode what it does not stop."""
    if isolation == "bwrap":
        return "bwrap"
    who = "uid 0 (root, without capabilities)" if process_uid == 0 else f"uid {process_uid}"
    return (
        f"process (NOT a security boundary: model code runs as host {who} and can read and write every "
        "host file that uid can, and see the host's processes; it cannot read or write the env's memory, "
        "signal, trace or re-limit other processes, open sockets, or start processes)"
    )


_warned_about_fallback = False
_bwrap_probe_lock = threading.Lock()
_bwrap_probe: dict[str, str | None] = {}  # cache: "reason" -> None when bwrap works


class SandboxFallbackWarning(RuntimeWarning):
    """``mode="auto"`` fell back to ``"process"`` isolation because bubblewrap is unusable."""


@dataclass(frozen=True)
class ExecutionResult:
    """What one :meth:`PythonSession.run` call produced.

    Attributes:
        stdout: Text the code printed, truncated to ``max_output_chars`` with a note.
        stderr: Text written to ``sys.stderr`` (warnings included), truncated the same way.
        ok: True when the code ran to the end without an exception, timeout or crash.
        error: None when ``ok``; otherwise what went wrong, for the agent to read: the traceback
            (worker frames removed), a timeout message, or why the interpreter had to be restarted.
        timed_out: The call reached the ``timeout_s`` wall-clock limit.
        duration_s: Wall time of the call as seen by the host.
        restarted: The interpreter was lost during or just before this call (crash, timeout that
            would not stop, ``os._exit``...) and replaced, so globals from earlier calls are gone.
    """

    stdout: str
    stderr: str
    ok: bool
    error: str | None
    timed_out: bool
    duration_s: float
    restarted: bool = False

    @property
    def text(self) -> str:
        """The result as one message for the agent: stdout, stderr, error, restart note."""
        parts = [part.rstrip("\n") for part in (self.stdout, self.stderr, self.error) if part]
        if self.restarted and (self.error is None or _RESTARTED_NOTE not in self.error):
            parts.append(_RESTARTED_NOTE)
        return "\n".join(parts) if parts else "(no output)"


def bwrap_unavailable_reason() -> str | None:
    """Why ``mode="bwrap"`` cannot work here, or None when a bwrap interpreter starts fine.

    The first call starts (and stops) one sandbox; the answer is cached per process.
    """
    with _bwrap_probe_lock:
        if "reason" not in _bwrap_probe:
            _bwrap_probe["reason"] = _probe_bwrap()
        return _bwrap_probe["reason"]


def _probe_bwrap() -> str | None:
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    launcher = ZygoteLauncher("bwrap", memory_mb=512, scratch_mb=16, scratch_files=64, max_output_chars=100)
    try:
        launcher.spawn().destroy()
    except (SandboxUnavailableError, WorkerDied, WorkerTimedOut) as error:
        return str(error) or type(error).__name__
    finally:
        launcher.close()
    return None


def _make_host_undumpable() -> None:
    """Process mode: model code runs as this process's uid, so only this stops it from opening the
    env's memory (``/proc/<pid>/mem``), fds or environment: a non-dumpable process grants no
    ptrace-mode access to processes without CAP_SYS_PTRACE, which the interpreter has not."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise SandboxUnavailableError(
            "process mode cannot protect the env's memory: prctl(PR_SET_DUMPABLE) failed "
            f"({os.strerror(ctypes.get_errno())})"
        )


class PythonSandbox:
    """A zygote inside the sandbox and interpreters forked from it; one :class:`PythonSession` per episode.

    Args:
        mode: ``"bwrap"`` (raise :class:`SandboxUnavailableError` if bubblewrap cannot start a
            interpreter), ``"process"`` (not a security boundary: no file-system isolation), or ``"auto"`` (bwrap
            when it works, otherwise process mode with a one-time :class:`SandboxFallbackWarning`).
        timeout_s: Wall-clock limit of one ``run`` call.
        memory_mb: Address-space limit of an interpreter (Python and numpy take about 110 MB of it).
        scratch_mb: Size of the private scratch tmpfs (bwrap) and limit on any file written.
        scratch_files: Most files and directories the scratch tmpfs can hold (bwrap): each costs
            kernel memory that no byte limit sees.
        max_output_chars: stdout, stderr and error text are each cut to this many characters.
        max_code_chars: Longer code is refused with an error result, without running.
        pool_size: Interpreters forked ahead of demand, so that a new session (or a restart) is instant.

    Attributes:
        isolation: ``"bwrap"`` or ``"process"``: the isolation actually in force.
        description: ``"bwrap"``, or for process mode ``"process (...)"`` saying plainly what it
            does not stop; the env reports it as ``info["sandbox"]``.
    """

    def __init__(
        self,
        mode: SandboxMode = "auto",
        *,
        timeout_s: float = 5.0,
        memory_mb: int = 512,
        scratch_mb: int = 64,
        scratch_files: int = 4096,
        max_output_chars: int = 8_000,
        max_code_chars: int = 100_000,
        pool_size: int = 2,
    ) -> None:
        if mode not in ("auto", "bwrap", "process"):
            raise ValueError(f"mode must be 'auto', 'bwrap' or 'process', got {mode!r}")
        if min(timeout_s, memory_mb, scratch_mb, scratch_files, max_output_chars, max_code_chars) <= 0:
            raise ValueError(
                "timeout_s, memory_mb, scratch_mb, scratch_files, max_output_chars and max_code_chars must be positive"
            )
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.timeout_s = float(timeout_s)
        self.memory_mb = memory_mb
        self.max_output_chars = max_output_chars
        self.max_code_chars = max_code_chars
        self.isolation: Literal["bwrap", "process"] = _resolve_mode(mode)
        if self.isolation == "process":
            _make_host_undumpable()
        launcher = ZygoteLauncher(
            self.isolation,
            memory_mb=memory_mb,
            scratch_mb=scratch_mb,
            scratch_files=scratch_files,
            max_output_chars=max_output_chars,
        )
        self.description = describe(self.isolation, launcher.process_uid)
        self._pool = WorkerPool(launcher, pool_size)
        self._sessions: weakref.WeakSet[PythonSession] = weakref.WeakSet()
        self._closed = False
        self._finalizer = weakref.finalize(self, self._pool.close)

    def session(self, image: np.ndarray | None = None) -> PythonSession:
        """Start a fresh interpreter (one episode) with ``image`` preloaded as the variable ``image``.

        The interpreter also has ``np`` (numpy) imported, and ``random``/``np.random`` seeded with 0.
        Raises :class:`SandboxUnavailableError` if no interpreter can be started.
        """
        if self._closed:
            raise RuntimeError("the sandbox is closed")
        session = PythonSession(self, image)
        self._sessions.add(session)
        return session

    def close(self) -> None:
        """Close every open session, kill every interpreter and the zygote, stop the pool thread."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions):
            session.close()
        self._finalizer()

    def __enter__(self) -> PythonSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"PythonSandbox(isolation={self.isolation!r}, timeout_s={self.timeout_s}, {state})"

    def _acquire_worker(self) -> Worker:
        """A started interpreter for a session, which retires it when done (the pool forks another)."""
        return self._pool.acquire()


def _resolve_mode(mode: SandboxMode) -> Literal["bwrap", "process"]:
    global _warned_about_fallback
    if mode == "process":
        return "process"
    reason = bwrap_unavailable_reason()
    if reason is None:
        return "bwrap"
    if mode == "bwrap":
        raise SandboxUnavailableError(f"mode='bwrap' was requested but bubblewrap is unusable: {reason}")
    if not _warned_about_fallback:
        _warned_about_fallback = True
        warnings.warn(
            f"PythonSandbox(mode='auto') is using 'process' isolation because bubblewrap is unusable "
            f"({reason}). Model-written code can then read and write host files and reach the "
            "network; install bubblewrap for real isolation.",
            SandboxFallbackWarning,
            stacklevel=3,
        )
    return "process"


class PythonSession:
    """One episode's interpreter: globals persist across :meth:`run` calls until :meth:`close`.

    Create it with :meth:`PythonSandbox.session`. Thread-safe (calls are serialised), but a
    session is meant for one agent at a time.
    """

    def __init__(self, sandbox: PythonSandbox, image: np.ndarray | None) -> None:
        self._sandbox = sandbox
        self._lock = threading.Lock()
        self._image = _checked_image(image, sandbox.memory_mb)
        self._worker: Worker | None = None
        self._image_pending = False  # the interpreter does not have `image` yet
        self._closed = False
        # Set when the interpreter was replaced between calls; the next result reports it.
        self._state_lost = False
        self._start_worker()

    @property
    def isolation(self) -> str:
        """The isolation in force (``"bwrap"`` or ``"process"``), as on the sandbox."""
        return self._sandbox.isolation

    @property
    def closed(self) -> bool:
        return self._closed

    def run(self, code: str) -> ExecutionResult:
        """Execute ``code`` in this session's interpreter and report what happened.

        Never raises for anything the code does (exceptions, timeouts, crashes, ``sys.exit``);
        raises ``TypeError`` for non-str code and ``RuntimeError`` after :meth:`close`. If the
        last statement is an expression, its repr is printed, as in a REPL.
        """
        if not isinstance(code, str):
            raise TypeError(f"code must be a str, got {type(code).__name__}")
        started = time.perf_counter()
        if len(code) > self._sandbox.max_code_chars:
            max_chars = self._sandbox.max_code_chars
            message = f"The code is {len(code)} characters long; the limit is {max_chars}. Nothing was run."
            return _failure(message, started, restarted=False)
        with self._lock:
            self._check_open()
            if not (self._worker is not None and self._worker.alive):
                failure = self._replace_worker()
                if failure is not None:
                    return _failure(failure, started, restarted=True)
                self._state_lost = True
            restarted, self._state_lost = self._state_lost, False
            timeout_s = self._sandbox.timeout_s
            limit = self._sandbox.max_output_chars
            assert self._worker is not None
            call = ({"op": "run", "code": code, "timeout_s": timeout_s}, b"", 18 * limit + (1 << 16))
            try:
                # Three texts of at most `limit` chars, JSON-escaped (<= 6 bytes a char).
                reply = self._call_with_pending_image(call, timeout_s + _GRACE_S)
            except ReplyMismatch:
                message = (
                    "The interpreter's reply did not belong to this call: the code wrote into the sandbox's "
                    "reply channel, so nothing it sent can be trusted."
                )
                return self._restart_after_failure(message, started)
            except WorkerTimedOut:
                message = f"Timed out: the code ran longer than the {timeout_s:g} s time limit and did not stop."
                return self._restart_after_failure(message, started, timed_out=True)
            except WorkerDied as death:
                return self._restart_after_failure(f"The Python interpreter died: {death}.", started)
            return _result_from_reply(reply, limit, time.perf_counter() - started, restarted)

    def set_image(self, image: np.ndarray | None) -> None:
        """Replace the interpreter's ``image`` variable (None removes it); other globals are kept.

        Raises ``TypeError``/``ValueError`` for an array the sandbox cannot hold.
        """
        checked = _checked_image(image, self._sandbox.memory_mb)
        with self._lock:
            self._check_open()
            self._image = checked
            if self._image_pending:  # not sent yet: it goes with the next call
                return
            try:
                if self._worker is None:
                    raise WorkerDied("no worker")
                self._send_image()
            except (WorkerDied, WorkerTimedOut):
                # A fresh worker gets the new image; if none starts, the next run() reports it.
                self._state_lost = self._replace_worker() is None

    def close(self) -> None:
        """Destroy this session's interpreter; its globals and scratch files are gone for good."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._worker is not None:
                # The episode does not wait for the interpreter's exit; the pool collects it.
                self._sandbox._pool.retire(self._worker)
                self._worker = None

    def __enter__(self) -> PythonSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Python session is closed")

    def _start_worker(self) -> None:
        """Take a pooled interpreter; the image goes with the first call (one round trip for both)."""
        self._worker = self._sandbox._acquire_worker()
        self._image_pending = True

    def _image_request(self) -> tuple[dict[str, Any], bytes, int]:
        image = self._image
        if image is None:
            return {"op": "set_image", "shape": None}, b"", 1 << 16
        return {"op": "set_image", "shape": list(image.shape), "dtype": image.dtype.str}, image.tobytes(), 1 << 16

    def _send_image(self) -> None:
        assert self._worker is not None
        header, payload, max_reply_bytes = self._image_request()
        self._worker.request(header, payload, timeout_s=_STARTUP_TIMEOUT_S, max_reply_bytes=max_reply_bytes)

    def _call_with_pending_image(self, call: tuple[dict[str, Any], bytes, int], timeout_s: float) -> dict[str, Any]:
        """Run ``call``, preceded by the image when the interpreter does not have it yet.

        An interpreter that dies while loading the image has run no model code: it is replaced,
        once, without the call failing.
        """
        for attempt in range(2):
            assert self._worker is not None
            if not self._image_pending:
                header, payload, max_reply_bytes = call
                return self._worker.request(header, payload, timeout_s=timeout_s, max_reply_bytes=max_reply_bytes)
            try:
                _, reply = self._worker.exchange([self._image_request(), call], [_STARTUP_TIMEOUT_S, timeout_s])
                self._image_pending = False
                return reply
            except (WorkerDied, WorkerTimedOut) as error:
                if getattr(error, "request_index", 1) != 0 or attempt:
                    self._image_pending = False
                    raise
                failure = self._replace_worker()
                if failure is not None:
                    raise WorkerDied(failure) from None
        raise AssertionError("unreachable")

    def _replace_worker(self) -> str | None:
        """Destroy the worker and start a fresh one; returns None, or why none could be started."""
        if self._worker is not None:
            self._worker.destroy()
            self._worker = None
        try:
            self._start_worker()
        except (SandboxUnavailableError, RuntimeError) as error:
            return f"The Python interpreter could not be restarted: {error}"
        return None

    def _restart_after_failure(self, message: str, started: float, *, timed_out: bool = False) -> ExecutionResult:
        failure = self._replace_worker()
        error = f"{message} {failure}" if failure else f"{message} {_RESTARTED_NOTE}"
        return _failure(error, started, timed_out=timed_out, restarted=True)


def _failure(error: str, started: float, *, restarted: bool, timed_out: bool = False) -> ExecutionResult:
    return ExecutionResult(
        stdout="",
        stderr="",
        ok=False,
        error=error,
        timed_out=timed_out,
        duration_s=time.perf_counter() - started,
        restarted=restarted,
    )


def _result_from_reply(reply: dict[str, Any], limit: int, duration_s: float, restarted: bool) -> ExecutionResult:
    """Build a result from the worker's reply, trusting nothing in it (the code controls the worker)."""

    def text(key: str) -> str:
        value = reply.get(key)
        if not isinstance(value, str):
            return ""
        if len(value) > limit + 100:  # room for the worker's own truncation note
            return value[:limit] + f"\n[... {len(value) - limit} more characters truncated]"
        return value

    error = text("error") or None
    timed_out = reply.get("timed_out") is True
    return ExecutionResult(
        stdout=text("stdout"),
        stderr=text("stderr"),
        ok=error is None and not timed_out,
        error=error,
        timed_out=timed_out,
        duration_s=duration_s,
        restarted=restarted,
    )


def _checked_image(image: np.ndarray | None, memory_mb: int) -> np.ndarray | None:
    """A private C-contiguous copy of ``image``, or None; rejects arrays the worker cannot hold."""
    if image is None:
        return None
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array or None, got {type(image).__name__}")
    if image.dtype.kind not in "biuf":
        raise ValueError(f"image must have a boolean, integer or float dtype, got {image.dtype}")
    if image.nbytes > (memory_mb << 20) // 4:
        raise ValueError(
            f"image takes {image.nbytes / 2**20:.1f} MB; the sandbox allows a quarter of memory_mb ({memory_mb} MB)"
        )
    return np.array(image, order="C", copy=True)
