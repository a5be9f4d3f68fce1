"""Small-text reading: which word or code is written on a coloured sign?

A grid of signs (a coloured frame around a white plate) each carries one English word or a short code
such as ``K7Q``. The agent reads the sign that the question points at, or finds the sign that carries
a given word and names its colour. Every sign colour in an image is different, every text is
different, and the grid rows and columns are clearly separated, so each question has one answer.

Question kinds (all answer type ``text``):

- ``by_color``: "What word is written in the green box?" -> ``"cold"``
- ``color_of_text``: "What colour is the box in which 'cold' is written?" -> ``"green"``
- ``by_neighbour``: "What code is written in the box directly to the right of the red box?" -> ``"k7q"``

Text answers compare case-insensitively (the image may show ``COLD`` for the answer ``cold``).

Sign texts are laid out and drawn one character at a time (:func:`_glyph_layout`,
:func:`_stamp_glyphs`): random codes and turned texts rarely repeat, so whole-text masks would
almost never come from a cache, while the few dozen characters at a few sizes and angles always do.
"""

from __future__ import annotations

import functools
import math
import random
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, register_family
from vista_envs.tasks.drawing import COLOR_NAMES, COLORS, add_noise, blank, font, stamp_text

__all__ = [
    "CODE_ALPHABET",
    "WORD_GROUPS",
    "TextReading",
    "TextReadingConfig",
]

# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

# Groups of real English words that look alike (mostly one letter apart): at higher difficulty a
# sign's neighbours come from the target's group, so the agent must read every letter.
WORD_GROUPS: tuple[tuple[str, ...], ...] = (
    ("cold", "cord", "card", "curd"),
    ("mile", "mole", "male", "mule"),
    ("bread", "break", "bream", "dread"),
    ("light", "might", "night", "sight"),
    ("stone", "store", "stove", "shore"),
    ("plant", "plane", "place", "plate"),
    ("horse", "house", "hose", "mouse"),
    ("river", "rider", "rover", "liver"),
    ("paint", "point", "print", "saint"),
    ("tiger", "timer", "tiles", "tires"),
    ("clock", "block", "black", "flock"),
    ("chair", "charm", "chain", "chart"),
    ("water", "wafer", "later", "waver"),
    ("green", "greed", "greet", "great"),
    ("spoon", "spook", "swoon", "spool"),
    ("lamp", "lame", "lump", "limp"),
    ("boat", "boot", "coat", "goat"),
    ("fire", "fine", "five", "file"),
    ("rain", "ruin", "rein", "main"),
    ("sand", "send", "band", "wand"),
    ("train", "brain", "drain", "grain"),
    ("cloud", "clout", "could", "aloud"),
    ("table", "cable", "fable", "sable"),
    ("apple", "ample", "apply", "maple"),
    ("bird", "bind", "kind", "mind"),
    ("frost", "front", "frond", "frown"),
    ("grape", "grope", "gripe", "drape"),
    ("sheep", "sheet", "steep", "sleep"),
    ("north", "forth", "worth", "broth"),
    ("metal", "medal", "petal", "pedal"),
    ("silver", "sliver", "slider", "solver"),
    ("wheel", "wheat", "cheat", "cheap"),
    ("castle", "cattle", "battle", "bottle"),
    ("tower", "power", "lower", "towel"),
    ("rocket", "pocket", "locket", "socket"),
    ("winter", "winner", "sinner", "dinner"),
    ("basket", "gasket", "casket", "bucket"),
    ("butter", "better", "batter", "bitter"),
    ("letter", "litter", "latter", "setter"),
    ("candy", "canny", "sandy", "handy"),
    ("storm", "stork", "story", "stony"),
    ("flame", "frame", "blame", "flake"),
    ("glass", "grass", "class", "gloss"),
)

# Codes avoid characters that small fonts blur together: 0/O/Q, 1/I, 2/Z, 5/S, 6/G, 8/B.
CODE_ALPHABET = "ACDEFHJKLMNPRTUVWXY3479"
_CODE_LENGTH = 3

_DIRECTIONS = {  # question wording -> (row, column) offset from the named box to the target box
    "to the right of": (0, 1),
    "to the left of": (0, -1),
    "below": (1, 0),
    "above": (-1, 0),
}

_COLOR_ALIASES = {"gray": ("grey",)}


