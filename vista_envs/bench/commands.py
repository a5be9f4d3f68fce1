"""The ``vista-envs bench`` and ``vista-envs leaderboard`` subcommands.

Examples::

    vista-envs bench --suite quick --agent random --agent scripted --agent oracle --out results/
    vista-envs bench --suite quick --agent mine=python:my_agent:make_agent --out results/
    vista-envs bench --suite quick --agent openai:MODEL@URL --salt-file salt.txt --out private/
    vista-envs leaderboard results/                       # Markdown on stdout, PNG plots into results/
    vista-envs leaderboard results/ --format html --out leaderboard.html
"""

from __future__ import annotations

import argparse
import sys

from vista_envs.bench.agents import AGENT_SPEC_HELP, BUILTIN_AGENTS, make_agent
from vista_envs.bench.leaderboard import FORMATS, write_leaderboard
from vista_envs.bench.runner import check_step_timeout, run_suite
from vista_envs.bench.suites import SALT_ENV_VAR, BenchError, builtin_suite_names, load_salt, load_suite

__all__ = ["add_bench_parser", "add_leaderboard_parser"]


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the suite once per agent; a bad agent is reported and the others still run."""
    suite = load_suite(args.suite, salt=load_salt(args.salt_file))
    tasks = f"private tasks (salt {suite.salt_id})" if suite.private else "public tasks"
    print(
        f"suite {suite.name} v{suite.version} ({suite.hash}): {len(suite.episodes())} episodes per agent, split "
        f"{suite.split}, {tasks}"
    )
    failed = []
    for spec in args.agent or BUILTIN_AGENTS:
        try:
            agent = make_agent(spec, seed=suite.seed)
            outcome = run_suite(
                suite,
                agent,
                args.out,
                n_envs=args.envs,
                step_timeout_s=args.step_timeout,
                max_infra_errors=args.max_infra_errors,
                retry_backoff_s=args.retry_backoff,
                progress=not args.no_progress,
            )
        except BenchError as error:
            print(f"vista-envs bench: agent {spec!r}: error: {error}", file=sys.stderr)
            failed.append(spec)
            continue
        except KeyboardInterrupt:
            print("\ninterrupted; finished episodes are saved: run the same command again to resume.", file=sys.stderr)
            return 130
        overall, run = outcome.results["overall"], outcome.results["run"]
        for problem in run["log_problems"]:
            print(f"vista-envs bench: warning: {problem}", file=sys.stderr)
        if not outcome.complete:
            # A stopped run has no success rate worth printing: its missing episodes are not the model's.
            ran = overall["episodes"] - overall["not_run"] - overall["infra_errors"]
            print(f"{agent.name}: incomplete, {ran} of {overall['episodes']} episodes ran -> {outcome.results_path}")
            print(f"vista-envs bench: agent {spec!r}: {run['stopped']}", file=sys.stderr)
            failed.append(spec)
            continue
        low, high = overall["success_ci95"]
        line = (
            f"{agent.name}: success {100 * overall['success_rate']:.1f}% [{100 * low:.1f}, {100 * high:.1f}] in "
            f"{run['wall_time_s']:.1f} s -> {outcome.results_path}"
        )
        if overall["errors"]:
            line += f' ({overall["errors"]} episodes ended by errors; see "errors" in the results)'
        print(line)
    if len(failed) < len(args.agent or BUILTIN_AGENTS):
        print(f"rank them with: vista-envs leaderboard {args.out}")
    return 1 if failed else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Print (Markdown) or write (Markdown with PNG plots, or HTML) the leaderboard of a results folder."""
    written = write_leaderboard(
        args.results,
        args.format,
        args.out,
        args.suite,
        plots=not args.no_plots,
        allow_infra_errors=args.allow_infra_errors,
    )
    if args.format == "md" and args.out is None:
        print(written, end="")
    else:
        print(written)
    return 0


def _step_timeout(text: str) -> float:
    try:
        return check_step_timeout(float(text))
    except (ValueError, BenchError) as error:  # argparse turns these into a usage error
        raise argparse.ArgumentTypeError(str(error)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}")
    return value


def add_bench_parser(commands: argparse._SubParsersAction) -> None:
    bench = commands.add_parser("bench", help="run a benchmark suite with agents -> results JSON")
    bench.add_argument(
        "--suite",
        default="quick",
        help=f"a built-in suite ({', '.join(builtin_suite_names())}), a plugin's suite, or a suite .json path",
    )
    bench.add_argument(
        "--agent",
        action="append",
        metavar="SPEC",
        help=f"repeatable; default: {' '.join(BUILTIN_AGENTS)}. SPEC: {AGENT_SPEC_HELP}",
    )
    bench.add_argument("--out", default="results", help="results folder (default: results); a rerun resumes from it")
    bench.add_argument("--envs", type=int, default=4, help="episodes run at once, the batch size of act() (default 4)")
    bench.add_argument(
        "--step-timeout",
        type=_step_timeout,
        default=120.0,
        help="seconds one act() call may take before it counts as an infrastructure error (default 120, at most a day)",
    )
    bench.add_argument(
        "--max-infra-errors",
        type=_positive_int,
        default=5,
        help="stop after this many infrastructure errors in a row (refused connections, HTTP 5xx/429, timeouts, agent "
        "crashes; default 5)",
    )
    bench.add_argument(
        "--retry-backoff",
        type=float,
        default=2.0,
        help="seconds before the first retry after an infrastructure error; doubles (default 2)",
    )
    bench.add_argument(
        "--salt-file",
        help=f"a private suite: tasks drawn with the secret salt in this file (or ${SALT_ENV_VAR}), which published "
        "seeds cannot regenerate",
    )
    bench.add_argument("--no-progress", action="store_true", help="no progress bar")
    bench.set_defaults(handler=cmd_bench)


def add_leaderboard_parser(commands: argparse._SubParsersAction) -> None:
    board = commands.add_parser("leaderboard", help="rank results -> Markdown/HTML tables and PNG plots")
    board.add_argument("results", nargs="?", default="results", help="folder of results JSON (default: results)")
    board.add_argument("--format", choices=FORMATS, default="md", help="md (default) or html")
    board.add_argument(
        "--out",
        help="file to write; md: plots are written beside it (without --out: into RESULTS); html default: "
        "RESULTS/leaderboard.html",
    )
    board.add_argument("--suite", help="rank only the results of this suite name")
    board.add_argument(
        "--no-plots", action="store_true", help="draw no PNG plots (by default they are written beside the table)"
    )
    board.add_argument(
        "--allow-infra-errors",
        action="store_true",
        help="rank agents whose runs still have infrastructure errors (their count is shown; those episodes count as "
        "failures)",
    )
    board.set_defaults(handler=cmd_leaderboard)
