"""The frame tools of ``VistaVideo-v0`` and the episode's frame budget.

Three tools, in OpenAI function format for ``info["tools"]``:

- ``frames``: a grid of frames, either a range (``start``, ``end`` inclusive, ``step``) or a list of
  ``indices``; at most ``max_grid`` frames per call;
- ``frame``: one frame at full size;
- ``zoom``: a region ``box = [x0, y0, x1, y1]`` (pixels of a frame) of one frame, enlarged.

Every frame shown counts against the budget of ``max_frames`` frames per episode (the reset overview is
free). A request is checked before anything is drawn: out-of-range frames, inverted or empty boxes and
over-long lists are refused with a message; a range longer than the grid or the budget left is cut to
fit, from its start, and the message says so. Nothing is ever allocated in proportion to what was asked
(``{"start": 0, "end": 10**12}`` is refused by arithmetic), so no request can blow up memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from vista_envs.finite import is_finite_number
from vista_envs.tools.protocol import ToolCall
from vista_envs.tools.toolbox import validate_arguments
from vista_envs.video.render import FrameRenderer

__all__ = ["FrameToolResult", "FrameTools"]

_MIN_ZOOM_SIDE = 4


@dataclass(frozen=True)
class FrameToolResult:
    """A tool's answer: text for the model, the image it shows (if any), the frames it showed."""

    text: str
    image: Image.Image | None = None
    frames: tuple[int, ...] = ()
    ok: bool = True


