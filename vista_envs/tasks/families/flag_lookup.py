"""Flag lookup: recognise a national flag, then look up a fact about its country.

Flags are drawn from the knowledge base's drawable flag specs (stripes, Nordic crosses, discs, hoist
triangles and bands; no emblems), and the question asks for the country's continent, capital or
currency. The answer is the knowledge base's own field, so a model that recognises the flag can
confirm the fact with one ``search`` call ("Italy capital") instead of recalling it.

Only unambiguous flags are used: a flag whose drawing looks like another drawable flag (same layout
and proportions, every colour close) is left out, and so is a fact the knowledge base marks with a
caveat (``capital_note``: several capitals; ``continent_note``: a country on two continents;
``currency_note``: two currencies).

This module also holds :func:`draw_flag`, which draws any :class:`~vista_envs.knowledge_base.FlagSpec`.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from vista_envs.knowledge_base import Country, FlagSpec, load_knowledge_base
from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, ToolStep, register_family
from vista_envs.tasks.drawing import add_noise, blank, stamp_text

__all__ = ["FlagLookup", "FlagLookupConfig", "describe_flag", "draw_flag", "drawable_countries"]

Box = tuple[float, float, float, float]

# Flags are drawn 3:2, whatever their official proportions; the layout and colours identify them.
FLAG_ASPECT = 1.5
# Two drawn flags look alike when they share a layout and proportions and every pair of colours has
# the same name or is this close (Euclidean RGB distance).
_SIMILAR_COLOR_DISTANCE = 60.0


def _rgb(hex_color: str) -> tuple[int, int, int]:
    return int(hex_color[1:3], 16), int(hex_color[3:5], 16), int(hex_color[5:7], 16)


def _bands(start: float, length: float, ratios: tuple[int, ...] | None, count: int) -> list[tuple[float, float]]:
    """``count`` consecutive spans of ``length`` from ``start``, sized by ``ratios`` (equal if None)."""
    weights = ratios or (1,) * count
    total, spans, edge = sum(weights), [], start
    for weight in weights:
        spans.append((edge, edge + length * weight / total))
        edge = spans[-1][1]
    return spans


def draw_flag(draw: ImageDraw.ImageDraw, flag: FlagSpec, box: Box) -> None:
    """Draw ``flag`` filling ``box = (x0, y0, x1, y1)``, with a thin grey outline (white stripes show)."""
    x0, y0, x1, y1 = box
    width, height = x1 - x0, y1 - y0
    colors = [_rgb(c) for c in flag.colors]
    layout = flag.layout
    if layout == "horizontal_stripes":
        for color, (top, bottom) in zip(colors, _bands(y0, height, flag.ratios, len(colors))):
            draw.rectangle((x0, top, x1, bottom), fill=color)
    elif layout == "vertical_stripes":
        for color, (left, right) in zip(colors, _bands(x0, width, flag.ratios, len(colors))):
            draw.rectangle((left, y0, right, y1), fill=color)
    elif layout == "hoist_band":
        band_right = x0 + width / 3
        draw.rectangle((x0, y0, band_right, y1), fill=colors[0])
        for color, (top, bottom) in zip(colors[1:], _bands(y0, height, None, len(colors) - 1)):
            draw.rectangle((band_right, top, x1, bottom), fill=color)
    elif layout == "hoist_triangle":
        for color, (top, bottom) in zip(colors[:-1], _bands(y0, height, None, len(colors) - 1)):
            draw.rectangle((x0, top, x1, bottom), fill=color)
        draw.polygon([(x0, y0), (x0 + width * 0.45, y0 + height / 2), (x0, y1)], fill=colors[-1])
    elif layout == "disc":
        draw.rectangle(box, fill=colors[0])
        cx, cy, radius = x0 + width * (flag.offset or 0.5), y0 + height / 2, height * 0.3
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=colors[1])
    elif layout == "nordic_cross":
        draw.rectangle(box, fill=colors[0])
        cx, cy = x0 + width * 0.375, y0 + height / 2
        # (half-width of the arm, colour): the bordered cross draws its border first, then the cross.
        arms = (
            [(height * 0.12, colors[1]), (height * 0.06, colors[2])]
            if len(colors) == 3
            else [(height * 0.1, colors[1])]
        )
        for half, color in arms:
            draw.rectangle((x0, cy - half, x1, cy + half), fill=color)
            draw.rectangle((cx - half, y0, cx + half, y1), fill=color)
    elif layout == "centered_cross":
        draw.rectangle(box, fill=colors[0])
        cx, cy, half, reach = x0 + width / 2, y0 + height / 2, height * 0.1, height * 0.3
        draw.rectangle((cx - reach, cy - half, cx + reach, cy + half), fill=colors[1])
        draw.rectangle((cx - half, cy - reach, cx + half, cy + reach), fill=colors[1])
    else:
        raise ValueError(f"no drawing for flag layout {layout!r}")
    draw.rectangle(box, outline=(110, 110, 110), width=1)


def _series(names: tuple[str, ...]) -> str:
    """Colour names as a spoken list: "green, white and red"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def describe_flag(flag: FlagSpec) -> str:
    """A short description of what the drawn flag looks like ("vertical stripes of green, white and red")."""
    names = flag.color_names
    if flag.layout == "horizontal_stripes":
        return f"horizontal stripes of {_series(names)} from top to bottom"
    if flag.layout == "vertical_stripes":
        return f"vertical stripes of {_series(names)} from the hoist"
    if flag.layout == "hoist_band":
        return f"a {names[0]} vertical band at the hoist and horizontal stripes of {_series(names[1:])}"
    if flag.layout == "hoist_triangle":
        return f"a {names[-1]} triangle at the hoist over horizontal stripes of {_series(names[:-1])}"
    if flag.layout == "disc":
        return f"a {names[1]} disc on a {names[0]} field"
    if flag.layout == "nordic_cross":
        border = f" bordered in {names[1]}" if len(names) == 3 else ""
        return f"a {names[-1]} Nordic cross{border} on a {names[0]} field"
    return f"a {names[1]} cross in the centre of a {names[0]} field"


