"""A lock on one run's output, so two runs cannot interleave their episodes in one log.

The lock is an exclusive ``flock`` on ``<suite>.<agent>.lock`` beside the log, held for the whole
run; the file names the holder (pid, host, start time) for the message a second run gets. The kernel
drops the lock when its process dies, however it dies, so a lock left by a killed run is simply
taken over (a killed run leaves the file behind; it is harmless). Where ``fcntl`` is missing (Windows), the file itself
is the lock and a holder whose pid is no longer alive on this host is treated as gone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from vista_envs.bench.suites import BenchError

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows)
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock"]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(path):`` holds the run's lock or raises :class:`BenchError` naming the run that holds it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._handle: Any = None

    def _holder(self) -> str:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
            return (
                f"pid {holder['pid']} on {holder['host']}, since "
                f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(holder['started_at']))}"
            )
        except (OSError, ValueError, KeyError, TypeError):
            return "another process"

    def _refuse(self) -> BenchError:
        return BenchError(
            f"another run is writing to {self.path.with_suffix('').name} in {self.path.parent} ({self._holder()}); "
            "wait for it to finish or write to another --out folder (nothing was changed)"
        )

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time()})
        if fcntl is not None:
            while True:
                handle = open(self.path, "a+", encoding="utf-8")  # held open for the run
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    handle.close()
                    raise self._refuse() from None
                # The holder before us may have removed the file between our open and our lock: then we
                # hold a lock nobody else can see, and must lock the file that is there now.
                try:
                    if os.stat(self.path).st_ino == os.fstat(handle.fileno()).st_ino:
                        break
                except FileNotFoundError:
                    pass
                handle.close()
            handle.seek(0)
            handle.truncate()
            handle.write(me)
            handle.flush()
            self._handle = handle
            return self
        try:  # pragma: no cover  (Windows)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:  # pragma: no cover
            try:
                holder = json.loads(self.path.read_text(encoding="utf-8"))
                stale = holder["host"] == socket.gethostname() and not _alive(int(holder["pid"]))
            except (OSError, ValueError, KeyError, TypeError):
                stale = False
            if not stale:
                raise self._refuse() from None
            self.path.unlink(missing_ok=True)
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # pragma: no cover
            handle.write(me)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._handle is not None:
            # Removed while still locked; a run that opened it meanwhile notices (inode check) and retries.
            self.path.unlink(missing_ok=True)
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
        else:  # pragma: no cover  (Windows)
            self.path.unlink(missing_ok=True)
