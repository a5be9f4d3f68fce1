"""The seccomp filter of an episode's interpreter: a deny list, with argument checks where a
syscall is harmless on the process itself but an attack on anything else.

Built as classic BPF, one self-contained block per listed syscall (``[nr == N?] [block ending in
RET]``), so every jump is short and the program stays easy to check. Anything not listed is allowed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from typing import Any

_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
RET_ALLOW = 0x7FFF0000
RET_DENY = 0x00050000 | errno.EPERM  # SECCOMP_RET_ERRNO: the call fails with EPERM
RET_KILL_PROCESS = 0x80000000
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_IF_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_IF_GREATER_OR_EQUAL = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_OFFSET_NR, _OFFSET_ARCH = 0, 4
_X32_SYSCALL_BIT = 0x40000000


def _arg_offset(index: int) -> int:
    """Offset of the low 32 bits of argument ``index`` in struct seccomp_data (little-endian).

    Every argument checked here is an int, pid_t or unsigned int, of which the kernel reads only
    the low 32 bits, so checking those is exact.
    """
    return 16 + 8 * index


# (x86_64, aarch64) syscall numbers; None where the architecture has no such syscall.
SYSCALLS: dict[str, tuple[int | None, int | None]] = {
    "fork": (57, None), "vfork": (58, None), "clone": (56, 220), "clone3": (435, 435),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "tkill": (200, 130), "pidfd_open": (434, 434), "pidfd_send_signal": (424, 424), "pidfd_getfd": (438, 438),
    "unshare": (272, 97), "setns": (308, 268), "add_key": (248, 217), "request_key": (249, 218),
    "keyctl": (250, 219), "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427), "io_setup": (206, 0),
    "kill": (62, 129), "tgkill": (234, 131), "rt_sigqueueinfo": (129, 138), "rt_tgsigqueueinfo": (297, 240),
    "memfd_create": (319, 279), "memfd_secret": (447, 447), "flock": (73, 32), "fcntl": (72, 25),
    "ioctl": (16, 29), "socket": (41, 198), "socketpair": (53, 199),
    "inotify_init": (253, None), "inotify_init1": (294, 26), "fanotify_init": (300, 262),
    "shmget": (29, 194), "shmat": (30, 196), "shmctl": (31, 195), "shmdt": (67, 197),
    "semget": (64, 190), "semop": (65, 193), "semctl": (66, 191), "semtimedop": (220, 192),
    "msgget": (68, 186), "msgsnd": (69, 189), "msgrcv": (70, 188), "msgctl": (71, 187),
    "mq_open": (240, 180), "mq_unlink": (241, 181), "mq_timedsend": (242, 182), "mq_timedreceive": (243, 183),
    "mq_notify": (244, 184), "mq_getsetattr": (245, 185),
    "setpriority": (141, 140), "ioprio_set": (251, 30), "prlimit64": (302, 261),
    "sched_setparam": (142, 118), "sched_setscheduler": (144, 119), "sched_setaffinity": (203, 122),
    "sched_setattr": (314, 274), "kcmp": (312, 272), "process_madvise": (440, 440), "process_mrelease": (448, 448),
    "migrate_pages": (256, 238), "move_pages": (279, 239), "get_robust_list": (274, 100),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "open_by_handle_at": (304, 265), "quotactl": (179, 60),
}  # fmt: skip

_ARCHES = {"x86_64": (0, 0xC000003E), "aarch64": (1, 0xC00000B7)}

# Always EPERM. New processes and threads (a fork bomb stops at its first fork, even where
# RLIMIT_NPROC does not bind); reaching into other processes (ptrace, their memory, pidfds, kcmp,
# their page placement); namespaces and mounts; kernel interfaces that are needless attack
# surface (keyrings, bpf, perf events, userfaultfd, io_uring); and everything that holds memory or
# kernel objects outside RLIMIT_AS and the scratch tmpfs, or is a channel between episodes:
# memfds, sockets of every family (the tool needs none: no AF_UNIX fd passing, no AF_VSOCK, which
# no network namespace confines, no netlink or packet sockets, no loopback channel between the
# episodes of one zygote), SysV and POSIX IPC, inotify/fanotify, flock, and AIO contexts (io_setup
# draws on the host-wide fs.aio-max-nr, which no rlimit bounds: one episode could take all of it).
DENIED = (
    "fork", "vfork", "clone", "clone3", "ptrace", "process_vm_readv", "process_vm_writev", "tkill",
    "pidfd_open", "pidfd_send_signal", "pidfd_getfd", "kcmp", "process_madvise", "process_mrelease",
    "migrate_pages", "move_pages", "get_robust_list", "unshare", "setns", "mount", "umount2", "pivot_root",
    "chroot", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "open_by_handle_at", "quotactl", "add_key", "request_key", "keyctl", "bpf", "perf_event_open",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "io_setup", "memfd_create", "memfd_secret",
    "socket", "socketpair", "inotify_init", "inotify_init1", "fanotify_init", "shmget", "shmat", "shmctl", "shmdt",
    "semget", "semop", "semctl", "semtimedop", "msgget", "msgsnd", "msgrcv", "msgctl", "mq_open",
    "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr", "flock",
    "setpriority", "ioprio_set",
)  # fmt: skip

# Allowed only when their first argument is this process (its pid; 0 means "self" where marked).
OWN_PID_ONLY = {
    "kill": False, "tgkill": False, "rt_sigqueueinfo": False, "rt_tgsigqueueinfo": False,
    "prlimit64": True, "sched_setparam": True, "sched_setscheduler": True, "sched_setaffinity": True,
    "sched_setattr": True,
}  # fmt: skip

# fcntl commands denied: locks and leases (a read lease on a bound file stalls host writers, a lock
# is a channel between episodes), signal-driven I/O aimed at another process (F_SETOWN + F_SETSIG
# would let the kernel signal it), directory notifications, and growing pipe buffers.
F_GETLK, F_SETLK, F_SETLKW, F_SETOWN, F_SETSIG, F_SETOWN_EX = 5, 6, 7, 8, 10, 15
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
F_SETLEASE, F_NOTIFY, F_SETPIPE_SZ = 1024, 1026, 1031
DENIED_FCNTL = (
    F_SETLK,
    F_SETLKW,
    F_OFD_SETLK,
    F_OFD_SETLKW,
    F_SETOWN,
    F_SETOWN_EX,
    F_SETSIG,
    F_SETLEASE,
    F_NOTIFY,
    F_SETPIPE_SZ,
)
# ioctls that set a file's owner, i.e. F_SETOWN by another name.
FIOSETOWN, SIOCSPGRP, TIOCSPGRP = 0x8901, 0x8902, 0x5410
DENIED_IOCTL = (FIOSETOWN, SIOCSPGRP, TIOCSPGRP)

Instruction = tuple[int, int, int, int]


def _only_values(arg: int, values: tuple[int, ...], on_match: int, otherwise: int) -> list[Instruction]:
    """A block: load ``arg``; return ``on_match`` if it equals one of ``values``, else ``otherwise``."""
    block: list[Instruction] = [(_LOAD_WORD, 0, 0, _arg_offset(arg))]
    for index, value in enumerate(values):
        block.append((_JUMP_IF_EQUAL, len(values) - index, 0, value))  # to the on_match return
    return block + [(_RETURN, 0, 0, otherwise), (_RETURN, 0, 0, on_match)]


def program(pid: int, machine: str | None = None) -> list[Instruction]:
    """The BPF program, as (code, jump_if_true, jump_if_false, constant) tuples, for process ``pid``."""
    machine = machine or platform.machine()
    if machine not in _ARCHES:
        raise RuntimeError(f"the sandbox's seccomp filter does not support the {machine} architecture")
    column, audit_arch = _ARCHES[machine]
    blocks: dict[str, list[Instruction]] = {name: [(_RETURN, 0, 0, RET_DENY)] for name in DENIED}
    for name, zero_is_self in OWN_PID_ONLY.items():
        own = (pid, 0) if zero_is_self else (pid,)
        blocks[name] = _only_values(0, own, RET_ALLOW, RET_DENY)
    blocks["fcntl"] = _only_values(1, DENIED_FCNTL, RET_DENY, RET_ALLOW)
    blocks["ioctl"] = _only_values(1, DENIED_IOCTL, RET_DENY, RET_ALLOW)
    code: list[Instruction] = [
        (_LOAD_WORD, 0, 0, _OFFSET_ARCH),
        (_JUMP_IF_EQUAL, 1, 0, audit_arch),
        (_RETURN, 0, 0, RET_KILL_PROCESS),
        (_LOAD_WORD, 0, 0, _OFFSET_NR),
    ]
    if machine == "x86_64":
        # x32-ABI syscall numbers would bypass the checks below: deny them all.
        code += [(_JUMP_IF_GREATER_OR_EQUAL, 0, 1, _X32_SYSCALL_BIT), (_RETURN, 0, 0, RET_DENY)]
    for name, block in blocks.items():
        number = SYSCALLS[name][column]
        if number is None:
            continue
        # Not this syscall: skip its block (A still holds the syscall number, as no block ran).
        code.append((_JUMP_IF_EQUAL, 0, len(block), number))
        code += block
    code.append((_RETURN, 0, 0, RET_ALLOW))
    return code


# A value no pid can take (pids stay below 2**22): the template's stand-in for the process's pid.
_PID_PLACEHOLDER = 0xFFFFFFF7


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option: int, arg2: int, arg3: Any = 0) -> None:
    """``prctl(option, arg2, arg3, 0, 0)``; ``arg3`` is an int or a ctypes pointer; raises OSError."""
    zero = ctypes.c_ulong(0)
    if isinstance(arg3, int):
        arg3 = ctypes.c_ulong(arg3)
    if _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), arg3, zero, zero) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"prctl({option}) failed: {os.strerror(code)}")


def compile_template() -> bytes:
    """The filter as kernel-ready bytes, with a placeholder where the pid goes (see :func:`install`).

    Built once in the zygote, so that a new interpreter only patches in its pid.
    """
    return b"".join(struct.pack("=HBBI", *op) for op in program(_PID_PLACEHOLDER))


def install(template: bytes | None = None) -> None:
    """Install the filter on this process for good (no_new_privs first, as the kernel requires)."""
    template = compile_template() if template is None else template
    placeholder, pid = struct.pack("=I", _PID_PLACEHOLDER), struct.pack("=I", os.getpid())
    # Replace the constant field (bytes 4-7) of each instruction that holds the placeholder.
    code = b"".join(
        instruction[:4] + pid if instruction[4:] == placeholder else instruction
        for instruction in (template[offset : offset + 8] for offset in range(0, len(template), 8))
    )
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = _SockFprog(len(code) // 8, ctypes.addressof(buffer))
    prctl(_PR_SET_NO_NEW_PRIVS, 1)
    prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog))