@dataclass(frozen=True)
class TextReadingConfig(FamilyConfig):
    """Knobs of the text-reading family.

    Attributes:
        code_share: probability that the signs carry codes (``K7Q``) instead of words, from difficulty 3.
        max_rotation: largest text rotation in degrees at difficulty 5 (three quarters of it at difficulty 4).
        noise: standard deviation of the pixel noise at difficulty 5 (0-255 scale).
        min_font_px: smallest font size in pixels, whatever the image size (legible when zoomed in).
    """

    code_share: float = 0.4
    max_rotation: float = 16.0
    noise: float = 12.0
    min_font_px: int = 7


@dataclass(frozen=True)
class _Level:
    grids: tuple[tuple[int, int], ...]  # (rows, columns) options
    font_px: int  # font size at 224 x 224
    similar: bool  # neighbours drawn from the target's look-alike group
    codes: bool  # codes allowed
    kinds: tuple[str, ...]  # question kinds
    rotated: float  # share of the signs whose text is rotated
    rotation: float  # their largest rotation, as a share of config.max_rotation
    text_gray: tuple[int, int]  # text grey level range (0 = black): lower contrast when higher
    noisy: bool


_ALL_KINDS = ("by_color", "color_of_text", "by_neighbour")
_LEVELS: dict[int, _Level] = {
    1: _Level(grids=((1, 2), (1, 3), (2, 1)), font_px=16, similar=False, codes=False, kinds=("by_color",),
              rotated=0.0, rotation=0.0, text_gray=(0, 0), noisy=False),
    2: _Level(grids=((2, 2), (1, 3), (1, 4)), font_px=13, similar=False, codes=False, kinds=_ALL_KINDS[:2],
              rotated=0.0, rotation=0.0, text_gray=(0, 30), noisy=False),
    3: _Level(grids=((2, 3), (3, 2), (2, 2)), font_px=10, similar=True, codes=True, kinds=_ALL_KINDS,
              rotated=0.0, rotation=0.0, text_gray=(0, 40), noisy=False),
    4: _Level(grids=((3, 3), (2, 4), (4, 2)), font_px=8, similar=True, codes=True, kinds=_ALL_KINDS,
              rotated=0.5, rotation=0.75, text_gray=(40, 100), noisy=False),
    5: _Level(grids=((3, 3), (2, 5), (5, 2)), font_px=7, similar=True, codes=True, kinds=_ALL_KINDS,
              rotated=0.6, rotation=1.0, text_gray=(70, 120), noisy=True),
}  # fmt: skip
_GRIDS_LARGEST_FIRST = sorted({g for level in _LEVELS.values() for g in level.grids}, key=lambda g: (-g[0] * g[1], g))


def _random_code(rng: random.Random) -> str:
    while True:
        code = "".join(rng.choice(CODE_ALPHABET) for _ in range(_CODE_LENGTH))
        # A code mixes letters and digits, or it would read as a (possibly real) word or number.
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def _look_alike_code(rng: random.Random, code: str) -> str:
    position = rng.randrange(len(code))
    replacement = rng.choice([c for c in CODE_ALPHABET if c != code[position]])
    return code[:position] + replacement + code[position + 1 :]


@functools.lru_cache(maxsize=1024)
def _glyph_box(char: str, size: int) -> tuple[int, int, int, int, int]:
    """``(left, top, right, bottom, advance)`` of ``char`` at font ``size``: its ink box relative to the pen, the pen's
    move."""
    face = font(size)
    return (*face.getbbox(char), round(face.getlength(char)))


def _glyph_layout(text: str, size: int) -> tuple[list[tuple[str, int, int]], tuple[int, int, int, int]]:
    """``text`` laid out as the font lays it (whole-pixel advances, no kerning).

    Returns each character with the top-left corner of its ink box, and the ink box of the whole
    text, both relative to the pen's start. The box equals ``font(size).getbbox(text)``.
    """
    glyphs, pen = [], 0
    left = top = math.inf
    right = bottom = -math.inf
    for char in text:
        x0, y0, x1, y1, advance = _glyph_box(char, size)
        glyphs.append((char, pen + x0, y0))
        left, top, right, bottom = min(left, pen + x0), min(top, y0), max(right, pen + x1), max(bottom, y1)
        pen += advance
    return glyphs, (left, top, right, bottom)


@functools.lru_cache(maxsize=4096)
def _text_size(text: str, size: int) -> tuple[int, int]:
    """Width and height in pixels of the ink of ``text`` at font ``size``."""
    left, top, right, bottom = _glyph_layout(text, size)[1]
    return max(1, right - left), max(1, bottom - top)


