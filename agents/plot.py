"""Training curves people can look at: ``vista-agents plot RUN_DIR... [--out curves.png|.html]``.

Each run directory's ``metrics.jsonl`` (as every trainer writes it) becomes one line per metric, the runs
overlaid in one figure with a panel per kind of metric: reward, success and accuracy, per-term rewards,
KL, entropy, loss. Evaluation rows (``eval/*``) are drawn with markers, since they are logged only every
``eval_every`` steps. ``--metrics`` picks other metrics by substring. ``.html`` embeds the PNG and a table
of each run's last values, so one file can be shared.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vista_agents.run_log import read_metrics

__all__ = ["PANELS", "panel_series", "plot_runs"]

# (title, whether a metric belongs): the first panel that claims a metric draws it.
PANELS: tuple[tuple[str, Any], ...] = (
    ("reward", lambda name: name.split("/")[-1] == "reward"),
    ("success / accuracy", lambda name: any(word in name for word in ("success", "accuracy", "agreement"))),
    (
        "reward terms",
        lambda name: name.startswith("terms/") or "/terms/" in name or (name.endswith("_rate") and "format" in name),
    ),
    ("KL", lambda name: name.split("/")[-1] == "kl"),
    ("entropy", lambda name: "entropy" in name),
    ("loss", lambda name: name.split("/")[-1].endswith("loss")),
)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def panel_series(
    rows: Sequence[dict[str, Any]], selectors: Sequence[tuple[str, Any]] = PANELS
) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """``{panel: {metric: [(step, value), ...]}}`` for the metrics each panel claims (rows without a value skip it)."""
    panels: dict[str, dict[str, list[tuple[int, float]]]] = {title: {} for title, _ in selectors}
    for row in rows:
        step = row.get("step")
        if not isinstance(step, int):
            continue
        for name, value in row.items():
            if name == "step" or not _numeric(value):
                continue
            title = next((title for title, claims in selectors if claims(name)), None)
            if title is not None:
                panels[title].setdefault(name, []).append((step, float(value)))
    return {title: series for title, series in panels.items() if series}


def _figure(runs: dict[str, list[dict[str, Any]]], selectors: Sequence[tuple[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_run = {name: panel_series(rows, selectors) for name, rows in runs.items()}
    titles = [title for title, _ in selectors if any(title in panels for panels in per_run.values())]
    if not titles:
        raise ValueError("none of the runs logged a metric to plot (check the run directories and --metrics)")
    columns = min(3, len(titles))
    rows_n = math.ceil(len(titles) / columns)
    figure, axes = plt.subplots(rows_n, columns, figsize=(5.2 * columns, 3.6 * rows_n), squeeze=False)
    for axis, title in zip(axes.flat, titles):
        for run, panels in per_run.items():
            for metric, points in panels.get(title, {}).items():
                steps, values = zip(*points)
                label = metric if len(runs) == 1 else f"{run}: {metric}"
                axis.plot(
                    steps,
                    values,
                    marker="o" if metric.startswith("eval/") or len(points) < 3 else None,
                    markersize=3,
                    label=label,
                )
        axis.set_title(title)
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    for axis in list(axes.flat)[len(titles) :]:
        axis.set_visible(False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _html(runs: dict[str, list[dict[str, Any]]], png: bytes) -> str:
    image = base64.b64encode(png).decode("ascii")
    table = []
    for name, rows in runs.items():
        last: dict[str, Any] = {}
        for row in rows:
            last.update({key: value for key, value in row.items() if _numeric(value)})
        cells = "".join(
            f"<tr><td>{html.escape(key)}</td><td>{value:.4g}</td></tr>" for key, value in sorted(last.items())
        )
        table.append(f"<h2>{html.escape(name)}</h2><table>{cells}</table>")
    style = (
        "body{font-family:sans-serif;margin:2em} table{border-collapse:collapse} td{border:1px solid "
        "#ccc;padding:2px 8px}"
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>training "
        f"curves</title><style>{style}</style></head><body><img alt='training curves' "
        f"src='data:image/png;base64,{image}'>{''.join(table)}</body></html>"
    )


def plot_runs(run_dirs: Sequence[str | Path], out: str | Path, metrics: Sequence[str] = ()) -> Path:
    """Draw the runs' curves into ``out`` (``.png`` or ``.html``); ``metrics`` (substrings) replace the default
    panels."""
    out = Path(out)
    if out.suffix not in (".png", ".html"):
        raise ValueError(f"--out must end in .png or .html, got {out.name!r}")
    runs: dict[str, list[dict[str, Any]]] = {}
    for run_dir in map(Path, run_dirs):
        if not (run_dir / "metrics.jsonl").is_file():
            raise FileNotFoundError(f"{run_dir}: no metrics.jsonl (is it a vista-agents run directory?)")
        name = run_dir.name if run_dir.name not in runs else str(run_dir)
        runs[name] = read_metrics(run_dir)
    selectors = (
        tuple((pattern, lambda name, pattern=pattern: pattern in name) for pattern in metrics) if metrics else PANELS
    )
    png = _figure(runs, selectors)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".png":
        out.write_bytes(png)
    else:
        out.write_text(_html(runs, png))
    return out
