"""Tiny text: read small print that only a zoom makes legible.

The scene is drawn at four times the requested size (``detail_scale = 4``) and the agent sees it
scaled down, so the small print (about 3 pixels tall in the view) is a blur while everything else
(shelves, coloured products, section headings) is plain to see. The question says where to look;
a ``zoom`` (factor 4) or ``crop`` there re-renders that region from the full-resolution source, where
the print is 11 pixels tall or more and easy to read.

Two kinds of scene:

- *shelf*: shelves of coloured products (boxes, jars, bottles, cans), each with a price tag or a
  product-code tag on the shelf edge below it. "What price is on the tag under the green jar on the
  top shelf?"
- *document*: a page of titled sections, each listing a few ``Key: value`` lines in small print.
  "What room number is given in the section headed 'Cold store'?"
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, ToolStep, register_family
from vista_envs.tasks.drawing import COLOR_NAMES, COLORS, blank, stamp_text, text_extent
from vista_envs.tasks.families.text_reading import CODE_ALPHABET

__all__ = ["TinyText", "TinyTextConfig"]

# Source pixels per view pixel; font sizes below are in source pixels of a 896 x 896 source.
DETAIL_SCALE = 4
_REFERENCE_SIDE = 224 * DETAIL_SCALE

PRODUCT_KINDS = ("box", "jar", "bottle", "can")
SECTION_HEADINGS = (
    "North depot", "South depot", "East wing", "West wing", "Main office", "Loading bay", "Cold store",
    "Workshop", "Archive", "Reception", "Garage", "Library", "Boiler room", "Print room",
)  # fmt: skip
CONTACTS = (
    "Abbott", "Baker", "Carter", "Dalton", "Ellis", "Foster", "Garcia", "Hughes", "Ingram", "Jensen",
    "Keller", "Lopez", "Morgan", "Novak", "Owens", "Porter", "Quinn", "Reyes", "Shaw", "Turner",
)  # fmt: skip
# Document keys -> (question about the section headed {heading}, answer type).
_DOCUMENT_KEYS: dict[str, tuple[str, str]] = {
    "Code": ("What code is listed in the section headed '{heading}'?", "text"),
    "Room": ("What room number is given in the section headed '{heading}'?", "number"),
    "Contact": ("Who is named as the contact in the section headed '{heading}'?", "text"),
    "Count": ("What count is given in the section headed '{heading}'?", "number"),
}
# How a question names each shelf, top to bottom, by the number of shelves.
_SHELF_NAMES = {
    1: ("shelf",),
    2: ("top shelf", "bottom shelf"),
    3: ("top shelf", "middle shelf", "bottom shelf"),
    4: ("top shelf", "second shelf from the top", "third shelf from the top", "bottom shelf"),
}


@dataclass(frozen=True)
class TinyTextConfig(FamilyConfig):
    """Knobs of the tiny-text family.

    Attributes:
        document_share: probability of a document scene instead of a shelf scene.
        min_text_px: smallest small-print font in source pixels (legible when zoomed in 4x).
    """

    document_share: float = 0.5
    min_text_px: int = 11


@dataclass(frozen=True)
class _Level:
    shelves: tuple[int, int]
    products: tuple[int, int]  # per shelf
    sections: tuple[int, int]
    lines: tuple[int, int]  # per section
    text_px: int  # small print, source pixels at 896 x 896
    look_alike: bool  # neighbouring tags / sections carry values one character away from the answer
    text_gray: tuple[int, int]  # grey level of the small print (0 = black): paler when higher


_LEVELS: dict[int, _Level] = {
    1: _Level((1, 1), (3, 3), (2, 2), (2, 2), 18, False, (0, 0)),
    2: _Level((2, 2), (3, 4), (3, 3), (2, 3), 16, False, (0, 30)),
    3: _Level((2, 3), (4, 5), (4, 4), (3, 3), 14, True, (0, 40)),
    4: _Level((3, 3), (5, 6), (5, 6), (3, 4), 12, True, (40, 90)),
    5: _Level((3, 4), (5, 7), (6, 8), (4, 4), 11, True, (70, 110)),
}


def _code(rng: random.Random) -> str:
    """Four characters that mix letters and digits, from an alphabet without look-alike glyphs."""
    while True:
        code = "".join(rng.choice(CODE_ALPHABET) for _ in range(4))
        if any(c.isdigit() for c in code) and any(c.isalpha() for c in code):
            return code


def _one_off(rng: random.Random, text: str, alphabet: str, start: int = 0) -> str:
    """``text`` with one character from position ``start`` on replaced by another of ``alphabet``."""
    i = rng.randrange(start, len(text))
    return text[:i] + rng.choice([c for c in alphabet if c != text[i]]) + text[i + 1 :]


def _price(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


_DIGITS = "0123456789"


def _distinct_values(
    rng: random.Random, count: int, fresh: Callable[[], str], similar: Callable[[str], str], look_alike: bool
) -> list[str]:
    """``count`` different values; the first is the answer; with ``look_alike`` up to two more are near it."""
    values = [fresh()]
    while len(values) < count:
        candidate = similar(values[0]) if look_alike and len(values) <= 2 else fresh()
        if candidate not in values:
            values.append(candidate)
    return values


def _scale(size: tuple[int, int]) -> float:
    return min(size) / _REFERENCE_SIDE


# ---------------------------------------------------------------------------------------------
# Shelf scenes
# ---------------------------------------------------------------------------------------------


def _shelf_scene(rng: random.Random, level: _Level, size: tuple[int, int], text_px: int) -> dict[str, Any]:
    width, height = size
    margin = round(min(size) * 0.04)
    shelves = rng.randint(*level.shelves)
    tag_kind = rng.choice(("price", "code"))
    band = (height - 2 * margin) / shelves
    plank = max(text_px * 2.6, band * 0.14)
    tag_h = round(text_px * 1.7)
    # Every tag is as wide as the widest text it could hold; fewer products per shelf on a small
    # image, so that a tag never crowds its neighbour.
    tag_w = text_extent("$88.88" if tag_kind == "price" else "WWWW", text_px)[0] + text_px
    most = max(1, min(level.products[1], math.floor((width - 2 * margin) / (tag_w * 1.25))))
    target_shelf = rng.randrange(shelves)
    products, answer_text = [], ""
    for shelf in range(shelves):
        count = min(most, rng.randint(*level.products))
        slot = (width - 2 * margin) / count
        plank_top = margin + band * (shelf + 1) - plank
        colors = rng.sample(COLOR_NAMES, count)
        look_alike = level.look_alike and shelf == target_shelf
        if tag_kind == "price":  # look-alike prices differ in one digit of the cents
            texts = _distinct_values(
                rng,
                count,
                lambda: _price(rng.randint(99, 4999)),
                lambda p: _one_off(rng, p, _DIGITS, len(p) - 2),
                look_alike,
            )
        else:
            texts = _distinct_values(
                rng, count, lambda: _code(rng), lambda c: _one_off(rng, c, CODE_ALPHABET), look_alike
            )
        if shelf == target_shelf:
            answer_text = texts[0]
        rng.shuffle(texts)
        for index, (color, text) in enumerate(zip(colors, texts)):
            kind = rng.choice(PRODUCT_KINDS)
            centre = margin + slot * (index + 0.5)
            room = band - plank - margin * 0.6
            item_h = room * rng.uniform(0.55, 0.95)
            item_w = min(slot * 0.7, item_h * (0.45 if kind == "bottle" else rng.uniform(0.6, 1.1)))
            tag_y = plank_top + (plank - tag_h) / 2
            products.append(
                {
                    "shelf": shelf,
                    "index": index,
                    "kind": kind,
                    "color": color,
                    "bbox": [
                        round(centre - item_w / 2),
                        round(plank_top - item_h),
                        round(centre + item_w / 2),
                        round(plank_top),
                    ],
                    "text": text,
                    "tag_bbox": [
                        round(centre - tag_w / 2),
                        round(tag_y),
                        round(centre + tag_w / 2),
                        round(tag_y + tag_h),
                    ],
                }
            )
    target = next(p for p in products if p["shelf"] == target_shelf and p["text"] == answer_text)
    return {
        "layout": "shelf",
        "tag_kind": tag_kind,
        "shelves": shelves,
        "plank_px": round(plank),
        "products": products,
        "target": products.index(target),
        "wall": [rng.randint(200, 235) for _ in range(3)],
        "text_px": text_px,
        "text_gray": rng.randint(*level.text_gray),
    }


def _shelf_question(scene: dict[str, Any]) -> tuple[str, Any, str, str, float]:
    """Question, answer, answer type, rationale and tolerance of a shelf scene."""
    target = scene["products"][scene["target"]]
    shelf = _SHELF_NAMES[scene["shelves"]][target["shelf"]]
    where = f"the tag under the {target['color']} {target['kind']} on the {shelf}"
    if scene["tag_kind"] == "price":
        value = float(target["text"].lstrip("$"))
        rationale = f"Zoomed in, {where} reads {target['text']}, so the price is {value:.2f}."
        return f"What price is printed on {where}?", value, "number", rationale, 0.005
    rationale = f"Zoomed in, {where} reads {target['text']}."
    return f"What product code is printed on {where}?", target["text"].lower(), "text", rationale, 0.0


def _draw_shelf(draw: ImageDraw.ImageDraw, scene: dict[str, Any], size: tuple[int, int]) -> None:
    width = size[0]
    plank = scene["plank_px"]
    wood, wood_edge = (150, 105, 60), (110, 75, 40)
    for top in sorted({p["bbox"][3] for p in scene["products"]}):  # products stand on their plank's top
        draw.rectangle((0, top, width, top + plank), fill=wood)
        draw.line((0, top, width, top), fill=wood_edge, width=max(1, plank // 10))
    gray = scene["text_gray"]
    for product in scene["products"]:
        _draw_product(draw, product["kind"], product["bbox"], COLORS[product["color"]])
        x0, y0, x1, y1 = product["tag_bbox"]
        draw.rectangle((x0, y0, x1, y1), fill=(250, 250, 245), outline=(90, 90, 90), width=1)
        stamp_text(draw, ((x0 + x1) / 2, (y0 + y1) / 2), product["text"], scene["text_px"], (gray, gray, gray))


def _draw_product(draw: ImageDraw.ImageDraw, kind: str, box: list[int], color: tuple[int, int, int]) -> None:
    """A flat product silhouette: no text, so only its colour and shape identify it."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    dark = tuple(max(0, c - 60) for c in color)
    outline = max(1, round(w / 40))
    if kind == "box":
        draw.rectangle(box, fill=color, outline=dark, width=outline)
        draw.rectangle(
            (x0 + w * 0.15, y0 + h * 0.3, x1 - w * 0.15, y0 + h * 0.55), fill=tuple(min(255, c + 60) for c in color)
        )
    elif kind == "jar":
        draw.rounded_rectangle((x0, y0 + h * 0.15, x1, y1), radius=w * 0.2, fill=color, outline=dark, width=outline)
        draw.rectangle((x0 + w * 0.1, y0, x1 - w * 0.1, y0 + h * 0.15), fill=(170, 170, 170), outline=(110, 110, 110))
    elif kind == "bottle":
        draw.rounded_rectangle((x0, y0 + h * 0.35, x1, y1), radius=w * 0.3, fill=color, outline=dark, width=outline)
        draw.rectangle(
            (x0 + w * 0.32, y0 + h * 0.08, x1 - w * 0.32, y0 + h * 0.38), fill=color, outline=dark, width=outline
        )
        draw.rectangle((x0 + w * 0.28, y0, x1 - w * 0.28, y0 + h * 0.08), fill=(60, 60, 60))
    else:  # can
        rim = h * 0.08
        draw.rectangle((x0, y0 + rim / 2, x1, y1 - rim / 2), fill=color, outline=dark, width=outline)
        draw.ellipse((x0, y0, x1, y0 + rim), fill=(190, 190, 190), outline=dark, width=outline)


