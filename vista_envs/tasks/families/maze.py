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

import random
from collections import deque
from dataclasses import dataclass
from itertools import groupby

from PIL import Image

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, check_difficulty, register_family
from vista_envs.tasks.drawing import add_noise, blank, draw_text

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


class _Grid:
    """Passages of a rows x cols maze: ``east[r][c]`` opens (r, c)-(r, c+1), ``south[r][c]`` opens (r, c)-(r+1, c)."""

    def __init__(self, rows: int, cols: int):
        self.rows, self.cols = rows, cols
        self.east = [[False] * (cols - 1) for _ in range(rows)]
        self.south = [[False] * cols for _ in range(rows - 1)]

    def set_open(self, a: Cell, b: Cell, is_open: bool) -> None:
        (r, c), (r2, c2) = sorted((a, b))
        if r == r2:
            self.east[r][c] = is_open
        else:
            self.south[r][c] = is_open

    def neighbours(self, cell: Cell) -> list[tuple[Cell, str]]:
        """Cells reachable in one step from ``cell``, with the direction of the move."""
        r, c = cell
        found = []
        if r > 0 and self.south[r - 1][c]:
            found.append(((r - 1, c), "up"))
        if r < self.rows - 1 and self.south[r][c]:
            found.append(((r + 1, c), "down"))
        if c > 0 and self.east[r][c - 1]:
            found.append(((r, c - 1), "left"))
        if c < self.cols - 1 and self.east[r][c]:
            found.append(((r, c + 1), "right"))
        return found

    def edges(self, is_open: bool) -> list[tuple[Cell, Cell]]:
        """Every open passage (``is_open``) or closed inner wall, as the sorted pair of cells it joins."""
        pairs = [((r, c), (r, c + 1)) for r in range(self.rows) for c in range(self.cols - 1) if self.east[r][c] == is_open]
        pairs += [((r, c), (r + 1, c)) for r in range(self.rows - 1) for c in range(self.cols) if self.south[r][c] == is_open]
        return pairs


def _carve(grid: _Grid, rng: random.Random) -> None:
    """Open passages along a randomised depth-first search: a perfect maze (a spanning tree of the cells)."""
    rows, cols = grid.rows, grid.cols
    seen = [[False] * cols for _ in range(rows)]
    r, c = rng.randrange(rows), rng.randrange(cols)
    seen[r][c] = True
    stack = [(r, c)]
    while stack:
        r, c = stack[-1]
        # Unvisited neighbours, written out: this loop is most of the cost of sampling a maze.
        options = []
        if r > 0 and not seen[r - 1][c]:
            options.append((r - 1, c))
        if r < rows - 1 and not seen[r + 1][c]:
            options.append((r + 1, c))
        if c > 0 and not seen[r][c - 1]:
            options.append((r, c - 1))
        if c < cols - 1 and not seen[r][c + 1]:
            options.append((r, c + 1))
        if not options:
            stack.pop()
            continue
        nxt = options[int(rng.random() * len(options))]
        grid.set_open((r, c), nxt, True)
        seen[nxt[0]][nxt[1]] = True
        stack.append(nxt)


def shortest_route(grid: _Grid, start: Cell, goal: Cell) -> list[tuple[Cell, str]] | None:
    """The moves of a shortest route from ``start`` to ``goal`` (breadth-first search), or None if unreachable."""
    came_from: dict[Cell, tuple[Cell, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            break
        for nxt, move in grid.neighbours(cell):
            if nxt not in came_from:
                came_from[nxt] = (cell, move)
                queue.append(nxt)
    if goal not in came_from:
        return None
    route: list[tuple[Cell, str]] = []
    cell = goal
    while (step := came_from[cell]) is not None:
        route.append((cell, step[1]))
        cell = step[0]
    return route[::-1]


def _describe(route: list[tuple[Cell, str]]) -> str:
    """Moves grouped into runs: "right 2, down 3, left 1"."""
    return ", ".join(f"{move} {len(list(run))}" for move, run in groupby(move for _, move in route))


def _route_edges(route: list[tuple[Cell, str]], start: Cell) -> list[tuple[Cell, Cell]]:
    """The passages a route uses, each as a sorted pair of cells."""
    cells = [start] + [cell for cell, _ in route]
    return [tuple(sorted(pair)) for pair in zip(cells, cells[1:])]  # type: ignore[misc]


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
            "open_east": [[int(v) for v in row] for row in grid.east],
            "open_south": [[int(v) for v in row] for row in grid.south],
            "start": list(start),
            "goal": list(goal),
            "origin": list(origin),
            "cell_px": cell_px,
            "wall_px": max(1, round(cell_px * level.wall_fraction)),
            "guide_lines": level.guide_lines,
            "noise": level.noise,
        }
        return TaskSpec(question=question, answer=answer, answer_type=answer_type, scene=scene, rationale=rationale)

    @staticmethod
    def _endpoints(rng: random.Random, grid: _Grid, corners: bool) -> tuple[Cell, Cell]:
        last = (grid.rows - 1, grid.cols - 1)
        if corners:
            return ((0, 0), last) if rng.random() < 0.5 else ((0, last[1]), (last[0], 0))
        min_apart = min(3, grid.rows + grid.cols - 2)
        while True:
            start = (rng.randrange(grid.rows), rng.randrange(grid.cols))
            goal = (rng.randrange(grid.rows), rng.randrange(grid.cols))
            # Manhattan distance bounds the path from below, so S and G are never trivially adjacent.
            if abs(start[0] - goal[0]) + abs(start[1] - goal[1]) >= min_apart:
                return start, goal

    @staticmethod
    def _reachability(rng: random.Random, grid: _Grid, start: Cell, goal: Cell) -> tuple[str, str, str]:
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
            return question, "no", "Every route leaving S runs into walls before it reaches G, so G cannot be reached: no."
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
            draw_text(draw, (left + cell / 2, top + cell / 2), letter, max(7, int(cell * 0.6)), fill=(255, 255, 255))

        # Each wall overruns its cell border by half its thickness at both ends, so corners join without gaps.
        half = wall / 2
        for r, row in enumerate(scene["open_east"]):
            for c, is_open in enumerate(row):
                if not is_open:
                    x = x0 + (c + 1) * cell
                    draw.rectangle((x - half, y0 + r * cell - half, x + half, y0 + (r + 1) * cell + half), fill=_WALL_COLOR)
        for r, row in enumerate(scene["open_south"]):
            for c, is_open in enumerate(row):
                if not is_open:
                    y = y0 + (r + 1) * cell
                    draw.rectangle((x0 + c * cell - half, y - half, x0 + (c + 1) * cell + half, y + half), fill=_WALL_COLOR)
        draw.rectangle((x0 - half, y0 - half, x0 + cols * cell + half, y0 + rows * cell + half), outline=_WALL_COLOR, width=wall)
        return add_noise(image, scene["noise"], rng)
