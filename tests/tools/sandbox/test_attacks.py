"""Attack suite for the Python sandbox: each test's docstring says what the attack tries and what
must happen.

Attacks that both isolation modes stop run in both; attacks only bubblewrap stops (host files,
network, other sessions' files, the host's environment through /proc) run in bwrap mode only, and
docs/sandbox.md lists them as not stopped by ``process`` mode. bwrap tests are skipped, with the
reason, where bubblewrap is unusable (CI installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import vista_envs  # noqa: F401 - registers VistaTool-v0
from vista_envs.tools import (
    ExecutionResult,
    PythonSandbox,
    PythonSession,
    bwrap_unavailable_reason,
)

BWRAP_REASON = bwrap_unavailable_reason()
needs_bwrap = pytest.mark.skipif(BWRAP_REASON is not None, reason=f"bwrap unusable: {BWRAP_REASON}")
BOTH_MODES = [pytest.param("process"), pytest.param("bwrap", marks=needs_bwrap)]
TIMEOUT_S = 0.5
MAX_OUTPUT_CHARS = 2_000


@pytest.fixture(scope="module", params=BOTH_MODES)
def sandbox(request: pytest.FixtureRequest) -> Iterator[PythonSandbox]:
    with PythonSandbox(request.param, timeout_s=TIMEOUT_S, max_output_chars=MAX_OUTPUT_CHARS) as box:
        yield box


@pytest.fixture(scope="module")
def bwrap_sandbox() -> Iterator[PythonSandbox]:
    if BWRAP_REASON is not None:
        pytest.skip(f"bwrap unusable: {BWRAP_REASON}")
    with PythonSandbox("bwrap", timeout_s=TIMEOUT_S, max_output_chars=MAX_OUTPUT_CHARS) as box:
        yield box


@pytest.fixture
def session(sandbox: PythonSandbox) -> Iterator[PythonSession]:
    """A session whose interpreter holds ``marker = 'alive'`` and a small image."""
    with sandbox.session(image=np.full((8, 8, 3), 7, np.uint8)) as fresh:
        assert fresh.run("marker = 'alive'").ok
        yield fresh


@pytest.fixture(scope="module", params=BOTH_MODES)
def patient_sandbox(request: pytest.FixtureRequest) -> Iterator[PythonSandbox]:
    """A sandbox with a generous time limit, for attacks whose test is not about time (writing
    64 MB or printing 60 M characters must not hit the limit on a loaded CI machine)."""
    with PythonSandbox(request.param, timeout_s=10.0, max_output_chars=MAX_OUTPUT_CHARS) as box:
        yield box


@pytest.fixture
def patient_session(patient_sandbox: PythonSandbox) -> Iterator[PythonSession]:
    with patient_sandbox.session() as fresh:
        assert fresh.run("marker = 'alive'").ok
        yield fresh


@pytest.fixture
def bwrap_session(bwrap_sandbox: PythonSandbox) -> Iterator[PythonSession]:
    with bwrap_sandbox.session() as fresh:
        yield fresh


# Sandboxed code can find the nonce of the call in progress in its own interpreter's frames (the
# request loop holds it): the strongest forger knows it.
FIND_NONCE = (
    "import sys\n"
    "frame = sys._getframe()\n"
    "while 'nonce' not in frame.f_locals:\n"
    "    frame = frame.f_back\n"
    "nonce = frame.f_locals['nonce']\n"
)


def assert_state_kept(session: PythonSession) -> None:
    assert session.run("print(marker)").stdout == "alive\n"


def assert_restarted_and_usable(result: ExecutionResult, session: PythonSession) -> None:
    """The call failed, said that state was lost, and the fresh interpreter works (image reloaded)."""
    assert not result.ok and result.restarted
    assert "variables from earlier calls are lost" in result.error
    after = session.run("print('marker' in globals(), int(image.sum()))")
    assert after.ok and after.stdout == f"False {8 * 8 * 3 * 7}\n"


# --- runaway code -------------------------------------------------------------------------


def test_infinite_loop_is_interrupted_at_the_timeout(session: PythonSession) -> None:
    """Attack: ``while True: pass`` to hold the worker forever.
    Must: stop at timeout_s with timed_out=True and a clear message; globals survive."""
    result = session.run("while True:\n    pass")
    assert result.timed_out and not result.ok and not result.restarted
    assert f"ran longer than the {TIMEOUT_S:g} s time limit" in result.error
    assert_state_kept(session)


def test_long_sleep_is_interrupted_at_the_timeout(session: PythonSession) -> None:
    """Attack: ``time.sleep(3600)``.
    Must: return after about timeout_s, timed out, with globals kept."""
    result = session.run("import time\ntime.sleep(3600)")
    assert result.timed_out and result.duration_s < TIMEOUT_S + 1.0
    assert_state_kept(session)


def test_loop_that_ignores_the_interrupt_gets_its_worker_killed(session: PythonSession) -> None:
    """Attack: ignore SIGALRM (the soft timeout) and loop forever.
    Must: the host kills the worker shortly after the timeout; the result says timed out and
    state lost; the session goes on with a fresh interpreter."""
    result = session.run("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass")
    assert result.timed_out
    assert "did not stop" in result.error
    assert result.duration_s < TIMEOUT_S + 2.0
    assert_restarted_and_usable(result, session)


def test_loop_that_swallows_the_interrupt_gets_its_worker_killed(session: PythonSession) -> None:
    """Attack: catch the timeout exception with ``except BaseException`` and keep going.
    Must: same as ignoring the signal: killed, reported, session usable."""
    code = "import time\nwhile True:\n    try:\n        time.sleep(10)\n    except BaseException:\n        pass"
    result = session.run(code)
    assert result.timed_out
    assert_restarted_and_usable(result, session)


# --- processes, threads and signals ---------------------------------------------------------


def test_fork_bomb_fails_at_the_first_fork(session: PythonSession) -> None:
    """Attack: ``while True: os.fork()`` (a fork bomb; RLIMIT_NPROC does not bind root).
    Must: the first fork fails with PermissionError (seccomp), at once; no process is created."""
    result = session.run("import os\nwhile True:\n    os.fork()")
    assert not result.timed_out and result.duration_s < TIMEOUT_S
    assert result.error.endswith("PermissionError: [Errno 1] Operation not permitted")
    assert_state_kept(session)


def test_subprocesses_cannot_be_started(session: PythonSession) -> None:
    """Attack: start a background process that outlives the call (``subprocess.Popen``).
    Must: fail with PermissionError, so no process can survive the call."""
    result = session.run(
        "import subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])"
    )
    assert result.error.endswith("PermissionError: [Errno 1] Operation not permitted")
    assert_state_kept(session)


def test_threads_cannot_be_started(session: PythonSession) -> None:
    """Attack: a background thread that keeps running (and printing) after the call returns.
    Must: fail to start, so nothing of a call runs after it returns."""
    result = session.run("import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()")
    assert result.error.endswith("RuntimeError: can't start new thread")
    assert_state_kept(session)


@pytest.mark.parametrize(
    "code",
    [
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
        "import os, signal\nos.kill(1, signal.SIGKILL)",
        "import os, signal\nos.kill(-1, signal.SIGKILL)",
        "import os, signal\nos.killpg(0, signal.SIGKILL)",
    ],
    ids=["parent", "pid-1", "every-process", "process-group"],
)
def test_signalling_other_processes_is_refused(session: PythonSession, code: str) -> None:
    """Attack: SIGKILL the parent (the host in process mode, bwrap's init in bwrap mode), pid 1,
    every process (kill -1) or the process group.
    Must: PermissionError; the host and the worker live on with their state."""
    result = session.run(code)
    assert result.error.endswith("PermissionError: [Errno 1] Operation not permitted")
    assert_state_kept(session)


def test_kernel_keyrings_are_refused(session: PythonSession) -> None:
    """Attack: read the host's root keyring (``keyctl``), which the kernel keys on the uid.
    Must: the syscall fails with EPERM (seccomp), in both modes."""
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.syscall({nr}, 0, -4, 0), "
        "ctypes.get_errno())"
    )
    keyctl = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
    if keyctl is None:
        pytest.skip("keyctl's syscall number is only listed here for x86_64 and aarch64")
    assert session.run(code.format(nr=keyctl)).stdout == "-1 1\n"


def test_signalling_itself_still_works(session: PythonSession) -> None:
    """Not an attack: code may signal its own process (e.g. ``signal.raise_signal``).
    Must: the handler runs; the filter only stops signals to other processes."""
    code = (
        "import signal\nsignal.signal(signal.SIGUSR1, lambda *a: print('handled'))\nsignal.raise_signal(signal.SIGUSR1)"
    )
    assert session.run(code).stdout == "handled\n"


# --- memory, output, disk --------------------------------------------------------------------


def test_memory_bomb_gets_memory_error_and_the_session_survives(session: PythonSession) -> None:
    """Attack: grow a list of 10 MB arrays without end.
    Must: MemoryError from the address-space limit (not the host's OOM killer); globals kept."""
    result = session.run("blocks = []\nwhile True:\n    blocks.append(np.empty(10 * 2**20, np.uint8))")
    assert "MemoryError: Unable to allocate 10.0 MiB" in result.error
    assert session.run("del blocks").ok
    assert_state_kept(session)


def test_huge_numpy_allocation_gets_memory_error(session: PythonSession) -> None:
    """Attack: allocate a 100000 x 100000 float array (80 GB).
    Must: MemoryError, session usable."""
    result = session.run("np.ones((100_000, 100_000))")
    assert "MemoryError" in result.error
    assert_state_kept(session)


def test_huge_output_is_truncated(patient_session: PythonSession) -> None:
    """Attack: print 50 million characters in one string, and 10 million in many lines.
    Must: stdout is cut to max_output_chars plus a note saying how much was dropped."""
    one_string = patient_session.run("print('x' * 50_000_000)")
    many_lines = patient_session.run("for _ in range(100_000):\n    print('y' * 99)")
    # print() writes the text and the newline separately: 50_000_001 and 100 * 100_000 characters.
    assert one_string.ok and one_string.stdout.endswith(
        f"[... {50_000_001 - MAX_OUTPUT_CHARS} more characters truncated]"
    )
    assert many_lines.ok and many_lines.stdout.endswith(
        f"[... {10_000_000 - MAX_OUTPUT_CHARS} more characters truncated]"
    )
    assert len(one_string.stdout) < MAX_OUTPUT_CHARS + 100
    assert len(many_lines.stdout) < MAX_OUTPUT_CHARS + 100


def test_writing_a_huge_file_fails_with_os_error(patient_session: PythonSession) -> None:
    """Attack: fill the disk with a 1 GB file in the scratch folder.
    Must: OSError once the file-size limit (scratch_mb) is reached; the interpreter lives on."""
    code = "with open('big.bin', 'wb') as f:\n    for _ in range(1024):\n        f.write(bytes(2**20))"
    result = patient_session.run(code)
    assert "OSError" in result.error and "File too large" in result.error
    assert_state_kept(patient_session)


# --- crashes and exits ------------------------------------------------------------------------


def test_segfault_via_ctypes_restarts_the_interpreter(session: PythonSession) -> None:
    """Attack: ``ctypes.string_at(0)`` dereferences NULL and kills the interpreter with SIGSEGV.
    Must: run() returns (no exception) an error naming SIGSEGV and saying state was lost; the
    session continues in a fresh interpreter with the image loaded again."""
    result = session.run("import ctypes\nctypes.string_at(0)")
    assert "SIGSEGV" in result.error
    assert_restarted_and_usable(result, session)


def test_os_exit_restarts_the_interpreter(session: PythonSession) -> None:
    """Attack: ``os._exit(3)`` ends the worker without cleanup.
    Must: an error with the exit status and the state-lost note; the session continues."""
    result = session.run("import os\nos._exit(3)")
    assert "exited with status 3" in result.error
    assert_restarted_and_usable(result, session)


def test_sys_exit_does_not_end_the_interpreter(session: PythonSession) -> None:
    """Attack: ``sys.exit(1)`` / ``raise SystemExit`` to stop the interpreter.
    Must: only the call ends, with the SystemExit reported; globals kept."""
    assert session.run("import sys\nsys.exit(1)").error == "SystemExit: 1"
    assert_state_kept(session)


def test_deep_recursion_gets_recursion_error(session: PythonSession) -> None:
    """Attack: unbounded recursion.
    Must: RecursionError with a compact traceback; globals kept."""
    result = session.run("def down(n):\n    return down(n + 1)\ndown(0)")
    assert result.error.endswith("RecursionError: maximum recursion depth exceeded")
    assert "more times" in result.error  # repeated frames are folded, not printed 1000 times
    assert_state_kept(session)


def test_recursion_past_a_raised_limit_is_survived(session: PythonSession) -> None:
    """Attack: raise the recursion limit to 10**7 and recurse until the C stack overflows.
    Must: run() returns an error (the interpreter may crash and restart), never raises, and the
    session stays usable."""
    result = session.run("import sys\nsys.setrecursionlimit(10**7)\ndef down(n):\n    return down(n + 1)\ndown(0)")
    assert not result.ok and result.error
    assert session.run("print(1 + 1)").stdout == "2\n"


def test_forged_protocol_reply_restarts_the_interpreter(session: PythonSession) -> None:
    """Attack: write a frame header announcing a 4 GB reply straight into the worker's reply
    pipe, to make the host allocate or wait forever.
    Must: the host refuses the oversized frame, reports it and restarts the interpreter."""
    code = (
        "import os, struct\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, struct.pack('>I', 2**32 - 1))\n"
        "    except OSError:\n"
        "        pass"
    )
    result = session.run(code)
    assert "reply" in result.error
    assert_restarted_and_usable(result, session)


def test_forged_deeply_nested_reply_restarts_the_interpreter(session: PythonSession) -> None:
    """Attack: write a well-framed reply (with this call's own nonce, dug out of the interpreter's
    frames) of 100,000 nested JSON arrays into the reply pipe, so that the host's JSON parser
    overflows its recursion limit.
    Must: run() reports the malformed reply and restarts the interpreter, never raises."""
    code = FIND_NONCE + (
        "import framing, os\n"
        "body = b'[' * 100_000\n"
        "os.write(4, framing.HEADER.pack(framing.MAGIC, nonce, len(body)) + body)\n"
    )
    result = session.run(code)
    assert "malformed reply" in result.error
    assert_restarted_and_usable(result, session)


# --- the host's secrets, files and network (bubblewrap only) ----------------------------------


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_host_environment_variables_are_invisible(monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    """Attack: read a secret from the host's environment through ``os.environ``.
    Must: the worker's environment is built from scratch, so the secret is absent."""
    monkeypatch.setenv("VISTA_TEST_SECRET", "hunter2")
    with PythonSandbox(mode, pool_size=0) as sandbox, sandbox.session() as fresh:
        result = fresh.run("import os\nprint('VISTA_TEST_SECRET' in os.environ, 'hunter2' in str(os.environ))")
    assert result.stdout == "False False\n"


@needs_bwrap
def test_host_environment_is_not_readable_through_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: read the secret from every readable /proc/*/environ (bwrap's own pid 1 included).
    Must: nothing readable carries the host's environment (the sandbox has no /proc, and bwrap
    itself is started with a cleared environment)."""
    monkeypatch.setenv("VISTA_TEST_SECRET", "hunter2")
    code = (
        "import glob\n"
        "found = []\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        found.append('hunter2' in open(path).read())\n"
        "    except OSError:\n"
        "        pass\n"
        "print(any(found))"
    )
    with PythonSandbox("bwrap", pool_size=0) as sandbox, sandbox.session() as fresh:
        assert fresh.run(code).stdout == "False\n"


@needs_bwrap
@pytest.mark.parametrize(
    "path",
    ["/etc/shadow", "/etc/passwd", "/root/.bashrc", "/proc/1/root/etc/hostname", str(Path(__file__).resolve())],
    ids=["shadow", "passwd", "root-home", "proc-root", "repository"],
)
def test_host_files_are_not_readable(bwrap_session: PythonSession, path: str) -> None:
    """Attack: read /etc/shadow, /etc/passwd, root's home, the host through /proc/1/root, and
    this repository's source.
    Must: the file does not exist in the sandbox (or access is denied)."""
    result = bwrap_session.run(f"print(open({path!r}).read())")
    assert result.stdout == ""
    assert "FileNotFoundError" in result.error or "PermissionError" in result.error


@needs_bwrap
def test_only_python_and_numpy_are_importable(bwrap_session: PythonSession) -> None:
    """Attack: import other installed packages (vista_envs itself, pip, PIL) to reach host code.
    Must: ModuleNotFoundError; numpy and the standard library work."""
    result = bwrap_session.run(
        "import importlib.util\n"
        "print([importlib.util.find_spec(m) is not None for m in ('vista_envs', 'pip', 'PIL', 'numpy', 'json')])"
    )
    assert result.stdout == "[False, False, False, True, True]\n"


@needs_bwrap
@pytest.mark.parametrize(
    "path",
    ["/outside.txt", "/usr/lib/evil.so", "/root/evil", "/etc/ld.so.cache", "/dev/shm/fill", str(Path.cwd() / "evil")],
)
def test_writing_outside_scratch_fails(bwrap_session: PythonSession, path: str) -> None:
    """Attack: create or overwrite files outside /tmp: the sandbox root, system libraries,
    root's home, a bound file, /dev/shm (RAM with no size limit), the working tree.
    Must: nothing appears on the host; and an OSError (read-only file system, permission denied
    or no such directory) -- except for a working tree that lives under /tmp (a CI clone), whose
    path inside the sandbox may fall in the session's own scratch."""
    result = bwrap_session.run(f"open({path!r}, 'w').write('pwned')")
    if not Path(path).is_relative_to("/tmp"):
        assert "Error" in result.error and "Errno" in result.error
    assert not Path(path).exists() or "pwned" not in Path(path).read_bytes().decode("latin-1")


@needs_bwrap
def test_scratch_files_of_one_session_are_invisible_to_another(bwrap_sandbox: PythonSandbox) -> None:
    """Attack: one episode leaves a file in /tmp; the next episode looks for it.
    Must: each session has its own /tmp, holding nothing but the mount points of an interpreter
    that itself lives under /tmp (a virtual environment there)."""
    mount_points = sorted({Path(path).parts[2] for path in (sys.prefix, np.__file__) if Path(path).parts[1] == "tmp"})
    with bwrap_sandbox.session() as first, bwrap_sandbox.session() as second:
        assert first.run("open('/tmp/left-behind.txt', 'w').write('secret')").ok
        result = second.run("import os\nprint(sorted(os.listdir('/tmp')))")
    assert result.stdout == f"{mount_points}\n"


@needs_bwrap
def test_network_connection_to_a_host_port_fails(bwrap_session: PythonSession) -> None:
    """Attack: connect to a TCP server the host runs on 127.0.0.1.
    Must: the connection fails (no socket can be created, and the sandbox's network namespace is
    empty anyway) and the host's server never sees a client."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(0.2)
        port = server.getsockname()[1]
        result = bwrap_session.run(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)")
        with pytest.raises(TimeoutError):
            server.accept()
    assert any(name in result.error for name in ("PermissionError", "ConnectionRefusedError", "OSError"))


@needs_bwrap
def test_dns_lookups_fail(bwrap_session: PythonSession) -> None:
    """Attack: resolve a host name (a DNS query can leak data even without a TCP connection).
    Must: name resolution fails."""
    result = bwrap_session.run("import socket\nsocket.getaddrinfo('example.com', 80)")
    assert "socket.gaierror" in result.error


@needs_bwrap
def test_sandbox_runs_as_an_unprivileged_user(bwrap_session: PythonSession) -> None:
    """Attack: rely on being root inside the sandbox (use capabilities, read root-only files).
    Must: where user namespaces work, the code runs as uid 65534; either way it has no
    capabilities, so even renaming its own (private) host fails."""
    result = bwrap_session.run("import os, socket\nprint(os.getuid())\nsocket.sethostname('pwned')")
    assert result.error.endswith("PermissionError: [Errno 1] Operation not permitted")
    if result.stdout == "0\n":
        pytest.skip("no user namespaces here: bwrap runs the code as root without capabilities")
    assert result.stdout == "65534\n"


@needs_bwrap
@pytest.mark.parametrize("path", ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/sys/kernel/uevent_helper"])
def test_kernel_settings_cannot_be_opened_for_writing(bwrap_session: PythonSession, path: str) -> None:
    """Attack: open a host-wide kernel setting for writing (e.g. core_pattern, which runs a program
    as root on the next crash). The sandbox's uid maps to host uid 0 when the host runs as root,
    and the kernel checks sysctl writes by uid.
    Must: the file does not exist in the sandbox (no /proc or /sys is mounted). Nothing is written."""
    result = bwrap_session.run(f"open({path!r}, 'r+')")
    assert "FileNotFoundError" in result.error


# --- cleanup ---------------------------------------------------------------------------------


def pids_mentioning(marker: str) -> set[int]:
    """Pids of the processes (other than this one) whose command line contains ``marker``."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "cmdline").read_text():
                    pids.add(int(entry.name))
            except OSError:
                continue
    return pids


def distinct_memory_mb(test_number: int) -> int:
    """A memory limit that no other sandbox uses, in this test process or in a parallel one: it
    appears in the command lines of the sandbox's processes and so tells them apart."""
    return 1024 + (os.getpid() % 8192) * 8 + test_number


def worker_marker(memory_mb: int) -> str:
    """Text in the command line of every process of a sandbox built with ``memory_mb`` (the zygote
    and bwrap carry it, and the interpreters forked from the zygote inherit it)."""
    return f'"memory_bytes": {memory_mb << 20}'


def interpreter_pid(session: PythonSession) -> int:
    """Host pid of the session's interpreter."""
    pid = session._worker.host_pid
    assert pid is not None
    return pid


def state_and_cpu_ticks(pid: int) -> tuple[str, int]:
    """Scheduler state letter and user + system CPU ticks of ``pid``, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return fields[0], int(fields[11]) + int(fields[12])


def stop_is_pending(pid: int) -> bool:
    """Whether SIGSTOP is pending for ``pid`` (sent, not yet acted on), from /proc/PID/status. The kernel takes the
    signal off the pending set and stops the process in one step: if this returns False, the stop already happened."""
    masks = [
        int(line.split()[1], 16)
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith(("SigPnd:", "ShdPnd:"))
    ]
    return any(mask & (1 << (signal.SIGSTOP - 1)) for mask in masks)


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_close_kills_every_worker_process(mode: str) -> None:
    """Attack: leave interpreters running after the environment is closed.
    Must: after ``sandbox.close()`` no process of the sandbox exists, and new sessions are refused."""
    memory_mb = distinct_memory_mb(1)
    marker = worker_marker(memory_mb)
    sandbox = PythonSandbox(mode, memory_mb=memory_mb, pool_size=2)
    session = sandbox.session()
    session.run("x = 1")
    assert pids_mentioning(marker)  # the session's worker and the idle ones
    sandbox.close()
    assert session.closed
    assert pids_mentioning(marker) == set()
    with pytest.raises(RuntimeError, match="closed"):
        sandbox.session()


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_killed_worker_leaves_no_process_behind(mode: str) -> None:
    """Attack: make the host kill the worker (ignore the timeout) in the hope that part of it
    lives on.
    Must: when run() returns, every process of the killed worker is gone."""
    memory_mb = distinct_memory_mb(2)
    with PythonSandbox(mode, timeout_s=TIMEOUT_S, memory_mb=memory_mb, pool_size=0) as sandbox:
        with sandbox.session() as doomed:
            old = interpreter_pid(doomed)
            result = doomed.run("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass")
            assert result.restarted
            assert not Path(f"/proc/{old}").exists()
            assert old not in pids_mentioning(worker_marker(memory_mb))


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_interpreter_killed_between_calls_is_replaced_by_the_next_call(mode: str) -> None:
    """Attack (or accident): the idle interpreter is killed from outside, e.g. by the OOM killer.
    Must: the next call runs in a fresh interpreter, with the image, and says that state was lost."""
    memory_mb = distinct_memory_mb(3)
    with PythonSandbox(mode, timeout_s=TIMEOUT_S, memory_mb=memory_mb, pool_size=0) as sandbox:
        with sandbox.session(image=np.ones((2, 2, 3), np.uint8)) as session:
            session.run("kept = 1")
            os.kill(interpreter_pid(session), signal.SIGKILL)
            time.sleep(0.2)
            result = session.run("print('kept' in globals(), int(image.sum()))")
            after = session.run("print('next')")
    assert result.restarted and "variables from earlier calls are lost" in result.text
    assert after.ok and not after.restarted and after.stdout == "next\n"


@pytest.mark.parametrize("mode", BOTH_MODES)
def test_forged_reply_cannot_leave_code_running_after_the_call(mode: str) -> None:
    """Attack: write a well-formed fake reply, with the call's own nonce, into the reply pipe, then
    keep computing with the timeout signal ignored, while the host believes the call is over.
    Must: the host takes the fake reply (code may lie about its own output), but the interpreter
    is stopped as soon as the call returns and uses no CPU; the next call times out, kills it
    and restarts the interpreter."""
    memory_mb = distinct_memory_mb(4)
    code = FIND_NONCE + (
        "import framing, os, signal\n"
        "reply = {'stdout': 'forged\\n', 'stderr': '', 'error': None, 'timed_out': False}\n"
        "signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
        "os.write(4, framing.encode(nonce, reply))\n"
        "while True:\n"
        "    pass"
    )
    with PythonSandbox(mode, timeout_s=TIMEOUT_S, memory_mb=memory_mb, pool_size=0) as sandbox:
        with sandbox.session() as session:
            forged = session.run(code)
            interpreter = interpreter_pid(session)
            # When run() returns, the interpreter is stopped or its SIGSTOP is pending: a process that
            # waits for a CPU (a loaded machine) stops only once it is next scheduled, so poll
            # (bounded) for the stop itself.
            assert stop_is_pending(interpreter) or state_and_cpu_ticks(interpreter)[0] == "T"  # in this order
            deadline = time.monotonic() + 10
            state, cpu_ticks = state_and_cpu_ticks(interpreter)
            while state != "T" and time.monotonic() < deadline:
                time.sleep(0.02)
                state, cpu_ticks = state_and_cpu_ticks(interpreter)
            time.sleep(0.3)
            assert forged.stdout == "forged\n"
            assert state == "T" and state_and_cpu_ticks(interpreter) == ("T", cpu_ticks)
            after = session.run("print('next call')")
            assert after.timed_out and after.restarted


# --- the reply channel -----------------------------------------------------------------------

FORGED_REPLY = "{'stdout': 'forged\\n', 'stderr': '', 'error': None, 'timed_out': False}"


def test_a_blindly_forged_reply_never_shifts_later_replies(session: PythonSession) -> None:
    """Attack: write a reply frame (a length and JSON, the obvious format) into every writable fd,
    then print the call's real output -- so that the host takes the forgery, and the real reply
    stays queued and is handed to the next call, and so on: every later reply one call late.
    Must: the host refuses the frame (it lacks the call's nonce) and restarts the interpreter,
    saying why; no later call ever receives an earlier call's output."""
    code = (
        "import json, os, struct\n"
        f"reply = json.dumps({FORGED_REPLY}).encode()\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, struct.pack('>I', len(reply)) + reply)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('first call')"
    )
    first = session.run(code)
    assert first.restarted and "did not belong to this call" in first.error
    second = session.run("print('second call')")
    third = session.run("print('third call')")
    assert (second.stdout, third.stdout) == ("second call\n", "third call\n")
    assert "first call" not in second.text + third.text


def test_a_forged_early_reply_with_the_right_nonce_costs_the_interpreter_at_the_next_call(
    session: PythonSession,
) -> None:
    """Attack: the strongest forger: dig the call's nonce out of the interpreter's frames, write a
    complete, valid reply before the real one, then finish normally (the real reply is now queued
    behind the forgery).
    Must: the forged call's own output is the code's to choose anyway; the next call finds the
    stale reply (old nonce), restarts the interpreter and says so -- it never returns the
    previous call's output -- and the call after it is normal."""
    code = FIND_NONCE + f"import framing, os\nos.write(4, framing.encode(nonce, {FORGED_REPLY}))\nprint('first call')"
    assert session.run(code).stdout == "forged\n"
    second = session.run("print('second call')")
    assert "first call" not in second.text
    assert second.stdout == "second call\n" or (second.restarted and "did not belong to this call" in second.error)
    third = session.run("print('third call')")
    assert third.ok and third.stdout == "third call\n"


# --- memory and kernel objects outside the address-space limit --------------------------------

LIBC = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"


@pytest.mark.parametrize(
    "code",
    [
        "import os\nos.memfd_create('parked')",
        "import socket\nsocket.socketpair()",
        "import socket\nsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
        LIBC + "assert libc.shmget(0, 1 << 20, 0o1600) >= 0, ctypes.get_errno()",
        LIBC + "assert libc.msgget(0, 0o1600) >= 0, ctypes.get_errno()",
        LIBC + "assert libc.mq_open(b'/parked', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0, ctypes.get_errno()",
        LIBC + "assert libc.inotify_init1(0) >= 0, ctypes.get_errno()",
        "import fcntl, os\nread_end, _ = os.pipe()\nfcntl.fcntl(read_end, 1031, 1 << 20)",  # F_SETPIPE_SZ
    ],
    ids=[
        "memfd",
        "socketpair-fd-passing",
        "unix-socket",
        "sysv-shm",
        "sysv-msg",
        "posix-mqueue",
        "inotify",
        "big-pipe",
    ],
)
def test_memory_outside_the_address_space_limit_cannot_be_taken(session: PythonSession, code: str) -> None:
    """Attack: hold RAM or kernel objects that RLIMIT_AS does not count: memfds (parked in a unix
    socket with SCM_RIGHTS, they outlive their fds), SysV shared memory and message queues, POSIX
    message queues, inotify instances (a host-wide per-user budget), 1 MB pipe buffers.
    Must: the kernel call fails with EPERM (seccomp); the session goes on."""
    result = session.run(code)
    assert not result.ok and ("PermissionError" in result.error or "AssertionError: 1" in result.error)
    assert_state_kept(session)


def test_the_host_wide_aio_event_budget_cannot_be_taken(session: PythonSession) -> None:
    """Attack: io_setup() contexts for 65536 events take the whole host-wide ``fs.aio-max-nr``,
    which no rlimit and no uid bounds: every io_setup() on the host (databases, qemu) then fails
    with EAGAIN for as long as the episode lives.
    Must: io_setup fails with EPERM (seccomp); the session goes on."""
    io_setup = {"x86_64": 206, "aarch64": 0}.get(os.uname().machine)
    if io_setup is None:
        pytest.skip("io_setup's syscall number is only listed here for x86_64 and aarch64")
    code = LIBC + f"ctx = ctypes.c_ulong(0)\nprint(libc.syscall({io_setup}, 8192, ctypes.byref(ctx)), "
    code += "ctypes.get_errno())"
    assert session.run(code).stdout == "-1 1\n"
    assert_state_kept(session)


def test_per_user_kernel_budgets_are_small(session: PythonSession) -> None:
    """Attack: queue many signals or POSIX message-queue bytes, which the kernel charges per user.
    Must: RLIMIT_SIGPENDING is at most 64 and RLIMIT_MSGQUEUE is 0 (and no IPC call is allowed)."""
    code = (
        "import resource\nprint(resource.getrlimit(resource.RLIMIT_SIGPENDING), "
        "resource.getrlimit(resource.RLIMIT_MSGQUEUE))"
    )
    assert session.run(code).stdout == "(64, 64) (0, 0)\n"


@needs_bwrap
def test_scratch_tmpfs_is_capped_in_files_not_only_bytes(bwrap_session: PythonSession) -> None:
    """Attack: create hundreds of thousands of empty files in /tmp: 0 bytes used, but each inode
    costs kernel memory that no byte limit sees.
    Must: the tmpfs runs out of inodes (ENOSPC) at ``scratch_files`` (4096 by default)."""
    code = "created = 0\nfor i in range(5000):\n    open(f'/tmp/{i}', 'w').close()\n    created += 1"
    result = bwrap_session.run(code)
    assert "No space left on device" in result.error
    assert 4000 < int(bwrap_session.run("print(created)").stdout) < 4096


@needs_bwrap
def test_interpreter_runs_as_an_unprivileged_host_uid(bwrap_session: PythonSession) -> None:
    """Attack: use kernel budgets and uid-checked interfaces of host root (pending signals,
    message queues, inotify, ptys, sysctls), reachable when the sandbox's uid maps to host uid 0.
    Must: seen from the host, every uid and gid of the interpreter is non-zero."""
    assert bwrap_session.run("x = 1").ok
    status = Path(f"/proc/{interpreter_pid(bwrap_session)}/status").read_text()
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    gids = next(line for line in status.splitlines() if line.startswith("Gid:")).split()[1:]
    assert "0" not in uids + gids


# --- locks, leases, signals through file ownership, other socket families ----------------------


@pytest.mark.parametrize(
    "code",
    [
        "import fcntl, os\nfcntl.flock(os.open(os.__file__, os.O_RDONLY), fcntl.LOCK_SH)",
        "import fcntl, os\nfcntl.lockf(os.open(os.__file__, os.O_RDONLY), fcntl.LOCK_SH)",
        "import fcntl, os\nfcntl.fcntl(os.open(os.__file__, os.O_RDONLY), fcntl.F_SETLEASE, fcntl.F_RDLCK)",
        "import fcntl, os\nfcntl.fcntl(os.open(os.__file__, os.O_RDONLY), fcntl.F_NOTIFY, 1)",
    ],
    ids=["flock", "posix-lock", "read-lease", "dnotify"],
)
def test_locks_and_leases_on_shared_files_are_refused(session: PythonSession, code: str) -> None:
    """Attack: flock or lock a file that other episodes and the host also see (a channel between
    concurrent episodes), or take a read lease on it (a host writer then stalls for
    lease-break-time), or watch it.
    Must: PermissionError (seccomp)."""
    result = session.run(code)
    assert result.error.endswith("PermissionError: [Errno 1] Operation not permitted")


@pytest.mark.parametrize(
    "family", [40, 16, 17, 1, 2], ids=["AF_VSOCK", "AF_NETLINK", "AF_PACKET", "AF_UNIX", "AF_INET"]
)
def test_no_socket_of_any_family_can_be_created(session: PythonSession, family: int) -> None:
    """Attack: AF_VSOCK (outside every network namespace: a port bound inside is taken on the
    host, a channel between episodes), netlink (kernel interfaces), packet sockets, unix sockets
    (fd passing), IP (in process mode: the host's network).
    Must: socket() fails with PermissionError: the tool needs no socket at all."""
    result = session.run(f"import socket\nsocket.socket({family}, socket.SOCK_DGRAM)")
    assert result.error.endswith("PermissionError: [Errno 1] Operation not permitted")


@pytest.fixture
def host_victim() -> Iterator[int]:
    """A host process that sandboxed code must not touch."""
    victim = subprocess.Popen(["sleep", "60"])
    try:
        yield victim.pid
    finally:
        victim.kill()
        victim.wait()


def test_a_host_process_cannot_be_signalled_through_file_ownership(session: PythonSession, host_victim: int) -> None:
    """Attack: make the kernel SIGKILL a host process: F_SETOWN its pid on a pipe, F_SETSIG 9,
    O_ASYNC, then write to the pipe (the signal comes from the kernel, not from kill()).
    Must: F_SETOWN fails with PermissionError and the process lives."""
    code = (
        "import fcntl, os\n"
        "read_end, write_end = os.pipe()\n"
        f"fcntl.fcntl(read_end, fcntl.F_SETOWN, {host_victim})\n"
        "fcntl.fcntl(read_end, 10, 9)\n"
        "fcntl.fcntl(read_end, fcntl.F_SETFL, os.O_ASYNC)\n"
        "os.write(write_end, b'x')"
    )
    result = session.run(code)
    assert result.error.endswith("PermissionError: [Errno 1] Operation not permitted")
    time.sleep(0.05)
    assert os.waitpid(host_victim, os.WNOHANG) == (0, 0)


@pytest.mark.parametrize(
    "code",
    [
        "import resource\nresource.prlimit({pid}, resource.RLIMIT_NOFILE, (3, 3))",
        "import os\nos.setpriority(os.PRIO_PROCESS, {pid}, 19)",
        "import os\nos.sched_setaffinity({pid}, {{0}})",
    ],
    ids=["prlimit64", "setpriority", "sched_setaffinity"],
)
def test_other_processes_limits_and_priorities_cannot_be_changed(
    session: PythonSession, host_victim: int, code: str
) -> None:
    """Attack: lower a host process's rlimits (prlimit64 on a foreign pid), renice it, pin it.
    Must: PermissionError; the process's limits and nice value are unchanged."""
    import resource

    before = resource.prlimit(host_victim, resource.RLIMIT_NOFILE), os.getpriority(os.PRIO_PROCESS, host_victim)
    result = session.run(code.format(pid=host_victim))
    assert result.error.endswith("PermissionError: [Errno 1] Operation not permitted")
    assert (
        resource.prlimit(host_victim, resource.RLIMIT_NOFILE),
        os.getpriority(os.PRIO_PROCESS, host_victim),
    ) == before


@needs_bwrap
def test_ptys_cannot_be_allocated(bwrap_session: PythonSession) -> None:
    """Attack: allocate pseudo-terminals (kernel.pty.max is a host-wide budget).
    Must: there is no /dev/ptmx in the sandbox, so openpty fails."""
    result = bwrap_session.run("import os\nos.openpty()")
    assert "FileNotFoundError" in result.error


@needs_bwrap
def test_system_python_packages_stay_hidden_after_a_sys_path_append(bwrap_session: PythonSession) -> None:
    """Attack: ``sys.path.append('/usr/lib/python3/dist-packages')`` (or any other Python's tree in
    the bound system library directories) and import the distribution's packages.
    Must: those directories are empty in the sandbox, so nothing there imports."""
    import glob

    trees = [path for pattern in ("/usr/lib/python3*", "/usr/lib64/python3*") for path in glob.glob(pattern)]
    trees = [tree for tree in trees if Path(sys.base_prefix, "lib").resolve() not in Path(tree).resolve().parents]
    if not trees:
        pytest.skip("no system Python tree here")
    code = f"import os\nprint(sorted(name for tree in {trees!r} if os.path.isdir(tree) for name in os.listdir(tree)))"
    assert bwrap_session.run(code).stdout == "[]\n"


# --- through the env, as the red team drives it ------------------------------------------------


def python_call(code: str) -> str:
    return f"<tool_call>{json.dumps({'name': 'python', 'arguments': {'code': code}})}</tool_call>"


@pytest.fixture(scope="module", params=BOTH_MODES)
def tool_env(request: pytest.FixtureRequest) -> Iterator[gym.Env]:
    env = gym.make("VistaTool-v0", sandbox=request.param, families=["counting"], max_turns=8, python_timeout_s=2.0)
    yield env
    env.close()


# Reads the first readable mapping of process PID's memory; prints READ <n> if that works.
READ_MEMORY = (
    "pid = {pid}\n"
    "with open(f'/proc/{{pid}}/maps') as maps:\n"
    "    start, end = (int(x, 16) for x in maps.readline().split()[0].split('-'))\n"
    "with open(f'/proc/{{pid}}/mem', 'rb') as memory:\n"
    "    memory.seek(start)\n"
    "    print('READ', len(memory.read(min(end - start, 4096))))"
)


def test_the_env_process_memory_is_unreadable_through_the_env(tool_env: gym.Env) -> None:
    """Attack (the red team's, through gym): read the task's answer out of the env process's memory
    via /proc/<env pid>/mem (in process mode the code runs as the env's own uid).
    Must: the open fails (bwrap: no /proc; process mode: the env process is not dumpable and the
    interpreter has no capabilities), so not a byte is read."""
    tool_env.reset(seed=0)
    obs, reward, terminated, truncated, info = tool_env.step(python_call(READ_MEMORY.format(pid=os.getpid())))
    assert "READ" not in obs["text"]
    assert "PermissionError" in obs["text"] or "FileNotFoundError" in obs["text"]


def test_a_forged_reply_through_the_env_never_shifts_later_tool_results(tool_env: gym.Env) -> None:
    """Attack (through gym): forge a reply frame into every writable fd, then keep using the tool.
    Must: every later python call's observation holds that call's own output."""
    tool_env.reset(seed=0)
    forge = (
        "import json, os, struct\n"
        "reply = json.dumps({'stdout': 'forged', 'stderr': '', 'error': None, 'timed_out': False}).encode()\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, struct.pack('>I', len(reply)) + reply)\n"
        "    except OSError:\n"
        "        pass\n"
        "print('output of call one')"
    )
    tool_env.step(python_call(forge))
    for n in ("two", "three"):
        obs, *_ = tool_env.step(python_call(f"print('output of call {n}')"))
        assert f"output of call {n}" in obs["text"] and "call one" not in obs["text"]


def test_info_says_plainly_what_process_mode_does_not_stop() -> None:
    """Must: in process mode, info["sandbox"] is not just "process": it says that process mode is
    not a security boundary and what the code can still do."""
    env = gym.make("VistaTool-v0", sandbox="process", families=["counting"])
    try:
        _, info = env.reset(seed=0)
    finally:
        env.close()
    assert info["sandbox"].startswith("process (NOT a security boundary")
    assert "host file" in info["sandbox"] and "runs as host uid" in info["sandbox"]


# --- process mode ------------------------------------------------------------------------------


def test_process_mode_interpreter_has_no_capabilities() -> None:
    """Attack: use root's capabilities from a process-mode interpreter (the host often runs as root).
    Must: its effective, permitted, bounding and ambient capability sets are all empty."""
    with PythonSandbox("process", pool_size=0) as sandbox, sandbox.session() as session:
        result = session.run("print(sorted({l.split()[1] for l in open('/proc/self/status') if l.startswith('Cap')}))")
    assert result.stdout == "['0000000000000000']\n"


def test_process_mode_scratch_is_removed_after_kill_minus_9_of_the_env_process(tmp_path: Path) -> None:
    """Attack (or accident): the env's process is SIGKILLed mid-episode, so nothing of it can clean up.
    Must: the scratch folder, with whatever the code wrote there, is removed anyway (the zygote
    removes it when its parent dies)."""
    script = (
        "import sys\n"
        "from vista_envs.tools import PythonSandbox\n"
        "sandbox = PythonSandbox('process', pool_size=0)\n"
        "session = sandbox.session()\n"
        "print(session.run(\"open('model-notes.txt', 'w').write('x')\\nimport os\\nprint(os.getcwd())\").stdout, "
        "flush=True)\n"
        "sys.stdin.read()\n"
    )
    env_process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        scratch = Path(env_process.stdout.readline().strip())
        assert (scratch / "model-notes.txt").exists()
    finally:
        env_process.kill()
        env_process.wait()
    deadline = time.monotonic() + 30  # the zygote cleans up when it gets its CPU: generous, for a loaded machine
    while scratch.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not scratch.exists() and not scratch.parent.exists()


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
def test_a_root_host_without_cap_sys_admin_still_runs_code_as_an_unprivileged_uid() -> None:
    """Setting (many containers): root without CAP_SYS_ADMIN, where bwrap cannot build namespaces
    without a user namespace, and a user namespace created by root would map the code to host root.
    Must: bwrap is started as uid 65534 instead, and the code runs as host uid 65534 -- or, where
    that uid cannot read Python, bwrap is refused with a clear message (never root)."""
    from vista_envs.tools.sandbox.launcher import ZygoteLauncher

    launcher = ZygoteLauncher("bwrap", memory_mb=512, scratch_mb=16, scratch_files=64, max_output_chars=100)
    if not launcher._nobody_can_read():
        pytest.skip("uid 65534 cannot read this Python (e.g. a pyenv under a 0700 /root)")
    script = (
        "from vista_envs.tools import PythonSandbox\n"
        "with PythonSandbox('bwrap', pool_size=0) as sandbox, sandbox.session() as session:\n"
        "    print(session.run('import os\\nprint(os.getuid(), os.getgid())').stdout, end='')\n"
    )
    command = ["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin", sys.executable, "-c", script]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert result.stdout == "65534 65534\n", result.stderr[-2000:]
