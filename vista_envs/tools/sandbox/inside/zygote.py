"""The zygote: a warm interpreter (stdlib and numpy imported) that forks one interpreter per episode.

Started by the host as ``python -S -s -B zygote.py CONFIG_JSON`` (inside bubblewrap, or as a plain
subprocess in ``process`` mode). It never runs model code. It reads spawn requests on a unix
socket from the host, each carrying the two pipe ends of a new episode's interpreter; it forks,
and answers with a pidfd of the child, through which the host stops, resumes and kills it. The
child confines itself (namespaces and scratch, identity, rlimits, seccomp: :mod:`confine`) before
it reads its first request, so per-episode limits apply to every episode, and no interpreter is
ever reused. The host closing the socket ends the zygote and, with it, every interpreter.
"""

from __future__ import annotations

import gc
import json
import os
import random
import resource
import shutil
import signal
import socket
import sys
import traceback
from typing import Any

import confine
import framing
import interpreter
import seccomp

_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4
# Bound now: model code may replace os._exit in its interpreter, which must still never return
# into the zygote's loop.
_exit = os._exit
_SCRATCH_PREFIX = "vista-sandbox-"


def _describe(error: BaseException) -> str:
    """The error and where it happened (the innermost frame), for the host's message."""
    frame = traceback.extract_tb(error.__traceback__)[-1:]
    where = f" (in {frame[0].name}, line {frame[0].lineno})" if frame else ""
    return f"{type(error).__name__}: {error}{where}"


def sweep_stale_scratch(parent: str) -> None:
    """Remove scratch folders left by zygotes that were killed (their pid is in the name)."""
    try:
        entries = os.listdir(parent)
    except OSError:
        return
    for name in entries:
        if name.startswith(_SCRATCH_PREFIX):
            pid = name[len(_SCRATCH_PREFIX) :].split("-", 1)[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


class Zygote:
    def __init__(self, config: dict[str, Any], numpy_module: Any) -> None:
        self.config = config
        self.numpy = numpy_module
        self.children: set[int] = set()
        self.seccomp_template = seccomp.compile_template()
        self.exit_statuses: dict[int, int] = {}  # of reaped children, until the host asks
        self.scratch_root: str | None = None
        if config["mode"] == "process":
            parent = config["scratch_parent"]
            sweep_stale_scratch(parent)
            self.scratch_root = os.path.join(parent, f"{_SCRATCH_PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
            # Searchable by others, not listable: an interpreter that runs as another uid reaches
            # its own folder (created for it below) and no other.
            os.mkdir(self.scratch_root, 0o711)

    def reap(self, *_: object) -> None:
        """Collect exited children and, in process mode, delete their scratch folders."""
        while self.children:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.exit_statuses[pid] = _status
            if len(self.exit_statuses) > 1024:  # the host asks only about deaths it did not cause
                self.exit_statuses.pop(next(iter(self.exit_statuses)))
            if self.scratch_root is not None:
                shutil.rmtree(os.path.join(self.scratch_root, str(pid)), ignore_errors=True)

    def shut_down(self, *_: object) -> None:
        """Kill every child, then remove the scratch root (the host is gone or closing)."""
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in list(self.children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        if self.scratch_root is not None:
            shutil.rmtree(self.scratch_root, ignore_errors=True)
        os._exit(0)

    def serve(self, control: socket.socket) -> None:
        signal.signal(signal.SIGCHLD, self.reap)
        signal.signal(signal.SIGTERM, self.shut_down)
        try:
            self._serve(control)
        except ConnectionError:
            # The host died while we answered it (EPIPE, ECONNRESET): shut down as on end of file. Left to propagate,
            # the error ended this process without removing the scratch root, or killing an interpreter just made.
            self.shut_down()

    def _serve(self, control: socket.socket) -> None:
        while True:
            message, fds, _flags, _address = socket.recv_fds(control, 1 << 16, 2)
            if not message:
                self.shut_down()
            request = json.loads(message)
            if request.get("op") == "exit_status":
                self.reap()
                status = self.exit_statuses.pop(request["pid"], None)
                control.send(json.dumps({"status": status}).encode())
                continue
            if len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                control.send(json.dumps({"error": "a spawn request needs two pipes"}).encode())
                continue
            self.spawn(control, *fds)

    def spawn(self, control: socket.socket, request_fd: int, reply_fd: int) -> None:
        parent = os.getpid()
        scratch = None if self.scratch_root is None else self.scratch_root  # child appends its pid
        # Neither handler may run between the fork and the child's registration: reap would miss it, and shut_down
        # (SIGTERM: the host died) would leave it alive to make its scratch folder in the root shut_down removes,
        # which then stays behind (seen under load when the host was killed as it asked for an interpreter).
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGTERM})
        try:
            pid = os.fork()
            if pid == 0:
                self.child(control, request_fd, reply_fd, parent, scratch)  # never returns
            self.children.add(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD, signal.SIGTERM})
        os.close(request_fd)
        os.close(reply_fd)
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as error:
            control.send(json.dumps({"error": f"the new interpreter is gone ({error})"}).encode())
            return
        try:
            socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [pidfd])
        finally:
            os.close(pidfd)

    def child(self, control: socket.socket, request_fd: int, reply_fd: int, parent: int, scratch: str | None) -> None:
        try:
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGCHLD, signal.SIGTERM})  # blocked by spawn
            control.close()
            config = self.config
            if config["mode"] == "bwrap":
                confine.private_namespaces_and_scratch(config)
                workdir = "/tmp"
            else:
                workdir = os.path.join(scratch, str(os.getpid()))
                os.mkdir(workdir, 0o700)
                if config["setuid"] is not None:
                    os.chown(workdir, config["setuid"], config["setuid"])
            os.environ["HOME"] = os.environ["TMPDIR"] = workdir
            confine.drop_privileges(config)
            os.chdir(workdir)  # as the new uid: the scratch is its own, mode 0700
            confine.die_with(parent)
            confine.arrange_file_descriptors(request_fd, reply_fd)  # before RLIMIT_NOFILE: it uses high fds
            confine.limit_resources(config)
            random.seed(0)
            seccomp.install(self.seccomp_template)
            channel = interpreter.Channel(confine.REQUEST_FD, confine.REPLY_FD)
            python = interpreter.Interpreter(self.numpy, config["max_output_chars"])
            channel.send(b"\0" * 16, {"ready": True})
            interpreter.serve(channel, python)
        except BaseException as error:  # noqa: BLE001 - never fall back into the zygote's loop
            # Say why on the reply pipe (wherever it is now), so that the host can report it.
            message = framing.encode(b"\0" * 16, {"setup_error": _describe(error)})
            for fd in (confine.REPLY_FD, reply_fd):
                try:
                    os.write(fd, message)
                    break
                except OSError:
                    continue
            _exit(70)
        _exit(0)


