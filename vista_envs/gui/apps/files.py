"""A file browser: open folders, select a file, delete it through a confirmation dialog.

Difficulty ladder:

- 1: the file is in the first folder below the root; few files.
- 2: two folders deep.
- 3: near-duplicate file names ("report_2023.pdf" beside "report_2032.pdf"); longer folders.
- 4: three folders deep; smaller targets; a distractor dialog may open.
- 5: folders long enough to scroll; the smallest targets.

Success (exact): the deleted files are exactly the asked one. Questions ("how many files are in
X?") are answered with ``answer``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from vista_envs.gui.actions import Action
from vista_envs.gui.app import App, Effect
from vista_envs.gui.apps.common import TARGET_SCALE, maybe_popup
from vista_envs.gui.goals import Goal, Press, Subgoal
from vista_envs.gui.layout import Column
from vista_envs.gui.oracle import clear_blockers, click_rect, reach_rect
from vista_envs.gui.theme import random_theme
from vista_envs.gui.widgets import FileList, Widget

__all__ = ["FilesApp", "make_files"]

_FOLDERS = (
    "Documents",
    "Pictures",
    "Projects",
    "Music",
    "Archive",
    "Work",
    "Personal",
    "Taxes",
    "Photos",
    "Drafts",
    "Clients",
    "Old",
)
_STEMS = (
    "report",
    "invoice",
    "notes",
    "budget",
    "slides",
    "summary",
    "draft",
    "plan",
    "photo",
    "scan",
    "letter",
    "contract",
)
_EXTENSIONS = (".pdf", ".txt", ".docx", ".png", ".xlsx", ".md")

Tree = dict[str, Any]  # folder name -> Tree, file name -> None


class FilesApp(App):
    """Browses ``tree``; ``Delete`` asks for confirmation, then removes the selected file."""

    def __init__(self, *args: Any, tree: Tree, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.tree = tree
        self.path: list[str] = []
        self.deleted: set[str] = set()
        self._show()

    @property
    def files(self) -> FileList:
        return self.widget("files")  # type: ignore[return-value]

    def folder(self) -> Tree:
        node = self.tree
        for name in self.path:
            node = node[name]
        return node

    def _show(self) -> None:
        node = self.folder()
        entries = sorted(
            ((name, child is not None) for name, child in node.items()),
            key=lambda e: (not e[1], e[0]),
        )
        files = self.files
        files.entries = tuple(entries)
        files.selected = None
        x0, y0, x1, _ = files.rect
        files.rect = (x0, y0, x1, y0 + max(1, len(entries)) * files.row_height)
        self.widget("path").label = "Location: /" + "/".join(self.path)
        self.scroll_y = 0

    def open_folder(self, name: str) -> str:
        self.path.append(name)
        self._show()
        return f'Opened "{name}".'

    def command(self, name: str) -> str:
        if name == "up":
            if not self.path:
                return "Already at the top folder."
            self.path.pop()
            self._show()
            return "Went up one folder."
        if name == "delete":
            selected = self.files.selected
            if selected is None:
                return "Select a file first."
            self.open_dialog(
                "Delete file",
                f'Delete "{selected}"? This cannot be undone.',
                [("Cancel", "cancel", False), ("Delete", "confirm", True)],
                choice=1,
                cancel_command="cancel",
            )
            return "A dialog asks to confirm."
        if name == "confirm":
            selected = self.files.selected
            if selected is not None:
                del self.folder()[selected]
                self.deleted.add("/".join([*self.path, selected]))
                self._show()
                self.status = f"Deleted {selected}."
                return self.status
        return ""

    def key_command(self, key: str, focused: Widget | None) -> Effect:
        if key == "delete" and self.files.selected is not None:
            return Effect(self.command("delete"), self.files)
        return super().key_command(key, focused)

    def extra_snapshot(self) -> Any:
        return tuple(self.path), tuple(sorted(self.deleted))


@dataclass
class Selected(Subgoal):
    """The file at ``path`` is selected in its folder (or already deleted)."""

    path: tuple[str, ...]

    def satisfied(self, app: App) -> bool:
        files: FilesApp = app  # type: ignore[assignment]
        return "/".join(self.path) in files.deleted or (
            files.path == list(self.path[:-1]) and files.files.selected == self.path[-1]
        )

    def next_action(self, app: App) -> Action | None:
        files: FilesApp = app  # type: ignore[assignment]
        blocker = clear_blockers(app)
        if blocker is not None:
            return blocker
        here, there = files.path, list(self.path[:-1])
        if here != there[: len(here)]:  # off the way: go up
            button = app.widget("up")
            return click_rect(app.screen_rect(button))
        names = [name for name, _ in files.files.entries]
        target = there[len(here)] if len(here) < len(there) else self.path[-1]
        row = files.files.row_rect(names.index(target))
        return reach_rect(app, row) or click_rect(app.to_screen(row))

    def elements(self, app: App) -> tuple[str, ...]:
        files: FilesApp = app  # type: ignore[assignment]
        here, there = files.path, list(self.path[:-1])
        if here != there[: len(here)]:
            return ("Up",)
        return (there[len(here)] if len(here) < len(there) else self.path[-1],)


def _file_names(rng: random.Random, n: int, near: bool) -> list[str]:
    names: set[str] = set()
    while len(names) < n:
        name = f"{rng.choice(_STEMS)}_{rng.randint(2019, 2025)}{rng.choice(_EXTENSIONS)}"
        names.add(name)
        if near and len(names) < n:
            stem, ext = name.rsplit(".", 1)
            year = stem[-4:]
            names.add(
                stem[:-4] + year[:2] + year[3] + year[2] + "." + ext if year[2] != year[3] else stem + "_old." + ext
            )
    return sorted(names)[:n]


def _tree(rng: random.Random, depth: int, width: int, n_files: int, near: bool) -> Tree:
    node: Tree = {name: None for name in _file_names(rng, n_files, near)}
    if depth > 0:
        for folder in rng.sample(_FOLDERS, width):
            node[folder] = _tree(rng, depth - 1, width, n_files, near)
    return node


def make_files(rng: random.Random, difficulty: int, size: tuple[int, int]) -> tuple[FilesApp, Goal]:
    theme = random_theme(rng, size[1], TARGET_SCALE[difficulty])
    depth = {1: 1, 2: 2, 3: 2, 4: 3, 5: 3}[difficulty]
    n_files = {1: 3, 2: 4, 3: 6, 4: 6, 5: 12}[difficulty]
    tree = _tree(rng, depth, 2 if depth == 3 else 3, n_files, difficulty >= 3)
    col = Column(size, theme, theme.row + theme.row // 2, rng)
    path_label = col.text("path", "Location: /")
    buttons = col.buttons([("up", "Up", "up", False), ("delete", "Delete", "delete", True)])
    files = FileList("files", "Files", col.block(theme.row), row_height=theme.row)
    widgets: list[Widget] = [path_label, *buttons, files]
    app = FilesApp(
        "files",
        rng.choice(("Files", "Explorer", "My Drive")),
        size,
        theme,
        [widgets],
        ["Files"],
        tree=tree,
    )
    path: list[str] = []
    node = tree
    for _ in range(depth):
        folder = rng.choice([name for name, child in node.items() if child is not None])
        path.append(folder)
        node = node[folder]
    maybe_popup(app, rng, difficulty)
    where = "/" + "/".join(path)
    if rng.random() < 0.25:
        count = sum(1 for child in node.values() if child is None)
        return app, Goal(
            f'How many files (not folders) are in the folder "{where}"? Answer with answer(text).',
            [],
            answer=count,
            answer_type="number",
        )
    target = rng.choice([name for name, child in node.items() if child is None])
    full = "/".join([*path, target])
    subgoals: list[Subgoal] = [
        Selected((*path, target)),
        Press("delete", lambda a: a.deleted == {full}),
    ]
    return app, Goal(
        f'Delete the file "{target}" in the folder "{where}" (confirm the deletion). Delete nothing else.',
        subgoals,
    )
