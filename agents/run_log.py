"""Metrics of a training run: one row per step to JSONL and CSV, and optionally to TensorBoard.

``<output_dir>/metrics.jsonl`` is the record (one JSON object per logged step, ``step`` first);
``metrics.csv`` holds the same rows for spreadsheets and plots, its columns the union of every key so
far (rows without a key leave it empty). A run resumed from step ``k`` drops the rows after ``k`` that
the interrupted run wrote, so the files read as one uninterrupted run; a last line cut short by a kill
is dropped too. A new run refuses an output folder that holds another run's metrics or checkpoints
unless it resumes that run or is told to overwrite it (:func:`claim_output_dir`).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

__all__ = ["RUN_ARTIFACTS", "RunLogger", "claim_output_dir", "read_metrics", "run_artifacts"]

# What a run writes into its output folder (VisPlay's roles keep their checkpoints one level down).
RUN_ARTIFACTS = ("metrics.jsonl", "metrics.csv", "tensorboard", "checkpoints", "warm_start", "*/checkpoints")


def read_metrics(output_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of ``<output_dir>/metrics.jsonl`` (empty when there is none).

    A last line that is not valid JSON (the write of a killed run, cut short) is dropped with a warning;
    a bad line anywhere else is corruption, reported with its line number.
    """
    path = Path(output_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    lines = [(number, line) for number, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]
    rows = []
    for index, (number, line) in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            if index == len(lines) - 1:
                warnings.warn(f"{path}: dropping its last line, cut short ({error})", stacklevel=2)
                break
            raise ValueError(f"{path}, line {number}: not a JSON metrics row ({error})") from None
        if not isinstance(row, dict) or not isinstance(row.get("step"), int):
            raise ValueError(f"{path}, line {number}: a metrics row must be a JSON object with an int 'step'")
        rows.append(row)
    return rows


def run_artifacts(output_dir: str | os.PathLike[str]) -> list[Path]:
    """What a run left in ``output_dir`` (metrics, checkpoints, ...; :data:`RUN_ARTIFACTS`), sorted."""
    root = Path(output_dir)
    return sorted({path for pattern in RUN_ARTIFACTS for path in root.glob(pattern)})


def claim_output_dir(output_dir: str | os.PathLike[str], resume: bool, overwrite: bool) -> None:
    """Check that a run may write into ``output_dir`` before it writes anything.

    A folder holding another run's metrics or checkpoints is refused unless the new run resumes it
    (``resume``) or replaces it (``overwrite``: those files are deleted first); otherwise its old
    checkpoints would outlive the new run's metrics, and a later ``--resume`` would continue the old run.
    """
    root = Path(output_dir)
    found = run_artifacts(root)
    if not found or resume:
        return
    if not overwrite:
        names = ", ".join(str(path.relative_to(root)) for path in found)
        raise FileExistsError(
            f"{root} already holds a run ({names}): pass --resume to continue it, --overwrite to delete it and start "
            "afresh, "
            "or choose another --output-dir"
        )
    for path in found:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


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
