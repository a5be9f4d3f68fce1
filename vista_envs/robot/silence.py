"""Silencing what C extensions print straight to the process's file descriptors.

PyBullet prints from C, past Python's ``sys.stdout``/``sys.stderr``, so no Python-level redirection catches
it: a build banner ("pybullet build time: ...") when the module is imported and ``argv[0]=`` when a client
connects. Both would land in the output of ``vista-envs list`` or ``show`` and of any pipeline that uses the
robot envs. :func:`silenced_output` points file descriptors 1 and 2 at ``os.devnull`` around such a call and
restores them afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
from collections.abc import Iterator

__all__ = ["silenced_output"]


@functools.cache
def _c_library() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None)
    except (OSError, TypeError):  # no C library to reach this way (e.g. Windows)
        return None


def _flush_c_streams() -> None:
    """``fflush(NULL)``: C's buffers are emptied before the descriptors are redirected (what was printed before
    still reaches the terminal) and again before they are restored (a banner buffered by a fully buffered,
    piped stdout would otherwise be written afterwards)."""
    library = _c_library()
    if library is not None:
        with contextlib.suppress(AttributeError):
            library.fflush(None)


@contextlib.contextmanager
def silenced_output() -> Iterator[None]:
    """Send everything written to file descriptors 1 and 2 inside the block to ``os.devnull``.

    Process-wide while it lasts (descriptors are shared by every thread), so keep the block to the one
    call that needs it. Python exceptions raised inside still propagate, and print after the block.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a replaced or closed stream has nothing to flush
            stream.flush()
    _flush_c_streams()
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
