"""Leaderboards: results JSON files → ranked tables (Markdown, self-contained HTML) and PNG plots.

Agents are ranked by success rate (episodes that never ran count as failures), then by mean
reward. Every rate, per-family and per-difficulty cells included, comes with its 95% Wilson
interval, every mean reward with a 95% normal interval. "Overall" pools every episode of every env
of the suite. Only results of one suite (same name, version and content hash) are ranked together;
a result on the public tasks and one on private (salted) tasks of that suite may share a board, and
the "tasks" column says which each used. A run that still has infrastructure errors (episodes cut
off by a dead endpoint, not answered by the model) is refused unless ``allow_infra_errors`` is set;
its row then shows how many.

The HTML page lets a reader open each agent's failed episodes (thumbnail, prompt, response, answer,
reward terms) in ``<details>`` elements: no scripts, a bounded number of small JPEG thumbnails.

Plots need matplotlib (``pip install 'vista-envs[plot]'``); they are drawn with the Agg canvas, never
through pyplot, so no display and no global backend switch is involved.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vista_envs.bench.results import load_results
from vista_envs.bench.suites import BenchError

__all__ = ["Leaderboard", "load_leaderboard", "plot_success", "render_html", "render_markdown", "write_leaderboard"]

FORMATS = ("md", "html")
_AXES = {"family": "by_family", "difficulty": "by_difficulty"}
# Left-aligned columns; the others hold numbers.
_TEXT_COLUMNS = ("#", "agent", "tasks", "family", "difficulty")


@dataclass(frozen=True)
class Leaderboard:
    """Results of one suite, agents ranked best first."""

    suite: Mapping[str, Any]
    runs: tuple[Mapping[str, Any], ...]
    results_dir: Path | None = None

    @property
    def env_names(self) -> list[str]:
        names: list[str] = []
        for run in self.runs:
            names += [name for name in run["by_env"] if name not in names]
        return names

    def ranked(self, env: str | None = None) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
        """``(run, summary)`` pairs, best first: overall, or for one env (runs without that env are left out)."""
        pairs = [
            (run, run["overall"] if env is None else run["by_env"][env]["summary"])
            for run in self.runs
            if env is None or env in run["by_env"]
        ]
        return sorted(
            pairs,
            key=lambda pair: (-pair[1]["success_rate"], -(pair[1]["mean_reward"] or 0.0), pair[0]["agent"]["name"]),
        )

    def labels(self, env: str, axis: str) -> list[str]:
        """The families or difficulties of ``env`` that any run has, in the order the results list them."""
        labels: list[str] = []
        for run in self.runs:
            labels += [label for label in run["by_env"].get(env, {}).get(_AXES[axis], {}) if label not in labels]
        return labels


def _tasks(run: Mapping[str, Any]) -> str:
    """``"public"``, or ``"private (salt <id>)"``: which tasks a result was scored on."""
    suite = run["suite"]
    return f"private (salt {suite.get('salt_id')})" if suite.get("tasks") == "private" else "public"


def load_leaderboard(
    results_dir: str | Path, suite: str | None = None, allow_infra_errors: bool = False
) -> Leaderboard:
    """Read every results JSON in ``results_dir`` (optionally only those of suite ``suite``).

    Raises :class:`BenchError` on a corrupted file, on results of different suites or suite versions
    mixed together, on two results for one agent on the same tasks, on a run that still has
    infrastructure errors (unless ``allow_infra_errors``), or when there is nothing to rank.
    """
    folder = Path(results_dir)
    if not folder.is_dir():
        raise BenchError(f"{folder} is not a folder of results (run `vista-envs bench --out {folder}` first)")
    paths = sorted(p for p in folder.glob("*.json") if p.is_file())
    runs = [(path, load_results(path)) for path in paths]
    if suite is not None:
        runs = [(path, run) for path, run in runs if run["suite"]["name"] == suite]
    if not runs:
        which = f" of suite {suite!r}" if suite else ""
        raise BenchError(
            f"no results{which} in {folder} (results files are the <suite>.<agent>.json that `vista-envs bench` writes)"
        )
    identities: dict[tuple[Any, ...], list[str]] = {}
    for path, run in runs:
        key = (run["suite"]["name"], run["suite"]["version"], run["suite"]["hash"])
        identities.setdefault(key, []).append(path.name)
    if len(identities) > 1:
        listing = "; ".join(
            f"{name} v{version} ({digest}): {', '.join(files)}" for (name, version, digest), files in identities.items()
        )
        names = {name for name, _, _ in identities}
        hint = (
            "pass --suite NAME to rank one suite"
            if len(names) > 1
            else "re-run the older agents on the current suite version, or keep each version's results in its own "
            "folder"
        )
        raise BenchError(
            f"results in {folder} come from different suites or suite versions and cannot be ranked together: "
            f"{listing}; {hint}"
        )
    seen: dict[tuple[str, str], str] = {}
    for path, run in runs:
        name = (run["agent"]["name"], _tasks(run))
        if name in seen:
            raise BenchError(
                f"two results for agent {name[0]!r} on {name[1]} tasks: {seen[name]} and {path.name}; keep one"
            )
        seen[name] = path.name
    unfinished = [(path, run) for path, run in runs if run["overall"]["infra_errors"]]
    if unfinished and not allow_infra_errors:
        listing = ", ".join(
            f"{run['agent']['name']} ({run['overall']['infra_errors']} in {path.name})" for path, run in unfinished
        )
        raise BenchError(
            "not ranking agents whose runs still have infrastructure errors (episodes cut off by the endpoint or the "
            "agent's "
            f"process, not answered by the model): {listing}; rerun their bench command to resume them, or pass "
            "--allow-infra-errors to rank them anyway (those episodes count as failures)"
        )
    public = [run for _, run in runs if run["suite"].get("tasks") != "private"]
    return Leaderboard(
        suite=(public or [runs[0][1]])[0]["suite"], runs=tuple(run for _, run in runs), results_dir=folder
    )


# -- formatting helpers -------------------------------------------------------------------------------


def _percent(rate: float) -> str:
    return f"{100 * rate:.1f}"


def _success_text(summary: Mapping[str, Any]) -> str:
    low, high = summary["success_ci95"]
    return f"{_percent(summary['success_rate'])} [{_percent(low)}, {_percent(high)}]"


def _reward_text(summary: Mapping[str, Any]) -> str:
    if summary["mean_reward"] is None:
        return "-"
    interval = summary.get("reward_ci95")
    return f"{summary['mean_reward']:.3f}" + (f" [{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "")


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _agent_label(run: Mapping[str, Any]) -> str:
    not_run = run["overall"]["not_run"]
    return run["agent"]["name"] + (f" (incomplete: {not_run} not run)" if not_run else "")


def _interval_cell(summary: Mapping[str, Any]) -> str:
    """A per-family or per-difficulty cell: ``success % [95% Wilson CI] (k/n)``."""
    return f"{_success_text(summary)} ({summary['successes']}/{summary['episodes']})"


_MAIN_COLUMNS = (
    "#",
    "agent",
    "tasks",
    "success % [95% CI]",
    "mean reward [95% CI]",
    "episodes",
    "turns",
    "tool calls",
    "tokens",
    "chars",
    "errors",
    "infra errors",
)


def _main_rows(board: Leaderboard, env: str | None) -> list[list[str]]:
    rows = []
    for rank, (run, summary) in enumerate(board.ranked(env), start=1):
        rows.append(
            [
                str(rank),
                _agent_label(run),
                _tasks(run),
                _success_text(summary),
                _reward_text(summary),
                str(summary["episodes"]),
                _number(summary["mean_turns"], 2),
                _number(summary["mean_tool_calls"], 2),
                _number(summary["mean_tokens"], 0),  # "-" when the agent has no tokenizer
                _number(summary.get("mean_chars"), 0),
                str(summary["errors"]),
                str(summary["infra_errors"]),
            ]
        )
    return rows


def _breakdown(board: Leaderboard, env: str, axis: str) -> tuple[list[str], list[list[str]]]:
    """Columns (axis label, then agents in rank order) and rows ``success % [95% CI] (k/n)`` per family or
    difficulty."""
    runs = [run for run, _ in board.ranked(env)]
    rows = []
    for label in board.labels(env, axis):
        row = [label]
        for run in runs:
            summary = run["by_env"][env][_AXES[axis]].get(label)
            row.append("-" if summary is None else _interval_cell(summary))
        rows.append(row)
    return [axis, *(_column_name(run) for run in runs)], rows


def _column_name(run: Mapping[str, Any]) -> str:
    return run["agent"]["name"] + (" (private)" if run["suite"].get("tasks") == "private" else "")


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(cells: Sequence[str]) -> str:
        # A newline in a cell (an agent's name, say) would end the row: whitespace runs become one space.
        return "| " + " | ".join(" ".join(cell.split()).replace("|", "\\|") for cell in cells) + " |"

    align = ["---" if column in _TEXT_COLUMNS else "---:" for column in columns]
    return "\n".join([line(columns), "| " + " | ".join(align) + " |", *(line(row) for row in rows)])


def _suite_line(board: Leaderboard) -> str:
    suite = board.suite
    return (
        f"suite `{suite['name']}` v{suite['version']} (`{suite['hash']}`), split `{suite['split']}`, "
        f"{suite['episodes']} episodes per agent"
    )


_NOTE = (
    "Ranked by success rate (episodes that never ran count as failures), then mean reward. "
    "95% confidence intervals: Wilson for success rates (per family and difficulty too), normal approximation for mean "
    "rewards. "
    'Turns, tool calls, tokens and chars are means per episode: tokens of the agent\'s own tokenizer ("-" when it has '
    "none), "
    "chars of its responses (every agent). Errors counts episodes ended by an agent or env error; infra errors counts "
    "episodes "
    "cut off by the endpoint or the agent's process (not scored as answers; a board with any was ranked with "
    "--allow-infra-errors). "
    "Tasks: public (the suite's published seeds) or private (drawn with the evaluator's secret salt)."
)


def render_markdown(board: Leaderboard, plots: Mapping[str, str] | None = None) -> str:
    """The leaderboard as Markdown; ``plots`` maps a plot name (``"<env>-family"``) to an image path to link."""
    parts = [
        f"**Leaderboard** — {_suite_line(board)}",
        "",
        "### Overall",
        "",
        _markdown_table(_MAIN_COLUMNS, _main_rows(board, None)),
    ]
    for env in board.env_names:
        parts += ["", f"### {env}", "", _markdown_table(_MAIN_COLUMNS, _main_rows(board, env))]
        for axis in _AXES:
            columns, rows = _breakdown(board, env, axis)
            parts += ["", f"Success % by {axis} ({env}):", "", _markdown_table(columns, rows)]
            if plots and f"{env}-{axis}" in plots:
                parts += ["", f"![success by {axis}, {env}]({plots[f'{env}-{axis}']})"]
    parts += ["", _NOTE]
    return "\n".join(parts) + "\n"


# -- plots --------------------------------------------------------------------------------------------


def plot_success(board: Leaderboard, env: str, axis: str) -> bytes:
    """A PNG of success rate (with 95% Wilson intervals) by family (grouped bars) or by difficulty (lines)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    runs = [run for run, _ in board.ranked(env)]
    labels = board.labels(env, axis)
    width = max(6.0, 0.45 * len(labels) * max(1, len(runs)) ** 0.5 + 2) if axis == "family" else 6.0
    figure = Figure(figsize=(width, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    bar_width = 0.8 / max(1, len(runs))
    for index, run in enumerate(runs):
        groups = run["by_env"][env][_AXES[axis]]
        present = [i for i, label in enumerate(labels) if label in groups]
        rates = [100 * groups[labels[i]]["success_rate"] for i in present]
        # Error bar lengths; max(0, ...) absorbs rounding where the interval touches the rate at 0 or 100 %.
        low = [max(0.0, rate - 100 * groups[labels[i]]["success_ci95"][0]) for rate, i in zip(rates, present)]
        high = [max(0.0, 100 * groups[labels[i]]["success_ci95"][1] - rate) for rate, i in zip(rates, present)]
        name = run["agent"]["name"]
        if axis == "family":
            positions = [i - 0.4 + bar_width * (index + 0.5) for i in present]
            ax.bar(
                positions,
                rates,
                bar_width,
                yerr=[low, high],
                capsize=2,
                label=name,
                error_kw={"elinewidth": 0.8, "ecolor": "0.35"},
            )
        else:
            # A small sideways offset per agent keeps overlapping intervals apart.
            positions = [i + 0.05 * (index - (len(runs) - 1) / 2) for i in present]
            ax.errorbar(positions, rates, yerr=[low, high], marker="o", capsize=3, label=name)
    ax.set_xticks(
        range(len(labels)), labels, rotation=40 if axis == "family" else 0, ha="right" if axis == "family" else "center"
    )
    ax.set_ylim(0, 105)
    ax.set_ylabel("success % (95% CI)")
    ax.set_xlabel(axis)
    ax.set_title(f"{env}: success by {axis}")
    ax.grid(axis="y", alpha=0.3)
    figure.legend(loc="outside right upper", fontsize="small")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _all_plots(board: Leaderboard) -> dict[str, bytes]:
    """Every plot as PNG bytes by name, or none when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        warnings.warn(
            "the leaderboard has no plots: they need matplotlib (pip install 'vista-envs[plot]')", stacklevel=3
        )
        return {}
    return {f"{env}-{axis}": plot_success(board, env, axis) for env in board.env_names for axis in _AXES}


# -- HTML ---------------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1200px;
  color: #1b1f24; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { margin-top: 2.2rem; border-bottom: 1px solid #d0d7de; padding-bottom: 0.3rem; }
h3 { font-size: 1rem; margin-top: 1.4rem; }
p.meta, p.note { color: #57606a; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: right; white-space: nowrap; }
th { background: #f6f8fa; }
td.text, th.text { text-align: left; }
tr:nth-child(even) td { background: #fbfcfd; }
.bar { display: inline-block; height: 0.6rem; background: #2f81f7; vertical-align: middle; margin-right: 0.4rem;
  border-radius: 2px; }
img { max-width: 100%; border: 1px solid #d0d7de; margin: 0.5rem 0; }
.scroll { overflow-x: auto; }
details.failure { border: 1px solid #d0d7de; border-radius: 4px; margin: 0.3rem 0; padding: 0.2rem 0.6rem;
  font-size: 0.9rem; }
details.failure summary { cursor: pointer; color: #0969da; }
details.failure[open] summary { margin-bottom: 0.4rem; }
.episode { display: flex; gap: 1rem; align-items: flex-start; }
.episode img.thumb { width: 96px; height: auto; image-rendering: pixelated; border: 1px solid #d0d7de; margin: 0;
  flex: none; }
.episode pre { white-space: pre-wrap; word-break: break-word; background: #f6f8fa; padding: 0.4rem; margin: 0.2rem 0;
  max-height: 16rem; overflow-y: auto; }
.episode table { font-size: 0.8rem; margin: 0.2rem 0; }
"""

# Failed episodes the page shows per agent and env (each with a ~3 kB thumbnail): keeps the page small.
MAX_FAILURES_SHOWN = 8
_THUMBNAIL_URL = re.compile(r"^data:image/(?:jpeg|png);base64,[A-Za-z0-9+/]{1,20000}={0,2}$")


def _html_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], table_id: str, bars: Sequence[float] | None = None
) -> str:
    text_columns = {i for i, column in enumerate(columns) if column in _TEXT_COLUMNS}
    head = "".join(
        f'<th class="{"text" if i in text_columns else ""}">{html.escape(c)}</th>' for i, c in enumerate(columns)
    )
    body = []
    for row_index, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            content = html.escape(cell)
            if bars is not None and columns[i].startswith("success"):
                content = f'<span class="bar" style="width:{60 * bars[row_index]:.0f}px"></span>{content}'
            cells.append(f'<td class="{"text" if i in text_columns else ""}">{content}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="scroll"><table '
        f'id="{html.escape(table_id)}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
    )


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-").lower()