@dataclass
class FrameTools:
    """The tools of one env; :meth:`start` binds them to an episode's clip and resets the budget.

    Args:
        frame_size: ``(width, height)`` of a frame in pixels (the coordinates of ``zoom`` boxes).
        view_size: ``(width, height)`` of the images the tools return (the observation's image).
        max_frames: the per-episode budget of frames shown.
        max_grid: the most frames one ``frames`` call shows.
    """

    frame_size: tuple[int, int]
    view_size: tuple[int, int]
    max_frames: int
    max_grid: int
    used: int = 0
    viewed: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.renderer: FrameRenderer | None = None

    def start(self, renderer: FrameRenderer) -> None:
        self.renderer = renderer
        self.used = 0
        self.viewed = set()

    @property
    def n_frames(self) -> int:
        assert self.renderer is not None
        return self.renderer.clip.n_frames

    @property
    def left(self) -> int:
        return self.max_frames - self.used

    def schemas(self) -> list[dict[str, Any]]:
        width, height = self.frame_size
        index = {"type": "integer", "description": "a frame index, 0 = the first frame"}
        return [
            _schema(
                "frames",
                f"Show several frames as one grid image, each tile labelled with its frame index: either a range "
                f"(start, end inclusive, optional step; default step 1) or a list of indices. At most {self.max_grid} "
                "frames "
                f"per call; every frame shown counts against the frame budget.",
                {
                    "start": dict(index, description="first frame of the range"),
                    "end": dict(index, description="last frame of the range (inclusive)"),
                    "step": {"type": "integer", "description": "take every step-th frame (default 1)"},
                    "indices": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "minItems": 1,
                        "maxItems": self.max_grid,
                        "description": "frame indices to show",
                    },
                },
                [],
            ),
            _schema("frame", "Show one frame at full size (counts as one frame).", {"index": index}, ["index"]),
            _schema(
                "zoom",
                "Show a region of one frame enlarged (counts as one frame). box = [x0, y0, x1, y1] in pixels of a "
                f"{width}x{height} frame.",
                {
                    "index": index,
                    "box": {
                        "type": "array",
                        "items": {"type": "number"},
                        "minItems": 4,
                        "maxItems": 4,
                        "description": f"[x0, y0, x1, y1] within the {width}x{height} frame",
                    },
                },
                ["index", "box"],
            ),
        ]

    def call(self, call: ToolCall) -> FrameToolResult:
        """Run one call; every problem becomes ``ok=False`` with a reason (never an exception)."""
        if call.error:
            return FrameToolResult(f"Error: {call.error}.", ok=False)
        schema = {s["function"]["name"]: s["function"]["parameters"] for s in self.schemas()}
        if call.name not in schema:
            return FrameToolResult(f"Error: unknown tool {call.name!r}; available: {', '.join(schema)}.", ok=False)
        problem = validate_arguments(schema[call.name], call.arguments)
        if problem:
            return FrameToolResult(f"Error: {call.name}: {problem}.", ok=False)
        if self.left <= 0:
            return FrameToolResult(
                f"Error: the frame budget of {self.max_frames} frames is spent; answer now.", ok=False
            )
        return {"frames": self._frames, "frame": self._frame, "zoom": self._zoom}[call.name](call.arguments)

    def _out_of_range(self, index: int) -> str | None:
        if not 0 <= index < self.n_frames:
            return f"frame {index} does not exist; frames are numbered 0 to {self.n_frames - 1}"
        return None

    def _frames(self, arguments: Mapping[str, Any]) -> FrameToolResult:
        has_range, has_list = ("start" in arguments or "end" in arguments, "indices" in arguments)
        if has_range == has_list:
            return FrameToolResult(
                'Error: frames: give either "start" and "end" (and optionally "step") or "indices".', ok=False
            )
        notes = []
        if has_list:
            wanted = list(dict.fromkeys(arguments["indices"]))
            if "step" in arguments:
                return FrameToolResult('Error: frames: "step" goes with a range, not with "indices".', ok=False)
            bad = next((self._out_of_range(i) for i in wanted if self._out_of_range(i)), None)
            if bad:
                return FrameToolResult(f"Error: frames: {bad}.", ok=False)
            total = len(wanted)
        else:
            if "start" not in arguments or "end" not in arguments:
                return FrameToolResult('Error: frames: a range needs both "start" and "end".', ok=False)
            start, end, step = (arguments["start"], arguments["end"], arguments.get("step", 1))
            problem = self._out_of_range(start) or self._out_of_range(end)
            if problem:
                return FrameToolResult(f"Error: frames: {problem}.", ok=False)
            if end < start or step < 1:
                return FrameToolResult("Error: frames: the range needs start <= end and step >= 1.", ok=False)
            total = (end - start) // step + 1
            # Only as many indices as can be shown are ever made.
            wanted = list(range(start, start + step * min(total, self.max_grid), step))
        shown = wanted[: min(self.max_grid, self.left)]
        if total > len(shown):
            limit = "the grid's limit" if len(shown) == self.max_grid else "the frame budget left"
            notes.append(f"{total} frames were asked for; showing the first {len(shown)} ({limit})")
        self._spend(shown)
        assert self.renderer is not None
        image = self.renderer.grid(shown, self.view_size)
        text = (
            f"Frames {', '.join(map(str, shown))} (tiles in reading order)."
            + "".join(f" Note: {n}." for n in notes)
            + self._budget_note()
        )
        return FrameToolResult(text, image, tuple(shown))

    def _frame(self, arguments: Mapping[str, Any]) -> FrameToolResult:
        index = arguments["index"]
        problem = self._out_of_range(index)
        if problem:
            return FrameToolResult(f"Error: frame: {problem}.", ok=False)
        self._spend([index])
        assert self.renderer is not None
        image = self.renderer.frame(index)
        if image.size != self.view_size:
            image = image.resize(self.view_size, Image.Resampling.BILINEAR)
        return FrameToolResult(f"Frame {index}." + self._budget_note(), image, (index,))

    def _zoom(self, arguments: Mapping[str, Any]) -> FrameToolResult:
        index, box = arguments["index"], arguments["box"]
        problem = self._out_of_range(index)
        if problem:
            return FrameToolResult(f"Error: zoom: {problem}.", ok=False)
        width, height = self.frame_size
        x0, y0, x1, y1 = box
        if not all(is_finite_number(v) for v in box) or not (0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height):
            return FrameToolResult(
                f"Error: zoom: box must satisfy 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}, got {list(box)}.",
                ok=False,
            )
        if min(x1 - x0, y1 - y0) < _MIN_ZOOM_SIDE:
            return FrameToolResult(
                f"Error: zoom: the box must be at least {_MIN_ZOOM_SIDE} pixels on each side.", ok=False
            )
        self._spend([index])
        assert self.renderer is not None
        image = self.renderer.zoom(index, (x0, y0, x1, y1), self.view_size)
        return FrameToolResult(
            f"Frame {index}, region [{x0:g}, {y0:g}, {x1:g}, {y1:g}] enlarged." + self._budget_note(), image, (index,)
        )

    def _spend(self, frames: list[int]) -> None:
        self.used += len(frames)
        self.viewed.update(frames)

    def _budget_note(self) -> str:
        return f" Frame budget left: {self.left} of {self.max_frames}."


def _schema(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    return {"type": "function", "function": {"name": name, "description": description, "parameters": parameters}}
