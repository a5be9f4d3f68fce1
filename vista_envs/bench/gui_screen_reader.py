"""A screenshot-only baseline for ``VistaGUI-v0``: it reads the screen by matching the names it looks for.

:class:`ScreenReaderPolicy` sees the screenshot and the instruction, never the accessibility tree. It
has no OCR: it knows the typeface (Pillow's bundled font, as any agent could find out) and finds a
name on the screen by normalised cross-correlation of the name's rendered glyphs with the screenshot,
at the text sizes the header's height allows. A name counts as found only where nothing is written
right after it, so "Desk Lamp" is not found inside "Desk Lamp XL". Values it must read (a cell, a
bar's value, a slider's number) are found by trying the candidates the question allows.

It is a scripted stand-in for a model's perception, written against this env's instruction templates
and widget look; it shows how much of the tasks the pixels carry, not how well a model reads them.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["ScreenReaderPolicy"]

Box = tuple[int, int, int, int]
_POPUP_BUTTONS = ("Accept", "Later", "Got it")  # the button a pop-up's primary choice bears
_MATCH = 0.97


def _call(tool: str, **arguments: Any) -> str:
    return f"<tool_call>{json.dumps({'name': tool, 'arguments': arguments})}</tool_call>"


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=65536)
def _glyphs(text: str, size: int) -> np.ndarray:
    """``text`` rendered in the bundled font at ``size``: its ink box as alpha in [0, 1]."""
    font = _font(size)
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(image).text((-left, -top), text, font=font, fill=255)
    return np.asarray(image, np.float32) / 255.0


class _Screen:
    """One screenshot, ready for many searches (its FFT and integral images are computed once)."""

    def __init__(self, image: np.ndarray):
        self.rgb = image.astype(np.int16)
        self._index(image.astype(np.float32).mean(axis=2))
        # The header is a solid band as tall as 1.5 rows; the text size is 0.52-0.6 of a row.
        column = self.rgb[:, 0]
        changed = np.nonzero(np.abs(column - column[0]).sum(axis=1) > 20)[0]
        header = int(changed[0]) if changed.size else self.height // 10
        self.header = header
        rows = [r for r in range(8, header + 1) if r + r // 2 == header] or [max(13, round(header / 1.5))]
        self.row = rows[0]
        self.sizes = sorted({max(9, s) for r in rows for s in range(round(r * 0.52), round(r * 0.6) + 1)})

    def _index(self, gray: np.ndarray) -> None:
        self.gray = gray
        self.height, self.width = gray.shape
        self._fft = np.fft.rfft2(gray)
        padded = np.pad(gray, ((1, 0), (1, 0)))
        self._sum = padded.cumsum(0).cumsum(1)
        self._sum2 = (padded * padded).cumsum(0).cumsum(1)

    def region(self, band: Box) -> _Screen:
        """The part of the screen inside ``band``, searchable on its own (much faster than the whole screen)."""
        x0, y0, x1, y1 = max(0, band[0]), max(0, band[1]), min(self.width, band[2]), min(self.height, band[3])
        part = _Screen.__new__(_Screen)
        part.rgb, part.header, part.row, part.sizes = self.rgb[y0:y1, x0:x1], self.header, self.row, self.sizes
        part._index(self.gray[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)])
        return part

    def find(self, text: str, sizes: Sequence[int] | None = None, whole: bool = True) -> list[Box]:
        """Where ``text`` is written (ink boxes, top to bottom); ``whole``: nothing written right after it."""
        found: list[tuple[float, Box]] = []
        for size in sizes or self.sizes:
            glyphs = _glyphs(text, size)
            h, w = glyphs.shape
            if h >= self.height or w >= self.width or not glyphs.any():
                continue
            score = self._ncc(glyphs)
            for y, x in zip(*np.nonzero(score > _MATCH)):
                box = (int(x), int(y), int(x) + w, int(y) + h)
                if any(_overlap(box, b) for _, b in found) or not self._stamped(glyphs, box):
                    continue
                if not whole or self._blank_after(box, size):
                    found.append((float(score[y, x]), box))
        return [box for _, box in sorted(found, key=lambda item: (item[1][1], item[1][0]))]

    def _ncc(self, glyphs: np.ndarray) -> np.ndarray:
        """|normalised cross-correlation| of the glyphs with every window of the screen (dark or light text)."""
        h, w = glyphs.shape
        kernel = glyphs - glyphs.mean()
        numerator = np.fft.irfft2(self._fft * np.fft.rfft2(kernel[::-1, ::-1], self.gray.shape), self.gray.shape)[
            h - 1 :, w - 1 :
        ]

        def window(table: np.ndarray) -> np.ndarray:
            return table[h:, w:] - table[:-h, w:] - table[h:, :-w] + table[:-h, :-w]

        n = h * w
        total = window(self._sum)
        variance = window(self._sum2) - total * total / n
        score = np.zeros_like(numerator)
        textured = variance > n * 4.0  # flat windows hold no text
        score[textured] = np.abs(numerator[textured]) / np.sqrt(variance[textured] * float((kernel * kernel).sum()))
        return score

    def _stamped(self, glyphs: np.ndarray, box: Box) -> bool:
        """The window is the glyphs blended onto a flat background (pixel = background + alpha * (ink - background)).

        Correlation alone also fires on a lone border line that lines up with a stem; the blend fits
        real text to within rounding, and nothing else.
        """
        x0, y0, x1, y1 = box
        patch = self.gray[y0:y1, x0:x1]
        alpha = glyphs - glyphs.mean()
        contrast = float((alpha * (patch - patch.mean())).sum() / max(1e-6, float((alpha * alpha).sum())))
        fit = patch.mean() + contrast * alpha
        return abs(contrast) > 20 and float(np.abs(patch - fit).max()) < 12

    def _blank_after(self, box: Box, size: int) -> bool:
        _x0, y0, x1, y1 = box
        strip = self.gray[y0:y1, x1 + 1 : min(self.width, x1 + 1 + max(4, round(size * 0.7)))]
        return strip.size == 0 or float(strip.std()) < 6.0

    def saturated(self, x: int, y: int) -> bool:
        pixel = self.rgb[min(max(y, 0), self.height - 1), min(max(x, 0), self.width - 1)]
        return int(pixel.max() - pixel.min()) > 60


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _center(box: Box) -> tuple[int, int]:
    return (box[0] + box[2]) // 2, (box[1] + box[3]) // 2


def _click(box: Box) -> str:
    x, y = _center(box)
    return _call("click", x=x, y=y)


def form_clauses(task: str) -> list[str]:
    """The clauses of a form task's instruction ("Turn on "Wi-Fi"; set "Theme" to dark; then click "Save"")."""
    return task.split(": ", 1)[1].split(" Leave everything")[0].split("; ")


