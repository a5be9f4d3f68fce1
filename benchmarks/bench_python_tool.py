"""What the ``python`` tool costs an episode, side by side: this tree's sandbox, (a) a fresh
``python -c`` per episode, and (b) the sandbox of a baseline commit (the pool of pre-started
interpreters that this tree replaced with a zygote).

Measured, all through ``gym.make("VistaTool-v0")``, for one episode = ``reset`` + one ``python`` call
that runs numpy on ``image`` + an answer:

1. episode latency (p50, p99), one episode at a time with a short pause between episodes;
2. sustained episodes/s for ``--sustain-s`` seconds with the whole process tree pinned to one core
   (episodes back to back, so the interpreter forked ahead for the next episode competes for
   that core too), and episodes per CPU second of that whole tree (sandbox start-up included) -- what one core gives
   when nothing else runs on it;
3. per-call latency in one open session: ``print(1+1)`` and the numpy snippet (p50, p99);
4. peak host memory while 8 episodes at once run the memory attacks (allocate until MemoryError,
   fill the scratch tmpfs, try memfds and SysV shared memory), against ``8 x (memory_mb + scratch_mb)``.

(a) runs the same reset and answer, and in between a fresh ``python -c`` that imports numpy, loads
the image from a ``.npy`` file and runs the snippet (no isolation at all). (b) runs this same
script's measurement with ``PYTHONPATH`` pointing at ``git archive BASELINE``.

Targets (issue 17): p50 <= 15 ms per episode, >= 60 episodes/s per core sustained, >= 10x better
than (a), per-call numpy latency <= 2 ms p50; peak memory of the 8 attacking episodes within
``8 x (memory_mb + scratch_mb)``.

Run::

    python benchmarks/bench_python_tool.py [--episodes 200] [--sustain-s 60] [--baseline 3093e9f] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

NUMPY_SNIPPET = "print((image.astype(np.float32) / 255).mean(axis=(0, 1)).round(3))"
SNIPPETS = {"print(1+1)": "print(1+1)", "numpy on image": NUMPY_SNIPPET}
ANSWER = "<think>counted</think><answer>3</answer>"
REPOSITORY = Path(__file__).resolve().parent.parent


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


def bench_sandbox(sandbox, image: np.ndarray, code: str, calls: int) -> list[float]:
    """Per-call latency of ``code`` in one open session of ``sandbox``."""
    with sandbox.session(image=image) as session:
        result = session.run(code)
        assert result.ok, result.text
        return time_calls(lambda: session.run(code), calls)


def python_call(code: str) -> str:
    return f"<tool_call>{json.dumps({'name': 'python', 'arguments': {'code': code}})}</tool_call>"


# --- one episode, three ways (run in a child process: see measure_backend) ----------------------


def episode_runner(backend: str, scratch: Path) -> tuple[Callable[[int], None], Callable[[], None]]:
    """(run one episode with seed n, close) for ``backend``: "sandbox" (whatever vista_envs is on
    the path: this tree's or the baseline's) or "fresh" (a new ``python -c`` per call)."""
    import gymnasium as gym

    import vista_envs  # noqa: F401 - registers the ids

    if backend == "sandbox":
        env = gym.make("VistaTool-v0", families=["counting"], sandbox="auto")
        action = python_call(NUMPY_SNIPPET)

        def episode(seed: int) -> None:
            env.reset(seed=seed)
            obs, *_ = env.step(action)
            assert obs["text"].startswith("[python] ["), obs["text"][:200]
            env.step(ANSWER)

        return episode, env.close

    env = gym.make("VistaTool-v0", families=["counting"], tools=["calculator"])
    image_file = scratch / "image.npy"
    prelude = f"import numpy as np; image = np.load({str(image_file)!r}); "

    def episode(seed: int) -> None:
        obs, _ = env.reset(seed=seed)
        np.save(image_file, obs["image"])
        subprocess.run([sys.executable, "-c", prelude + NUMPY_SNIPPET], check=True, capture_output=True)
        env.step(ANSWER)

    return episode, env.close


def cpu_seconds() -> float:
    """CPU time of this process and of all its descendants, living or reaped.

    A reaped process's time is in its reaper's "children" times; a living descendant's (a zygote
    that has reaped hundreds of interpreters) only in /proc, so both are summed.
    """
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            times[int(entry.name)] = sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    for pid, seconds in times.items():
        ancestor = parents.get(pid)
        while ancestor not in (None, 0, 1, os.getpid()):
            ancestor = parents.get(ancestor)
        if ancestor == os.getpid():
            total += seconds
    return total


def measure_backend(backend: str, episodes: int, sustain_s: float, calls: int) -> dict:
    """All figures of one backend, measured in this process (pinned to one core for the rate)."""
    results: dict = {}
    with tempfile.TemporaryDirectory() as scratch:
        episode, close = episode_runner(backend, Path(scratch))
        try:
            for seed in range(5):  # warm up: the first reset starts the sandbox
                episode(seed)
            latencies = []
            for seed in range(episodes):
                time.sleep(0.02)  # as between real episodes: the next interpreter is forked meanwhile
                started = time.perf_counter()
                episode(seed)
                latencies.append(time.perf_counter() - started)
            results["episode_ms"] = percentiles_ms(latencies)
        finally:
            close()
        # Sustained: a fresh env, pinned to one core (its sandbox processes inherit the affinity);
        # its whole CPU time, sandbox start-up included, shutdown not.
        all_cores = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {sorted(all_cores)[-1]})
        cpu_before = cpu_seconds()
        episode, close = episode_runner(backend, Path(scratch))
        try:
            done, started = 0, time.perf_counter()
            while time.perf_counter() - started < sustain_s:
                episode(done)
                done += 1
            wall = time.perf_counter() - started
            cpu = cpu_seconds() - cpu_before  # before close(): no process is counted twice
        finally:
            close()
        os.sched_setaffinity(0, all_cores)  # per-call latency below is measured unpinned
        results["episodes_per_s_one_core"] = done / wall
        results["episodes_per_cpu_s"] = done / cpu
    if backend == "sandbox":
        from vista_envs.tools import PythonSandbox

        image = np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)
        with PythonSandbox("auto") as sandbox:
            results["isolation"] = sandbox.isolation
            results["call_ms"] = {
                name: percentiles_ms(bench_sandbox(sandbox, image, code, calls)) for name, code in SNIPPETS.items()
            }
            # The snippet's own time inside the interpreter (median of 100), to tell the sandbox's
            # per-call overhead from the machine's load.
            inside = (
                "import time\nd = []\nfor _ in range(100):\n    t = time.perf_counter()\n    "
                + NUMPY_SNIPPET.replace("print(", "str(")
            )
            inside += "\n    d.append(time.perf_counter() - t)\nprint(sorted(d)[50] * 1000)"
            with sandbox.session(image=image) as session:
                results["numpy_inside_ms"] = float(session.run(inside).stdout)
    return results


def run_measurement(backend: str, pythonpath: Path, args: argparse.Namespace, sustain_s: float) -> dict:
    command = [sys.executable, __file__, "--measure", backend, "--episodes", str(args.episodes)]
    command += ["--sustain-s", str(sustain_s), "--calls", str(args.calls)]
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=pythonpath).stdout
    return json.loads(output.strip().splitlines()[-1])


# --- memory of 8 attacking episodes ---------------------------------------------------------------

MEMORY_ATTACK = """
import os, time, ctypes
blocks = []
try:
    while True:
        blocks.append(np.ones(8 << 20, np.uint8))
