"""Tools that VistaTool-v0 agents call: the sandboxed ``python`` interpreter (:mod:`.sandbox`)."""

from vista_envs.tools.sandbox import (
    ExecutionResult,
    PythonSandbox,
    PythonSession,
    SandboxFallbackWarning,
    SandboxUnavailableError,
    bwrap_unavailable_reason,
)

__all__ = [
    "ExecutionResult",
    "PythonSandbox",
    "PythonSession",
    "SandboxFallbackWarning",
    "SandboxUnavailableError",
    "bwrap_unavailable_reason",
]
