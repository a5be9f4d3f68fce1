"""The host's handle on one episode's interpreter: its two pipes, its pidfd, framed requests.

The interpreter runs only during a request: it is resumed (SIGCONT) when one is sent and stopped
(SIGSTOP) as soon as the reply is in, so code that forges its reply and goes on computing is
frozen at once. Every request carries a fresh nonce that the reply must echo (see
:mod:`.inside.framing`); a reply without it raises :class:`ReplyMismatch`, and the session then
restarts the interpreter.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time
from collections.abc import Callable
from typing import Any

from vista_envs.tools.sandbox.inside import framing


class WorkerDied(Exception):
    """The interpreter ended or broke the protocol."""


class ReplyMismatch(WorkerDied):
    """A reply that does not belong to the call in progress (forged, or left over from a forgery)."""


class WorkerTimedOut(Exception):
    """The interpreter did not answer before the deadline."""


def wait_for(fd: int, event: int, deadline: float) -> None:
    """Wait until ``fd`` is ready for ``event`` (POLLIN/POLLOUT); raises WorkerTimedOut at the deadline."""
    poller = select.poll()
    poller.register(fd, event)
    remaining_ms = (deadline - time.monotonic()) * 1000
    if remaining_ms <= 0 or not poller.poll(remaining_ms):
        raise WorkerTimedOut


def host_pid_of(pidfd: int) -> int | None:
    """The pid, as this process sees it, of the process behind ``pidfd`` (None once it is gone)."""
    try:
        with open(f"/proc/self/fdinfo/{pidfd}") as info:
            for line in info:
                if line.startswith("Pid:"):
                    pid = int(line.split()[1])
                    return pid if pid > 0 else None
    except OSError:
        return None
    return None


class Worker:
    """One started interpreter (a child of the zygote) and the host's ends of its pipes."""

    def __init__(self, request_fd: int, response_fd: int, pidfd: int, exit_status: Callable[[], int | None]) -> None:
        """``exit_status`` asks the zygote (the interpreter's parent) for its wait status once it has ended."""
        self._exit_status = exit_status
        self._request_fd = request_fd
        self._response_fd = response_fd
        self._pidfd = pidfd
        self.host_pid = host_pid_of(pidfd)
        self._destroyed = False
        os.set_blocking(request_fd, False)  # an interpreter that stops reading must not block the host

    @property
    def alive(self) -> bool:
        if self._destroyed or self._pidfd < 0:
            return False
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)  # a pidfd turns readable when its process exits
        return not poller.poll(0)

    def request(
        self, header: dict[str, Any], payload: bytes = b"", *, timeout_s: float, max_reply_bytes: int
    ) -> dict[str, Any]:
        """Send one request and wait for its reply; raises WorkerDied, ReplyMismatch or WorkerTimedOut."""
        deadline = time.monotonic() + timeout_s
        nonce = os.urandom(framing.NONCE_BYTES)
        self._signal(signal.SIGCONT)
        try:
            self._write_all(framing.encode(nonce, header, payload), deadline)
            return self.receive(nonce, deadline, max_reply_bytes)
        finally:
            self.pause()

    def exchange(
        self, requests: list[tuple[dict[str, Any], bytes, int]], timeouts_s: list[float]
    ) -> list[dict[str, Any]]:
        """Send several ``(header, payload, max_reply_bytes)`` requests at once and read their replies
        in order: one round trip instead of several (the image and the first call of an episode).

        ``timeouts_s[i]`` counts from the arrival of reply ``i - 1`` (from now for the first). On
        failure, the exception's ``request_index`` says which reply did not come.
        """
        nonces = [os.urandom(framing.NONCE_BYTES) for _ in requests]
        self._signal(signal.SIGCONT)
        try:
            deadline = time.monotonic() + timeouts_s[0]
            replies: list[dict[str, Any]] = []
            try:
                frames = b"".join(framing.encode(n, h, p) for n, (h, p, _) in zip(nonces, requests, strict=True))
                self._write_all(frames, deadline)
                for index, (nonce, (_, _, max_reply_bytes)) in enumerate(zip(nonces, requests, strict=True)):
                    if index:
                        deadline = time.monotonic() + timeouts_s[index]
                    replies.append(self.receive(nonce, deadline, max_reply_bytes))
            except (WorkerDied, WorkerTimedOut) as error:
                error.request_index = len(replies)  # type: ignore[attr-defined]
                raise
            return replies
        finally:
            self.pause()

    def pause(self) -> None:
        """Stop the interpreter until the next request."""
        self._signal(signal.SIGSTOP)

    def _signal(self, signal_number: int) -> None:
        if not self._destroyed:
            try:
                signal.pidfd_send_signal(self._pidfd, signal_number)
            except ProcessLookupError:
                pass

    def receive(self, nonce: bytes, deadline: float, max_reply_bytes: int) -> dict[str, Any]:
        magic, reply_nonce, size = framing.HEADER.unpack(self._read_exact(framing.HEADER.size, deadline))
        if magic != framing.MAGIC or reply_nonce != nonce:
            raise ReplyMismatch("its reply did not belong to this call (something else wrote into its reply channel)")
        if size > max_reply_bytes:
            raise WorkerDied(f"it sent a {size}-byte reply (at most {max_reply_bytes} expected)")
        try:
            reply = json.loads(self._read_exact(size, deadline))
        except (ValueError, RecursionError) as error:  # forged: bad JSON, or nesting too deep
            raise WorkerDied(f"it sent a malformed reply ({error})") from None
        if not isinstance(reply, dict):
            raise WorkerDied("it sent a malformed reply")
        return reply

    def _write_all(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            wait_for(self._request_fd, select.POLLOUT, deadline)
            try:
                view = view[os.write(self._request_fd, view) :]
            except BlockingIOError:
                continue
            except OSError as error:  # EPIPE: the interpreter is gone
                raise WorkerDied(str(error)) from None

    def _read_exact(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while size:
            wait_for(self._response_fd, select.POLLIN, deadline)
            chunk = os.read(self._response_fd, min(size, 1 << 20))
            if not chunk:
                raise WorkerDied(self.exit_description())
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def exit_description(self) -> str:
        """How the interpreter ended, in words (only its parent, the zygote, can read the status)."""
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        if not poller.poll(1000):
            return "it closed its reply channel"
        status = self._exit_status()
        if status is None:
            return "it ended"
        if os.WIFSIGNALED(status):
            return _signal_description(os.WTERMSIG(status))
        return f"it exited with status {os.WEXITSTATUS(status)} (os._exit() or a fatal error)"

    def kill(self) -> None:
        """Kill the interpreter and release its pipes without waiting for it to exit (see :meth:`gone`)."""
        if self._destroyed:
            return
        self._signal(signal.SIGKILL)
        self._destroyed = True
        for fd in (self._request_fd, self._response_fd):
            os.close(fd)

    def gone(self, timeout_s: float = 0.0) -> bool:
        """After :meth:`kill`: whether the process has exited (waiting up to ``timeout_s``); once it
        has, the pidfd is released."""
        if self._pidfd < 0:
            return True
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        if not poller.poll(timeout_s * 1000):
            return False
        os.close(self._pidfd)
        self._pidfd = -1
        return True

    def destroy(self) -> None:
        """Kill the interpreter and wait until it has exited and its parent, the zygote, has reaped
        it (no zombie left). Safe to call twice."""
        reap = not self._destroyed
        self.kill()
        if self.gone(timeout_s=10.0) and reap:
            self._exit_status()


def _signal_description(signal_number: int) -> str:
    if signal_number == signal.SIGXCPU:
        return "it used up its CPU-time limit (SIGXCPU)"
    try:
        name = signal.Signals(signal_number).name
    except ValueError:
        name = f"signal {signal_number}"
    return f"it was killed by {name}"
