"""Benchmark suites: which envs, task families, difficulties and how many episodes, with fixed seeds.

A suite is a JSON file (the built-in ones live in ``vista_envs/bench/suites/``, linked from the repo's
``benchmarks/suites/``)::

    {
      "name": "quick",
      "version": 1,
      "description": "...",
      "split": "test",
      "seed": 1,
      "entries": [
        {"env": "VisualQA-v0", "env_kwargs": {"image_size": 224},
         "grid": {"family": ["counting", "clock"], "difficulty": [1, 3, 5]},
         "episodes_per_cell": 4}
      ]
    }

Each entry runs ``episodes_per_cell`` episodes for every combination of its ``grid`` values (reset
options, e.g. ``family`` and ``difficulty``; a robot env would use ``task``), plus the entry's fixed
``options``. Every episode resets with ``options["split"] = suite.split`` and its own seed, derived
from the suite seed and the episode's identity, so adding an entry never changes other episodes.
An entry may set ``name`` (default: its env id; entries must have distinct names), ``env_kwargs``
(passed to ``gym.make``) and ``max_steps`` (default 100; an episode still running then is a failure).

The suite's ``hash`` covers everything that decides the episodes (not the description), so results
carry it and the leaderboard refuses to rank results of different suites together. Change a
built-in suite only with a new ``version``.

**Private suites.** A suite file and its seeds are public, so anyone can regenerate its tasks (and train
on them). An evaluator who keeps a secret *salt* (``vista-envs bench --salt-file FILE`` or the
``VISTA_BENCH_SALT`` variable) runs the same suite on tasks nobody else can draw: the salt is keyed into
every episode's seed, and results record only that the run was private and a fingerprint of the salt
(never the seeds). Suites also come from plugins (entry-point group ``vista_envs.suites``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "SALT_ENV_VAR",
    "BenchError",
    "EpisodeSpec",
    "Suite",
    "SuiteEntry",
    "builtin_suite_names",
    "load_salt",
    "load_suite",
    "parse_suite",
    "plugin_suite_names",
]

SALT_ENV_VAR = "VISTA_BENCH_SALT"
# A salt shorter than this could be guessed from its published fingerprint by brute force.
MIN_SALT_CHARS = 16

DEFAULT_MAX_STEPS = 100
_SUITE_KEYS = {"name", "version", "description", "split", "seed", "entries"}
# Far above any useful suite, far below what would exhaust memory listing the episodes (1e6 take ~330 MB).
MAX_SUITE_EPISODES = 100_000
_ENTRY_KEYS = {"env", "name", "env_kwargs", "grid", "options", "episodes_per_cell", "max_steps"}


class BenchError(ValueError):
    """A problem with a suite, an agent spec or a results file, explained for the user."""


@dataclass(frozen=True)
class EpisodeSpec:
    """One episode of a suite: where it runs and how it is reset.

    ``key`` identifies the episode in results files (stable across runs of the same suite version).
    """

    key: str
    entry: str
    env_id: str
    env_kwargs: Mapping[str, Any]
    options: Mapping[str, Any]
    seed: int
    max_steps: int


@dataclass(frozen=True)
class SuiteEntry:
    """One env of a suite and the grid of reset options it runs."""

    name: str
    env_id: str
    env_kwargs: Mapping[str, Any]
    grid: Mapping[str, tuple[Any, ...]]
    options: Mapping[str, Any]
    episodes_per_cell: int
    max_steps: int = DEFAULT_MAX_STEPS

    def cells(self) -> list[dict[str, Any]]:
        """Every combination of the grid's values, in the order the grid lists them."""
        keys = list(self.grid)
        return [dict(zip(keys, values)) for values in itertools.product(*(self.grid[k] for k in keys))]


@dataclass(frozen=True)
class Suite:
    """A parsed, validated suite. ``hash`` is ``"sha256:"`` + 16 hex digits of its defining content."""

    name: str
    version: int
    description: str
    split: str
    seed: int
    entries: tuple[SuiteEntry, ...]
    hash: str
    source: str = field(default="", compare=False)
    salt: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def private(self) -> bool:
        """Whether the tasks are drawn with a secret salt (see the module docstring)."""
        return self.salt is not None

    @property
    def salt_id(self) -> str | None:
        """A fingerprint that tells salts apart without revealing them."""
        if self.salt is None:
            return None
        return hashlib.blake2b(self.salt, digest_size=6, person=b"vista-saltid").hexdigest()

    def with_salt(self, salt: bytes | None) -> Suite:
        """The same suite drawn with ``salt`` (None: the public tasks)."""
        return dataclasses.replace(self, salt=salt)

    def episodes(self) -> list[EpisodeSpec]:
        """Every episode of the suite, entry by entry, cell by cell."""
        episodes = []
        for entry in self.entries:
            for cell in entry.cells():
                options = {**entry.options, **cell, "split": self.split}
                cell_text = "/".join(f"{key}={value}" for key, value in cell.items())
                for index in range(entry.episodes_per_cell):
                    key = f"{entry.name}/{cell_text}/#{index}" if cell_text else f"{entry.name}/#{index}"
                    episodes.append(
                        EpisodeSpec(
                            key=key,
                            entry=entry.name,
                            env_id=entry.env_id,
                            env_kwargs=entry.env_kwargs,
                            options=options,
                            seed=_episode_seed(self.seed, key, self.salt),
                            max_steps=entry.max_steps,
                        )
                    )
        return episodes

    def describe(self) -> dict[str, Any]:
        """The suite's identity as results files record it: ``tasks`` is ``"public"`` or ``"private"``."""
        described = {
            "name": self.name,
            "version": self.version,
            "hash": self.hash,
            "split": self.split,
            "episodes": len(self.episodes()),
        }
        described["tasks"] = "private" if self.private else "public"
        if self.private:
            described["salt_id"] = self.salt_id
        return described