# ---------------------------------------------------------------------------------------------
# Document scenes
# ---------------------------------------------------------------------------------------------


def _document_values(rng: random.Random, key: str, count: int, look_alike: bool) -> list[str]:
    """``count`` different values of ``key``, the answer's first (contacts are never look-alikes)."""
    if key == "Code":
        return _distinct_values(rng, count, lambda: _code(rng), lambda c: _one_off(rng, c, CODE_ALPHABET), look_alike)
    if key == "Room":
        return _distinct_values(
            rng, count, lambda: str(rng.randint(100, 999)), lambda r: _one_off(rng, r, _DIGITS, 1), look_alike
        )
    if key == "Count":
        return _distinct_values(
            rng, count, lambda: str(rng.randint(10, 99)), lambda r: _one_off(rng, r, _DIGITS, 1), look_alike
        )
    return rng.sample(CONTACTS, count)


@dataclass(frozen=True)
class _Page:
    """Where a document page, its title and its grid of sections go in an image of ``size``."""

    box: tuple[float, float, float, float]
    title_px: int
    heading_px: int
    line_h: float
    columns: int
    cell: tuple[float, float]  # width and height of a section's cell
    top: float  # y of the first row of sections

    @classmethod
    def build(cls, size: tuple[int, int], sections: int, text_px: int) -> _Page:
        width, height = size
        scale = _scale(size)
        margin = min(size) * 0.04
        box = (margin, margin, width - margin, height - margin)
        title_px, heading_px = max(text_px + 8, round(40 * scale)), max(text_px + 4, round(26 * scale))
        columns = 1 if sections <= 3 else 2
        top = box[1] + title_px * 2.2
        cell = ((box[2] - box[0]) / columns, (box[3] - top) / math.ceil(sections / columns))
        return cls(box, title_px, heading_px, text_px * 1.6, columns, cell, top)

    def fits(self, lines: int, text_px: int) -> bool:
        """Whether a section's heading and ``lines`` lines fit its cell, and the longest line its width."""
        longest = text_extent("Contact: Ingram", text_px)[0] + self.heading_px
        return self.heading_px * 1.6 + lines * self.line_h <= self.cell[1] * 0.95 and longest <= self.cell[0] * 0.9

    def section_origin(self, index: int) -> tuple[float, float]:
        row, column = divmod(index, self.columns)
        return self.box[0] + column * self.cell[0] + self.heading_px * 0.6, self.top + row * self.cell[1]


