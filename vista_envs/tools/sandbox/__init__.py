"""A sandboxed, persistent Python interpreter: the engine behind VistaTool's ``python`` tool.

Model-written code runs in a separate, confined process that the host can always kill, never in
the host process. Usage::

    import numpy as np
    from vista_envs.tools import PythonSandbox

    with PythonSandbox() as sandbox:                 # mode="auto": bubblewrap if it works
        print(sandbox.isolation)                     # "bwrap" or "process"
        with sandbox.session(image=np.zeros((224, 224, 3), np.uint8)) as session:
            session.run("x = image.mean()")
            result = session.run("print(x + 1)")     # globals persist between calls
            print(result.ok, result.stdout)          # True 1.0

One :class:`PythonSandbox` per env starts one *zygote*: an interpreter, inside the sandbox, with
the standard library and numpy already imported, that never runs model code. Each episode's
interpreter is forked from it, confines itself (own namespaces and scratch tmpfs, unprivileged
uid, no capabilities, rlimits, seccomp) and is destroyed at :meth:`PythonSession.close`; none
is ever reused. A few are forked ahead of demand, so a session starts in about a millisecond.

Layers, one module each:

- :mod:`.inside` -- what runs in the sandbox: the wire format (:mod:`.inside.framing`, shared with
  the host), the zygote, the per-episode confinement, the seccomp filter, the interpreter.
- :mod:`.worker` -- the host's handle on one interpreter: pipes, pidfd, nonce-checked requests.
- :mod:`.launcher` -- the bwrap command line and mounts; starting the zygote; forking from it.
- :mod:`.pool` -- interpreters forked ahead of demand by one background thread.
- :mod:`.api` -- :class:`PythonSandbox`, :class:`PythonSession`, :class:`ExecutionResult`.

What each isolation mode stops, and what it does not, is in ``docs/sandbox.md``.
"""

from vista_envs.tools.sandbox.api import (
    ExecutionResult,
    PythonSandbox,
    PythonSession,
    SandboxFallbackWarning,
    bwrap_unavailable_reason,
)
from vista_envs.tools.sandbox.launcher import SandboxUnavailableError

__all__ = [
    "ExecutionResult",
    "PythonSandbox",
    "PythonSession",
    "SandboxFallbackWarning",
    "SandboxUnavailableError",
    "bwrap_unavailable_reason",
]