def _episode_seed(suite_seed: int, key: str, salt: bytes | None = None) -> int:
    # Keyed BLAKE2b: without the salt, the published suite seed and key say nothing about a private seed.
    digest = hashlib.blake2b(f"{suite_seed}|{key}".encode(), digest_size=8, key=salt[:64] if salt else b"").digest()
    return int.from_bytes(digest, "little") % (2**31 - 1)


def load_salt(salt_file: str | Path | None = None) -> bytes | None:
    """The evaluator's salt: the content of ``salt_file``, else ``$VISTA_BENCH_SALT``, else None (public tasks)."""
    if salt_file is not None:
        try:
            text = Path(salt_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise BenchError(f"--salt-file {str(salt_file)!r} cannot be read: {error}") from None
        where = f"--salt-file {str(salt_file)!r}"
    elif os.environ.get(SALT_ENV_VAR):
        text, where = os.environ[SALT_ENV_VAR].strip(), f"${SALT_ENV_VAR}"
    else:
        return None
    if len(text) < MIN_SALT_CHARS:
        raise BenchError(
            f"{where}: a salt needs at least {MIN_SALT_CHARS} characters (make one with: "
            "python -c 'import secrets; print(secrets.token_hex(32))' > salt.txt)"
        )
    return hashlib.sha512(text.encode()).digest()  # any length of salt becomes a 64-byte BLAKE2b key


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def builtin_suite_names() -> tuple[str, ...]:
    """Names of the suites shipped with the package (``quick``, ``full``, ...)."""
    folder = resources.files("vista_envs.bench") / "suites"
    return tuple(sorted(item.name[: -len(".json")] for item in folder.iterdir() if item.name.endswith(".json")))


def plugin_suite_names() -> tuple[str, ...]:
    """Names of the suites that installed plugins declare (entry-point group ``vista_envs.suites``)."""
    from vista_envs import plugins

    return tuple(sorted(ep.name for ep in plugins.declared(plugins.SUITES_GROUP)))


def _plugin_suite(name: str) -> Suite | None:
    """The suite a plugin declares as ``name``: a dict, a path to a .json file, or a callable returning either."""
    from vista_envs import plugins

    entry_point = next((ep for ep in plugins.declared(plugins.SUITES_GROUP) if ep.name == name), None)
    if entry_point is None:
        return None
    where = f"suite {name!r} of plugin {plugins.describe(entry_point)}"
    try:
        loaded = plugins.load_entry_point(plugins.SUITES_GROUP, entry_point)
        if callable(loaded):
            loaded = loaded()
    except ImportError as error:
        raise BenchError(str(error)) from None
    except Exception as error:  # a plugin's callable may raise anything
        raise BenchError(f"{where}: calling it raised {type(error).__name__}: {error}") from None
    if isinstance(loaded, dict):
        return parse_suite(loaded, where)
    if isinstance(loaded, (str, os.PathLike)) or hasattr(loaded, "read_text"):
        try:
            text = (
                loaded.read_text(encoding="utf-8")
                if hasattr(loaded, "read_text")
                else Path(loaded).read_text(encoding="utf-8")
            )
            data = json.loads(text)
        except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
            raise BenchError(f"{where}: cannot read it: {error}") from None
        return parse_suite(data, where)
    raise BenchError(
        f"{where} is a {type(loaded).__name__}; a suite plugin gives a dict, a .json path, or a callable returning one"
    )


def load_suite(name_or_path: str | Path, salt: bytes | None = None) -> Suite:
    """Load a built-in suite by name (``"quick"``), a plugin's suite by name, or any suite file by path.

    ``salt`` (see :func:`load_salt`) makes it a private suite.
    """
    return _load_suite(name_or_path).with_salt(salt)


def _load_suite(name_or_path: str | Path) -> Suite:
    path = Path(name_or_path)
    if path.suffix == ".json" or path.is_file():
        if not path.is_file():
            raise BenchError(f"suite file {str(path)!r} does not exist")
        try:
            text, source = path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as error:
            raise BenchError(f"suite file {str(path)!r} cannot be read: {error}") from None
    else:
        resource = resources.files("vista_envs.bench") / "suites" / f"{name_or_path}.json"
        if not resource.is_file():
            plugin_suite = _plugin_suite(str(name_or_path))
            if plugin_suite is not None:
                return plugin_suite
            others = plugin_suite_names()
            from_plugins = f"; from plugins: {', '.join(others)}" if others else ""
            raise BenchError(
                f"unknown suite {str(name_or_path)!r}; built-in suites: "
                f"{', '.join(builtin_suite_names())}{from_plugins} (or give a path to a .json file)"
            )
        text, source = resource.read_text(encoding="utf-8"), f"built-in suite {name_or_path}"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError, an int past the digit limit, nesting too deep
        raise BenchError(f"{source} is not valid JSON: {error}") from None
    return parse_suite(data, source)


def parse_suite(data: Any, source: str = "suite") -> Suite:
    """Validate a suite's JSON content and compute its hash."""

    def fail(message: str) -> BenchError:
        return BenchError(f"{source}: {message}")

    if not isinstance(data, dict):
        raise fail("a suite is a JSON object")
    unknown = set(data) - _SUITE_KEYS
    missing = {"name", "version", "split", "seed", "entries"} - set(data)
    if unknown or missing:
        raise fail(f"unknown keys {sorted(unknown)}, missing keys {sorted(missing)}; a suite has {sorted(_SUITE_KEYS)}")
    name, version, split, seed = data["name"], data["version"], data["split"], data["seed"]
    if not isinstance(name, str) or not name.replace("-", "").replace("_", "").isalnum():
        raise fail(f"name must be letters, digits, '-' or '_', got {name!r}")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise fail(f"version must be a positive int, got {version!r}")
    if split == "train" or not isinstance(split, str):
        raise fail(
            f"split must be a held-out split such as 'test', got {split!r}: a benchmark never scores training tasks"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise fail(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(data["entries"], list) or not data["entries"]:
        raise fail("entries must be a non-empty list")
    entries = tuple(_parse_entry(raw, f"{source}: entry {i}") for i, raw in enumerate(data["entries"]))
    total = sum(entry.episodes_per_cell * math.prod(len(values) for values in entry.grid.values()) for entry in entries)
    if total > MAX_SUITE_EPISODES:
        raise fail(f"{total:,} episodes per agent; a suite may have at most {MAX_SUITE_EPISODES:,}")
    names = [entry.name for entry in entries]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise fail(f"entries {duplicated} appear more than once; give entries of the same env distinct 'name's")
    defining = {key: data[key] for key in ("name", "version", "split", "seed", "entries")}
    digest = hashlib.sha256(_canonical_json(defining).encode()).hexdigest()[:16]
    description = data.get("description", "")
    return Suite(name, version, description, split, seed, entries, f"sha256:{digest}", source)


def _parse_entry(raw: Any, where: str) -> SuiteEntry:
    if not isinstance(raw, dict):
        raise BenchError(f"{where}: an entry is a JSON object")
    unknown = set(raw) - _ENTRY_KEYS
    if unknown:
        raise BenchError(f"{where}: unknown keys {sorted(unknown)}; an entry has {sorted(_ENTRY_KEYS)}")
    env_id = raw.get("env")
    if not isinstance(env_id, str) or not env_id:
        raise BenchError(f"{where}: 'env' must name a registered env id, e.g. 'VisualQA-v0'")
    env_kwargs, grid, options = (raw.get(key, {}) for key in ("env_kwargs", "grid", "options"))
    for key, value in (("env_kwargs", env_kwargs), ("grid", grid), ("options", options)):
        if not isinstance(value, dict):
            raise BenchError(f"{where}: {key!r} must be a JSON object")
    for key, values in grid.items():
        if not isinstance(values, list) or not values or len(set(map(_canonical_json, values))) != len(values):
            raise BenchError(f"{where}: grid[{key!r}] must be a non-empty list of distinct values")
    if "split" in grid or "split" in options:
        raise BenchError(f"{where}: the split is set once for the whole suite, not per entry")
    if set(grid) & set(options):
        raise BenchError(f"{where}: {sorted(set(grid) & set(options))} appear in both 'grid' and 'options'")
    count = raw.get("episodes_per_cell")
    max_steps = raw.get("max_steps", DEFAULT_MAX_STEPS)
    for key, value in (("episodes_per_cell", count), ("max_steps", max_steps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BenchError(f"{where}: {key!r} must be a positive int, got {value!r}")
    name = raw.get("name", env_id)
    if not isinstance(name, str) or not name or "/" in name:
        raise BenchError(f"{where}: 'name' must be a non-empty string without '/', got {name!r}")
    return SuiteEntry(
        name=name,
        env_id=env_id,
        env_kwargs=env_kwargs,
        grid={key: tuple(values) for key, values in grid.items()},
        options=options,
        episodes_per_cell=count,
        max_steps=max_steps,
    )
