"""Starts the zygote -- inside bubblewrap or as a plain subprocess -- and asks it for interpreters.

bwrap mode, where the host runs as root: bubblewrap runs *without* a user namespace, so that the
sandbox's uid is the real host uid; the zygote keeps CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID and
CAP_SETPCAP (it never runs model code), and each interpreter, right after the fork, enters its own
mount, network and IPC namespaces, mounts its own scratch tmpfs, and becomes host uid 65534 with
no capability at all. Where the host is not root, bubblewrap runs in a user namespace mapped to
the caller's own (unprivileged) uid instead, and the interpreter drops the capabilities it has
there. A sandbox that would run model code as host root is never started.
"""

from __future__ import annotations

import json
import os
import select
import signal
import site
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Literal

import numpy as np

from vista_envs.tools.sandbox.worker import Worker, WorkerDied, WorkerTimedOut, wait_for

INSIDE_DIR = Path(__file__).with_name("inside")
_LIB_IN_SANDBOX = "/sandbox/lib"
_TMP_BIND_MIRROR = "/sandbox/tmp-binds"
SANDBOX_UID = 65534  # "nobody": the host uid of model code when the host is root
STARTUP_TIMEOUT_S = 60.0  # generous: start-up competes for CPU with the caller
_SYSTEM_LIBRARY_DIRS = ("/usr/lib", "/usr/lib64", "/lib", "/lib64")
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")
# The modules model code imports most, imported once in the zygote so every episode has them.
_PRELOAD = (
    "collections", "itertools", "functools", "re", "statistics", "fractions", "decimal", "datetime",
    "string", "heapq", "bisect", "copy", "operator", "dataclasses", "typing", "warnings", "textwrap",
    "numpy.linalg", "numpy.fft", "numpy.random",
)  # fmt: skip
# The whole environment of the zygote and its interpreters. Nothing is inherited from the host.
WORKER_ENV = {
    "PYTHONHASHSEED": "0",  # deterministic str hashing, hence set iteration order
    "PYTHONUTF8": "1",
    "LC_ALL": "C.UTF-8",
    # numpy's BLAS must start single-threaded: the seccomp filter forbids threads.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


class SandboxUnavailableError(RuntimeError):
    """The requested isolation cannot be set up here (e.g. ``mode="bwrap"`` without bubblewrap)."""


class ZygoteLauncher:
    """One zygote of one isolation mode; :meth:`spawn` forks a confined interpreter from it.

    Start it (and spawn from it) in one long-lived thread: bwrap's ``--die-with-parent`` and the
    process mode's parent-death signal fire when the *thread* that started the zygote exits.
    """

    def __init__(
        self,
        mode: Literal["bwrap", "process"],
        *,
        memory_mb: int,
        scratch_mb: int,
        scratch_files: int,
        max_output_chars: int,
    ) -> None:
        self.mode = mode
        self._memory_bytes = memory_mb << 20
        self._scratch_bytes = scratch_mb << 20
        self._scratch_files = scratch_files
        self._max_output_chars = max_output_chars
        self._python = os.path.realpath(sys.executable)
        self._numpy_dir = Path(np.__file__).resolve().parent
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._init_pidfd: int | None = None
        self._lock = threading.Lock()  # one request/answer on the control socket at a time
        # Requests whose answer did not come in time: the zygote still sends it, in order, so the next
        # replies read are theirs and are dropped (else every later request would read its predecessor's).
        self._unanswered = 0
        self._as_nobody = False  # bwrap started as uid 65534 (see start())
        # Process mode sees the host's files: a root host's interpreter can become uid 65534 only
        # where that uid can read Python, numpy and this package (a pyenv under a 0700 /root
        # cannot); otherwise it keeps the host's uid (0 then, without capabilities).
        self.process_uid: int | None = None
        if mode == "process":
            self.process_uid = SANDBOX_UID if os.geteuid() == 0 and self._nobody_can_read() else os.geteuid()

    # --- the zygote -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the zygote and wait until it is ready; raises SandboxUnavailableError.

        A root host first runs bwrap without a user namespace; where it cannot (root without
        CAP_SYS_ADMIN, as in many containers), bwrap is started as uid 65534 in a user namespace
        mapped to that uid, provided that uid can read Python, numpy and this package.
        """
        if self._process is not None:
            return
        try:
            self._start(as_nobody=self._as_nobody)
        except SandboxUnavailableError as error:
            if self._as_nobody or self.mode != "bwrap" or os.geteuid() != 0 or not self._nobody_can_read():
                raise
            try:
                self._start(as_nobody=True)
            except SandboxUnavailableError as second:
                raise SandboxUnavailableError(f"{error}\nStarted as uid {SANDBOX_UID} instead: {second}") from None
            self._as_nobody = True

    def _nobody_can_read(self) -> bool:
        return all(_world_readable(path) for path in (*self._bound_paths(), INSIDE_DIR))

    def _start(self, *, as_nobody: bool) -> None:
        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        info_read, info_write = os.pipe() if self.mode == "bwrap" else (None, None)
        inherited = [fd for fd in (zygote_end.fileno(), info_write) if fd is not None]
        tmp_binds = self._tmp_binds()
        config = {
            "mode": self.mode,
            "control_fd": zygote_end.fileno(),
            "numpy_parent": str(self._numpy_dir.parent),
            "memory_bytes": self._memory_bytes,
            "scratch_bytes": self._scratch_bytes,
            "scratch_inodes": self._scratch_files,
            "max_output_chars": self._max_output_chars,
            "uid": SANDBOX_UID,
            "setuid": SANDBOX_UID if os.geteuid() == 0 and not as_nobody else None,
            "tmp_binds": [str(path) for path in tmp_binds],
            "tmp_bind_mirror": _TMP_BIND_MIRROR,
            "preload": list(_PRELOAD),
            "host_pid": os.getpid(),
            "scratch_parent": tempfile.gettempdir(),
        }
        if self.mode == "bwrap":
            assert info_write is not None
            command = self._bwrap_command(
                json.dumps(config),
                info_fd=info_write,
                tmp_binds=tmp_binds,
                user_namespace=as_nobody or os.geteuid() != 0,
            )
        else:
            config["setuid"] = SANDBOX_UID if self.process_uid == SANDBOX_UID and os.geteuid() == 0 else None
            command = [self._python, "-S", "-s", "-B", str(INSIDE_DIR / "zygote.py"), json.dumps(config)]
        with tempfile.TemporaryFile() as startup_errors:
            try:
                self._process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=startup_errors,
                    pass_fds=inherited,
                    cwd="/",
                    env=dict(WORKER_ENV),  # bwrap's own environment would show in its /proc/1/environ
                    start_new_session=True,
                    **({"user": SANDBOX_UID, "group": SANDBOX_UID, "extra_groups": []} if as_nobody else {}),
                )
            finally:
                zygote_end.close()
                if info_write is not None:
                    os.close(info_write)
            self._control = host_end
            self._unanswered = 0
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            try:
                if info_read is not None:
                    self._init_pidfd = _sandbox_init_pidfd(_read_to_end(info_read, deadline))
                reply = self._ask(None, deadline)
                if reply.get("ready") is not True:
                    raise WorkerDied("it sent an unexpected first message")
            except (WorkerDied, WorkerTimedOut, OSError) as error:
                self.close()
                startup_errors.seek(0)
                details = startup_errors.read(4000).decode("utf-8", "replace").strip()
                raise SandboxUnavailableError(
                    f"could not start a {self.mode!r} sandbox ({error or 'start-up timed out'})"
                    + (f":\n{details}" if details else "")
                ) from None
            finally:
                if info_read is not None:
                    os.close(info_read)

    def close(self) -> None:
        """Kill the zygote and every interpreter it made; return once all are gone."""
        if self._control is not None:
            self._control.close()  # the zygote kills its children and exits on end of file
            self._control = None
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        if self._init_pidfd is not None:
            try:
                signal.pidfd_send_signal(self._init_pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            # pid 1's pidfd turns readable once it has exited, which the kernel lets happen only
            # after every other process of the pid namespace is dead.
            poller = select.poll()
            poller.register(self._init_pidfd, select.POLLIN)
            poller.poll(STARTUP_TIMEOUT_S * 1000)
            os.close(self._init_pidfd)
            self._init_pidfd = None
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    # --- interpreters ---------------------------------------------------------------------

    def spawn(self) -> Worker:
        """Fork a confined interpreter from the zygote and wait for its ready message.

        A zygote that has died (the OOM killer, say) is replaced once; interpreters forked from
        it die with it, and their sessions restart them on their next call.
        """
        try:
            return self._spawn()
        except WorkerDied:
            if self._process is None or self._process.poll() is None:
                raise
        self.close()
        return self._spawn()

    def _spawn(self) -> Worker:
        self.start()
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            with self._lock:
                if self._control is None:
                    raise WorkerDied("the sandbox is closed")
                socket.send_fds(self._control, [json.dumps({"op": "spawn"}).encode()], [request_read, response_write])
                reply, fds = self._receive(deadline)
        except (OSError, WorkerTimedOut) as error:
            for fd in (request_write, response_read):
                os.close(fd)
            raise WorkerDied(f"the zygote did not answer ({error})") from None
        finally:
            os.close(request_read)
            os.close(response_write)
        if len(fds) != 1 or "pid" not in reply:
            for fd in (*fds, request_write, response_read):
                os.close(fd)
            raise WorkerDied(reply.get("error", "the zygote sent no interpreter"))
        pid = int(reply["pid"])
        worker = Worker(request_write, response_read, fds[0], lambda: self.exit_status(pid))
        try:
            ready = worker.receive(b"\0" * 16, deadline, max_reply_bytes=1 << 16)
            if "setup_error" in ready:
                raise WorkerDied(f"the interpreter could not confine itself ({ready['setup_error']})")
            if ready.get("ready") is not True:
                raise WorkerDied("it sent an unexpected first message")
            worker.pause()
        except (WorkerDied, WorkerTimedOut):
            worker.destroy()
            raise
        return worker

    def exit_status(self, pid: int) -> int | None:
        """The wait status of the zygote's ended child ``pid``, or None if unknown."""
        try:
            with self._lock:
                if self._control is None:
                    return None
                self._control.send(json.dumps({"op": "exit_status", "pid": pid}).encode())
                reply, fds = self._receive(time.monotonic() + 5.0)
        except (OSError, WorkerTimedOut, WorkerDied):
            return None
        for fd in fds:
            os.close(fd)
        status = reply.get("status")
        return status if isinstance(status, int) else None

    def _receive(self, deadline: float) -> tuple[dict, list[int]]:
        """The zygote's reply to the request just sent (under ``self._lock``), after the late replies of earlier
        requests that timed out; raises WorkerTimedOut at ``deadline`` (that reply is then dropped when it comes)."""
        assert self._control is not None
        while True:
            try:
                wait_for(self._control.fileno(), select.POLLIN, deadline)
            except WorkerTimedOut:
                self._unanswered += 1
                raise
            message, fds, _flags, _address = socket.recv_fds(self._control, 1 << 16, 2)
            if not message:
                raise WorkerDied("the zygote exited")
            if not self._unanswered:
                return json.loads(message), fds
            self._unanswered -= 1
            for fd in fds:  # a late spawn's pidfd: its interpreter exits when it finds its pipes closed
                os.close(fd)

    def _ask(self, request: dict | None, deadline: float) -> dict:
        with self._lock:
            if request is not None:
                assert self._control is not None
                self._control.send(json.dumps(request).encode())
            reply, fds = self._receive(deadline)
        for fd in fds:
            os.close(fd)
        return reply

    # --- the bwrap command line -----------------------------------------------------------

    def _bwrap_command(
        self, config_json: str, *, info_fd: int, tmp_binds: list[Path], user_namespace: bool
    ) -> list[str]:
        command = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        command += ["--die-with-parent", "--new-session", "--clearenv", "--info-fd", str(info_fd)]
        if not user_namespace:
            # No user namespace: uids are host uids, so the interpreter can become host "nobody".
            # The capabilities are the zygote's, for the per-episode namespaces and the uid change.
            caps = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_DAC_OVERRIDE")
            command += ["--cap-drop", "ALL"] + [arg for cap in caps for arg in ("--cap-add", cap)]
        else:
            uid = str(SANDBOX_UID)
            command += [
                "--unshare-user",
                "--uid",
                uid,
                "--gid",
                uid,
                "--cap-add",
                "CAP_SYS_ADMIN",
                "--cap-add",
                "CAP_SETPCAP",
            ]
        for name, value in WORKER_ENV.items():
            command += ["--setenv", name, value]
        command += ["--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--hostname", "sandbox"]
        # No /proc (uid-checked host-wide sysctls), no /sys. A hand-made /dev: no ptmx (ptys are a
        # host-wide budget), no /dev/shm or mqueue.
        command += ["--tmpfs", "/dev"]
        for device in _DEVICES:
            command += ["--dev-bind", device, device]
        command += ["--remount-ro", "/dev"]
        # The zygote's own /tmp; each interpreter mounts a fresh one over it. It goes first, so that
        # read-only binds of an interpreter or numpy living under /tmp land on top of it.
        command += ["--perms", "0700", "--size", str(1 << 20), "--tmpfs", "/tmp"]
        command += self._read_only_file_system()
        for path in tmp_binds:
            command += ["--ro-bind", str(path), _TMP_BIND_MIRROR + str(path)]
        command += ["--ro-bind", str(INSIDE_DIR), _LIB_IN_SANDBOX, "--chdir", "/"]
        # bwrap builds the new root on a writable tmpfs; without this, code could fill RAM there.
        command += ["--remount-ro", "/"]
        command += [self._python, "-S", "-s", "-B", f"{_LIB_IN_SANDBOX}/zygote.py", config_json]
        return command

    def _bound_paths(self) -> list[Path]:
        paths = [Path(self._python), self._numpy_dir, self._numpy_dir.with_name("numpy.libs")]
        paths += [Path(os.path.realpath(sysconfig.get_path(name))) for name in ("stdlib", "platstdlib")]
        paths += [path for path in [_shared_library()] if path is not None]
        return [path for path in paths if os.path.exists(path)]  # False, not an error, where unreadable

    def _tmp_binds(self) -> list[Path]:
        """Bound trees under /tmp, which each interpreter's fresh /tmp would otherwise hide."""
        if self.mode != "bwrap":
            return []
        return [path for path in self._bound_paths() if path.is_relative_to("/tmp")]

    def _read_only_file_system(self) -> list[str]:
        """bwrap arguments exposing only the system libraries, Python's standard library and numpy."""
        args: list[str] = []
        bound: list[Path] = []
        # bwrap gives the directories it creates on the way to a bind target the mode of the host's:
        # a 0700 /root (a pyenv install) would lock the unprivileged interpreter out of its own stdlib.
        ancestors = {parent for path in self._bound_paths() for parent in path.parents if parent != Path("/")}
        for directory in sorted(ancestors, key=lambda p: len(p.parts)):
            if not any(directory.is_relative_to(system) for system in _SYSTEM_LIBRARY_DIRS):
                args.extend(["--perms", "0755", "--dir", str(directory)])

        def bind(path: str | Path) -> None:
            path = Path(path)
            if os.path.exists(path) and not any(path.is_relative_to(parent) for parent in bound):
                args.extend(["--ro-bind", str(path), str(path)])
                bound.append(path)

        for directory in _SYSTEM_LIBRARY_DIRS:
            if os.path.islink(directory):  # merged /usr: /lib -> usr/lib
                args.extend(["--symlink", os.readlink(directory), directory])
            else:
                bind(directory)
        bind("/etc/ld.so.cache")
        bind(self._python)
        stdlib = Path(os.path.realpath(sysconfig.get_path("stdlib")))
        for name in ("stdlib", "platstdlib"):
            bind(os.path.realpath(sysconfig.get_path(name)))
        library_path = _shared_library()
        if library_path is not None and not any(library_path.is_relative_to(parent) for parent in bound):
            args.extend(["--ro-bind", str(library_path), str(library_path)])
        # Hide every installed package that the bound trees contain -- the interpreter's own
        # site-packages and, in the system library directories, other Pythons' trees such as
        # /usr/lib/python3/dist-packages (importable after a sys.path.append otherwise) -- then
        # show numpy alone; its bundled BLAS lives in a "numpy.libs" sibling.
        candidates = {*map(Path, site.getsitepackages()), stdlib / "site-packages", stdlib / "dist-packages"}
        for directory in _SYSTEM_LIBRARY_DIRS:
            if Path(directory).is_dir() and not os.path.islink(directory):
                for entry in Path(directory).glob("python*"):
                    if os.path.isdir(entry) and not stdlib.is_relative_to(entry):
                        candidates.add(entry)
        hidden = sorted(
            directory
            for directory in candidates
            if os.path.isdir(directory) and any(directory.is_relative_to(parent) for parent in bound)
        )
        for directory in hidden:
            args.extend(["--tmpfs", str(directory)])
        for directory in (self._numpy_dir, self._numpy_dir.with_name("numpy.libs")):
            if os.path.isdir(directory):
                args.extend(["--ro-bind", str(directory), str(directory)])
        for directory in hidden:
            args.extend(["--remount-ro", str(directory)])
        return args


def _shared_library() -> Path | None:
    """libpython, where the interpreter links it dynamically (a pyenv or a distribution build)."""
    name = sysconfig.get_config_var("INSTSONAME")
    if name and sysconfig.get_config_var("Py_ENABLE_SHARED"):
        path = Path(sysconfig.get_config_var("LIBDIR"), name)
        if os.path.exists(path):
            return path
    return None


def _world_readable(path: Path) -> bool:
    """Whether any uid can reach ``path`` (every ancestor searchable by others) and read it."""
    try:
        for ancestor in reversed(path.parents):
            if not os.stat(ancestor).st_mode & 0o001:
                return False
        return bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False


def _read_to_end(fd: int, deadline: float) -> bytes:
    """Everything readable from ``fd`` until end of file; raises WorkerTimedOut at the deadline."""
    chunks: list[bytes] = []
    while True:
        wait_for(fd, select.POLLIN, deadline)
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _sandbox_init_pidfd(bwrap_info: bytes) -> int:
    """A pidfd of the sandbox's pid 1, from the JSON that bwrap writes to ``--info-fd``."""
    try:
        return os.pidfd_open(int(json.loads(bwrap_info)["child-pid"]))
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise WorkerDied(f"bwrap reported no sandbox ({error})") from None
