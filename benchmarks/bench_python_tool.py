"""Latency of the ``python`` tool: sandboxed session vs. a fresh subprocess vs. in-process exec.

Measures, in one run, the p50/p99 wall time of one tool call for two snippets -- ``print(1+1)``
and a numpy operation on a 224x224x3 ``image`` -- through

- the sandbox (:class:`vista_envs.tools.PythonSandbox`, the isolation in force: bwrap when usable),
- (a) a fresh ``python -c`` subprocess per call (numpy imported and the image loaded each time),
- (b) ``exec`` in this process with no isolation at all,

plus the time to open a new session (one episode's interpreter) from the warm pool. Targets
(issue "VistaTool-v0"): sandbox p50 <= 10 ms, and <= 1/8 of (a) for the numpy snippet.

Run::

    python benchmarks/bench_python_tool.py [--calls 300] [--write]   # --write updates RESULTS.md
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from vista_envs.tools import PythonSandbox

SNIPPETS = {
    "print(1+1)": "print(1+1)",
    "numpy on image": "print((image.astype(np.float32) / 255).mean(axis=(0, 1)).round(3))",
}


def percentiles_ms(samples: list[float]) -> tuple[float, float]:
    """(p50, p99) of durations given in seconds, in milliseconds."""
    p50, p99 = np.percentile(np.array(samples) * 1000, [50, 99])
    return float(p50), float(p99)


def time_calls(call: Callable[[], object], calls: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call()
    durations = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations


def bench_sandbox(sandbox: PythonSandbox, image: np.ndarray, code: str, calls: int) -> list[float]:
    with sandbox.session(image=image) as session:
        result = session.run(code)
        assert result.ok, result.text
        return time_calls(lambda: session.run(code), calls)


def bench_new_session(sandbox: PythonSandbox, image: np.ndarray, calls: int) -> list[float]:
    """Open a session (take a warm worker, load the image) and close it (kill the worker)."""
    durations = []
    for _ in range(calls):
        time.sleep(0.3)  # the pool starts the replacement worker meanwhile, as between real episodes
        started = time.perf_counter()
        with sandbox.session(image=image):
            pass
        durations.append(time.perf_counter() - started)
    return durations


def bench_fresh_subprocess(image_file: Path, code: str, calls: int) -> list[float]:
    prelude = f"import numpy as np; image = np.load({str(image_file)!r}); " if "image" in code else ""
    command = [sys.executable, "-c", prelude + code]
    return time_calls(lambda: subprocess.run(command, check=True, capture_output=True), calls)


def bench_in_process_exec(image: np.ndarray, code: str, calls: int) -> list[float]:
    compiled_globals = {"np": np, "image": image}

    def run() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, "<bench>", "exec"), compiled_globals)

    return time_calls(run, calls)


def markdown_table(rows: list[tuple[str, str, float, float]]) -> str:
    lines = ["| snippet | backend | p50 (ms) | p99 (ms) |", "|---|---|---:|---:|"]
    lines += [f"| {snippet} | {backend} | {p50:.2f} | {p99:.2f} |" for snippet, backend, p50, p99 in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per sandbox/exec case")
    parser.add_argument("--subprocess-calls", type=int, default=30, help="timed calls per fresh-subprocess case")
    parser.add_argument("--session-calls", type=int, default=20, help="timed session openings")
    parser.add_argument("--mode", default="auto", choices=["auto", "bwrap", "process"])
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()

    image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
    rows: list[tuple[str, str, float, float]] = []
    p50s: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as scratch, PythonSandbox(args.mode) as sandbox:
        image_file = Path(scratch, "image.npy")
        np.save(image_file, image)
        sandbox_label = f"sandbox ({sandbox.isolation})"
        for snippet, code in SNIPPETS.items():
            backends = {
                sandbox_label: lambda: bench_sandbox(sandbox, image, code, args.calls),
                "(a) fresh `python -c`": lambda: bench_fresh_subprocess(image_file, code, args.subprocess_calls),
                "(b) in-process exec": lambda: bench_in_process_exec(image, code, args.calls),
            }
            for backend, bench in backends.items():
                p50, p99 = percentiles_ms(bench())
                rows.append((snippet, backend, p50, p99))
                p50s[snippet, backend] = p50
        new_session = percentiles_ms(bench_new_session(sandbox, image, args.session_calls))
        rows.append(("open + close a session with the image", sandbox_label, *new_session))

    numpy_sandbox = p50s["numpy on image", sandbox_label]
    numpy_fresh = p50s["numpy on image", "(a) fresh `python -c`"]
    worst_sandbox = max(p50s[snippet, sandbox_label] for snippet in SNIPPETS)
    verdict = (
        f"Targets: sandbox p50 <= 10 ms: {'met' if worst_sandbox <= 10 else 'NOT met'} "
        f"(worst {worst_sandbox:.2f} ms); numpy p50 <= 1/8 of (a): "
        f"{'met' if numpy_sandbox * 8 <= numpy_fresh else 'NOT met'} "
        f"({numpy_fresh / numpy_sandbox:.0f}x faster than a fresh subprocess)."
    )
    body = markdown_table(rows)
    print(body, "", verdict, sep="\n")
    if args.write:
        sys.path.insert(0, os.path.dirname(__file__))
        from results_file import update_section

        update_section(
            "Python tool latency",
            f"Wall time of one `python` tool call as the host sees it (send the code, run it, receive the "
            f"output): {args.calls} calls per sandbox/exec case, {args.subprocess_calls} per fresh-subprocess "
            f"case, 224x224x3 uint8 image, numpy {np.__version__}. The session row is what an episode "
            f"reset costs: take a pre-started worker, load the image, and kill the worker at the end.\n\n{body}\n\n{verdict}",
            "python benchmarks/bench_python_tool.py " + " ".join(sys.argv[1:]),
        )


if __name__ == "__main__":
    main()
