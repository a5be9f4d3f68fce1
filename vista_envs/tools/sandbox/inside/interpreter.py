"""The persistent interpreter of one episode, and the request loop it serves.

Requests (see :mod:`framing`; the reply echoes the request's nonce):

- ``{"op": "run", "code": str, "timeout_s": float}`` -> ``{"stdout", "stderr", "error", "timed_out"}``
- ``{"op": "set_image", "shape": [...] | null, "dtype": str, "payload_bytes": n}`` + raw array bytes -> ``{}``

Replies are JSON only (never pickle): the host must not deserialise anything executable from here.
Between requests the host keeps this process stopped (SIGSTOP).
"""

from __future__ import annotations

import ast
import builtins
import json
import linecache
import math
import os
import resource
import signal
import sys
import traceback
from typing import Any

import framing


class ExecutionTimeout(BaseException):
    """Raised inside user code when a call runs past its time limit.

    A ``BaseException`` so that ``except Exception`` in user code does not swallow it.
    """


class _BoundedWriter:
    """A text stream that keeps the first ``limit`` characters written and counts the rest."""

    encoding = "utf-8"

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._kept = 0
        self._dropped = 0

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        room = self._limit - self._kept
        if room > 0:
            self._parts.append(text[:room])
            self._kept += min(room, len(text))
        self._dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self) -> None:
        """Nothing to flush; present because code calls ``sys.stdout.flush()``."""

    def isatty(self) -> bool:
        return False

    def getvalue(self) -> str:
        text = "".join(self._parts)
        if self._dropped:
            text += f"\n[... {self._dropped} more characters truncated]"
        return _clean_text(text)


def _clean_text(text: str) -> str:
    """Replace lone surrogates, which are not valid UTF-8 and would break the host's JSON."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters truncated]"


class Interpreter:
    """Persistent globals plus the per-call machinery: capture, time limit, error formatting."""

    def __init__(self, numpy_module: Any, max_output_chars: int) -> None:
        self._numpy = numpy_module
        self._max_output_chars = max_output_chars
        self._calls = 0
        self.globals: dict[str, Any] = {
            "__name__": "__main__",
            "__builtins__": builtins,
            "np": numpy_module,
            "image": None,
        }

    def set_image(self, header: dict[str, Any], payload: bytearray) -> dict[str, Any]:
        if header.get("shape") is None:
            self.globals["image"] = None
        else:
            # frombuffer over a bytearray gives a writable array without another copy.
            dtype = self._numpy.dtype(header["dtype"])
            self.globals["image"] = self._numpy.frombuffer(payload, dtype=dtype).reshape(header["shape"])
        return {}

    def run(self, code: str, timeout_s: float) -> dict[str, Any]:
        self._calls += 1
        filename = f"<call-{self._calls}>"
        # Registering the source lets tracebacks show the offending line.
        linecache.cache[filename] = (len(code), None, code.splitlines(keepends=True), filename)
        stdout = _BoundedWriter(self._max_output_chars)
        stderr = _BoundedWriter(self._max_output_chars)
        error: str | None = None
        timed_out = False
        saved_streams = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = stdout, stderr
        try:
            _start_call_timer(timeout_s)
            try:
                self._execute(code, filename)
            finally:
                _stop_call_timer()
        except ExecutionTimeout as timeout:
            timed_out = True
            error = _format_user_error(timeout) + "\nVariables from earlier calls are kept."
        except SystemExit as exit_request:
            # sys.exit() ends the call, not the interpreter: exit status 0 counts as success.
            if exit_request.code not in (None, 0):
                error = f"SystemExit: {exit_request.code}"
        except BaseException as exc:  # noqa: BLE001 - everything the code raises is reported
            error = _format_user_error(exc)
        finally:
            sys.stdout, sys.stderr = saved_streams
        return {
            "stdout": stdout.getvalue(),
            "stderr": stderr.getvalue(),
            "error": None if error is None else _clean_text(_truncate(error, self._max_output_chars)),
            "timed_out": timed_out,
        }

    def _execute(self, code: str, filename: str) -> None:
        """Run ``code``; like a REPL, print the value of a final expression statement."""
        module = ast.parse(code, filename=filename)
        final_expression = None
        if module.body and isinstance(module.body[-1], ast.Expr):
            final_expression = ast.Expression(module.body.pop().value)
        exec(compile(module, filename, "exec"), self.globals)
        if final_expression is not None:
            value = eval(compile(final_expression, filename, "eval"), self.globals)
            if value is not None:
                print(repr(value))


def _format_user_error(exc: BaseException) -> str:
    """The traceback of ``exc`` from the first frame of user code on, without the worker's frames.

    A SyntaxError has no user frame, so it is shown without a traceback, as Python shows it.
    """
    try:
        report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        frames = list(report.stack)
        first = next((i for i, frame in enumerate(frames) if frame.filename.startswith("<call-")), len(frames))
        report.stack = traceback.StackSummary.from_list(
            [frame for frame in frames[first:] if frame.filename != __file__]
        )
        return "".join(report.format()).rstrip()
    except Exception:  # noqa: BLE001 - e.g. an exception whose __str__ raises
        return f"{type(exc).__name__} (its message could not be formatted)"


def _start_call_timer(timeout_s: float) -> None:
    """Interrupt the call after ``timeout_s`` of wall time, and cap its CPU time just above that.

    RLIMIT_CPU is cumulative over the process's life, so the soft limit is moved to "CPU used so
    far + this call's allowance" before every call (SIGXCPU then kills the worker: the host
    restarts it). The host also kills the whole worker shortly after the wall-clock limit.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_limit = math.ceil(usage.ru_utime + usage.ru_stime + timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_limit, resource.RLIM_INFINITY))

    def on_alarm(signum: int, frame: Any) -> None:
        raise ExecutionTimeout(f"the code ran longer than the {timeout_s:g} s time limit and was interrupted")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)


def _stop_call_timer() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


class Channel:
    """Framed JSON messages over the request (read) and reply (write) pipes."""

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self._read_fd = read_fd
        self._write_fd = write_fd

    def _read_exact(self, size: int) -> bytearray:
        buffer = bytearray(size)
        view = memoryview(buffer)
        received = 0
        while received < size:
            chunk = os.read(self._read_fd, min(size - received, 1 << 20))
            if not chunk:
                raise EOFError
            view[received : received + len(chunk)] = chunk
            received += len(chunk)
        return buffer

    def receive(self) -> tuple[bytes, dict[str, Any], bytearray]:
        magic, nonce, size = framing.HEADER.unpack(self._read_exact(framing.HEADER.size))
        if magic != framing.MAGIC:
            raise EOFError  # only the host writes requests; anything else ends the session
        header = json.loads(self._read_exact(size))
        payload = self._read_exact(int(header.get("payload_bytes", 0)))
        return bytes(nonce), header, payload

    def send(self, nonce: bytes, message: dict[str, Any]) -> None:
        data = memoryview(framing.encode(nonce, message))
        while data:
            data = data[os.write(self._write_fd, data) :]


def serve(channel: Channel, interpreter: Interpreter) -> None:
    """Answer requests until the host closes the request pipe."""
    while True:
        try:
            nonce, header, payload = channel.receive()
        except EOFError:
            return
        if header.get("op") == "run":
            reply = interpreter.run(header["code"], header["timeout_s"])
        else:
            reply = interpreter.set_image(header, payload)
        channel.send(nonce, reply)