def _stamp_glyphs(
    draw: ImageDraw.ImageDraw, center: tuple[float, float], text: str, size: int, fill: tuple[int, int, int], angle: int
) -> None:
    """Draw ``text`` with its ink box centred on ``center``, turned ``angle`` degrees counter-clockwise.

    Each character is stamped from the cache of :func:`~vista_envs.tasks.drawing.stamp_text`, turned
    about its own centre and moved to where the turn of the whole text puts that centre.
    """
    glyphs, (left, top, right, bottom) = _glyph_layout(text, size)
    # The unturned text's top-left corner, on whole pixels as a whole-text stamp would put it.
    origin_x = round(center[0] - (right - left) / 2) - left
    origin_y = round(center[1] - (bottom - top) / 2) - top
    mid_x, mid_y = origin_x + (left + right) / 2, origin_y + (top + bottom) / 2
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    for char, x, y in glyphs:
        x0, y0, x1, y1, _ = _glyph_box(char, size)
        dx, dy = origin_x + x + (x1 - x0) / 2 - mid_x, origin_y + y + (y1 - y0) / 2 - mid_y
        # Image y points down, so a counter-clockwise turn maps (dx, dy) to (dx cos + dy sin, dy cos - dx sin).
        stamp_text(draw, (mid_x + dx * cos + dy * sin, mid_y + dy * cos - dx * sin), char, size, fill, angle=angle)


def _fits(extent: tuple[int, int], angle: float, room: tuple[float, float]) -> bool:
    """Whether text of ink ``extent`` rotated by ``angle`` degrees fits in a ``room`` of (w, h)."""
    width, height = extent
    c, s = abs(math.cos(math.radians(angle))), abs(math.sin(math.radians(angle)))
    return width * c + height * s <= room[0] and width * s + height * c <= room[1]


# A sign fills at most this share of its grid cell, so neighbouring signs never touch.
_MAX_FILL = 0.92


@functools.lru_cache(maxsize=256)
def _fitting_groups(case: str, font_px: int, room_w: int, room_h: int) -> tuple[tuple[str, ...], ...]:
    """The word groups whose every word, drawn in ``case``, fits unrotated in ``room_w`` x ``room_h``."""
    return tuple(
        group
        for group in WORD_GROUPS
        if all(_fits(_text_size(_cased(word, case), font_px), 0.0, (room_w, room_h)) for word in group)
    )


@functools.lru_cache(maxsize=32)
def _widest_code(font_px: int) -> tuple[int, int]:
    """An upper bound of the ink extent of any code at ``font_px``."""
    widest = max(CODE_ALPHABET, key=lambda c: _text_size(c, font_px)[0])
    return _text_size(widest * _CODE_LENGTH, font_px)[0], _text_size(CODE_ALPHABET, font_px)[1]


