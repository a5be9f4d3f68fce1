"""The env server on loopback against the same work in process: steps/s, step latency, bytes per step.

For ``VisualQA-v0`` and ``VistaTool-v0`` (224 px, default kwargs) and 1, 8 and 32 concurrent sessions,
one run plays the same episodes (same seeds, the env's oracle turns, worked out beforehand) twice:

- *in process*: one ``gym.make(ENV_ID)`` per session, each stepped by its own thread;
- *served*: one ``Remote-v0`` per session (its own WebSocket session on a ``vista-envs serve`` process
  on 127.0.0.1), each stepped by its own thread.

A step's latency is the wall time of ``env.step`` as the caller sees it (for ``Remote-v0``: encode the
action, the round trip, the server's env step, encoding the observation and info, decoding them).
``Remote-v0`` asks for session deltas (``vista_envs.wire_delta``): a reply carries only the arrays, messages
and info values the client does not have yet.
Steps/s counts every step of every session over the whole run's wall time (resets included). Each
configuration runs ``--rounds`` times, in process and served in turn; the table keeps each side's round
with the lowest p50 (errors are those of all rounds), since load from other users of a shared machine
only ever adds time. A session *starves* when it gets far less than its share: the table gives the
slowest session's steps/s over the fastest's. *CPU overhead* is the CPU time of client and server
processes together per message (reset or step) served, minus the CPU time per message in process: what
serving costs, whatever the load (sandbox workers excluded on both sides). Bytes are the WebSocket
replies' sizes as received (resets and steps apart), the size a full reply (no deltas) would have, and
the image alone under each encoding. The *stages* table replays one session's episodes in this process
and times each piece of work a served step adds (the reply's encoding, OpenEnv's serialization, the
client's parsing and decoding, the action's JSON); what the served p50 holds beyond them is the transport
(WebSocket frames on loopback, the hand-offs between the server's event loop and its env thread and
between the client's reader thread and the caller).

    python benchmarks/bench_server.py [--sessions 1 8 32] [--steps 240] [--rounds 3] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

import vista_envs  # noqa: F401
from vista_envs import wire
from vista_envs.wire_delta import DeltaDecoder, DeltaEncoder

sys.path.insert(0, os.path.dirname(__file__))
from results_file import update_section  # noqa: E402

ENV_IDS = ("VisualQA-v0", "VistaTool-v0")
Episode = tuple[int, list[str]]


def plan_episodes(env_id: str, sessions: int, steps_per_session: int) -> list[list[Episode]]:
    """Per session, episodes (seed, oracle turns) adding up to about ``steps_per_session`` steps."""
    env = gym.make(env_id).unwrapped
    plans, seed = [], 0
    for _ in range(sessions):
        episodes, steps = [], 0
        while steps < steps_per_session:
            env.reset(seed=seed)
            turns = env.oracle_trajectory() if hasattr(env, "oracle_trajectory") else [env.oracle()]
            episodes.append((seed, turns))
            steps, seed = steps + len(turns), seed + 1
        plans.append(episodes)
    env.close()
    return plans


@dataclass
class SessionResult:
    latencies: list[float] = field(default_factory=list)
    steps: int = 0
    resets: int = 0
    seconds: float = 0.0
    error: str | None = None


def play(env: gym.Env, episodes: list[Episode], result: SessionResult, start: threading.Barrier) -> None:
    start.wait()
    began = time.perf_counter()
    try:
        for seed, turns in episodes:
            env.reset(seed=seed)
            result.resets += 1
            for turn in turns:
                t = time.perf_counter()
                *_, terminated, truncated, _ = env.step(turn)
                result.latencies.append(time.perf_counter() - t)
                result.steps += 1
                if terminated or truncated:
                    break
    except Exception as error:  # a benchmark reports failures instead of dying on the first one
        result.error = f"{type(error).__name__}: {error}"
    result.seconds = time.perf_counter() - began


def cpu_seconds(pid: int | None) -> float:
    """CPU time used so far by this process (all threads), plus the process ``pid`` (the server) if given."""
    total = time.process_time()
    if pid is not None:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def run(make_env: Callable[[], gym.Env], plans: list[list[Episode]], server_pid: int | None = None) -> dict[str, float]:
    envs = [make_env() for _ in plans]  # sessions open before the clock starts
    results = [SessionResult() for _ in plans]
    start = threading.Barrier(len(plans) + 1)
    threads = [
        threading.Thread(target=play, args=(env, plan, result, start))
        for env, plan, result in zip(envs, plans, results)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began, cpu_began = time.perf_counter(), cpu_seconds(server_pid)
    for thread in threads:
        thread.join()
    wall, cpu = time.perf_counter() - began, cpu_seconds(server_pid) - cpu_began
    for env in envs:
        env.close()
    latencies = np.array([x for r in results for x in r.latencies]) * 1000
    rates = [r.steps / r.seconds for r in results if r.seconds > 0]
    return {
        "steps_per_s": sum(r.steps for r in results) / wall,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies.size else float("nan"),
        "p99_ms": float(np.percentile(latencies, 99)) if latencies.size else float("nan"),
        "errors": sum(r.error is not None for r in results),
        "first_error": next((r.error for r in results if r.error), None),
        "fairness": min(rates) / max(rates) if rates else float("nan"),
        "cpu_ms_per_message": cpu * 1000 / max(1, sum(r.steps + r.resets for r in results)),
    }


def best_round(rounds: list[dict[str, float]]) -> dict[str, float]:
    """The round with the lowest p50 latency, with the errors of every round added up."""
    best = dict(min(rounds, key=lambda r: r["p50_ms"]))
    best["errors"] = sum(r["errors"] for r in rounds)
    best["first_error"] = next((r["first_error"] for r in rounds if r["first_error"]), None)
    return best


class ByteCounter:
    """Counts the bytes of the WebSocket replies a ``Remote-v0`` receives, by request type (reset, step)."""

    def __init__(self) -> None:
        self.replies: dict[str, list[int]] = {"reset": [], "step": []}
        self._lock = threading.Lock()

    def attach(self, env: gym.Env) -> gym.Env:
        remote = env.unwrapped
        connection, recv, request = remote._ws, remote._ws.recv, remote._request
        asked = ["?"]

        def typed(message):
            asked[0] = message.get("type", "?")
            return request(message)

        def counted(*args, **kwargs):
            message = recv(*args, **kwargs)
            with self._lock:
                self.replies.setdefault(asked[0], []).append(len(message))
            return message

        remote._request, connection.recv = typed, counted
        return env


def start_server(env_id: str, max_sessions: int, image_encoding: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "vista_envs.cli", "serve", env_id, "--port", str(port)]
    command += ["--max-sessions", str(max_sessions), "--image-encoding", image_encoding]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                return process, url
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the {env_id} server did not come up")


def image_bytes(env_id: str) -> dict[str, float]:
    """Encoded size (base64 characters) and encode + decode time of one 224 px observation image."""
    env = gym.make(env_id)
    sizes: dict[str, float] = {}
    for encoding in wire.IMAGE_ENCODINGS:
        total, seconds = 0, 0.0
        for seed in range(20):
            image = env.reset(seed=seed)[0]["image"]
            t = time.perf_counter()
            tagged = wire.encode_array(image, encoding)
            wire.decode_array(tagged)
            seconds += time.perf_counter() - t
            total += len(tagged[wire.ARRAY_TAG]["data"])
        sizes[encoding] = total / 20
        sizes[f"{encoding}_ms"] = seconds / 20 * 1000
    env.close()
    return sizes


STAGES = (
    "env step (in process)",
    "action: JSON, parse, validate",
    "reply: encode (deltas)",
    "reply: OpenEnv's serialization",
    "client: JSON parse + decode",
)


def stages(env_id: str, episodes: list[Episode]) -> tuple[dict[str, float], float]:
    """Median ms per step of each piece of work a served step adds (replayed here), and a full reply's bytes.

    The full reply is the step's observation and info without deltas, as OpenEnv would send it.
    """
    from openenv.core.env_server.serialization import serialize_observation
    from openenv.core.env_server.types import WSObservationResponse, WSStepMessage

    from vista_envs.integrations.openenv_server import GymObservation, TextAction

    def reply(wire_obs, wire_info, reward) -> str:
        observation = GymObservation.model_construct(
            obs=wire_obs, info=wire_info, terminated=False, truncated=False, done=False, reward=reward, metadata={}
        )
        return WSObservationResponse(data=serialize_observation(observation)).model_dump_json()

    env = gym.make(env_id)
    encoder, decoder = DeltaEncoder(), DeltaDecoder()
    times: dict[str, list[float]] = {name: [] for name in STAGES}
    full_bytes = []
    for seed, turns in episodes:
        obs, info = env.reset(seed=seed)
        decoded = json.loads(reply(*encoder.encode(obs, info, new_episode=True), None))
        decoder.decode(decoded["data"]["observation"], new_episode=True)
        for turn in turns:
            t0 = time.perf_counter()
            message = json.loads(json.dumps({"type": "step", "data": {"text": turn}}))
            TextAction.model_validate(WSStepMessage(**message).data)
            t1 = time.perf_counter()
            obs, reward, terminated, truncated, info = env.step(turn)
            t2 = time.perf_counter()
            wire_obs, wire_info = encoder.encode(obs, info, new_episode=False)
            t3 = time.perf_counter()
            text = reply(wire_obs, wire_info, float(reward))
            t4 = time.perf_counter()
            decoder.decode(json.loads(text)["data"]["observation"], new_episode=False)
            t5 = time.perf_counter()
            for name, seconds in zip(STAGES, (t2 - t1, t1 - t0, t3 - t2, t4 - t3, t5 - t4)):
                times[name].append(seconds * 1000)
            sent = wire.ArrayMemo()
            full_bytes.append(len(reply(wire.to_wire(obs, "raw", sent), wire.to_wire(info, "raw", sent), 0.0)))
            if terminated or truncated:
                break
    env.close()
    return {name: float(np.median(values)) for name, values in times.items()}, float(np.mean(full_bytes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--steps", type=int, default=240, help="steps per configuration, shared out over its sessions")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per configuration; the best is kept")
    parser.add_argument("--write", action="store_true", help="update the section of benchmarks/RESULTS.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    rows, byte_rows, stage_rows = [], [], []
    for env_id in ENV_IDS:
        process, url = start_server(env_id, max(args.sessions), "raw")
        try:
            for sessions in args.sessions:
                plans = plan_episodes(env_id, sessions, max(4, args.steps // sessions))
                counter = ByteCounter()
                local_rounds, served_rounds = [], []
                for _ in range(args.rounds):  # interleaved, so a burst of load on the shared machine hits both
                    local_rounds.append(run(lambda env_id=env_id: gym.make(env_id), plans))
                    served_rounds.append(
                        run(
                            lambda url=url, counter=counter: counter.attach(gym.make("vista_envs:Remote-v0", url=url)),
                            plans,
                            process.pid,
                        )
                    )
                local, served = best_round(local_rounds), best_round(served_rounds)
                rows.append((env_id, sessions, local, served))
                if sessions == 1:
                    stage_ms, full_bytes = stages(env_id, plans[0])
                    stage_rows.append((env_id, local, served, stage_ms))
                    replies = {kind: float(np.mean(sizes)) for kind, sizes in counter.replies.items() if sizes}
                    byte_rows.append((env_id, replies, full_bytes, image_bytes(env_id)))
                print(env_id, sessions, "in process", local, "served", served, flush=True)
        finally:
            process.terminate()
            process.wait(timeout=30)

    lines = [
        "| env | sessions | in process: steps/s | served: steps/s | in process p50 / p99 ms | served p50 / p99 ms "
        "| p50 overhead ms | CPU overhead ms / message | errors | slowest / fastest session |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for env_id, sessions, local, served in rows:
        cpu = served["cpu_ms_per_message"] - local["cpu_ms_per_message"]
        lines.append(
            f"| {env_id} | {sessions} | {local['steps_per_s']:,.0f} | {served['steps_per_s']:,.0f} "
            f"| {local['p50_ms']:.2f} / {local['p99_ms']:.1f} | {served['p50_ms']:.2f} / {served['p99_ms']:.1f} "
            f"| {served['p50_ms'] - local['p50_ms']:+.2f} | {cpu:+.2f} "
            f"| {local['errors'] + served['errors']} | {served['fairness']:.2f} |"
        )
    lines += [
        "",
        "| env | reply bytes, reset (measured) | reply bytes, step (measured) | full step reply, no deltas (computed) "
        "| 224 px image, raw: base64 chars | encode + decode ms | PNG: base64 chars | encode + decode ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for env_id, replies, full_bytes, sizes in byte_rows:
        lines.append(
            f"| {env_id} | {replies.get('reset', float('nan')):,.0f} | {replies.get('step', float('nan')):,.0f} "
            f"| {full_bytes:,.0f} | {sizes['raw']:,.0f} | {sizes['raw_ms']:.2f} | {sizes['png']:,.0f} "
            f"| {sizes['png_ms']:.2f} |"
        )
    lines += [
        "",
        "Where one session's served step goes (median ms per step; the stages replayed in the benchmark process, "
        "the transport is the served p50 minus the in-process p50 and the other stages):",
        "",
        "| stage | " + " | ".join(row[0] for row in stage_rows) + " |",
        "|---|" + "---:|" * len(stage_rows),
    ]
    for name in STAGES:
        lines.append(f"| {name} | " + " | ".join(f"{row[3][name]:.3f}" for row in stage_rows) + " |")
    transport = [
        served["p50_ms"] - local["p50_ms"] - sum(ms for name, ms in stage_ms.items() if name != STAGES[0])
        for _, local, served, stage_ms in stage_rows
    ]
    lines.append("| transport (the rest) | " + " | ".join(f"{ms:.3f}" for ms in transport) + " |")
    lines.append("| served p50 | " + " | ".join(f"{row[2]['p50_ms']:.3f}" for row in stage_rows) + " |")
    verdicts = []
    for env_id, sessions, local, served in rows:
        if sessions == 1:
            overhead = served["p50_ms"] - local["p50_ms"]
            verdicts.append(f"{env_id} {overhead:+.2f} ms ({'met' if overhead <= 2.0 else 'not met'})")
    many = [row for row in rows if row[1] == max(args.sessions)]
    lines += [
        "",
        f"Target, one session's p50 overhead <= 2 ms at 224 px: {'; '.join(verdicts)}. "
        f"{max(args.sessions)} sessions: {sum(r[2]['errors'] + r[3]['errors'] for r in many)} errors over all rounds; "
        "the slowest session got "
        + " and ".join(f"{row[3]['fairness']:.2f} ({row[0]})" for row in many)
        + f" of the fastest one's steps/s. Load average (1 min) before the run: {load_before:.1f} on "
        f"{os.cpu_count()} cores (at its end {os.getloadavg()[0]:.1f}, the benchmark's own threads included).",
    ]
    body = "\n".join(lines) + (
        f"\n\nThe server is `vista-envs serve ENV_ID --max-sessions {max(args.sessions)}` (a separate process, "
        f"default image encoding `raw`); best of {args.rounds} interleaved rounds per row; clients are `Remote-v0` "
        "envs, one thread each, in the benchmark process, with episode deltas (each step's reply carries only the "
        "arrays, messages and info values the client lacks: the tool schemas and each image once per episode); "
        "the in-process run steps the same episodes (seeds and oracle turns) with one thread per env. "
        "Not shown: links slower than loopback (where `--image-encoding png` pays), clients in separate processes "
        f"(here {max(args.sessions)} client threads share one interpreter with the decoding), a plain OpenEnv client "
        "(full replies, the 'no deltas' column: every step re-sends the conversation's images and the tool schemas), "
        "episodes whose tools change the view at most steps (each new view is a full image, as in the reset reply), "
        "and runs long enough to average out this machine's noise (2-core CPU, shared and noisy: figures move by "
        "tens of percent between runs)."
    )
    print(body)
    if args.write:
        update_section("Env server (OpenEnv protocol) vs in process", body, "python benchmarks/bench_server.py --write")


if __name__ == "__main__":
    main()
