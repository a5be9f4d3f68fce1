"""Where the checkout's folders are, for tests at any depth of ``tests/`` (it is on ``sys.path``: see pyproject)."""

import importlib.util
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
BENCHMARKS = REPO / "benchmarks"
DOCS = REPO / "docs"


def subprocess_env(test_file: str, **variables: str) -> dict[str, str]:
    """The environment in which a child Python imports the test module at ``test_file`` by name (and the shared
    helpers), as pytest does: its folder and ``tests/`` first on ``PYTHONPATH``, so an installed package that ships
    a top-level ``tests`` cannot win over ours."""
    path = [str(Path(test_file).resolve().parent), str(TESTS), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path)), **variables}


@contextmanager
def benchmark_module(name: str) -> Iterator:
    """The script ``benchmarks/<name>.py`` loaded as a module, with ``benchmarks/`` on ``sys.path`` meanwhile (the
    scripts import their sibling helpers, ``results_file`` and the like, by name)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))
