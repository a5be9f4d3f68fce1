"""Grid mazes: the fewest steps from S to G, or whether G can be reached at all.

A rectangular grid of cells is drawn with black walls; a green cell marked S is the start and a red
cell marked G the goal. The maze is carved by a seeded depth-first search (a perfect maze: exactly
one route between any two cells), then, at higher difficulty, extra walls are knocked out so that
loops offer several routes. The ground truth is computed by breadth-first search over the cells.

Two questions are asked:

- *shortest path* (``number``): "Moving one cell at a time (up, down, left or right) and never
  through a wall, what is the fewest number of steps from S to G?"
- *reachability* (``yes_no``): "Can you get from S to G without crossing a wall?" Some walls are
  put back to close off parts of the maze; for a "no" they cut every route from S to G, for a "yes"
  they seal off pockets that the route does not need, so a closed-off region is no give-away.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from itertools import groupby

from PIL import Image

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, check_difficulty, register_family
from vista_envs.tasks.drawing import add_noise, blank, stamp_text

Cell = tuple[int, int]  # (row, column)

_START_COLOR = (40, 170, 60)
_GOAL_COLOR = (220, 40, 40)
_WALL_COLOR = (0, 0, 0)
# Faint guide lines on every cell border (walls or not) at high difficulty: they look like walls
# at a glance but are clearly lighter than the black walls.
_GUIDE_COLOR = (200, 200, 200)
_INTRO = "This maze has black walls. S (green) is the start and G (red) is the goal. "


@dataclass(frozen=True)
class MazeConfig(FamilyConfig):
    """Knobs of the maze family.

    Attributes:
        min_cell_px: smallest cell side in pixels; the grid is shrunk to keep cells at least this big.
        margin_px: blank border around the maze.
        reachability_share: probability of the yes/no reachability question (else shortest path).
    """

    min_cell_px: int = 12
    margin_px: int = 4
    reachability_share: float = 0.3


@dataclass(frozen=True)
class _Level:
    grid: tuple[int, int]  # smallest and largest number of cells per side
    loop_share: float  # share of the remaining inner walls knocked out to create loops
    wall_fraction: float  # wall thickness as a share of the cell side
    corners: bool  # S and G in opposite corners (easy) or anywhere
    guide_lines: bool
    noise: float  # std of Gaussian pixel noise


_LEVELS: dict[int, _Level] = {
    1: _Level(grid=(4, 5), loop_share=0.0, wall_fraction=0.16, corners=True, guide_lines=False, noise=0.0),
    2: _Level(grid=(5, 7), loop_share=0.0, wall_fraction=0.14, corners=False, guide_lines=False, noise=0.0),
    3: _Level(grid=(7, 9), loop_share=0.08, wall_fraction=0.12, corners=False, guide_lines=False, noise=0.0),
    4: _Level(grid=(9, 11), loop_share=0.12, wall_fraction=0.10, corners=False, guide_lines=True, noise=8.0),
    5: _Level(grid=(11, 12), loop_share=0.16, wall_fraction=0.08, corners=False, guide_lines=True, noise=14.0),
}


# A cell's open sides are bits of one int.
_UP, _DOWN, _LEFT, _RIGHT = 1, 2, 4, 8
_MOVE_NAMES = {_UP: "up", _DOWN: "down", _LEFT: "left", _RIGHT: "right"}


class _Grid:
    """Passages of a rows x cols maze.

    Cells are numbered row by row (``index = row * cols + col``): flat lists and bit masks keep the
    carving and the searches, which are most of the cost of sampling a maze, cheap.
    ``links[i]`` holds the direction bits of the sides of cell ``i`` that are open.
    """

    def __init__(self, rows: int, cols: int):
        self.rows, self.cols = rows, cols
        self.links = [0] * (rows * cols)
        self.steps = _steps(rows, cols)

    def cell(self, index: int) -> Cell:
        """``(row, col)`` of the cell numbered ``index``."""
        return divmod(index, self.cols)

    def index(self, cell: Cell) -> int:
        """The number of the cell at ``(row, col)``."""
        return cell[0] * self.cols + cell[1]

    def set_open(self, a: int, b: int, is_open: bool) -> None:
        """Open (or close) the passage between the adjacent cells ``a`` and ``b``."""
        bit, back = _between(a, b)
        if is_open:
            self.links[a] |= bit
            self.links[b] |= back
        else:
            self.links[a] &= ~bit
            self.links[b] &= ~back

    def edges(self, is_open: bool) -> list[tuple[int, int]]:
        """Every open passage (``is_open``) or closed inner wall, as the pair of cells it joins (lower index first)."""
        links = self.links
        return [
            (index, next_index)
            for index, next_index, bit in _inner_edges(self.rows, self.cols)
            if bool(links[index] & bit) == is_open
        ]

    def open_rows(self, bit: int) -> list[list[int]]:
        """Per row, 1 where a cell's ``bit`` side is open.

        ``_RIGHT`` gives the scene's ``open_east``, ``_DOWN`` its ``open_south``.
        """
        rows, cols, links = self.rows, self.cols, self.links
        if bit == _RIGHT:
            return [[1 if links[i] & bit else 0 for i in range(r * cols, (r + 1) * cols - 1)] for r in range(rows)]
        return [[1 if links[i] & bit else 0 for i in range(r * cols, (r + 1) * cols)] for r in range(rows - 1)]


@functools.lru_cache(maxsize=64)
def _steps(rows: int, cols: int) -> tuple[tuple[tuple[int, int, int], ...], ...]:
    """Per cell of a rows x cols grid: ``(neighbour, bit, opposite bit)`` for each side that leads to another cell."""
    steps = []
    for index in range(rows * cols):
        r, c = divmod(index, cols)
        cell_steps = []
        if r > 0:
            cell_steps.append((index - cols, _UP, _DOWN))
        if r < rows - 1:
            cell_steps.append((index + cols, _DOWN, _UP))
        if c > 0:
            cell_steps.append((index - 1, _LEFT, _RIGHT))
        if c < cols - 1:
            cell_steps.append((index + 1, _RIGHT, _LEFT))
        steps.append(tuple(cell_steps))
    return tuple(steps)


@functools.lru_cache(maxsize=64)
def _inner_edges(rows: int, cols: int) -> tuple[tuple[int, int, int], ...]:
    """Every pair of adjacent cells of a rows x cols grid once, as ``(cell, right or lower neighbour, bit of that
    side)``."""
    return tuple(
        (index, next_index, bit)
        for index, cell_steps in enumerate(_steps(rows, cols))
        for next_index, bit, _ in cell_steps
        if next_index > index
    )


def _between(a: int, b: int) -> tuple[int, int]:
    """The bit of the side of cell ``a`` that faces the adjacent cell ``b``, and the bit of ``b`` facing ``a``."""
    if b == a + 1:
        return _RIGHT, _LEFT
    if b == a - 1:
        return _LEFT, _RIGHT
    return (_DOWN, _UP) if b > a else (_UP, _DOWN)


def _carve(grid: _Grid, rng: random.Random) -> None:
    """Open passages along a randomised depth-first search: a perfect maze (a spanning tree of the cells)."""
    links, steps = grid.links, grid.steps
    seen = [False] * len(links)
    first = rng.randrange(len(links))
    seen[first] = True
    stack = [first]
    while stack:
        index = stack[-1]
        # A plain loop: this runs twice per cell, and a list comprehension costs a call each time.
        options = []
        for step in steps[index]:
            if not seen[step[0]]:
                options.append(step)
        if not options:
            stack.pop()
            continue
        next_index, bit, back = options[int(rng.random() * len(options))]
        links[index] |= bit
        links[next_index] |= back
        seen[next_index] = True
        stack.append(next_index)


def shortest_route(grid: _Grid, start: int, goal: int) -> list[tuple[int, str]] | None:
    """The moves ``(cell entered, direction)`` of a shortest route from ``start`` to ``goal`` (breadth-first search).

    None if ``goal`` cannot be reached.
    """
    links, steps = grid.links, grid.steps
    came_from: dict[int, tuple[int, int] | None] = {start: None}
    frontier = [start]
    while frontier and goal not in came_from:
        next_frontier = []
        for index in frontier:
            open_sides = links[index]
            for next_index, bit, _ in steps[index]:
                if open_sides & bit and next_index not in came_from:
                    came_from[next_index] = (index, bit)
                    next_frontier.append(next_index)
        frontier = next_frontier
    if goal not in came_from:
        return None
    route: list[tuple[int, str]] = []
    index = goal
    while (step := came_from[index]) is not None:
        route.append((index, _MOVE_NAMES[step[1]]))
        index = step[0]
    return route[::-1]


def _closed_runs(is_open: list[int]) -> list[tuple[int, int]]:
    """``(first, last)`` of every run of consecutive closed (0) entries of ``is_open``."""
    runs = []
    first = None
    for index, flag in enumerate(is_open):
        if not flag and first is None:
            first = index
        elif flag and first is not None:
            runs.append((first, index - 1))
            first = None
    if first is not None:
        runs.append((first, len(is_open) - 1))
    return runs


def _describe(route: list[tuple[int, str]]) -> str:
    """Moves grouped into runs: "right 2, down 3, left 1"."""
    return ", ".join(f"{move} {len(list(run))}" for move, run in groupby(move for _, move in route))


def _route_edges(route: list[tuple[int, str]], start: int) -> list[tuple[int, int]]:
    """The passages a route uses, each as the pair of cells it joins (lower index first)."""
    cells = [start] + [index for index, _ in route]
    return [(min(a, b), max(a, b)) for a, b in zip(cells, cells[1:])]


@register_family
class Maze(TaskFamily):
    """A grid maze with walls, a start S and a goal G: shortest path length or reachability.

    Difficulty ladder (grid sides are capped so every cell keeps ``min_cell_px`` pixels):

    ====  ===========  ======================  ===================================================
    lvl   grid side    loops                   drawing
    ====  ===========  ======================  ===================================================
    1     4-5          none (perfect maze)     thick walls; S and G in opposite corners
    2     5-7          none                    S and G anywhere (at least 3 steps apart)
    3     7-9          8% of walls removed     thinner walls
    4     9-11         12% of walls removed    thin walls, grey guide lines on all borders, noise
    5     11-12        16% of walls removed    thinnest walls, guide lines, stronger noise
    ====  ===========  ======================  ===================================================

    Answer types: ``number`` (shortest path, in steps: one step moves to an adjacent cell) or
    ``yes_no`` (reachability, share set by ``MazeConfig.reachability_share``).

    Example: "This maze has black walls. S (green) is the start and G (red) is the goal. Moving one
    cell at a time (up, down, left or right) and never through a wall, what is the fewest number of
    steps from S to G?" -> 14.

    The scene stores the grid (``rows``, ``cols``, ``open_east``/``open_south`` as 0/1 rows), the
    ``start`` and ``goal`` cells as ``[row, col]`` and the pixel layout (``origin``, ``cell_px``,
    ``wall_px``).
    """

    name = "maze"
    description = "Find the shortest path length from S to G in a grid maze, or whether G is reachable."
    config_cls = MazeConfig
    config: MazeConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[check_difficulty(difficulty)]
        cfg = self.config
        width, height = size
        max_cols = max(2, (width - 2 * cfg.margin_px) // cfg.min_cell_px)
        max_rows = max(2, (height - 2 * cfg.margin_px) // cfg.min_cell_px)
        side = rng.randint(*level.grid)
        rows, cols = min(side, max_rows), min(side, max_cols)
        cell_px = min((width - 2 * cfg.margin_px) // cols, (height - 2 * cfg.margin_px) // rows)
        origin = ((width - cols * cell_px) // 2, (height - rows * cell_px) // 2)

        grid = _Grid(rows, cols)
        _carve(grid, rng)
        for a, b in grid.edges(False):
            if rng.random() < level.loop_share:
                grid.set_open(a, b, True)
        start, goal = self._endpoints(rng, grid, level.corners)

        if rng.random() < cfg.reachability_share:
            question, answer, rationale = self._reachability(rng, grid, start, goal)
            answer_type = "yes_no"
        else:
            route = shortest_route(grid, start, goal)
            assert route is not None, "a carved maze connects every pair of cells"
            question = (
                f"{_INTRO}Moving one cell at a time (up, down, left or right) and never through a wall, "
                "what is the fewest number of steps from S to G?"
            )
            answer = len(route)
            rationale = f"A shortest route from S goes {_describe(route)}, which is {answer} steps."
            answer_type = "number"

        scene = {
            "rows": rows,
            "cols": cols,
            "open_east": grid.open_rows(_RIGHT),
            "open_south": grid.open_rows(_DOWN),
            "start": list(grid.cell(start)),
            "goal": list(grid.cell(goal)),
            "origin": list(origin),
            "cell_px": cell_px,
            "wall_px": max(1, round(cell_px * level.wall_fraction)),
            "guide_lines": level.guide_lines,
            "noise": level.noise,
        }
        return TaskSpec(question=question, answer=answer, answer_type=answer_type, scene=scene, rationale=rationale)

    @staticmethod
    def _endpoints(rng: random.Random, grid: _Grid, corners: bool) -> tuple[int, int]:
        """The start and goal cells (indices)."""
        last = (grid.rows - 1, grid.cols - 1)
        if corners:
            start, goal = ((0, 0), last) if rng.random() < 0.5 else ((0, last[1]), (last[0], 0))
            return grid.index(start), grid.index(goal)
        min_apart = min(3, grid.rows + grid.cols - 2)
        while True:
            start = (rng.randrange(grid.rows), rng.randrange(grid.cols))
            goal = (rng.randrange(grid.rows), rng.randrange(grid.cols))
            # Manhattan distance bounds the path from below, so S and G are never trivially adjacent.
            if abs(start[0] - goal[0]) + abs(start[1] - goal[1]) >= min_apart:
                return grid.index(start), grid.index(goal)

    @staticmethod
    def _reachability(rng: random.Random, grid: _Grid, start: int, goal: int) -> tuple[str, str, str]:
        """Close walls to make G unreachable (answer "no") or to seal off pockets the route avoids ("yes")."""
        route = shortest_route(grid, start, goal)
        if rng.random() < 0.5:
            while route is not None:
                grid.set_open(*rng.choice(_route_edges(route, start)), False)
                route = shortest_route(grid, start, goal)
        else:
            needed = set(_route_edges(route, start))
            spare = [edge for edge in grid.edges(True) if edge not in needed]
            for a, b in rng.sample(spare, min(len(spare), rng.randint(1, 3))):
                grid.set_open(a, b, False)
            route = shortest_route(grid, start, goal)
        question = (
            f"{_INTRO}Moving one cell at a time (up, down, left or right), "
            "can you get from S to G without crossing a wall?"
        )
        if route is None:
            return (
                question,
                "no",
                "Every route leaving S runs into walls before it reaches G, so G cannot be reached: no.",
            )
        return question, "yes", f"S connects to G by going {_describe(route)}, so yes."

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        rows, cols, cell = scene["rows"], scene["cols"], scene["cell_px"]
        x0, y0 = scene["origin"]
        wall = scene["wall_px"]
        image, draw = blank(size)

        if scene["guide_lines"]:
            for r in range(1, rows):
                draw.line((x0, y0 + r * cell, x0 + cols * cell, y0 + r * cell), fill=_GUIDE_COLOR, width=1)
            for c in range(1, cols):
                draw.line((x0 + c * cell, y0, x0 + c * cell, y0 + rows * cell), fill=_GUIDE_COLOR, width=1)

        for (r, c), color, letter in ((scene["start"], _START_COLOR, "S"), (scene["goal"], _GOAL_COLOR, "G")):
            inset = wall // 2 + 1
            left, top = x0 + c * cell, y0 + r * cell
            draw.rectangle((left + inset, top + inset, left + cell - inset, top + cell - inset), fill=color)
            stamp_text(draw, (left + cell / 2, top + cell / 2), letter, max(7, int(cell * 0.6)), (255, 255, 255))

        # Each wall overruns its cell border by half its thickness at both ends, so corners join without gaps;
        # a run of walls in line is one rectangle (the same pixels as one per wall, in far fewer calls).
        half = wall / 2
        open_east, open_south = scene["open_east"], scene["open_south"]
        for c in range(cols - 1):
            x = x0 + (c + 1) * cell
            for first, last in _closed_runs([row[c] for row in open_east]):
                draw.rectangle(
                    (x - half, y0 + first * cell - half, x + half, y0 + (last + 1) * cell + half), fill=_WALL_COLOR
                )
        for r, row in enumerate(open_south):
            y = y0 + (r + 1) * cell
            for first, last in _closed_runs(row):
                draw.rectangle(
                    (x0 + first * cell - half, y - half, x0 + (last + 1) * cell + half, y + half), fill=_WALL_COLOR
                )
        draw.rectangle(
            (x0 - half, y0 - half, x0 + cols * cell + half, y0 + rows * cell + half), outline=_WALL_COLOR, width=wall
        )
        return add_noise(image, scene["noise"], rng)