def read_clause(clause: str) -> tuple[re.Match[str] | None, ...]:
    """What a form clause asks, as matches: ``(button, toggle, setting, typing)``, at most one of them not None.

    ``button``: the button's label; ``toggle``: on/off and the box's label; ``setting``: the control and its
    value; ``typing``: the text and the box's label.
    """
    return (
        re.match(r'then click "(.*?)"', clause),
        re.match(r'[Tt]urn (on|off) "(.*?)"', clause),
        re.match(r'[Ss]et "(.*?)" to (.*)', clause),
        re.match(r'[Ee]nter "(.*?)" in "(.*?)"', clause),
    )


@dataclass
class _Memory:
    done: set[str] = field(default_factory=set)
    phase: dict[str, Any] = field(default_factory=dict)
    scrolls: int = 0


class ScreenReaderPolicy:
    """Acts from the screenshot and the instruction alone (use with ``obs_mode="screenshot"``)."""

    def __init__(self) -> None:
        self.memory: dict[str, _Memory] = {}

    def act(self, observations: Sequence[dict[str, Any]], infos: Sequence[dict[str, Any]]) -> list[str]:
        return [self.turn(obs, info) for obs, info in zip(observations, infos)]

    def turn(self, observation: dict[str, Any], info: dict[str, Any]) -> str:
        task = observation["text"].splitlines()[0].removeprefix("Task: ")
        if info.get("turn", 0) == 0:
            self.memory.pop(task, None)
        memory = self.memory.setdefault(task, _Memory())
        screen = _Screen(observation["image"])
        popup = self._popup(screen)
        if popup is not None:
            return popup
        quoted = re.findall(r'"([^"]*)"', task)
        if "answer(text)" in task:
            return self._question(task, quoted, screen, memory)
        if task.startswith("Sort the table"):
            return self._sort(quoted[0], "highest first" in task or "Z to A" in task, screen, memory)
        if task.startswith("Select every item whose name contains"):
            return self._select_matching(quoted[0], quoted[-1], screen, memory)
        if task.startswith("Select the three"):
            return self._top_three(quoted[0], quoted[-1], screen, memory)
        if task.startswith("Select"):
            return self._select(quoted[:-1], quoted[-1], screen, memory)
        if task.startswith("Delete the file"):
            return self._delete(quoted[1], quoted[0], screen, memory)
        return self._form(task, screen, memory)

    # -- shared moves ---------------------------------------------------------------------------------

    def _button(self, screen: _Screen, label: str) -> Box | None:
        boxes = screen.find(label) or screen.find(label.upper())
        return boxes[0] if boxes else None

    def _popup(self, screen: _Screen) -> str | None:
        for label in _POPUP_BUTTONS:
            box = self._button(screen, label)
            if box is not None:
                return _click(box)
        return None

    @staticmethod
    def _look_further(screen: _Screen, memory: _Memory) -> str:
        """Scroll down a few times, then back to the top, then try the next page."""
        memory.scrolls += 1
        if memory.scrolls % 5:
            return _call("scroll", dx=0, dy=screen.row * 4)
        return _call("key", name="home")

    # -- forms ----------------------------------------------------------------------------------------

    def _form(self, task: str, screen: _Screen, memory: _Memory) -> str:
        for clause in form_clauses(task):
            if clause in memory.done:
                continue
            button, toggle, setting, typing = read_clause(clause)
            if button or setting:
                name = (button or setting).group(1)  # type: ignore[union-attr]
            elif toggle or typing:
                name = (toggle or typing).group(2)  # type: ignore[union-attr]
            else:
                continue
            found = self._button(screen, name) if button else next(iter(screen.find(name)), None)
            if found is None:
                next_page = self._button(screen, "Next")
                if next_page is not None and memory.scrolls % 5 == 4:
                    memory.scrolls += 1
                    return _click(next_page)
                return self._look_further(screen, memory)
            memory.scrolls = 0
            if button:
                return _click(found)
            x0, y0, _x1, y1 = found
            cy = (y0 + y1) // 2
            if toggle:
                box = screen.row - screen.row // 3  # the check box left of the label; sample its corner, off the tick
                box_x, box_y = x0 - screen.row // 3 - box + box // 5, cy - box // 2 + box // 5
                if screen.saturated(box_x, box_y) == (toggle.group(1) == "on"):
                    memory.done.add(clause)
                    continue
                return _click(found)
            if typing:
                return self._type(clause, typing.group(1), cy, screen, memory)
            turn = self._choose(clause, setting.group(2), found, screen, memory)  # type: ignore[union-attr]
            if turn is None:  # it already shows the value
                continue
            return turn
        return _call("key", name="enter")

    def _type(self, clause: str, value: str, y: int, screen: _Screen, memory: _Memory) -> str:
        step = memory.phase.get(clause, 0)
        memory.phase[clause] = step + 1
        if step == 0:
            return _call("click", x=screen.width * 7 // 10, y=y)
        if step == 1:
            return _call("key", name="ctrl+a")
        memory.done.add(clause)
        return _call("type", text=value)

    def _choose(self, clause: str, value: str, caption: Box, screen: _Screen, memory: _Memory) -> str | None:
        """A dropdown (open it, click the option) or a slider (calibrate with two clicks, then aim)."""
        cy = (caption[1] + caption[3]) // 2
        if value.lstrip("-").isdigit():
            return self._slide(clause, int(value), cy, screen, memory)
        right = [b for b in screen.find(value) if b[0] > caption[2] and abs((b[1] + b[3]) // 2 - cy) < screen.row // 2]
        if right and not memory.phase.get(clause):
            memory.done.add(clause)
            return None
        if memory.phase.get(clause):
            memory.phase[clause] = 0
            options = [b for b in screen.find(value) if b[1] > caption[3]]
            if options:
                return _click(options[0])
            return _call("key", name="escape")
        memory.phase[clause] = 1
        return _call("click", x=screen.width * 45 // 100, y=cy)

    def _slide(self, clause: str, target: int, y: int, screen: _Screen, memory: _Memory) -> str | None:
        band = (int(screen.width * 0.8), y - screen.row // 2, screen.width, y + screen.row // 2)
        current = self._read_number(screen, band, range(101))
        points = memory.phase.setdefault(clause, [])
        if points and points[-1][1] is None and current is not None:
            points[-1] = (points[-1][0], current)
        if current == target:
            memory.done.add(clause)
            return None
        known = [(x, v) for x, v in points if v is not None]
        if len(known) >= 2 and known[-1][1] != known[-2][1] and len(points) < 4:
            (xa, va), (xb, vb) = known[-2:]
            x = round(xa + (target - va) * (xb - xa) / (vb - va))
        elif len(points) < 2:
            x = screen.width * (55 + 20 * len(points)) // 100
        else:
            return _call("key", name="right" if (current or 0) < target else "left")
        points.append((x, None))
        return _call("click", x=x, y=y)

    @staticmethod
    def _read_number(
        screen: _Screen,
        band: Box,
        candidates: Sequence[int],
        sizes: Sequence[int] | None = None,
        pattern: str = "{}",
        whole: bool = True,
    ) -> int | None:
        """The candidate written in ``band`` (as ``pattern``), the longest if several match ("12" and "120")."""
        part = screen.region(band)
        if part.height < 4 or part.width < 4:
            return None
        best = None
        for value in candidates:
            if part.find(pattern.format(value), sizes, whole) and (best is None or len(str(value)) > len(str(best))):
                best = value
        return best

    # -- tables ---------------------------------------------------------------------------------------

    def _sort(self, column: str, descending: bool, screen: _Screen, memory: _Memory) -> str:
        clicks = memory.phase.get("sort", 0)
        header = next(iter(screen.find(column, whole=False)), None)  # a sorted header has a triangle after it
        if header is None:
            return _call("key", name="home")
        if clicks >= (2 if descending else 1):
            return _call("key", name="home")
        memory.phase["sort"] = clicks + 1
        return _click(header)

    def _select(self, names: Sequence[str], button: str, screen: _Screen, memory: _Memory) -> str:
        for name in names:
            if name in memory.done:
                continue
            row = next(iter(screen.find(name)), None)
            if row is None:
                return self._look_further(screen, memory)
            memory.done.add(name)
            return _click(row)
        box = self._button(screen, button)
        return _click(box) if box is not None else _call("key", name="home")

    def _top_three(self, column: str, button: str, screen: _Screen, memory: _Memory) -> str:
        if memory.phase.get("sort", 0) < 2:
            return self._sort(column, True, screen, memory)
        header = next(iter(screen.find(column, whole=False)), None)
        picked = memory.phase.setdefault("picked", 0)
        if picked < 3 and header is not None:
            memory.phase["picked"] = picked + 1
            y = (header[1] + header[3]) // 2 + screen.row * (picked + 1)
            return _call("click", x=header[0], y=y)
        box = self._button(screen, button)
        return _click(box) if box is not None else _call("key", name="home")

    def _select_matching(self, phrase: str, button: str, screen: _Screen, memory: _Memory) -> str:
        if not memory.phase.get("typed"):
            search = next(iter(screen.find("Search")), None)
            if search is None:
                return _call("key", name="home")
            if not memory.phase.get("focused"):
                memory.phase["focused"] = True
                return _call("click", x=screen.width * 7 // 10, y=_center(search)[1])
            memory.phase["typed"] = True
            return _call("type", text=phrase)
        rows = [b for b in screen.find(phrase, whole=False) if b[1] > screen.header + screen.row * 3]
        for box in rows:
            key = f"row@{box[1]}"
            if key not in memory.done:
                memory.done.add(key)
                return _call("click", x=box[0] + 2, y=_center(box)[1])
        box = self._button(screen, button)
        return _click(box) if box is not None else _call("key", name="home")

    # -- files ----------------------------------------------------------------------------------------

    def _location(self, screen: _Screen, path: Sequence[str]) -> int | None:
        """How deep along ``path`` the open folder is (None when it is off that path)."""
        for depth in range(len(path), -1, -1):
            if screen.find("Location: /" + "/".join(path[:depth])):
                return depth
        return None

    def _delete(self, folder: str, name: str, screen: _Screen, memory: _Memory) -> str:
        path = [p for p in folder.split("/") if p]
        deletes = screen.find("Delete") + screen.find("DELETE")
        if memory.phase.get("asked") and len(deletes) >= 2:
            return _click(max(deletes, key=lambda b: b[1]))  # the dialog's button, below the toolbar's
        depth = self._location(screen, path)
        if depth is None:
            up = self._button(screen, "Up")
            return _click(up) if up is not None else _call("key", name="home")
        target = path[depth] + "/" if depth < len(path) else name
        entry = next(iter(screen.find(target)), None)
        if entry is None:
            return self._look_further(screen, memory)
        if depth == len(path) and memory.phase.get("selected"):
            memory.phase["asked"] = True
            return _call("key", name="delete")
        memory.phase["selected"] = depth == len(path)
        return _click(entry)

    # -- questions ------------------------------------------------------------------------------------

    def _question(self, task: str, quoted: Sequence[str], screen: _Screen, memory: _Memory) -> str:
        if "for last year" in task and not memory.phase.get("period"):
            period = next(iter(screen.find("Period")), None)
            if period is not None:
                if memory.phase.get("period_open"):
                    memory.phase["period"] = True
                    option = next(iter(screen.find("Last year")), None)
                    return _click(option) if option is not None else _call("key", name="escape")
                memory.phase["period_open"] = True
                return _call("click", x=screen.width * 45 // 100, y=_center(period)[1])
        if task.startswith('What is the "') and ' of "' in task:
            return self._cell(quoted[0], quoted[1], screen, memory)
        if task.startswith(("What is the value of", "What is the total", "By how much")):
            labels = [q for q in quoted[:-1]] if not task.startswith("What is the value of") else [quoted[0]]
            values = []
            for label in labels:
                value = self._bar_value(label, screen, memory)
                if isinstance(value, str):
                    return value
                values.append(value)
            if task.startswith("What is the total"):
                return _call("answer", text=str(sum(values)))
            if task.startswith("By how much"):
                return _call("answer", text=str(values[0] - values[1]))
            return _call("answer", text=str(values[0]))
        return _call("answer", text="0")  # counting rows or files, the highest bar: not read here

    def _cell(self, column: str, row: str, screen: _Screen, memory: _Memory) -> str:
        header = next(iter(screen.find(column, whole=False)), None)
        if header is not None:
            memory.phase["column"] = header
        line = next(iter(screen.find(row)), None)
        if line is None or "column" not in memory.phase:
            return self._look_further(screen, memory)
        header = memory.phase["column"]
        band = (header[0] - 2, line[1] - 3, header[0] + screen.width // 4, line[3] + 3)
        if column == "Category":
            for category in ("Office", "Home", "Tech", "Garden"):
                if self._read_number_text(screen, band, category):
                    return _call("answer", text=category)
            return _call("answer", text="office")
        value = self._read_number(screen, band, range(250))
        return _call("answer", text=str(value if value is not None else 0))

    @staticmethod
    def _read_number_text(screen: _Screen, band: Box, text: str) -> bool:
        return bool(screen.region(band).find(text))

    def _bar_value(self, label: str, screen: _Screen, memory: _Memory) -> int | str:
        """A bar's value, read above the bar or from its tooltip; or the click that shows the tooltip."""
        if label in memory.phase:
            return memory.phase[label]
        small = sorted({max(8, s - 2) for s in screen.sizes})
        found = [b for b in screen.find(label, small) if b[1] > screen.height // 3]
        if not found:
            return _call("answer", text="0")
        x0, y0, x1, _y1 = found[0]
        cx = (x0 + x1) // 2
        # A tooltip "label: value" first (its edge lies right after the text: the longest match is the whole
        # number), then the value printed above the bar (which a tooltip can cover).
        value = None
        tips = screen.region((0, screen.header, screen.width, y0)).find(label + ":", small, whole=False)
        if tips:  # read the number only on the tooltip's line
            tx0, ty0, tx1, ty1 = tips[0]
            band = (tx0 - 1, screen.header + ty0 - 3, tx1 + screen.row * 3, screen.header + ty1 + 3)
            value = self._read_number(screen, band, range(401), small, pattern=label + ": {}", whole=False)
        if value is None:
            value = self._read_number(
                screen, (cx - screen.row * 2, screen.header, cx + screen.row * 2, y0 - 2), range(401), small
            )
        if value is not None:
            memory.phase[label] = value
            return value
        if memory.phase.get(f"clicked {label}"):
            return 0
        memory.phase[f"clicked {label}"] = True
        return _call("click", x=cx, y=y0 - screen.row)