def _document_scene(rng: random.Random, level: _Level, size: tuple[int, int], text_px: int) -> dict[str, Any]:
    sections, lines = rng.randint(*level.sections), rng.randint(*level.lines)
    # A small image holds fewer sections (and lines): drop them until the page fits.
    while not _Page.build(size, sections, text_px).fits(lines, text_px) and (sections > 2 or lines > 2):
        sections, lines = (sections - 1, lines) if sections > 2 else (sections, lines - 1)
    page = _Page.build(size, sections, text_px)
    keys = rng.sample(list(_DOCUMENT_KEYS), lines)
    target_key = rng.choice(keys)
    values = {key: _document_values(rng, key, sections, level.look_alike and key == target_key) for key in keys}
    order = rng.sample(range(sections), sections)  # section s shows the values order[s]; 0 is the target's
    blocks = []
    for index, heading in enumerate(rng.sample(SECTION_HEADINGS, sections)):
        left, top = page.section_origin(index)
        first_line = top + page.heading_px * 1.6
        lines_of = [
            {
                "key": key,
                "value": values[key][order[index]],
                "xy": [round(left), round(first_line + (n + 0.5) * page.line_h)],
            }
            for n, key in enumerate(rng.sample(keys, lines))
        ]
        blocks.append({"heading": heading, "xy": [round(left), round(top)], "lines": lines_of})
    return {
        "layout": "document",
        "title": f"Site report {rng.randint(2, 99)}",
        "page": [round(v) for v in page.box],
        "title_px": page.title_px,
        "heading_px": page.heading_px,
        "rule_w": round(page.cell[0] * 0.8),
        "sections": blocks,
        "target": [order.index(0), target_key],
        "text_px": text_px,
        "text_gray": rng.randint(*level.text_gray),
    }


