"""The product_price family: receipt totals use the catalogue's prices (voided lines and tax at the top levels), and
harder receipts have more lines."""

from decimal import Decimal

from vista_envs.knowledge_base import load_knowledge_base

from tool_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from tool_checks import all_tasks, half_up, mean_per_difficulty, strictly_rising


def test_receipt_totals_use_the_catalogue_prices():
    kb = load_knowledge_base()
    for difficulty, _, generated in all_tasks("product_price"):
        scene, spec = generated.spec.scene, generated.spec
        skus = [line["sku"] for line in scene["lines"]]
        assert len(set(skus)) == len(skus)
        total = Decimal(0)
        for line in scene["lines"]:
            price = Decimal(str(kb.product(line["sku"]).price))
            assert Decimal(str(line["price"])) == price
            if not line["void"]:
                total += line["quantity"] * price
        if scene["tax_percent"] is not None:
            total = half_up(total * (1 + Decimal(scene["tax_percent"]) / 100), 2)
        assert Decimal(str(spec.answer)) == total
        assert sum(line["void"] for line in scene["lines"]) == (difficulty == 5)
        assert (scene["tax_percent"] is not None) == (difficulty >= 4)


def test_harder_receipts_have_more_lines():
    assert strictly_rising(mean_per_difficulty("product_price", lambda s: len(s["lines"])))
