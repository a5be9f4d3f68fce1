"""Silencing what C extensions print straight to the process's file descriptors.

PyBullet's module initialisation prints a build banner ("pybullet build time: ...") from C, past Python's
``sys.stdout``/``sys.stderr``, so no Python-level redirection catches it; it would land in the output of
``vista-envs list`` and of any pipeline that imports the robot envs. :func:`silenced_output` points file
descriptors 1 and 2 at ``os.devnull`` around such an import and restores them afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator

__all__ = ["silenced_output"]


def _flush_c_streams() -> None:
    """``fflush(NULL)``: C's own buffers must be emptied while the descriptors still point at devnull, or a
    banner buffered by a fully buffered (piped) stdout would be written after they are restored."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library to reach this way (e.g. Windows): nothing to flush
        pass


@contextlib.contextmanager
def silenced_output() -> Iterator[None]:
    """Send everything written to file descriptors 1 and 2 inside the block to ``os.devnull``.

    Process-wide while it lasts (descriptors are shared by every thread), so keep the block to the one
    import that needs it. Python exceptions raised inside still propagate, and print after the block.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a replaced or closed stream has nothing to flush
            stream.flush()
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    saved: list[tuple[int, int]] = []
    try:
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
            except OSError:  # the descriptor is not open: nothing to silence
                continue
            os.dup2(devnull, fd)
        yield
    finally:
        _flush_c_streams()
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