def _failure_html(example: Mapping[str, Any]) -> str:
    """One failed episode as a ``<details>`` element: opened by a click, it shows what the model saw and said."""
    escape = html.escape
    reward = example.get("reward")
    summary = (
        f"{example.get('key')}: reward {reward:.3f}" if isinstance(reward, (int, float)) else str(example.get("key"))
    )
    thumbnail = example.get("thumbnail")
    image = (
        f'<img class="thumb" alt="task image" src="{escape(thumbnail)}">'
        if isinstance(thumbnail, str) and _THUMBNAIL_URL.match(thumbnail)
        else ""
    )
    terms = example.get("reward_terms") if isinstance(example.get("reward_terms"), dict) else {}
    terms_rows = "".join(
        f'<tr><td class="text">{escape(str(k))}</td><td>{escape(_term(v))}</td></tr>' for k, v in terms.items()
    )
    parts = [
        f"<div><b>prompt</b><pre>{escape(str(example.get('prompt') or '-'))}</pre>",
        f'<b>response</b><pre class="response">{escape(str(example.get("response") or "-"))}</pre>',
        f"<b>expected</b> {escape(str(example.get('answer') or '-'))}; <b>read from the response</b> "
        f"{escape(str(example.get('extracted_answer') or '-'))}",
    ]
    if example.get("error"):
        parts.append(f"<br><b>error</b> {escape(str(example['error']))}")
    if terms_rows:
        parts.append(
            '<table class="terms"><thead><tr><th class="text">reward '
            f"term</th><th>value</th></tr></thead><tbody>{terms_rows}</tbody></table>"
        )
    parts.append("</div>")
    return (
        f'<details class="failure"><summary>{escape(summary)}</summary><div '
        f'class="episode">{image}{"".join(parts)}</div></details>'
    )


