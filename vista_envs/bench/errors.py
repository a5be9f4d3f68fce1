"""The error an agent raises when the fault is not the model's: the bench retries, never scores it."""

from __future__ import annotations

__all__ = ["InfrastructureError"]


class InfrastructureError(RuntimeError):
    """An agent could not produce an answer for reasons outside the model: a connection refused, an
    HTTP 5xx or 429, an endpoint timeout, a crash in the agent's own process.

    The bench treats any exception from ``act`` (and an ``act`` past the step timeout) as one of these:
    the batch is retried with backoff, a run of them stops the run with one message, and their episodes
    are re-run on resume. Agents may raise it (or a subclass) to say so explicitly; the ``openai:``
    agents map their endpoint errors to it.
    """