@dataclass(frozen=True)
class _Layout:
    """Pixel geometry of the signs in an image of ``size``: a grid of cells, one sign per cell."""

    size: tuple[int, int]
    font_px: int
    border: int  # width of the coloured frame
    padding: int  # space between the frame and the text
    margin: int  # blank border around the grid

    @classmethod
    def for_size(cls, size: tuple[int, int], min_font_px: int, font_px_at_224: int) -> _Layout:
        scale = min(size) / 224
        return cls(
            size=size,
            font_px=max(min_font_px, round(font_px_at_224 * scale)),
            border=max(2, round(4 * scale)),
            padding=max(2, round(3 * scale)),
            margin=max(3, round(6 * scale)),
        )

    def cell(self, grid: tuple[int, int]) -> tuple[float, float]:
        rows, cols = grid
        return (self.size[0] - 2 * self.margin) / cols, (self.size[1] - 2 * self.margin) / rows

    def room(self, grid: tuple[int, int]) -> tuple[int, int]:
        """The largest text extent a sign can hold: its plate when the sign fills its cell as far as allowed."""
        cell_w, cell_h = self.cell(grid)
        inset = 2 * (self.border + self.padding)
        return math.floor(cell_w * _MAX_FILL) - inset, math.floor(cell_h * _MAX_FILL) - inset

    def fitting_groups(self, case: str, grid: tuple[int, int]) -> tuple[tuple[str, ...], ...]:
        return _fitting_groups(case, self.font_px, *self.room(grid))

    def holds(self, grid: tuple[int, int], kind: str, case: str) -> bool:
        """Whether every sign of ``grid`` can hold its text unrotated."""
        if kind == "code":
            return _fits(_widest_code(self.font_px), 0.0, self.room(grid))
        return len(self.fitting_groups(case, grid)) >= grid[0] * grid[1]

    def box(
        self,
        rng: random.Random,
        cell_index: tuple[int, int],
        grid: tuple[int, int],
        text: str,
        drawn: str,
        color: str,
        level: _Level,
        max_rotation: float,
    ) -> dict[str, Any]:
        """A sign in cell ``(row, col)``: big enough for its text, at a random place inside the cell."""
        row, col = cell_index
        cell_w, cell_h = self.cell(grid)
        inset = self.border + self.padding
        text_w, text_h = _text_size(drawn, self.font_px)
        box_w = math.ceil(max(text_w + 2 * inset, cell_w * rng.uniform(0.75, _MAX_FILL)))
        preferred_h = min(cell_h * rng.uniform(0.5, 0.8), box_w * 0.7)  # signs wider than tall
        box_h = math.ceil(min(cell_h * _MAX_FILL, max(preferred_h, 2 * text_h + 2 * inset)))
        # Signs stay near their cell's centre so that rows and columns are plain to see.
        shift_x = rng.uniform(-1, 1) * min(0.25 * (cell_w - box_w), 0.15 * box_w)
        shift_y = rng.uniform(-1, 1) * min(0.25 * (cell_h - box_h), 0.15 * box_h)
        x0 = math.floor(self.margin + (col + 0.5) * cell_w - box_w / 2 + shift_x)
        y0 = math.floor(self.margin + (row + 0.5) * cell_h - box_h / 2 + shift_y)
        # Rotation is halved until the turned text fits on the plate.
        rotated = rng.random() < level.rotated
        angle = round(rng.uniform(-1, 1) * level.rotation * max_rotation) if rotated else 0
        room = (box_w - 2 * inset, box_h - 2 * inset)
        while angle and not _fits((text_w, text_h), angle, room):
            angle = int(angle / 2)
        low, high = level.text_gray
        return {
            "row": row,
            "col": col,
            "color": color,
            "text": text,
            "drawn": drawn,
            "bbox": [x0, y0, x0 + box_w, y0 + box_h],
            "angle": angle,
            "text_gray": rng.randint(low, high),
        }


def _texts(
    rng: random.Random, kind: str, case: str, count: int, similar: bool, groups: tuple[tuple[str, ...], ...]
) -> list[str]:
    """``count`` different lower-case texts: the target, then (if ``similar``) look-alikes of it, then others.

    Words come from ``groups`` (those that fit the signs); unrelated fillers come one per group.
    """
    look_alikes = rng.randint(1, min(3, count - 1)) if similar and count > 1 else 0
    if kind == "code":
        target = _random_code(rng)
        texts = [target]
        while len(texts) < count:
            candidate = _look_alike_code(rng, target) if len(texts) <= look_alikes else _random_code(rng)
            if candidate not in texts:
                texts.append(candidate)
        return [code.lower() for code in texts]
    if len(groups) < count:  # an image too small for the level: the shortest words are the best bet
        groups = tuple(sorted(WORD_GROUPS, key=lambda g: max(map(len, g)))[:count])
    chosen = rng.sample(groups, count)
    target_group = rng.sample(chosen[0], len(chosen[0]))
    texts = target_group[: 1 + look_alikes]
    texts += [rng.choice(group) for group in chosen[1 : count - len(texts) + 1]]
    return texts