def warm_up(numpy_module: Any, max_output_chars: int) -> None:
    """Run typical first calls once here, so that no episode pays for numpy's and the compiler's
    first-use caches (and fewer of its pages are copied on write)."""
    python = interpreter.Interpreter(numpy_module, max_output_chars)
    python.set_image({"shape": [224, 224, 3], "dtype": "|u1"}, bytearray(224 * 224 * 3))
    for code in (
        "x = (image.astype(np.float32) / 255).mean(axis=(0, 1)).round(3)\nprint(x)",
        "print(image.shape, image.dtype, int(image.sum()), image[..., 0].max(), np.unique(image[:4, :4]))",
        "1 / 0",
    ):
        python.run(code, timeout_s=10.0)
    # A call caps RLIMIT_CPU just above the CPU used so far: lift that again, or the long-lived
    # zygote would die of SIGXCPU.
    resource.setrlimit(resource.RLIMIT_CPU, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def main() -> None:
    config = json.loads(sys.argv[1])
    if config["mode"] == "process":
        # Die (cleanly, removing scratch) with the host; nothing may read this process's memory.
        seccomp.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != config["host_pid"]:
            os._exit(1)
    seccomp.prctl(_PR_SET_DUMPABLE, 0)
    sys.path.append(config["numpy_parent"])
    import numpy

    # Warm the modules that model code imports most, so a fresh episode finds them loaded.
    for name in config.get("preload", ()):
        try:
            __import__(name)
        except ImportError:
            pass
    warm_up(numpy, config["max_output_chars"])
    # Every episode starts from the same seeded numpy generator (seeded here once, inherited by each
    # fork); `random` reseeds itself in every forked child, so the child seeds it again.
    numpy.random.seed(0)
    # Objects that exist now are never collected in the children: their garbage collector then
    # does not walk (and so copy-on-write) the zygote's whole heap.
    gc.collect()
    gc.freeze()
    control = socket.socket(fileno=config["control_fd"])
    zygote = Zygote(config, numpy)
    control.send(json.dumps({"ready": True}).encode())
    zygote.serve(control)


if __name__ == "__main__":
    main()