def _term(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else str(value)


def _failures_html(board: Leaderboard, env: str) -> list[str]:
    parts = []
    for run, _ in board.ranked(env):
        name = html.escape(_column_name(run))
        if run["suite"].get("tasks") == "private":
            parts.append(
                f'<p class="note">{name}: failed episodes of private tasks are not shown (they would publish the '
                "secret tasks).</p>"
            )
            continue
        examples = run["by_env"][env].get("failed_examples") or []
        failed = run["by_env"][env]["summary"]["episodes"] - run["by_env"][env]["summary"]["successes"]
        if not examples:
            continue
        shown = examples[:MAX_FAILURES_SHOWN]
        parts.append(
            f"<h4>{name}: {len(shown)} of {failed} failed episodes</h4><div "
            f'class="failures">{"".join(_failure_html(e) for e in shown)}</div>'
        )
    return parts


def render_html(board: Leaderboard, plots: Mapping[str, bytes] | None = None) -> str:
    """A static, self-contained HTML page: inline CSS, PNG plots and JPEG thumbnails embedded as base64, no scripts.

    Each env's section ends with its failed episodes, which a reader opens with a click.
    """
    plots = plots or {}
    title = f"vista-envs leaderboard: {board.suite['name']} v{board.suite['version']}"
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{html.escape(_suite_line(board).replace("`", ""))}; generated {generated}</p>',
        "<h2>Overall</h2>",
        _html_table(_MAIN_COLUMNS, _main_rows(board, None), "overall", [s["success_rate"] for _, s in board.ranked()]),
    ]
    for env in board.env_names:
        parts += [
            f"<h2>{html.escape(env)}</h2>",
            _html_table(
                _MAIN_COLUMNS,
                _main_rows(board, env),
                f"env-{_slug(env)}",
                [s["success_rate"] for _, s in board.ranked(env)],
            ),
        ]
        for axis in _AXES:
            columns, rows = _breakdown(board, env, axis)
            parts += [f"<h3>Success % by {axis}</h3>", _html_table(columns, rows, f"{_slug(env)}-by-{axis}")]
            if f"{env}-{axis}" in plots:
                data = base64.b64encode(plots[f"{env}-{axis}"]).decode("ascii")
                parts.append(
                    f'<img alt="{html.escape(f"{env}: success by {axis}")}" src="data:image/png;base64,{data}">'
                )
        failures = _failures_html(board, env)
        if failures:
            parts += ["<h3>Failed episodes (click one to open it)</h3>", *failures]
    parts.append(f'<p class="note">{html.escape(_NOTE)}</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body>\n</html>\n"
    )


