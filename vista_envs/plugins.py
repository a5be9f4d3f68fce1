"""Plugins: task families, bench agents and suites that other installed packages declare.

A package adds to vista-envs by declaring entry points in its ``pyproject.toml``::

    [project.entry-points."vista_envs.families"]
    my_family = "my_pkg.families:MyFamily"        # a TaskFamily subclass (or a module that registers some)

    [project.entry-points."vista_envs.bench_agents"]
    my-agent = "my_pkg.bench:make_agent"          # factory(argument: str) -> object with act(observations, infos)

    [project.entry-points."vista_envs.suites"]
    my-suite = "my_pkg:SUITE"                     # a suite dict, a path to its .json, or a callable returning either

Families are loaded the first time a family is looked up (so ``gym.make(..., families=["my_family"])``
and every CLI command see them); agents and suites when a spec or a suite name asks for them. An
entry point that fails to load is reported by its name and distribution (:func:`plugin_errors`) and
the others still load: one broken package never takes the built-ins down with it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from importlib import metadata
from typing import Any

__all__ = [
    "AGENTS_GROUP",
    "FAMILIES_GROUP",
    "GROUPS",
    "SUITES_GROUP",
    "PluginError",
    "PluginWarning",
    "declared",
    "describe",
    "load_entry_point",
    "plugin_errors",
    "provider_hint",
    "report_failure",
]

FAMILIES_GROUP = "vista_envs.families"
AGENTS_GROUP = "vista_envs.bench_agents"
SUITES_GROUP = "vista_envs.suites"
GROUPS = (FAMILIES_GROUP, AGENTS_GROUP, SUITES_GROUP)


@dataclass(frozen=True)
class PluginError:
    """An entry point that could not be loaded, and why."""

    group: str
    name: str
    value: str
    distribution: str | None
    error: str

    def __str__(self) -> str:
        return (
            f"plugin {describe_parts(self.name, self.value, self.distribution)} (group {self.group}) failed to "
            f"load: {self.error}"
        )


class PluginWarning(RuntimeWarning):
    """Warned once per entry point that fails to load (the command line prints it as one line)."""


_ERRORS: dict[tuple[str, str], PluginError] = {}


def declared(group: str) -> list[metadata.EntryPoint]:
    """The entry points of ``group`` that installed distributions declare, first by name when two share one."""
    seen: dict[str, metadata.EntryPoint] = {}
    for entry_point in metadata.entry_points(group=group):
        seen.setdefault(entry_point.name, entry_point)
    return list(seen.values())


def _distribution_name(entry_point: metadata.EntryPoint) -> str | None:
    dist = getattr(entry_point, "dist", None)
    return None if dist is None else dist.metadata["Name"]


def describe_parts(name: str, value: str, distribution: str | None) -> str:
    return f"{name!r} = {value!r}" + (f" of package {distribution!r}" if distribution else "")


def describe(entry_point: metadata.EntryPoint) -> str:
    """``'name' = 'module:attr' of package 'dist'``: how messages name an entry point."""
    return describe_parts(entry_point.name, entry_point.value, _distribution_name(entry_point))


def load_entry_point(group: str, entry_point: metadata.EntryPoint) -> Any:
    """``entry_point.load()``; on failure the error is recorded, warned about by name, and re-raised as
    :class:`ImportError`."""
    try:
        return entry_point.load()
    except (Exception, SystemExit) as error:  # a plugin's import may raise anything; sys.exit() too
        raise ImportError(str(report_failure(group, entry_point, error))) from error


def report_failure(group: str, entry_point: metadata.EntryPoint, error: BaseException) -> PluginError:
    """Record (and warn once about) an entry point that failed to load or to register."""
    failure = PluginError(
        group, entry_point.name, entry_point.value, _distribution_name(entry_point), f"{type(error).__name__}: {error}"
    )
    if (group, entry_point.name) not in _ERRORS:
        _ERRORS[(group, entry_point.name)] = failure
        warnings.warn(str(failure), PluginWarning, stacklevel=3)
    return _ERRORS[(group, entry_point.name)]


def provider_hint(group: str, name: str) -> str:
    """Which plugin would provide ``name`` in ``group`` (by the convention that an entry point is named
    after what it provides), whether it failed to load, or that no installed package declares it."""
    for entry_point in declared(group):
        if entry_point.name == name:
            failure = _ERRORS.get((group, name))
            if failure is not None:
                return f"plugin {describe(entry_point)} would provide it but failed to load: {failure.error}"
            return f"plugin {describe(entry_point)} declares it but did not provide it"
    return f"no installed package declares it (entry-point group {group!r}; see the README's Plugins section)"


def plugin_errors(group: str | None = None) -> list[PluginError]:
    """Entry points that failed to load so far (of one group, or of all)."""
    return [error for (g, _), error in _ERRORS.items() if group is None or g == group]
