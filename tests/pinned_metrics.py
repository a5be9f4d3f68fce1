"""The metric rows of short seeded runs of every trainer, pinned: a refactor of the learners must not change them.

Each trainer's test module compares the rows of its short run with ``tests/data/pinned_trainer_metrics.json``.
Timings vary from run to run and are left out. The numbers come from float32 on a CPU: another CPU (or a
changed env) may move the last digits or, through a different sampled token, whole rows; re-pin deliberately
with ``VISTA_PIN_METRICS=1 python -m pytest tests/agents/test_<trainer>.py -k pinned`` and say why in the commit.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

PINNED = Path(__file__).parent / "data" / "pinned_trainer_metrics.json"
# Relative tolerance per metric (default 1e-5). A gradient's norm sums the squares of every parameter's gradient, so
# it moves most between CPUs: SFT's step-4 spike (9.9729) differs by 4.6e-5 between the machines it was pinned on
# and the AMD EPYC ones (2026-12-08), while every loss still agrees to 1e-5. A refactor that changes the numbers
# moves them far more than 1e-4.
RELATIVE_TOLERANCE = {"grad_norm": 1e-4}


def _stable(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row without its timings (wall-clock and throughput)."""
    return {name: value for name, value in row.items() if not name.startswith("time/") and not name.endswith("_per_s")}


def assert_matches_pinned(trainer: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Assert that ``rows`` equal the pinned rows of ``trainer`` (numbers to float tolerance), or pin them when
    asked."""
    pinned = json.loads(PINNED.read_text()) if PINNED.exists() else {}
    stable = [_stable(row) for row in rows]
    if os.environ.get("VISTA_PIN_METRICS") == "1":
        pinned[trainer] = stable
        PINNED.write_text(json.dumps(pinned, indent=1, sort_keys=True) + "\n")
        return
    assert trainer in pinned, f"no pinned metrics for {trainer}: run with VISTA_PIN_METRICS=1 once"
    expected = pinned[trainer]
    assert [sorted(row) for row in stable] == [sorted(row) for row in expected]
    for got, want in zip(stable, expected):
        for name, value in want.items():
            if isinstance(value, float) and not math.isnan(value):
                rel = RELATIVE_TOLERANCE.get(name, 1e-5)
                assert got[name] == pytest.approx(value, rel=rel, abs=1e-7), f"step {want.get('step')}: {name}"
            else:
                assert got[name] == value, f"step {want.get('step')}: {name}"
