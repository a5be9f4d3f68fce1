"""Keep one section of benchmarks/RESULTS.md up to date (each benchmark owns its own section)."""

from __future__ import annotations

import datetime
import os
import platform
import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """A one-line description of this machine."""
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.release()}"
    )


def update_section(title: str, body: str, command: str) -> None:
    """Replace (or append) the ``## title`` section of RESULTS.md with ``body``, the command, date and machine."""
    header = f"## {title}"
    stamped = f"{header}\n\n`{command}` — {datetime.date.today().isoformat()}, {machine()}\n\n{body.strip()}\n"
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmark results\n\nThe latest figures of every benchmark in this folder.\n"
    )
    pattern = re.compile(rf"^{re.escape(header)}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: stamped + "\n", text)
    else:
        text = text.rstrip() + "\n\n" + stamped
    RESULTS.write_text(text.rstrip() + "\n")