@register_family
class TextReading(TaskFamily):
    """Read small text on coloured signs.

    The image shows a grid of signs; each is a coloured frame around a white plate with one word
    (drawn lower-case, upper-case or title-case) or one three-character code. Sign colours and texts
    are all different within an image.

    Difficulty ladder (font sizes at 224 x 224, scaled with the image but never below 7 px):

    1. 2-3 signs, 16 px black text, unrelated words; "What word is written in the red box?"
    2. 3-4 signs, 13 px; also "What colour is the box in which 'cold' is written?"
    3. 4-6 signs, 10 px; words or codes; the other signs carry look-alikes of the target
       ("cold", "cord", "card"; "K7Q", "K4Q"); also "... the box directly below the blue box?"
    4. 8-9 signs, 8 px, grey text (lower contrast); half the texts rotated by up to 12 degrees.
    5. 9-10 signs, 7 px, paler grey text; 60% of the texts rotated by up to 16 degrees; pixel noise.

    Answer type ``text``: the word or code in lower case (compared case-insensitively), or the
    colour name for the colour question.

    Example: "What code is written in the box directly to the right of the purple box?" -> ``"k7q"``
    """

    name = "text_reading"
    description = "Read a word or code written on one of several small coloured signs."
    config_cls = TextReadingConfig

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: TextReadingConfig = self.config  # type: ignore[assignment]
        layout = _Layout.for_size(size, config.min_font_px, level.font_px)
        kind = "code" if level.codes and rng.random() < config.code_share else "word"
        case = "upper" if kind == "code" else rng.choice(("lower", "upper", "title"))
        fitting = [grid for grid in level.grids if layout.holds(grid, kind, case)]
        if not fitting:  # a small image: the largest grid of any level whose cells hold the text
            fitting = [next((g for g in _GRIDS_LARGEST_FIRST if layout.holds(g, kind, case)), _GRIDS_LARGEST_FIRST[-1])]
        rows, cols = rng.choice(fitting)
        count = rows * cols

        texts = _texts(rng, kind, case, count, level.similar, layout.fitting_groups(case, (rows, cols)))
        target_text = texts[0]
        rng.shuffle(texts)
        colors = rng.sample(COLOR_NAMES, count)
        boxes = [
            layout.box(
                rng, divmod(index, cols), (rows, cols), text, _cased(text, case), color, level, config.max_rotation
            )
            for index, (text, color) in enumerate(zip(texts, colors))
        ]
        target = next(box for box in boxes if box["text"] == target_text)

        query_kind = rng.choice([k for k in level.kinds if k != "by_neighbour" or count > 1])
        if query_kind == "by_color":
            query = {"type": "by_color", "color": target["color"]}
            question = f"What {kind} is written in the {target['color']} box?"
            answer, aliases = target["text"], ()
            rationale = f"The {target['color']} box contains '{target['drawn']}', so the answer is {target['text']}."
        elif query_kind == "color_of_text":
            query = {"type": "color_of_text", "text": target["text"]}
            question = (
                f"What colour is the box in which '{target['drawn'] if kind == 'code' else target['text']}' is written?"
            )
            answer, aliases = target["color"], _COLOR_ALIASES.get(target["color"], ())
            rationale = (
                f"'{target['drawn']}' is written in the {target['color']} box, so the answer is {target['color']}."
            )
        else:
            options = [
                (phrase, anchor)
                for phrase, (d_row, d_col) in _DIRECTIONS.items()
                for anchor in boxes
                if (anchor["row"] + d_row, anchor["col"] + d_col) == (target["row"], target["col"])
            ]
            phrase, anchor = rng.choice(options)
            query = {"type": "by_neighbour", "color": anchor["color"], "direction": phrase}
            question = f"What {kind} is written in the box directly {phrase} the {anchor['color']} box?"
            answer, aliases = target["text"], ()
            rationale = (
                f"The box directly {phrase} the {anchor['color']} box is the {target['color']} one, "
                f"which contains '{target['drawn']}', so the answer is {target['text']}."
            )

        scene: dict[str, Any] = {
            "grid": [rows, cols],
            "text_kind": kind,
            "font_px": layout.font_px,
            "border_px": layout.border,
            "background": [rng.randint(215, 240) for _ in range(3)],
            "noise": config.noise if level.noisy else 0.0,
            "boxes": boxes,
            "query": query,
        }
        return TaskSpec(
            question=question, answer=answer, answer_type="text", scene=scene, rationale=rationale, aliases=aliases
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        image, draw = blank(size, tuple(scene["background"]))
        border, font_px = scene["border_px"], scene["font_px"]
        for box in scene["boxes"]:
            x0, y0, x1, y1 = box["bbox"]
            # Pillow's rectangles include their far corner; the bbox excludes it.
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=COLORS[box["color"]])
            draw.rectangle((x0 + border, y0 + border, x1 - 1 - border, y1 - 1 - border), fill=(255, 255, 255))
            gray = box["text_gray"]
            _stamp_glyphs(draw, ((x0 + x1) / 2, (y0 + y1) / 2), box["drawn"], font_px, (gray, gray, gray), box["angle"])
        return add_noise(image, scene["noise"], rng)


def _cased(text: str, case: str) -> str:
    if case == "upper":
        return text.upper()
    if case == "title":
        return text.title()
    return text