except MemoryError:
    pass
files = 0
try:
    while True:
        with open(f'fill-{files}', 'wb') as f:
            f.write(b'x' * (1 << 20))
        files += 1
except OSError:
    pass
try:
    while True:
        open(f'empty-{files}', 'w').close()
        files += 1
except OSError:
    pass
for attempt in (lambda: os.memfd_create('parked'), lambda: ctypes.CDLL(None).shmget(0, 1 << 30, 0o1600)):
    try:
        attempt()
    except OSError:
        pass
time.sleep(1.5)
print(len(blocks) * 8, 'MB held,', files, 'files')
"""


def used_memory_mb(pids: list[int]) -> float:
    """Resident memory of ``pids`` plus what their private /tmp holds (tmpfs lives in RAM)."""
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) << 10
            scratch = os.statvfs(f"/proc/{pid}/root/tmp")
            total += (scratch.f_blocks - scratch.f_bfree) * scratch.f_frsize
        except (OSError, StopIteration):
            continue
    return total / 2**20


def available_mb() -> float:
    meminfo = Path("/proc/meminfo").read_text()
    return int(next(line for line in meminfo.splitlines() if line.startswith("MemAvailable:")).split()[1]) / 1024


def bench_memory(episodes: int, memory_mb: int, scratch_mb: int) -> dict:
    from vista_envs.tools import PythonSandbox

    with PythonSandbox("auto", timeout_s=20.0, memory_mb=memory_mb, scratch_mb=scratch_mb, pool_size=0) as sandbox:
        sessions = [sandbox.session(image=np.zeros((224, 224, 3), np.uint8)) for _ in range(episodes)]
        pids = [session._worker.host_pid for session in sessions]
        baseline_available = available_mb()
        outputs: list[str] = []
        threads = [threading.Thread(target=lambda s=s: outputs.append(s.run(MEMORY_ATTACK).text)) for s in sessions]
        peak, lowest_available = 0.0, baseline_available
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            peak = max(peak, used_memory_mb(pids))
            lowest_available = min(lowest_available, available_mb())
            time.sleep(0.05)
        for session in sessions:
            session.close()
    return {
        "isolation": sandbox.isolation,
        "peak_mb": peak,
        "available_drop_mb": baseline_available - lowest_available,
        "bound_mb": episodes * (memory_mb + scratch_mb),
        "outputs": sorted(set(outputs)),
    }


# --- report ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=200, help="episodes timed one at a time, per backend")
    parser.add_argument(
        "--sustain-s", type=float, default=60.0, help="seconds of back-to-back episodes on one core (this tree)"
    )
    parser.add_argument("--baseline-sustain-s", type=float, default=20.0, help="the same for (a) and (b)")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per snippet in one session")
    parser.add_argument("--baseline", default="3093e9f", help="git commit of (b), the pool of pre-started interpreters")
    parser.add_argument("--memory-mb", type=int, default=256, help="memory_mb of the 8 attacking episodes")
    parser.add_argument("--scratch-mb", type=int, default=64, help="scratch_mb of the 8 attacking episodes")
    parser.add_argument("--measure", choices=["sandbox", "fresh"], help=argparse.SUPPRESS)
    parser.add_argument("--write", action="store_true", help="update benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.measure:  # child mode: one backend, JSON on the last line
        print(json.dumps(measure_backend(args.measure, args.episodes, args.sustain_s, args.calls)))
        return

    load_before = os.getloadavg()[0]
    ours = run_measurement("sandbox", REPOSITORY, args, args.sustain_s)
    fresh = run_measurement("fresh", REPOSITORY, args, args.baseline_sustain_s)
    with tempfile.TemporaryDirectory() as baseline_tree:
        archive = subprocess.run(
            ["git", "-C", str(REPOSITORY), "archive", args.baseline], check=True, capture_output=True
        )
        subprocess.run(["tar", "-x", "-C", baseline_tree], input=archive.stdout, check=True)
        baseline = run_measurement("sandbox", Path(baseline_tree), args, args.baseline_sustain_s)
    memory = bench_memory(8, args.memory_mb, args.scratch_mb)
    load_after = os.getloadavg()[0]

    rows = [
        (f"this tree: zygote sandbox ({ours['isolation']})", ours, args.sustain_s),
        ("(a) fresh `python -c` with numpy per episode", fresh, args.baseline_sustain_s),
        (
            f"(b) {args.baseline}: pool of pre-started interpreters ({baseline['isolation']})",
            baseline,
            args.baseline_sustain_s,
        ),
    ]
    lines = [
        "| per episode: reset + numpy call on `image` + answer | p50 (ms) | p99 (ms) | episodes/s pinned to one core "
        "(s) | episodes per CPU second |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, result, seconds in rows:
        p50, p99 = result["episode_ms"]
        rate, per_cpu = result["episodes_per_s_one_core"], f"{result['episodes_per_cpu_s']:.1f}"
        if result is baseline:
            # Its destroy() SIGKILLs bwrap and the interpreter, whose CPU time then goes to init, not to us.
            per_cpu = "n/a"
        lines.append(f"| {label} | {p50:.1f} | {p99:.1f} | {rate:.1f} ({seconds:g} s) | {per_cpu} |")
    lines += ["", "| one call in an open session | this tree p50 / p99 (ms) | (b) p50 / p99 (ms) |", "|---|---:|---:|"]
    for name in SNIPPETS:
        (a50, a99), (b50, b99) = ours["call_ms"][name], baseline["call_ms"][name]
        lines.append(f"| {name} | {a50:.2f} / {a99:.2f} | {b50:.2f} / {b99:.2f} |")
    lines.append(
        f"| numpy snippet alone, timed inside the interpreter (median of 100) | {ours['numpy_inside_ms']:.2f} | "
        f"{baseline['numpy_inside_ms']:.2f} |"
    )
    lines += [
        "",
        f"| 8 episodes at once running the memory attacks ({memory['isolation']}, memory_mb={args.memory_mb}, "
        f"scratch_mb={args.scratch_mb}) | MB |",
        "|---|---:|",
        f"| peak of the 8 interpreters' resident memory + their scratch tmpfs | {memory['peak_mb']:.0f} |",
        f"| largest drop of the host's MemAvailable (whole machine, shared: noisy) | {memory['available_drop_mb']:.0f} "
        "|",
        f"| bound: 8 x (memory_mb + scratch_mb) | {memory['bound_mb']} |",
        "",
        "(b)'s CPU per episode cannot be counted here: its workers are killed by signal, so their CPU time is "
        "never reported to this process.",
        "",
        "What each attacking episode reported: " + "; ".join(f"`{text.strip()}`" for text in memory["outputs"]),
    ]
    ours_p50 = ours["episode_ms"][0]
    speedup = fresh["episode_ms"][0] / ours_p50
    numpy_p50 = ours["call_ms"]["numpy on image"][0]
    overhead = numpy_p50 - ours["numpy_inside_ms"]
    rate, per_cpu = ours["episodes_per_s_one_core"], ours["episodes_per_cpu_s"]
    verdict = (
        f"Targets: episode p50 <= 15 ms: {'met' if ours_p50 <= 15 else 'NOT met'} ({ours_p50:.1f} ms); "
        f">= 60 episodes/s per core: {'met' if rate >= 60 else 'NOT met'} on the shared pinned core ({rate:.1f}/s), "
        f"{'met' if per_cpu >= 60 else 'NOT met'} per CPU second of the whole process tree ({per_cpu:.1f}); "
        f">= 10x better than (a): {'met' if speedup >= 10 else 'NOT met'} ({speedup:.1f}x); "
        f"numpy call p50 <= 2 ms: {'met' if numpy_p50 <= 2 else 'NOT met'} ({numpy_p50:.2f} ms, of which "
        f"{ours['numpy_inside_ms']:.2f} ms is the snippet itself on this loaded machine, {overhead:.2f} ms the "
        "sandbox); "
        f"memory within the bound: {'met' if memory['peak_mb'] <= memory['bound_mb'] else 'NOT met'}."
    )
    body = "\n".join(lines)
    print(body, "", verdict, sep="\n")
    if args.write:
        sys.path.insert(0, os.path.dirname(__file__))
        from results_file import update_section

        update_section(
            "Python tool latency",
            f"{args.episodes} timed episodes per backend (20 ms apart), then back-to-back episodes with the process "
            "tree "
            f"pinned to one core; counting family, 224x224 image, numpy {np.__version__}; {args.calls} timed calls per "
            "snippet. The machine is shared with other jobs (2 cores, noisy; 1-minute load average "
            f"{load_before:.1f} at the start and {load_after:.1f} at the end of this run): latencies and the pinned "
            "rate "
            "are what one core gave while others also used it, and every wake-up of a process waited for a free core; "
            "episodes per CPU second is the least load-dependent figure. Not shown: many envs per core, other task "
            f"families, a first call that imports more modules.\n\n{body}\n\n{verdict}",
            "python benchmarks/bench_python_tool.py " + " ".join(sys.argv[1:]),
        )


if __name__ == "__main__":
    main()
