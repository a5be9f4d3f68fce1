"""Every example of docs/integrations.md runs (the TRL training ones in the slow run)."""

from __future__ import annotations

import re

import pytest

import repo_paths

pytest.importorskip("datasets")
pytest.importorskip("pyarrow")

DOC = repo_paths.DOCS / "integrations.md"
EXAMPLES = dict(re.findall(r"<!-- example: ([\w-]+) -->\n```python\n(.*?)```", DOC.read_text(), re.DOTALL))


def _run(name):
    exec(compile(EXAMPLES[name], f"{DOC.name}:{name}", "exec"), {"__name__": "__docs__"})


def test_the_doc_has_one_example_per_trainer():
    assert set(EXAMPLES) == {"trl-single-turn", "trl-multi-turn", "verl", "easyr1"}


@pytest.mark.parametrize("name", ["verl", "easyr1"])
def test_the_export_examples_run(name, capsys):
    _run(name)
    assert capsys.readouterr().out.strip()


@pytest.mark.slow
@pytest.mark.parametrize("name", ["trl-single-turn", "trl-multi-turn"])
def test_the_trl_examples_run(name, capsys, monkeypatch):
    pytest.importorskip("trl")
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    _run(name)
    assert capsys.readouterr().out.strip()