def _output_path(out: str | Path) -> Path:
    """``out`` as a path; a .json/.jsonl name is refused, as results files and episode logs have those names."""
    path = Path(out)
    if path.suffix.lower() in (".json", ".jsonl"):
        raise BenchError(
            f"--out {str(path)!r}: a leaderboard is Markdown or HTML, and .json/.jsonl names are for results, never "
            "overwritten"
        )
    return path


def write_leaderboard(
    results_dir: str | Path,
    fmt: str = "md",
    out: str | Path | None = None,
    suite: str | None = None,
    *,
    plots: bool = True,
    allow_infra_errors: bool = False,
) -> str:
    """Render the leaderboard of ``results_dir``; returns the Markdown, or the path of the file written.

    Markdown without ``out`` is returned as text, its PNG plots written into ``results_dir``
    (``leaderboard-<env>-<axis>.png``) and linked; with ``out`` it is written there with its plots
    beside it. HTML is written to ``out`` (default ``<results_dir>/leaderboard.html``) with the plots
    embedded. ``plots=False`` draws none.
    """
    if fmt not in FORMATS:
        raise BenchError(f"unknown leaderboard format {fmt!r}; expected one of {FORMATS}")
    board = load_leaderboard(results_dir, suite, allow_infra_errors=allow_infra_errors)
    drawn = _all_plots(board) if plots else {}
    if fmt == "md":
        path = None if out is None else _output_path(out)
        folder = Path(results_dir) if path is None else path.parent
        stem = "leaderboard" if path is None else path.stem
        folder.mkdir(parents=True, exist_ok=True)
        links = {}
        for name, png in drawn.items():
            plot_path = folder / f"{stem}-{_slug(name)}.png"
            plot_path.write_bytes(png)
            # Beside a written file, a link relative to it; on stdout, the path from where the command ran.
            links[name] = plot_path.name if path is not None else str(plot_path)
        text = render_markdown(board, links)
        if path is None:
            return text
        path.write_text(text, encoding="utf-8")
        return str(path)
    path = _output_path(out if out is not None else Path(results_dir) / "leaderboard.html")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(board, drawn), encoding="utf-8")
    return str(path)
