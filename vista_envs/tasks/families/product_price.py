"""Product prices: total a receipt that lists SKU codes and quantities but no prices.

A Vista Mart receipt lists products by SKU code (``ST-3839``) with a quantity each; the prices are
in the knowledge base's product catalogue, not in the image. The agent looks each SKU up with the
``search`` tool, then adds up quantity x price (plus the sales tax printed on the receipt at higher
difficulty) with the ``calculator``. The catalogue is fictional, so the prices cannot be recalled.
The receipt is drawn at twice the requested size (``detail_scale = 2``) so that its small print is
crisp after a ``zoom``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from PIL import Image

from vista_envs.knowledge_base import load_knowledge_base
from vista_envs.tasks.base import FamilyConfig, TaskFamily, TaskSpec, ToolStep, register_family
from vista_envs.tasks.drawing import blank, stamp_text, text_extent
from vista_envs.tasks.families.chart_arithmetic import round_half_up

__all__ = ["ProductPrice", "ProductPriceConfig"]

# The env runs at most this many tool calls per turn by default, so the oracle searches in batches.
SEARCHES_PER_STEP = 4
_TAX_PERCENTS = ("5", "6", "6.5", "7", "7.25", "8", "8.25", "8.875", "9.5", "10")
_SMALLEST_FONT_PX = 8  # source pixels: the last resort on a very small image
_BACKGROUNDS = ((92, 70, 52), (60, 66, 74), (118, 96, 70), (48, 58, 52))


@dataclass(frozen=True)
class ProductPriceConfig(FamilyConfig):
    """Knobs of the product-price family.

    Attributes:
        max_quantity: the largest quantity on a receipt line.
        min_font_px: smallest receipt font in pixels of the view, whatever the image size.
    """

    max_quantity: int = 5
    min_font_px: int = 6


@dataclass(frozen=True)
class _Level:
    lines: tuple[int, int]  # inclusive range of paid receipt lines
    taxed: bool  # a sales-tax rate is printed and must be added
    void_line: bool  # one extra line is struck through and marked VOID (not paid)
    font_px: int  # receipt font size in view pixels at 224 x 224


_LEVELS: dict[int, _Level] = {
    1: _Level((1, 1), False, False, 10),
    2: _Level((2, 2), False, False, 9),
    3: _Level((3, 4), False, False, 8),
    4: _Level((4, 5), True, False, 8),
    5: _Level((5, 7), True, True, 7),
}


def _cents(price: float) -> int:
    return round(price * 100)


@dataclass(frozen=True)
class _Layout:
    """The paper strip of the receipt and its text rows, centred in an image of ``size``."""

    font_px: int
    row_h: float
    paper: tuple[float, float, float, float]

    @classmethod
    def build(cls, size: tuple[int, int], font_px: int, rows: int) -> _Layout:
        width, height = size
        row_h = text_extent("ST-3839 x5 Agjp", font_px)[1] * 1.6
        paper_w = (
            max(text_extent("SALES TAX 8.875%", font_px)[0], text_extent("ST-3839  QTY 5", font_px)[0]) + 3 * font_px
        )
        paper_h = (rows + 1) * row_h
        paper_w = max(paper_w, width * 0.45)  # a receipt, not a sticker, even with big print
        x0, y0 = (width - paper_w) / 2, (height - paper_h) / 2
        return cls(font_px, row_h, (x0, y0, x0 + paper_w, y0 + paper_h))

    def fits(self, size: tuple[int, int]) -> bool:
        x0, y0, x1, y1 = self.paper
        return x0 >= 2 and y0 >= 2 and x1 <= size[0] - 2 and y1 <= size[1] - 2


@register_family
class ProductPrice(TaskFamily):
    """Total a receipt of SKU codes and quantities with prices from the product catalogue.

    Difficulty ladder (fonts at 224 x 224, never below ``min_font_px``):

    1. One receipt line (quantity 1-5): its cost.
    2. Two lines.
    3. Three or four lines, smaller print.
    4. Four or five lines and a printed sales-tax rate ("SALES TAX 8.25%") to add to the subtotal.
    5. Five to seven paid lines, tax, and one extra line struck through and marked VOID (not paid).

    Answer type ``number``: US dollars rounded to the cent (half up), tolerance 0.005.

    Example: "What is the total cost in US dollars of the items on this receipt?" -> ``23.73``
    """

    name = "product_price"
    description = "Look up each SKU on a receipt in the product catalogue and total the receipt."
    config_cls = ProductPriceConfig
    detail_scale = 2
    tools_help = True

    def sample(self, rng: random.Random, difficulty: int, size: tuple[int, int]) -> TaskSpec:
        level = _LEVELS[difficulty]
        config: ProductPriceConfig = self.config  # type: ignore[assignment]
        products = load_knowledge_base().products()
        count = rng.randint(*level.lines)
        font_px = max(config.min_font_px * self.detail_scale, round(level.font_px * min(size) / 224))
        chosen = rng.sample(products, count + level.void_line)
        lines = [
            {"sku": p.sku, "quantity": rng.randint(1, config.max_quantity), "price": p.price, "void": False}
            for p in chosen
        ]
        if level.void_line:
            lines[-1]["void"] = True
            rng.shuffle(lines)
        tax = rng.choice(_TAX_PERCENTS) if level.taxed else None
        scene: dict[str, Any] = {
            "lines": lines,
            "tax_percent": tax,
            "receipt_no": rng.randint(1000, 9999),
            "date": f"2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
            "font_px": font_px,
            "background": list(rng.choice(_BACKGROUNDS)),
        }
        # Shrink the print on a very small image until the receipt fits.
        rows = len(_receipt_rows(scene))
        while not _Layout.build(size, scene["font_px"], rows).fits(size) and scene["font_px"] > _SMALLEST_FONT_PX:
            scene["font_px"] -= 1
        answer, rationale = _total(scene)
        question = "What is the total cost in US dollars of the items on this receipt"
        if tax is not None:
            question += ", including the sales tax printed on it, rounded to the nearest cent"
        if level.void_line:
            question += " (lines marked VOID are not paid)"
        return TaskSpec(
            question=question + "?",
            answer=answer,
            answer_type="number",
            scene=scene,
            rationale=rationale,
            tolerance=0.005,
        )

    def render(self, spec: TaskSpec, size: tuple[int, int], rng: random.Random) -> Image.Image:
        scene = spec.scene
        rows = _receipt_rows(scene)
        layout = _Layout.build(size, scene["font_px"], len(rows))
        image, draw = blank(size, tuple(scene["background"]))
        x0, y0, x1, _ = layout.paper
        draw.rectangle(layout.paper, fill=(250, 249, 243))
        font_px = layout.font_px
        ink, faint = (30, 30, 30), (120, 120, 120)
        left, right, centre = x0 + font_px, x1 - font_px, (x0 + x1) / 2
        for index, (kind, text, quantity) in enumerate(rows):
            y = y0 + layout.row_h * (index + 1)
            if kind == "centre":
                stamp_text(draw, (centre, y), text, font_px, ink if index == 0 else faint)
            elif kind == "rule":
                draw.line((left, y, right, y), fill=faint, width=1)
            else:
                color = faint if kind == "head" else ink
                sku_box = stamp_text(draw, (left, y), text, font_px, color, anchor="lm")
                if quantity:
                    stamp_text(draw, (right, y), quantity, font_px, color, anchor="rm")
                if kind == "void":
                    draw.line((left, y, right, y), fill=ink, width=max(1, font_px // 8))
                    stamp_text(draw, (sku_box[2] + font_px * 0.6, y), "VOID", font_px, (190, 30, 30), anchor="lm")
        return image

    def tool_plan(self, spec: TaskSpec) -> list[ToolStep]:
        scene = spec.scene
        paid = [line for line in scene["lines"] if not line["void"]]
        steps = []
        for start in range(0, len(paid), SEARCHES_PER_STEP):
            batch = paid[start : start + SEARCHES_PER_STEP]
            skus = ", ".join(line["sku"] for line in batch)
            opening = "The receipt shows no prices, so I look up" if start == 0 else "Next I look up"
            thought = f"{opening} {skus} in the catalogue."
            steps.append(
                ToolStep(
                    thought, tuple({"name": "search", "arguments": {"query": line["sku"], "k": 1}} for line in batch)
                )
            )
        expression = " + ".join(f"{line['quantity']} * {line['price']:.2f}" for line in paid)
        if scene["tax_percent"] is not None:
            expression = f"({expression}) * (1 + {scene['tax_percent']} / 100)"
            thought = (
                f"I multiply each quantity by its price, add them up and add the {scene['tax_percent']}% sales tax."
            )
        else:
            thought = "I multiply each quantity by its price and add them up."
        steps.append(ToolStep(thought, ({"name": "calculator", "arguments": {"expression": expression}},)))
        return steps


def _receipt_rows(scene: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The receipt's rows top to bottom as (kind, text, quantity); kinds: centre, head, item, void, rule, tax."""
    rows = [
        ("centre", "VISTA MART", ""),
        ("centre", f"#{scene['receipt_no']}  {scene['date']}", ""),
        ("head", "SKU", "QTY"),
    ]
    rows += [("void" if line["void"] else "item", line["sku"], str(line["quantity"])) for line in scene["lines"]]
    rows.append(("rule", "", ""))
    if scene["tax_percent"] is not None:
        rows.append(("tax", f"SALES TAX {scene['tax_percent']}%", ""))
    rows.append(("centre", "THANK YOU", ""))
    return rows


def _total(scene: dict[str, Any]) -> tuple[float, str]:
    """The receipt's total in dollars (exact, rounded half up to the cent) and a rationale."""
    paid = [line for line in scene["lines"] if not line["void"]]
    subtotal = sum(line["quantity"] * _cents(line["price"]) for line in paid)
    prices = ", ".join(f"{line['sku']} ${line['price']:.2f}" for line in paid)
    terms = " + ".join(f"{line['quantity']} x {line['price']:.2f}" for line in paid)
    void = "Skipping the VOID line, the" if any(line["void"] for line in scene["lines"]) else "The"
    are = "prices are" if len(paid) > 1 else "price is"
    rationale = f"{void} catalogue {are} {prices}; {terms} = {subtotal / 100:.2f}"
    tax = scene["tax_percent"]
    if tax is None:
        return subtotal / 100, rationale + "."
    total = round_half_up(Fraction(subtotal, 100) * (1 + Fraction(tax) / 100), 2)
    return float(total), rationale + f", plus {tax}% sales tax gives {total:.2f}."