def _look_alike(a: FlagSpec, b: FlagSpec) -> bool:
    if (a.layout, a.ratios, a.offset, len(a.colors)) != (b.layout, b.ratios, b.offset, len(b.colors)):
        return False
    return all(
        name_a == name_b or sum((p - q) ** 2 for p, q in zip(_rgb(ca), _rgb(cb))) ** 0.5 < _SIMILAR_COLOR_DISTANCE
        for ca, cb, name_a, name_b in zip(a.colors, b.colors, a.color_names, b.color_names)
    )


def _flag_of(country: Country) -> FlagSpec:
    if country.flag is None:
        raise ValueError(f"{country.name} has no drawable flag in the knowledge base")
    return country.flag


@functools.lru_cache(maxsize=1)
def drawable_countries() -> tuple[Country, ...]:
    """Countries whose flag can be drawn and told apart from every other drawable flag (computed once)."""
    flagged = [c for c in load_knowledge_base().countries() if c.flag is not None]
    return tuple(c for c in flagged if not any(o is not c and _look_alike(_flag_of(c), _flag_of(o)) for o in flagged))


def _flag_fields(flag: FlagSpec) -> dict[str, Any]:
    """A flag spec as JSON-ready scene fields."""
    ratios = list(flag.ratios) if flag.ratios else None
    return {
        "layout": flag.layout,
        "colors": list(flag.colors),
        "color_names": list(flag.color_names),
        "ratios": ratios,
        "offset": flag.offset,
    }


def _flag_from_fields(fields: dict[str, Any]) -> FlagSpec:
    ratios = tuple(fields["ratios"]) if fields["ratios"] else None
    return FlagSpec(fields["layout"], tuple(fields["colors"]), tuple(fields["color_names"]), ratios, fields["offset"])


# What each question asks for: (question stem, the word the oracle searches for with the country's name).
_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "continent": ("On which continent is the country", "continent"),
    "capital": ("What is the capital of the country", "capital"),
    "currency": ("What is the currency of the country", "currency"),
    "currency_code": ("What is the three-letter ISO 4217 code of the currency of the country", "currency"),
}


def _answer(country: Country, attribute: str) -> tuple[str, tuple[str, ...]] | None:
    """The lower-case answer and its aliases, or None when the knowledge base gives no clean one."""
    if attribute == "continent":
        return None if country.continent_note else (country.continent.lower(), ())
    if attribute == "capital":
        return (
            None
            if country.capital_note
            else (country.capital.lower(), tuple(a.lower() for a in country.capital_aliases))
        )
    if country.currency is None or country.currency_code is None or country.currency_note:
        return None
    if attribute == "currency":  # the name or the code is fine
        return country.currency.lower(), (country.currency_code.lower(),)
    return country.currency_code.lower(), ()


@dataclass(frozen=True)
class FlagLookupConfig(FamilyConfig):
    """Knobs of the flag-lookup family.

    Attributes:
        noise: standard deviation of the pixel noise at difficulty 5 (half of it at difficulty 4).
    """

    noise: float = 14.0


@dataclass(frozen=True)
class _Level:
    flags: int  # flags in the image; several flags are labelled A, B, ...
    attributes: tuple[str, ...]
    noise_share: float  # share of config.noise


_LEVELS: dict[int, _Level] = {
    1: _Level(1, ("continent",), 0.0),
    2: _Level(1, ("capital",), 0.0),
    3: _Level(1, ("currency", "currency_code"), 0.0),
    4: _Level(2, ("capital", "currency", "currency_code"), 0.5),
    5: _Level(4, ("continent", "capital", "currency", "currency_code"), 1.0),
}


