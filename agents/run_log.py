"""Metrics of a training run: one row per step to JSONL and CSV, and optionally to TensorBoard.

``<output_dir>/metrics.jsonl`` is the record (one JSON object per logged step, ``step`` first);
``metrics.csv`` holds the same rows for spreadsheets and plots, its columns the union of every key so
far (rows without a key leave it empty). A run resumed from step ``k`` drops the rows after ``k`` that
the interrupted run wrote, so the files read as one uninterrupted run.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["RunLogger", "read_metrics"]


def read_metrics(output_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of ``<output_dir>/metrics.jsonl`` (empty when there is none)."""
    path = Path(output_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _jsonable(value: Any) -> Any:
    """Floats as JSON numbers; NaN and infinities (a step with nothing to measure) as null."""
    value = float(value) if hasattr(value, "item") else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


class RunLogger:
    """Appends metric rows to JSONL and CSV (and TensorBoard when asked).

    Args:
        output_dir: the run directory (created).
        resume_step: keep only the existing rows with ``step <= resume_step``; None starts afresh.
        tensorboard: also write TensorBoard scalars under ``<output_dir>/tensorboard`` (needs the
            ``tensorboard`` package).
    """

    def __init__(self, output_dir: str | os.PathLike[str], resume_step: int | None = None, tensorboard: bool = False):
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = self.output_dir / "metrics.jsonl"
        self.csv_path = self.output_dir / "metrics.csv"
        kept = [row for row in read_metrics(self.output_dir) if resume_step is not None and row["step"] <= resume_step]
        self.rows: list[dict[str, Any]] = []
        self.jsonl_path.write_text("")
        for row in kept:
            self._append(row)
        self._write_csv()
        self.writer = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            self.writer = SummaryWriter(str(self.output_dir / "tensorboard"))

    def log(self, step: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """Record one row; returns it as written."""
        row = {"step": step, **{key: _jsonable(value) for key, value in metrics.items()}}
        new_columns = set(row) - set(self.columns)
        self._append(row)
        if new_columns:
            self._write_csv()
        else:
            with self.csv_path.open("a", newline="") as handle:
                csv.DictWriter(handle, self.columns).writerow(row)
        if self.writer is not None:
            for key, value in row.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, step)
        return row

    @property
    def columns(self) -> list[str]:
        columns: dict[str, None] = {}
        for row in self.rows:
            columns.update(dict.fromkeys(row))
        return list(columns)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def _append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        with self.jsonl_path.open("a") as handle:
            handle.write(json.dumps(row) + "\n")

    def _write_csv(self) -> None:
        with self.csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