def _target_line(scene: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    section, key = scene["target"]
    block = scene["sections"][section]
    return block["heading"], next(line for line in block["lines"] if line["key"] == key)


def _document_question(scene: dict[str, Any]) -> tuple[str, Any, str, str, float]:
    """Question, answer, answer type, rationale and tolerance of a document scene."""
    heading, line = _target_line(scene)
    template, answer_type = _DOCUMENT_KEYS[line["key"]]
    rationale = f"Zoomed in, the section headed '{heading}' has the line '{line['key']}: {line['value']}'."
    answer = int(line["value"]) if answer_type == "number" else line["value"].lower()
    return template.format(heading=heading), answer, answer_type, rationale, 0.0


def _draw_document(draw: ImageDraw.ImageDraw, scene: dict[str, Any], size: tuple[int, int]) -> None:
    x0, y0, x1, _ = scene["page"]
    text_px, heading_px = scene["text_px"], scene["heading_px"]
    draw.rectangle(scene["page"], fill=(252, 252, 248), outline=(170, 170, 170), width=max(1, round(min(size) / 448)))
    stamp_text(
        draw,
        ((x0 + x1) / 2, y0 + scene["title_px"] * 0.5),
        scene["title"],
        scene["title_px"],
        (25, 25, 25),
        anchor="mt",
    )
    gray = scene["text_gray"]
    for block in scene["sections"]:
        left, top = block["xy"]
        stamp_text(draw, (left, top), block["heading"], heading_px, (30, 50, 110), anchor="lt")
        rule_y = top + heading_px * 1.25
        draw.line((left, rule_y, left + scene["rule_w"], rule_y), fill=(180, 180, 200), width=max(1, text_px // 8))
        for line in block["lines"]:
            stamp_text(
                draw, tuple(line["xy"]), f"{line['key']}: {line['value']}", text_px, (gray, gray, gray), anchor="lm"
            )


# ---------------------------------------------------------------------------------------------
# The family
# ---------------------------------------------------------------------------------------------


@register_family
class TinyText(TaskFamily):
    """Read small print on a shelf tag or in a document section; legible only after zooming in.

    The agent sees the scene at a quarter of its drawn resolution: products, shelves and section
    headings are clear, the small print is not. The question names the spot (a product's colour,
    kind and shelf; a section's heading).

    Difficulty ladder (small print in source pixels at 896 x 896 = view pixels x 4, never below
    ``min_text_px``):

    1. One shelf of 3 products, or 2 sections of 2 lines; 18 px print (4.5 px in the view).
    2. Two shelves of 3-4, or 3 sections of 2-3 lines; 16 px, print slightly grey.
    3. Two or three shelves of 4-5, or 4 sections of 3 lines; 14 px; tags on the same shelf (or the
       same line in other sections) carry values one character away from the answer.
    4. Three shelves of 5-6, or 5-6 sections of 3-4 lines; 12 px grey print.
    5. Three or four shelves of 5-7, or 6-8 sections of 4 lines; 11 px pale print.

    Answer type ``number`` for prices (tolerance 0.005), room numbers and counts (exact); ``text``
    for product codes and contact names (case-insensitive).

    Example: "What price is printed on the tag under the green jar on the top shelf?" -> ``12.49``
    """

    name = "tiny_text"
    description = "Read small print (a price tag, a code, a document line) that is legible only when zoomed in."
    config_cls = TinyTextConfig
    detail_scale = DETAIL_SCALE
    tools_help = True

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: TinyTextConfig = self.config  # type: ignore[assignment]
        text_px = max(config.min_text_px, round(level.text_px * _scale(size)))
        if rng.random() < config.document_share:
            scene = _document_scene(rng, level, size, text_px)
            question, answer, answer_type, rationale, tolerance = _document_question(scene)
        else:
            scene = _shelf_scene(rng, level, size, text_px)
            question, answer, answer_type, rationale, tolerance = _shelf_question(scene)
        return TaskSpec(
            question=question,
            answer=answer,
            answer_type=answer_type,  # type: ignore[arg-type]
            scene=scene,
            rationale=rationale,
            tolerance=tolerance,
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        if scene["layout"] == "shelf":
            image, draw = blank(size, tuple(scene["wall"]))
            _draw_shelf(draw, scene, size)
        else:
            image, draw = blank(size, (120, 124, 130))
            _draw_document(draw, scene, size)
        return image

    def tool_plan(self, spec: TaskSpec) -> list[ToolStep]:
        scene = spec.scene
        x, y, what = target_location(scene)
        thought = f"The small print is unreadable at this size, so I zoom in on {what}."
        call = {
            "name": "zoom",
            "arguments": {"x": round(x / DETAIL_SCALE), "y": round(y / DETAIL_SCALE), "factor": float(DETAIL_SCALE)},
        }
        return [ToolStep(thought, (call,))]


def target_location(scene: dict[str, Any]) -> tuple[float, float, str]:
    """The centre of the small print that answers the question, in source pixels, and what it is."""
    if scene["layout"] == "shelf":
        target = scene["products"][scene["target"]]
        x0, y0, x1, y1 = target["tag_bbox"]
        shelf = _SHELF_NAMES[scene["shelves"]][target["shelf"]]
        return (x0 + x1) / 2, (y0 + y1) / 2, f"the tag under the {target['color']} {target['kind']} on the {shelf}"
    heading, line = _target_line(scene)
    x, y = line["xy"]
    width = text_extent(f"{line['key']}: {line['value']}", scene["text_px"])[0]
    return x + width / 2, y, f"the '{line['key']}' line of the section headed '{heading}'"
