"""A sandboxed, persistent Python interpreter: the engine behind VistaTool's ``python`` tool.

Model-written code runs in a separate worker process that the host can always kill, never in the
host process. Usage::

    import numpy as np
    from vista_envs.tools import PythonSandbox

    with PythonSandbox() as sandbox:                 # mode="auto": bubblewrap if it works
        print(sandbox.isolation)                     # "bwrap" or "process"
        with sandbox.session(image=np.zeros((224, 224, 3), np.uint8)) as session:
            session.run("x = image.mean()")
            result = session.run("print(x + 1)")     # globals persist between calls
            print(result.ok, result.stdout)          # True 1.0

One :class:`PythonSandbox` per process (or per env) owns a warm pool of pre-started workers; each
:meth:`PythonSandbox.session` (one episode) takes a worker from the pool, keeps it while the session
is open, and destroys it at :meth:`PythonSession.close`, so no state reaches another episode; the
pool replaces it in the background.

Isolation (``mode``), detailed with its limits in ``docs/sandbox.md``:

- ``"bwrap"``: bubblewrap with every namespace unshared (no network, own pid tree, own user
  namespace as uid 65534 when user namespaces work), a cleared environment, and a read-only root
  file system that holds only the system libraries, the Python interpreter, its standard library
  and numpy -- no /proc, /sys, /etc (but ld.so.cache), home or working tree -- plus a private
  size-limited tmpfs ``/tmp`` as the scratch and working directory.
- ``"process"``: a plain subprocess with a cleared environment and a private scratch directory.
  It does **not** stop reading host files, writing them, or reaching the network.
- ``"auto"``: ``"bwrap"`` when it works, else ``"process"`` with a :class:`SandboxFallbackWarning`
  (issued once per process). ``PythonSandbox.isolation`` always says which is in force.

In both modes the worker installs a seccomp filter before running any code: it cannot create
processes or threads (so a fork bomb fails at its first fork, even as root, where RLIMIT_NPROC
is not enforced), cannot signal any process but itself, and cannot use ptrace, keyrings, bpf,
perf events, userfaultfd or io_uring. It also runs under rlimits on address space
(``memory_mb``), CPU time (per call), file size, open files and core dumps, and it is stopped
(SIGSTOP) between calls, so nothing of a call runs after the call returns. Each call has a
wall-clock limit: at ``timeout_s`` the code is interrupted (globals kept); if it does not stop
within a grace period, the worker is killed and replaced, and the result says that the state was
lost.

:meth:`PythonSession.run` never raises because of what the code does: errors, timeouts and worker
crashes all come back as an :class:`ExecutionResult`.
"""

from __future__ import annotations

import collections
import json
import os
import select
import shutil
import signal
import site
import struct
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

__all__ = [
    "ExecutionResult",
    "PythonSandbox",
    "PythonSession",
    "SandboxFallbackWarning",
    "SandboxUnavailableError",
    "bwrap_unavailable_reason",
]

SandboxMode = Literal["auto", "bwrap", "process"]

