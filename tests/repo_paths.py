"""Where the checkout's folders are, for tests at any depth of ``tests/`` (it is on ``sys.path``: see pyproject)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = REPO / "tests"
BENCHMARKS = REPO / "benchmarks"
DOCS = REPO / "docs"
