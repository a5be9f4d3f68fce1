"""An env's tool state: the current view, the episode's Python interpreter, the search engine.

The sandbox (a zygote with interpreters forked ahead) is created with the env and lives until
``close()``; each episode gets a fresh interpreter, taken on its first Python call and destroyed
when the episode ends, so no state crosses episodes.
"""

from __future__ import annotations

import numpy as np

from vista_envs.tools.image_view import ImageView
from vista_envs.tools.sandbox import PythonSandbox, PythonSession
from vista_envs.tools.search import SearchEngine, make_search_engine
from vista_envs.tools.toolbox import ToolResult

__all__ = ["EpisodeTools"]


class EpisodeTools:
    """Implements the :class:`~vista_envs.tools.toolbox.ToolContext` that the tools act on.

    Args:
        sandbox_mode: ``"auto"``, ``"bwrap"`` or ``"process"`` (see :class:`PythonSandbox`); None
            means the env offers no Python tool and no sandbox is started.
        python_timeout_s: wall-clock limit of one Python call.
        search_backend: ``"local"`` (offline BM25) or ``"web"`` (ddgs).
    """

    def __init__(self, sandbox_mode: str | None, python_timeout_s: float, search_backend: str):
        if search_backend not in ("local", "web"):
            raise ValueError(f"search_backend must be 'local' or 'web', got {search_backend!r}")
        self._sandbox = PythonSandbox(sandbox_mode, timeout_s=python_timeout_s, pool_size=2) if sandbox_mode else None
        self._search_backend = search_backend
        self._search_engine: SearchEngine | None = None
        self._session: PythonSession | None = None
        self._session_view: ImageView | None = None
        self.view: ImageView | None = None

    @property
    def isolation(self) -> str:
        """The Python tool's isolation in force: ``"bwrap"``, ``"process"`` or ``"none"`` (no Python tool)."""
        return self._sandbox.isolation if self._sandbox is not None else "none"

    @property
    def sandbox_description(self) -> str:
        """``info["sandbox"]``: ``"bwrap"``, ``"none"``, or ``"process (...)"`` saying plainly what process mode does
        not stop."""
        return self._sandbox.description if self._sandbox is not None else "none"

    def start_episode(self, view: ImageView) -> None:
        self.end_episode()
        self.view = view

    def end_episode(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def run_python(self, code: str) -> ToolResult:
        """Run ``code`` in the episode's interpreter with the current view as ``image``.

        An exception in the code is a normal outcome (the traceback is the output), not a failed call.
        """
        if self._sandbox is None:
            return ToolResult("the python tool is not available in this env", ok=False)
        assert self.view is not None
        if self._session is None:
            self._session = self._sandbox.session(image=np.asarray(self.view.image))
        elif self._session_view is not self.view:
            self._session.set_image(np.asarray(self.view.image))
        self._session_view = self.view
        return ToolResult(self._session.run(code).text)

    def search(self, query: str, k: int) -> ToolResult:
        """Search the knowledge base; a backend failure (e.g. offline web search) is a failed call."""
        if self._search_engine is None:
            self._search_engine = make_search_engine(self._search_backend)
        result = self._search_engine.search(query, k)
        return ToolResult(result.text, ok=result.error is None)

    def close(self) -> None:
        self.end_episode()
        if self._sandbox is not None:
            self._sandbox.close()
