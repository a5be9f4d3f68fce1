"""Interpreter server that runs inside one :class:`~vista_envs.tools.sandbox.PythonSandbox` worker.

Internal module. The host starts it as ``python -S -s -B _sandbox_worker.py CONFIG_JSON`` (inside
bubblewrap, or as a plain subprocess in ``process`` mode) and talks to it over two inherited pipes.
It imports only the standard library and numpy, because inside bwrap nothing else is visible.

Start-up, in this order: import numpy (its BLAS must start before threads are forbidden), set
the resource limits, point file descriptors 0-2 at ``/dev/null`` (so stray output cannot reach the
host), install the seccomp filter, then send ``{"ready": true}``.

Protocol: every message is a frame ``[4-byte big-endian length][JSON header]``, optionally followed
by ``header["payload_bytes"]`` raw bytes. Requests:

- ``{"op": "run", "code": str, "timeout_s": float}`` -> ``{"stdout", "stderr", "error", "timed_out"}``
- ``{"op": "set_image", "shape": [...] | null, "dtype": str, "payload_bytes": n}`` + raw array bytes
  -> ``{}``

Replies are JSON only (never pickle): the host must not deserialise anything executable from here.
Between requests the host keeps this process stopped (SIGSTOP).
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import errno
import json
import linecache
import math
import os
import platform
import random
import resource
import signal
import struct
import sys
import traceback
from typing import Any

_FRAME_HEADER = struct.Struct(">I")

# Seccomp filter constants (linux/seccomp.h, linux/filter.h, linux/audit.h).
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_SET_PDEATHSIG = 1
_SECCOMP_MODE_FILTER = 2
_RET_ALLOW = 0x7FFF0000
_RET_DENY = 0x00050000 | errno.EPERM  # SECCOMP_RET_ERRNO: the call fails with EPERM
_RET_KILL_PROCESS = 0x80000000
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_IF_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_IF_GREATER_OR_EQUAL = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16  # fields of struct seccomp_data
_X32_SYSCALL_BIT = 0x40000000

# Per architecture: the audit arch id, syscalls that always fail, and syscalls allowed only when
# their first argument is this process's own pid (sending signals). Denied: new processes and
# threads, ptrace and cross-process memory access, pidfd signalling, namespace changes, and kernel
# interfaces that key on the uid -- which maps to host root when the host runs as root -- or that
# are needless attack surface (keyrings, bpf, perf events, userfaultfd, io_uring).
_SYSCALL_POLICY: dict[str, tuple[int, tuple[int, ...], tuple[int, ...]]] = {
    "x86_64": (
        0xC000003E,
        # fork vfork clone clone3 ptrace process_vm_readv/writev tkill pidfd_open pidfd_send_signal
        # pidfd_getfd unshare setns add_key request_key keyctl bpf perf_event_open userfaultfd
        # io_uring_setup
        (57, 58, 56, 435, 101, 310, 311, 200, 434, 424, 438, 272, 308, 248, 249, 250, 321, 298, 323, 425),
        # kill tgkill rt_sigqueueinfo rt_tgsigqueueinfo
        (62, 234, 129, 297),
    ),
    "aarch64": (
        0xC00000B7,
        # (no fork or vfork syscall) clone clone3 ptrace process_vm_readv/writev tkill pidfd_open
        # pidfd_send_signal pidfd_getfd unshare setns add_key request_key keyctl bpf perf_event_open
        # userfaultfd io_uring_setup
        (220, 435, 117, 270, 271, 130, 434, 424, 438, 97, 268, 217, 218, 219, 280, 241, 282, 425),
        (129, 131, 138, 240),
    ),
}


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


class Channel:
    """Framed JSON messages over a pair of pipe file descriptors."""

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

    def receive(self) -> tuple[dict[str, Any], bytearray]:
        (size,) = _FRAME_HEADER.unpack(self._read_exact(_FRAME_HEADER.size))
        header = json.loads(self._read_exact(size))
        payload = self._read_exact(int(header.get("payload_bytes", 0)))
        return header, payload

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False).encode("utf-8")
        data = memoryview(_FRAME_HEADER.pack(len(body)) + body)
        while data:
            data = data[os.write(self._write_fd, data) :]


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


def _limit_resources(memory_bytes: int, file_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    # The seccomp filter already forbids new processes; RLIMIT_NPROC is a second layer that the
    # kernel enforces only for non-root users.
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    # Writing past RLIMIT_FSIZE then fails with an OSError instead of killing the interpreter.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _silence_standard_streams() -> None:
    """Point fds 0-2 at /dev/null: stdin reads hit EOF, and writes to fds 1-2 go nowhere."""
    null_fd = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null_fd, fd)
    os.close(null_fd)


def _seccomp_program(pid: int) -> list[tuple[int, int, int, int]]:
    """The BPF program of the filter, as (code, jump_if_true, jump_if_false, constant) tuples.

    Layout after the architecture check and loading the syscall number: one equality test per
    listed syscall, then [ALLOW][load arg0][arg0 == pid?][ALLOW][DENY]. Jump offsets count the
    instructions to skip.
    """
    machine = platform.machine()
    if machine not in _SYSCALL_POLICY:
        raise RuntimeError(f"the sandbox's seccomp filter does not support the {machine} architecture")
    audit_arch, denied, own_pid_only = _SYSCALL_POLICY[machine]
    checks = [(nr, False) for nr in denied] + [(nr, True) for nr in own_pid_only]
    pid_check = len(checks) + 1  # index (relative to the first check) of "load arg0"
    deny = len(checks) + 4
    program = [
        (_LOAD_WORD, 0, 0, _OFFSET_ARCH),
        (_JUMP_IF_EQUAL, 1, 0, audit_arch),
        (_RETURN, 0, 0, _RET_KILL_PROCESS),
        (_LOAD_WORD, 0, 0, _OFFSET_NR),
    ]
    if machine == "x86_64":
        # x32-ABI syscall numbers would bypass the checks below: deny them all.
        program.append((_JUMP_IF_GREATER_OR_EQUAL, deny, 0, _X32_SYSCALL_BIT))
    for index, (nr, needs_own_pid) in enumerate(checks):
        target = pid_check if needs_own_pid else deny
        program.append((_JUMP_IF_EQUAL, target - index - 1, 0, nr))
    program += [
        (_RETURN, 0, 0, _RET_ALLOW),
        (_LOAD_WORD, 0, 0, _OFFSET_ARG0),
        (_JUMP_IF_EQUAL, 0, 1, pid),
        (_RETURN, 0, 0, _RET_ALLOW),
        (_RETURN, 0, 0, _RET_DENY),
    ]
    return program


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(libc: ctypes.CDLL, option: int, arg2: int, arg3: Any = 0) -> None:
    """Call ``prctl(option, arg2, arg3, 0, 0)``; ``arg3`` is an int or a ctypes pointer."""
    zero = ctypes.c_ulong(0)
    if isinstance(arg3, int):
        arg3 = ctypes.c_ulong(arg3)
    if libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), arg3, zero, zero) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl({option}) failed: {os.strerror(code)}")


def _install_seccomp_filter() -> None:
    """Apply _SYSCALL_POLICY for good: no new processes or threads, signals only to this process."""
    program = _seccomp_program(os.getpid())
    code = ctypes.create_string_buffer(b"".join(struct.pack("=HBBI", *op) for op in program))
    fprog = _SockFprog(len(program), ctypes.addressof(code))
    libc = ctypes.CDLL(None, use_errno=True)
    _prctl(libc, _PR_SET_NO_NEW_PRIVS, 1)
    _prctl(libc, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog))


def _die_with_parent(parent_pid: int) -> None:
    """In process mode, get SIGKILL when the host process goes away."""
    libc = ctypes.CDLL(None, use_errno=True)
    _prctl(libc, _PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the host died before the prctl took effect
        os._exit(1)


def main() -> None:
    config = json.loads(sys.argv[1])
    if config.get("parent_pid") is not None:
        _die_with_parent(config["parent_pid"])
    sys.path.append(config["numpy_parent"])
    import numpy

    random.seed(0)
    numpy.random.seed(0)
    _limit_resources(config["memory_bytes"], config["file_bytes"])
    _silence_standard_streams()
    _install_seccomp_filter()
    channel = Channel(config["request_fd"], config["response_fd"])
    interpreter = Interpreter(numpy, config["max_output_chars"])
    channel.send({"ready": True})
    while True:
        try:
            header, payload = channel.receive()
        except EOFError:  # the host closed the pipe: the session is over
            return
        if header["op"] == "run":
            reply = interpreter.run(header["code"], header["timeout_s"])
        else:
            reply = interpreter.set_image(header, payload)
        channel.send(reply)


if __name__ == "__main__":
    main()
