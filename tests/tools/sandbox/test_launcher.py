"""The host's control channel to the sandbox's zygote (vista_envs.tools.sandbox.launcher)."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from vista_envs.tools.sandbox.launcher import ZygoteLauncher
from vista_envs.tools.sandbox.worker import WorkerTimedOut


def test_a_zygote_reply_that_comes_after_its_deadline_is_dropped_and_later_requests_get_their_own() -> None:
    launcher = ZygoteLauncher("process", memory_mb=512, scratch_mb=16, scratch_files=64, max_output_chars=100)
    try:
        first = launcher.spawn()
        # A request whose reply is read only after its deadline, as when a loaded machine slows the zygote: the
        # zygote still answers it, so that answer is the next one on the channel.
        with launcher._lock:
            assert launcher._control is not None
            launcher._control.send(json.dumps({"op": "exit_status", "pid": 1}).encode())
            with pytest.raises(WorkerTimedOut):
                launcher._receive(time.monotonic() - 1.0)
        # The next spawn reads its own answer (an interpreter), not the late {"status": ...}, ...
        second = launcher.spawn()
        assert second.alive and second.host_pid != first.host_pid
        reply = second.request(
            {"op": "run", "code": "print(6 * 7)", "timeout_s": 5.0}, timeout_s=30, max_reply_bytes=4096
        )
        assert reply["stdout"] == "42\n"
        # ... and an exit-status request its own status, not the answer to the spawn before it.
        first.kill()
        assert first.gone(timeout_s=10)
        deadline = time.monotonic() + 10
        status = first._exit_status()
        while status is None and time.monotonic() < deadline:  # the zygote reaps on SIGCHLD, when it next runs
            time.sleep(0.05)
            status = first._exit_status()
        assert status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        second.destroy()
    finally:
        launcher.close()
