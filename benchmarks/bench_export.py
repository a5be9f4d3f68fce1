"""Export throughput: tasks written per second to parquet in verl's and EasyR1's schemas, on one core.

Each run calls :func:`vista_envs.integrations.export.export_tasks` for ``--n`` ``VisualQA-v0`` tasks (default
family mix, 224 px) into a temporary folder and times the whole call: building the env, drawing every task
(sampling, drawing, the split check), the ground truth, PNG encoding (compress level 1) and the parquet write.
It also times the stages alone on the same tasks (drawing through ``iter_tasks``, PNG encoding), so the
table says where the time goes. One process, ``torch`` never imported; best of ``--rounds``.

    python benchmarks/bench_export.py --n 2000 --rounds 3 --write
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.results_file import update_section
from vista_envs.integrations.export import bmp_bytes, export_tasks, png_bytes
from vista_envs.integrations.tasks import iter_tasks

SECTION = "Export to parquet (verl / EasyR1)"
TARGET = 1000.0


def best_rate(run, n: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return n / best


def measure(n: int, rounds: int, size: int) -> dict[str, float]:
    rates = {}
    with tempfile.TemporaryDirectory() as work:
        for fmt in ("verl", "easyr1"):
            for image_format in ("png", "bmp"):
                out = Path(work) / f"{fmt}-{image_format}"
                rates[f"export, {fmt}, {image_format}"] = best_rate(
                    lambda fmt=fmt, out=out, image_format=image_format: export_tasks(fmt, "VisualQA-v0", n, out, image_size=size, image_format=image_format), n, rounds
                )
        tasks = list(iter_tasks("VisualQA-v0", n, image_size=size))
        rates["drawing the tasks only (iter_tasks)"] = best_rate(lambda: list(iter_tasks("VisualQA-v0", n, image_size=size)), n, rounds)
        rates["PNG encoding only"] = best_rate(lambda: [png_bytes(task.image) for task in tasks], n, rounds)
        rates["BMP encoding only"] = best_rate(lambda: [bmp_bytes(task.image) for task in tasks], n, rounds)
        for image_format in ("png", "bmp"):
            rates[f"bytes per row (verl, {image_format})"] = os.path.getsize(Path(work) / f"verl-{image_format}" / "train.parquet") / n
    return rates


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="tasks per export")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=224, help="image side in pixels")
    parser.add_argument("--write", action="store_true", help=f"update the '{SECTION}' section of benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    rates = measure(args.n, args.rounds, args.size)
    lines = [f"| {args.n} VisualQA-v0 tasks, {args.size} px, one core | tasks/s |", "|---|---:|"]
    for name, value in rates.items():
        if name.startswith("bytes"):
            lines.append(f"| {name} | {value:,.0f} B |")
        else:
            lines.append(f"| {name} | {value:,.0f} |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        met = {image_format: min(rates[f"export, verl, {image_format}"], rates[f"export, easyr1, {image_format}"]) >= TARGET for image_format in ("png", "bmp")}
        body = f"""{table}

Target: >= {TARGET:,.0f} tasks/s written at {args.size} px on one core: with PNG images {"met" if met["png"] else "not met"},
with BMP images (`--image-format bmp`) {"met" if met["bmp"] else "not met"} in this run.
Each export is timed whole (env build, task drawing, ground truth, image encoding (PNG at compress level 1, or BMP), parquet write),
best of {args.rounds} rounds; the stage rows time drawing and PNG encoding alone on the same tasks. The machine
is a 2-core CPU shared with other work and noisy: rates move by tens of percent between runs. Not shown: the
time `datasets` or a trainer takes to read the file back, or export of `VistaTool-v0` tasks (same path)."""
        update_section(SECTION, body, f"python benchmarks/bench_export.py --n {args.n} --rounds {args.rounds} --size {args.size} --write")


if __name__ == "__main__":
    main()
