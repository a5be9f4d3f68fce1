"""The app kinds: each module builds an app and its goal from ``(rng, difficulty, size)``."""

from __future__ import annotations

import random
from collections.abc import Callable

from vista_envs.gui.app import App
from vista_envs.gui.apps.dashboard import make_dashboard
from vista_envs.gui.apps.files import make_files
from vista_envs.gui.apps.form import make_form
from vista_envs.gui.apps.table import make_table
from vista_envs.gui.goals import Goal

__all__ = ["APP_KINDS"]

APP_KINDS: dict[str, Callable[[random.Random, int, tuple[int, int]], tuple[App, Goal]]] = {
    "form": make_form,
    "table": make_table,
    "dashboard": make_dashboard,
    "files": make_files,
}
