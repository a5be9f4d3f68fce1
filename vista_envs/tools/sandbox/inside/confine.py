"""Per-episode confinement, applied by a freshly forked interpreter before it runs any model code.

Order matters: namespaces and the scratch mount need the zygote's capabilities, so they come
first; then the identity changes (which drops every capability); then rlimits, file descriptors
and, last, the seccomp filter.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
from typing import Any

CLONE_NEWNS, CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS = 0x00020000, 0x40000000, 0x08000000, 0x04000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_CAP_AMBIENT = 1, 4, 24, 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_LAST_CAP = 63
REQUEST_FD, REPLY_FD = 3, 4  # where the interpreter finds its two pipes

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def private_namespaces_and_scratch(config: dict[str, Any]) -> None:
    """An own mount namespace with a fresh tmpfs at /tmp, capped in bytes and inodes.

    No file of one episode is seen by another, and all of them die with this process. Needs
    CAP_SYS_ADMIN (the zygote's). No own network or IPC namespace: the seccomp filter allows no
    socket and no IPC object at all, and creating and tearing down a network namespace per
    episode costs milliseconds of kernel time (RCU waits under the global rtnl lock).
    """
    _check(_libc.unshare(CLONE_NEWNS), "unshare")
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make mounts private")
    options = (
        f"size={config['scratch_bytes']},nr_inodes={config['scratch_inodes']},mode=0700,"
        f"uid={config['uid']},gid={config['uid']}"
    )
    _check(_libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, options.encode()), "mount scratch tmpfs")
    # Read-only trees that live under /tmp (an interpreter in a virtual environment there) are
    # bound again on top of the fresh tmpfs from their mirror outside /tmp.
    for path in config["tmp_binds"]:
        source = (config["tmp_bind_mirror"] + path).encode()
        if os.path.isdir(source):
            os.makedirs(path, exist_ok=True)
        else:  # a file (the interpreter's binary) needs a file to be mounted on
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o755))
        _check(_libc.mount(source, path.encode(), None, MS_BIND | MS_REC, None), f"bind {path}")
        _check(_libc.mount(None, path.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None), f"remount {path}")


def drop_privileges(config: dict[str, Any]) -> None:
    """Become the unprivileged host uid (if configured) and give up every capability for good."""
    for cap in range(_LAST_CAP + 1):  # needs CAP_SETPCAP; without it there is nothing to drop
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    _libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    uid = config.get("setuid")
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)  # from uid 0 to another uid: the kernel clears all capabilities
    # capset(v3 header, zeroed data): no effective, permitted or inheritable capability remains.
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")
    # Not dumpable: its /proc files (where visible) belong to root and no ptrace access is granted.
    _check(_libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")


def die_with(parent_pid: int) -> None:
    """SIGKILL when the zygote goes away (set after the uid change, which clears it)."""
    _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    if os.getppid() != parent_pid:
        os._exit(1)


def limit_resources(config: dict[str, Any]) -> None:
    memory = config["memory_bytes"]
    limits = {
        resource.RLIMIT_AS: memory,
        resource.RLIMIT_FSIZE: config["scratch_bytes"],
        resource.RLIMIT_CORE: 0,
        resource.RLIMIT_NOFILE: 64,
        # Seccomp already forbids new processes; RLIMIT_NPROC binds too now that the uid is not root.
        resource.RLIMIT_NPROC: 0,
        # Per-user kernel budgets: kept tiny, and charged to the unprivileged uid, never to host root.
        resource.RLIMIT_SIGPENDING: 64,
        resource.RLIMIT_MSGQUEUE: 0,
        resource.RLIMIT_MEMLOCK: 0,
    }
    for which, value in limits.items():
        resource.setrlimit(which, (value, value))
    # Writing past RLIMIT_FSIZE then fails with an OSError instead of killing the interpreter.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def arrange_file_descriptors(request_fd: int, reply_fd: int) -> None:
    """The request pipe at fd 3, the reply pipe at fd 4, 0-2 on /dev/null, nothing else open."""
    os.dup2(request_fd, 100)
    os.dup2(reply_fd, 101)
    os.dup2(100, REQUEST_FD)
    os.dup2(101, REPLY_FD)
    null_fd = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null_fd, fd)
    os.closerange(REPLY_FD + 1, 1 << 16)