_WORKER_SCRIPT = Path(__file__).with_name("_sandbox_worker.py")
_WORKER_PATH_IN_SANDBOX = "/sandbox/worker.py"
_SANDBOX_UID = 65534  # "nobody", inside the sandbox's user namespace
_FRAME_HEADER = struct.Struct(">I")
_STARTUP_TIMEOUT_S = 60.0  # generous: worker start-up competes for CPU with the caller
_GRACE_S = 1.0  # after timeout_s, how long the worker gets to interrupt the code itself
_SYSTEM_LIBRARY_DIRS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64")
# The worker's whole environment. Nothing is inherited from the host.
_WORKER_ENV = {
    "PYTHONHASHSEED": "0",  # deterministic str hashing, hence set iteration order
    "PYTHONUTF8": "1",
    "LC_ALL": "C.UTF-8",
    # Start numpy's BLAS single-threaded: the seccomp filter forbids threads afterwards.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
_RESTARTED_NOTE = "The interpreter was restarted: variables from earlier calls are lost; `image` is loaded again."

_warned_about_fallback = False
_bwrap_probe_lock = threading.Lock()
_bwrap_probe: dict[str, str | None] = {}  # cache: "reason" -> None when bwrap works


class SandboxUnavailableError(RuntimeError):
    """The requested isolation cannot be set up here (e.g. ``mode="bwrap"`` without bubblewrap)."""


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
    """Why ``mode="bwrap"`` cannot work here, or None when a bwrap worker starts fine.

    The first call starts (and stops) one sandboxed worker; the answer is cached per process.
    """
    with _bwrap_probe_lock:
        if "reason" not in _bwrap_probe:
            _bwrap_probe["reason"] = _probe_bwrap()
        return _bwrap_probe["reason"]


def _probe_bwrap() -> str | None:
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    launcher = _WorkerLauncher("bwrap", memory_mb=512, scratch_mb=16, max_output_chars=100)
    try:
        launcher.spawn().destroy()
    except SandboxUnavailableError as error:
        return str(error)
    return None


class _WorkerDied(Exception):
    """The worker process ended or broke the protocol."""


class _WorkerTimedOut(Exception):
    """The worker did not answer before the deadline."""


def _wait_for(fd: int, event: int, deadline: float) -> None:
    """Wait until ``fd`` is ready for ``event`` (POLLIN/POLLOUT); raises _WorkerTimedOut at the deadline."""
    poller = select.poll()
    poller.register(fd, event)
    remaining_ms = (deadline - time.monotonic()) * 1000
    if remaining_ms <= 0 or not poller.poll(remaining_ms):
        raise _WorkerTimedOut


def _read_to_end(fd: int, deadline: float) -> bytes:
    """Everything readable from ``fd`` until end of file; raises _WorkerTimedOut at the deadline."""
    chunks: list[bytes] = []
    while True:
        _wait_for(fd, select.POLLIN, deadline)
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _sandbox_init_pid(bwrap_info: bytes) -> int:
    """The host pid of the sandbox's pid 1, from the JSON that bwrap writes to ``--info-fd``."""
    try:
        return int(json.loads(bwrap_info)["child-pid"])
    except (ValueError, KeyError, TypeError) as error:
        raise _WorkerDied(f"bwrap reported no sandbox ({error})") from None


def _only_child_pid(parent_pid: int) -> int:
    """The host pid of the one process whose parent is ``parent_pid`` (found in /proc)."""
    children = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat_file:
                    stat = stat_file.read()
            except OSError:
                continue
            # The command name, in parentheses, may hold spaces: the parent pid follows the last ")".
            if int(stat.rsplit(b")", 1)[1].split()[1]) == parent_pid:
                children.append(int(entry.name))
    if len(children) != 1:
        raise _WorkerDied(f"the sandbox holds {len(children)} processes instead of one interpreter")
    return children[0]


def _pidfd(pid: int) -> int:
    """A pidfd of ``pid``: signals sent through it cannot hit an unrelated process that reused the pid."""
    try:
        return os.pidfd_open(pid)
    except OSError as error:
        raise _WorkerDied(f"process {pid} is gone ({error})") from None


class _Worker:
    """One started interpreter process and the host's ends of its two pipes."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        request_fd: int,
        response_fd: int,
        scratch_dir: Path | None,
        signal_offset: int | None,
    ) -> None:
        self.process = process
        self._request_fd = request_fd
        self._response_fd = response_fd
        self._scratch_dir = scratch_dir
        self._signal_offset = signal_offset
        # pidfds of the Python interpreter (frozen between calls) and, in bwrap mode, of the
        # sandbox's pid 1, whose death ends every process of the pid namespace.
        self.interpreter_pidfd: int | None = None
        self.sandbox_init_pidfd: int | None = None
        self._destroyed = False
        os.set_blocking(request_fd, False)  # a worker that stops reading must not block the host

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def request(
        self, header: dict[str, Any], payload: bytes = b"", *, timeout_s: float, max_reply_bytes: int
    ) -> dict[str, Any]:
        """Send one request and wait for its reply; raises _WorkerDied or _WorkerTimedOut.

        The interpreter runs only during a request: it is stopped (SIGSTOP) as soon as the reply
        is in, so code that forges its reply and goes on computing is frozen at once.
        """
        deadline = time.monotonic() + timeout_s
        body = json.dumps({**header, "payload_bytes": len(payload)}).encode("utf-8")
        self._signal_interpreter(signal.SIGCONT)
        try:
            self._write_all(_FRAME_HEADER.pack(len(body)) + body, deadline)
            if payload:
                self._write_all(payload, deadline)
            return self.receive(deadline, max_reply_bytes)
        finally:
            self.pause()

    def pause(self) -> None:
        """Stop the interpreter until the next request."""
        self._signal_interpreter(signal.SIGSTOP)

    def _signal_interpreter(self, signal_number: int) -> None:
        if self.interpreter_pidfd is not None:
            try:
                signal.pidfd_send_signal(self.interpreter_pidfd, signal_number)
            except ProcessLookupError:
                pass

    def receive(self, deadline: float, max_reply_bytes: int) -> dict[str, Any]:
        (size,) = _FRAME_HEADER.unpack(self._read_exact(_FRAME_HEADER.size, deadline))
        if size > max_reply_bytes:
            raise _WorkerDied(f"it sent a {size}-byte reply (at most {max_reply_bytes} expected)")
        try:
            reply = json.loads(self._read_exact(size, deadline))
        except (ValueError, RecursionError) as error:  # sandboxed code can forge a reply: bad JSON, or nesting too deep
            raise _WorkerDied(f"it sent a malformed reply ({error})") from None
        if not isinstance(reply, dict):
            raise _WorkerDied("it sent a malformed reply")
        return reply

    def _write_all(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            _wait_for(self._request_fd, select.POLLOUT, deadline)
            try:
                view = view[os.write(self._request_fd, view) :]
            except BlockingIOError:
                continue
            except OSError as error:  # EPIPE: the worker is gone
                raise _WorkerDied(str(error)) from None

    def _read_exact(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while size:
            _wait_for(self._response_fd, select.POLLIN, deadline)
            chunk = os.read(self._response_fd, min(size, 1 << 20))
            if not chunk:
                raise _WorkerDied(self.exit_description())
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def exit_description(self) -> str:
        """How the process ended, in words (waits briefly for the exit status)."""
        try:
            status = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "it stopped answering"
        # A plain subprocess reports death by signal N as -N; bwrap reports it as 128 + N.
        signal_number = -status if status < 0 else None
        if self._signal_offset is not None and status > self._signal_offset:
            signal_number = status - self._signal_offset
        if signal_number is None:
            return f"it exited with status {status} (os._exit() or a fatal error)"
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = f"signal {signal_number}"
        if signal_number == signal.SIGXCPU:
            return "it used up its CPU-time limit (SIGXCPU)"
        return f"it was killed by {name}"

    def destroy(self) -> None:
        """Kill every process of this worker, wait until they are gone, release pipes and scratch.

        Safe to call more than once. Takes about a millisecond.
        """
        if self._destroyed:
            return
        self._destroyed = True
        self._signal_interpreter(signal.SIGKILL)
        if self.sandbox_init_pidfd is not None:
            try:
                signal.pidfd_send_signal(self.sandbox_init_pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            # The pidfd turns readable once pid 1 has exited, which the kernel lets happen only
            # after every other process of the namespace is dead.
            poller = select.poll()
            poller.register(self.sandbox_init_pidfd, select.POLLIN)
            poller.poll(_STARTUP_TIMEOUT_S * 1000)
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        for fd in (self._request_fd, self._response_fd, self.interpreter_pidfd, self.sandbox_init_pidfd):
            if fd is not None:
                os.close(fd)
        if self._scratch_dir is not None:
            shutil.rmtree(self._scratch_dir, ignore_errors=True)


class _WorkerLauncher:
    """Builds the command line of one isolation mode and starts workers with it."""

    def __init__(self, mode: Literal["bwrap", "process"], *, memory_mb: int, scratch_mb: int, max_output_chars: int) -> None:
        self.mode = mode
        self._memory_bytes = memory_mb << 20
        self._scratch_bytes = scratch_mb << 20
        self._max_output_chars = max_output_chars
        self._python = os.path.realpath(sys.executable)
        self._numpy_dir = Path(np.__file__).resolve().parent
        # bwrap without a user namespace (root in a container that forbids them) cannot change uid.
        self._use_user_namespace = True

    def spawn(self) -> _Worker:
        """Start a worker and wait for its ready message; raises SandboxUnavailableError."""
        if self.mode == "process":
            return self._start()
        try:
            return self._start()
        except SandboxUnavailableError:
            if not self._use_user_namespace or os.geteuid() != 0:
                raise
            self._use_user_namespace = False
            return self._start()

    def _start(self) -> _Worker:
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        # bwrap writes the pid of the sandbox's pid 1 to this pipe as JSON, then closes it.
        info_read, info_write = os.pipe() if self.mode == "bwrap" else (None, None)
        inherited = [fd for fd in (request_read, response_write, info_write) if fd is not None]
        scratch_dir = None
        config = {
            "request_fd": request_read,
            "response_fd": response_write,
            "numpy_parent": str(self._numpy_dir.parent),
            "memory_bytes": self._memory_bytes,
            "file_bytes": self._scratch_bytes,
            "max_output_chars": self._max_output_chars,
            "parent_pid": None,
        }
        if info_write is not None:
            command = self._bwrap_command(json.dumps(config), info_fd=info_write)
            cwd, signal_offset = None, 128
        else:
            scratch_dir = Path(tempfile.mkdtemp(prefix="vista-sandbox-"))
            config["parent_pid"] = os.getpid()
            command = [self._python, "-S", "-s", "-B", str(_WORKER_SCRIPT), json.dumps(config)]
            cwd, signal_offset = scratch_dir, None
        env = dict(_WORKER_ENV, HOME=str(scratch_dir or "/tmp"), TMPDIR=str(scratch_dir or "/tmp"))
        with tempfile.TemporaryFile() as startup_errors:
            try:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=startup_errors,
                    pass_fds=inherited,
                    cwd=cwd,
                    # bwrap's own environment is visible to the sandbox in /proc/1/environ.
                    env=env,
                    start_new_session=True,
                )
            finally:
                for fd in inherited:
                    os.close(fd)
            worker = _Worker(process, request_write, response_read, scratch_dir, signal_offset)
            deadline = time.monotonic() + _STARTUP_TIMEOUT_S
            try:
                init_pid = None
                if info_read is not None:
                    init_pid = _sandbox_init_pid(_read_to_end(info_read, deadline))
                    worker.sandbox_init_pidfd = _pidfd(init_pid)
                reply = worker.receive(deadline, max_reply_bytes=1 << 16)
                if reply.get("ready") is not True:
                    raise _WorkerDied("it sent an unexpected first message")
                # In bwrap mode the interpreter is the only child of the sandbox's pid 1.
                worker.interpreter_pidfd = _pidfd(process.pid if init_pid is None else _only_child_pid(init_pid))
                worker.pause()
            except (_WorkerDied, _WorkerTimedOut) as error:
                worker.destroy()
                startup_errors.seek(0)
                details = startup_errors.read(4000).decode("utf-8", "replace").strip()
                raise SandboxUnavailableError(
                    f"could not start a {self.mode!r} sandbox worker ({error or 'start-up timed out'})"
                    + (f":\n{details}" if details else "")
                ) from None
            finally:
                if info_read is not None:
                    os.close(info_read)
        return worker

    def _bwrap_command(self, config_json: str, *, info_fd: int) -> list[str]:
        command = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
        command += ["--info-fd", str(info_fd)]
        if self._use_user_namespace:
            uid = str(_SANDBOX_UID)
            command += ["--unshare-user", "--disable-userns", "--uid", uid, "--gid", uid]
        for name, value in _WORKER_ENV.items():
            command += ["--setenv", name, value]
        command += ["--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--hostname", "sandbox"]
        # No /proc: where the caller is root, the sandbox's uid maps to host uid 0, and the kernel
        # lets uid 0 open host-wide sysctls (/proc/sys/kernel/core_pattern...) for writing.
        command += ["--dev", "/dev", "--remount-ro", "/dev"]
        # The scratch tmpfs goes first, so that read-only binds of an interpreter or numpy that live
        # under /tmp (a virtual environment there, say) land on top of it instead of being hidden.
        command += ["--perms", "0700", "--size", str(self._scratch_bytes), "--tmpfs", "/tmp"]
        command += self._read_only_file_system()
        command += ["--ro-bind", str(_WORKER_SCRIPT), _WORKER_PATH_IN_SANDBOX, "--chdir", "/tmp"]
        # bwrap builds the new root on a writable tmpfs; without this, code could fill RAM there.
        command += ["--remount-ro", "/"]
        command += [self._python, "-S", "-s", "-B", _WORKER_PATH_IN_SANDBOX, config_json]
        return command

    def _read_only_file_system(self) -> list[str]:
        """bwrap arguments exposing only the system libraries, Python's standard library and numpy."""
        args: list[str] = []
        bound: list[Path] = []

        def bind(path: str | Path) -> None:
            path = Path(path)
            if path.exists() and not any(path.is_relative_to(parent) for parent in bound):
                args.extend(["--ro-bind", str(path), str(path)])
                bound.append(path)

        for directory in _SYSTEM_LIBRARY_DIRS:
            if os.path.islink(directory):  # merged /usr: /lib -> usr/lib
                args.extend(["--symlink", os.readlink(directory), directory])
            else:
                bind(directory)
        bind("/etc/ld.so.cache")
        bind(self._python)
        for name in ("stdlib", "platstdlib"):
            bind(os.path.realpath(sysconfig.get_path(name)))
        shared_library = sysconfig.get_config_var("INSTSONAME")
        if shared_library and sysconfig.get_config_var("Py_ENABLE_SHARED"):
            library_path = Path(sysconfig.get_config_var("LIBDIR"), shared_library)
            if library_path.exists() and not any(library_path.is_relative_to(parent) for parent in bound):
                args.extend(["--ro-bind", str(library_path), str(library_path)])
        # Hide every installed package that the bound trees contain (the stdlib directory holds
        # site-packages), then show numpy alone; its bundled BLAS lives in a "numpy.libs" sibling.
        stdlib = Path(sysconfig.get_path("stdlib"))
        candidates = {*map(Path, site.getsitepackages()), stdlib / "site-packages", stdlib / "dist-packages"}
        hidden = sorted(
            directory
            for directory in candidates
            if directory.is_dir() and any(directory.is_relative_to(parent) for parent in bound)
        )
        for directory in hidden:
            args.extend(["--tmpfs", str(directory)])
        for directory in (self._numpy_dir, self._numpy_dir.with_name("numpy.libs")):
            if directory.is_dir():
                args.extend(["--ro-bind", str(directory), str(directory)])
        for directory in hidden:
            args.extend(["--remount-ro", str(directory)])
        return args


class _WorkerPool:
    """Pre-started idle workers, refilled by one background thread.

    The same thread starts every worker because bwrap's ``--die-with-parent`` (and the process
    mode's parent-death signal) fire when the *thread* that started the process exits.
    """

    def __init__(self, launcher: _WorkerLauncher, size: int) -> None:
        self._launcher = launcher
        self._size = size
        self._idle: collections.deque[_Worker] = collections.deque()
        self._waiting = 0
        self._failure: str | None = None
        self._refill_paused = False
        self._closed = False
        self._condition = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name="python-sandbox-pool", daemon=True)
        self._thread.start()

    def acquire(self) -> _Worker:
        """Take an idle worker, waiting for one to start; raises SandboxUnavailableError."""
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
                return self._idle.popleft()
            finally:
                self._waiting -= 1
                self._condition.notify_all()

    def close(self) -> None:
        """Stop the background thread and destroy the idle workers."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        self._thread.join(timeout=_STARTUP_TIMEOUT_S)
        with self._condition:
            leftovers = list(self._idle)
            self._idle.clear()
        for worker in leftovers:
            worker.destroy()

    def _wanted(self) -> bool:
        return not self._refill_paused and len(self._idle) < self._size + self._waiting

    def _serve(self) -> None:
        while True:
            with self._condition:
                while not (self._closed or self._wanted()):
                    self._condition.wait()
                if self._closed:
                    return
            try:
                worker = self._launcher.spawn()
            except Exception as error:  # noqa: BLE001 - this thread must live on, or acquire() hangs
                with self._condition:
                    self._failure = str(error) if isinstance(error, SandboxUnavailableError) else repr(error)
                    self._refill_paused = True  # retry only when someone asks for a worker again
                    self._condition.notify_all()
                continue
            with self._condition:
                if not self._closed:
                    self._idle.append(worker)
                    self._condition.notify_all()
                    continue
            worker.destroy()


class PythonSandbox:
    """A warm pool of sandboxed Python workers; hands out one :class:`PythonSession` per episode.

    Args:
        mode: ``"bwrap"`` (raise :class:`SandboxUnavailableError` if bubblewrap cannot start a
            worker), ``"process"`` (no file-system or network isolation), or ``"auto"`` (bwrap
            when it works, otherwise process mode with a one-time :class:`SandboxFallbackWarning`).
        timeout_s: Wall-clock limit of one ``run`` call.
        memory_mb: Address-space limit of a worker (Python and numpy take about 100 MB of it).
        scratch_mb: Size of the private scratch directory (bwrap) and limit on any file written.
        max_output_chars: stdout, stderr and error text are each cut to this many characters.
        max_code_chars: Longer code is refused with an error result, without running.
        pool_size: Idle workers kept started, so that a new session (or a restart) is instant.

    Attributes:
        isolation: ``"bwrap"`` or ``"process"``: the isolation actually in force.
    """

    def __init__(
        self,
        mode: SandboxMode = "auto",
        *,
        timeout_s: float = 5.0,
        memory_mb: int = 512,
        scratch_mb: int = 64,
        max_output_chars: int = 8_000,
        max_code_chars: int = 100_000,
        pool_size: int = 2,
    ) -> None:
        if mode not in ("auto", "bwrap", "process"):
            raise ValueError(f"mode must be 'auto', 'bwrap' or 'process', got {mode!r}")
        if timeout_s <= 0 or memory_mb <= 0 or scratch_mb <= 0 or max_output_chars <= 0 or max_code_chars <= 0:
            raise ValueError("timeout_s, memory_mb, scratch_mb, max_output_chars and max_code_chars must be positive")
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.timeout_s = float(timeout_s)
        self.memory_mb = memory_mb
        self.max_output_chars = max_output_chars
        self.max_code_chars = max_code_chars
        self.isolation: Literal["bwrap", "process"] = _resolve_mode(mode)
        launcher = _WorkerLauncher(
            self.isolation, memory_mb=memory_mb, scratch_mb=scratch_mb, max_output_chars=max_output_chars
        )
        self._pool = _WorkerPool(launcher, pool_size)
        self._sessions: weakref.WeakSet[PythonSession] = weakref.WeakSet()
        self._closed = False
        self._finalizer = weakref.finalize(self, self._pool.close)

    def session(self, image: np.ndarray | None = None) -> PythonSession:
        """Start a fresh interpreter (one episode) with ``image`` preloaded as the variable ``image``.

        The interpreter also has ``np`` (numpy) imported, and ``random``/``np.random`` seeded with 0.
        Raises :class:`SandboxUnavailableError` if no worker can be started.
        """
        if self._closed:
            raise RuntimeError("the sandbox is closed")
        session = PythonSession(self, image)
        self._sessions.add(session)
        return session

    def close(self) -> None:
        """Close every open session, kill every worker and stop the pool thread."""
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

    def _acquire_worker(self) -> _Worker:
        """A started worker for a session, which destroys it when done (the pool starts another)."""
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
        self._worker: _Worker | None = None
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
            try:
                reply = self._worker.request(
                    {"op": "run", "code": code, "timeout_s": timeout_s},
                    timeout_s=timeout_s + _GRACE_S,
                    # Three texts of at most `limit` chars, JSON-escaped (<= 6 bytes a char).
                    max_reply_bytes=18 * limit + (1 << 16),
                )
            except _WorkerTimedOut:
                message = f"Timed out: the code ran longer than the {timeout_s:g} s time limit and did not stop."
                return self._restart_after_failure(message, started, timed_out=True)
            except _WorkerDied as death:
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
            try:
                if self._worker is None:
                    raise _WorkerDied("no worker")
                self._send_image()
            except (_WorkerDied, _WorkerTimedOut):
                # A fresh worker gets the new image; if none starts, the next run() reports it.
                self._state_lost = self._replace_worker() is None

    def close(self) -> None:
        """Destroy this session's interpreter; its globals and scratch files are gone for good."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._worker is not None:
                self._worker.destroy()
                self._worker = None

    def __enter__(self) -> PythonSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Python session is closed")

    def _start_worker(self) -> None:
        """Take a pooled worker and load the image into it; raises SandboxUnavailableError."""
        for _attempt in range(2):  # a worker that dies while loading the image is replaced once
            self._worker = self._sandbox._acquire_worker()
            try:
                self._send_image()
                return
            except (_WorkerDied, _WorkerTimedOut):
                self._worker.destroy()
                self._worker = None
        raise SandboxUnavailableError("sandbox workers keep dying while the image is loaded")

    def _send_image(self) -> None:
        assert self._worker is not None
        image = self._image
        if image is None:
            header: dict[str, Any] = {"op": "set_image", "shape": None}
            payload = b""
        else:
            header = {"op": "set_image", "shape": list(image.shape), "dtype": image.dtype.str}
            payload = image.tobytes()
        self._worker.request(header, payload, timeout_s=_STARTUP_TIMEOUT_S, max_reply_bytes=1 << 16)

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