def _flag_boxes(rng: random.Random, size: tuple[int, int], count: int) -> list[list[float]]:
    """Non-overlapping 3:2 flag boxes, with room under each for its label when there are several."""
    width, height = size
    columns, rows = {1: (1, 1), 2: (2, 1) if width >= height else (1, 2), 4: (2, 2)}[count]
    cell_w, cell_h = width / columns, height / rows
    label_room = 0.0 if count == 1 else cell_h * 0.2
    boxes = []
    for index in range(count):
        row, col = divmod(index, columns)
        flag_w = min(cell_w * rng.uniform(0.7, 0.85), (cell_h - label_room) * 0.85 * FLAG_ASPECT)
        flag_h = flag_w / FLAG_ASPECT
        x0 = col * cell_w + (cell_w - flag_w) / 2 + rng.uniform(-0.4, 0.4) * (cell_w - flag_w) / 2
        y0 = (
            row * cell_h
            + (cell_h - label_room - flag_h) / 2
            + rng.uniform(-0.4, 0.4) * (cell_h - label_room - flag_h) / 2
        )
        boxes.append([round(x0, 1), round(y0, 1), round(x0 + flag_w, 1), round(y0 + flag_h, 1)])
    return boxes


@register_family
class FlagLookup(TaskFamily):
    """Name the continent, capital or currency of the country whose flag is drawn.

    Difficulty ladder:

    1. One flag: "On which continent is the country whose flag is shown?"
    2. One flag: its capital.
    3. One flag: its currency (the name or the ISO code is accepted), or the ISO code itself.
    4. Two flags labelled A and B; the capital or currency of one of them; light pixel noise.
    5. Four flags labelled A-D, the others sharing the target's layout where possible (look-alike
       stripes); any of the four questions; stronger noise.

    Answer type ``text``: the knowledge base's field in lower case ("rome", "europe", "euro", "eur"),
    with the knowledge base's other spellings as aliases.

    Example: "What is the capital of the country whose flag is shown?" -> ``"rome"``
    """

    name = "flag_lookup"
    description = "Recognise a national flag and look up its country's continent, capital or currency."
    config_cls = FlagLookupConfig
    tools_help = True

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: FlagLookupConfig = self.config  # type: ignore[assignment]
        countries = drawable_countries()
        while True:
            target, attribute = rng.choice(countries), rng.choice(level.attributes)
            answer = _answer(target, attribute)
            if answer is not None:
                break
        others = [c for c in countries if c is not target]
        same_layout = [c for c in others if _flag_of(c).layout == _flag_of(target).layout]
        distractors: list[Country] = []
        if level.flags > 1:
            # At difficulty 5 the other flags share the target's layout where there are enough of them.
            pool = same_layout if difficulty == 5 and len(same_layout) >= level.flags - 1 else others
            distractors = rng.sample(pool, level.flags - 1)
        shown = [target, *distractors]
        rng.shuffle(shown)
        labels = [chr(ord("A") + i) for i in range(len(shown))] if len(shown) > 1 else [""]
        boxes = _flag_boxes(rng, size, len(shown))
        target_index = shown.index(target)
        stem, _ = _ATTRIBUTES[attribute]
        where = "whose flag is shown" if len(shown) == 1 else f"whose flag is labelled {labels[target_index]}"
        scene: dict[str, Any] = {
            "flags": [
                {"country": c.name, "label": label, "box": box, **_flag_fields(_flag_of(c))}
                for c, label, box in zip(shown, labels, boxes)
            ],
            "target": target_index,
            "attribute": attribute,
            "background": [rng.randint(205, 240) for _ in range(3)],
            "noise": config.noise * level.noise_share,
        }
        text, aliases = answer
        fact = {"continent": target.continent, "capital": target.capital}.get(
            attribute, f"the {target.currency} ({target.currency_code})"
        )
        verb = (
            "is in" if attribute == "continent" else "uses" if attribute.startswith("currency") else "has the capital"
        )
        which = "The flag" if len(shown) == 1 else f"The flag labelled {labels[target_index]}"
        rationale = (
            f"{which} shows {describe_flag(_flag_of(target))}, the flag of {target.name}; {target.name} {verb} {fact}."
        )
        return TaskSpec(
            question=f"{stem} {where}?",
            answer=text,
            answer_type="text",
            scene=scene,
            rationale=rationale,
            aliases=aliases,
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        image, draw = blank(size, tuple(scene["background"]))
        label_px = max(9, round(min(size) * 0.07))
        for flag in scene["flags"]:
            box = tuple(flag["box"])
            draw_flag(draw, _flag_from_fields(flag), box)
            if flag["label"]:
                stamp_text(
                    draw,
                    ((box[0] + box[2]) / 2, box[3] + label_px * 0.4),
                    flag["label"],
                    label_px,
                    (20, 20, 20),
                    anchor="mt",
                )
        return add_noise(image, scene["noise"], rng)

    def tool_plan(self, spec: TaskSpec) -> list[ToolStep]:
        scene = spec.scene
        flag = scene["flags"][scene["target"]]
        _, search_word = _ATTRIBUTES[scene["attribute"]]
        which = f"The flag labelled {flag['label']}" if flag["label"] else "The flag"
        looks = describe_flag(_flag_from_fields(flag))
        thought = f"{which} shows {looks}: it is the flag of {flag['country']}. I look up its {search_word}."
        call = {"name": "search", "arguments": {"query": f"{flag['country']} {search_word}", "k": 3}}
        return [ToolStep(thought, (call,))]
