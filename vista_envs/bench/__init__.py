"""Benchmark leaderboards: run a suite with an agent, then rank the results.

From the command line::

    vista-envs bench --suite quick --agent random --agent scripted --agent oracle --out results/
    vista-envs leaderboard results/                       # Markdown, plots written into results/
    vista-envs leaderboard results/ --format html --out leaderboard.html
    vista-envs bench --suite quick --agent mine=python:my_agent:make_agent --salt-file salt.txt   # private tasks

From Python::

    from vista_envs.bench import load_suite, make_agent, run_suite, load_leaderboard, render_markdown
    outcome = run_suite(load_suite("quick"), make_agent("python:my_agent:make_agent"), "results/")
    print(render_markdown(load_leaderboard("results/")))

Modules: ``suites`` (suite files, their hash, private salts), ``agents`` (agent specs, plugin agents),
``baselines`` (the random, scripted and oracle agents), ``runner`` (parallel, resumable runs: what an
agent may see, infrastructure errors retried and never scored, per-episode seeding), ``lock`` (one
run per results file), ``errors`` (:class:`InfrastructureError`), ``results`` (the versioned results
schema, see ``docs/results_schema.md``), ``stats`` (confidence intervals) and ``leaderboard``
(Markdown, HTML with failed episodes, plots). Families, agents and suites of other packages come
through entry points (``vista_envs.plugins``).
"""

from vista_envs.bench.agents import BenchAgent, make_agent
from vista_envs.bench.errors import InfrastructureError
from vista_envs.bench.leaderboard import Leaderboard, load_leaderboard, render_html, render_markdown, write_leaderboard
from vista_envs.bench.results import RESULTS_SCHEMA_VERSION, load_results
from vista_envs.bench.runner import RunOutcome, run_suite
from vista_envs.bench.suites import BenchError, Suite, builtin_suite_names, load_suite

__all__ = [
    "RESULTS_SCHEMA_VERSION",
    "BenchAgent",
    "BenchError",
    "InfrastructureError",
    "Leaderboard",
    "RunOutcome",
    "Suite",
    "builtin_suite_names",
    "load_leaderboard",
    "load_results",
    "load_suite",
    "make_agent",
    "render_html",
    "render_markdown",
    "run_suite",
    "write_leaderboard",
]
