"""The tiny_text family: the answer is the print at the named spot, illegible in the view and legible after a 4x
zoom, and harder tasks have smaller print and more of it."""

from tool_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from tool_checks import all_tasks, mean_per_difficulty, strictly_rising


def test_tiny_text_answers_are_the_print_at_the_named_spot():
    for _, _, generated in all_tasks("tiny_text"):
        scene, spec = generated.spec.scene, generated.spec
        if scene["layout"] == "shelf":
            target = scene["products"][scene["target"]]
            same_shelf = [p for p in scene["products"] if p["shelf"] == target["shelf"]]
            assert [p["color"] for p in same_shelf].count(target["color"]) == 1
            assert f"{target['color']} {target['kind']}" in spec.question
            printed = target["text"]
            expected = float(printed[1:]) if printed.startswith("$") else printed.lower()
        else:
            section, key = scene["target"]
            block = scene["sections"][section]
            assert [s["heading"] for s in scene["sections"]].count(block["heading"]) == 1
            assert f"'{block['heading']}'" in spec.question
            (printed,) = [line["value"] for line in block["lines"] if line["key"] == key]
            expected = int(printed) if printed.isdigit() else printed.lower()
        assert spec.answer == expected


def test_harder_tiny_text_is_smaller_and_there_is_more_of_it():
    assert strictly_rising([-v for v in mean_per_difficulty("tiny_text", lambda s: s["text_px"])])

    def print_count(scene):
        return len(scene["products"]) if scene["layout"] == "shelf" else sum(len(s["lines"]) for s in scene["sections"])

    assert strictly_rising(mean_per_difficulty("tiny_text", print_count))


def test_tiny_text_is_illegible_in_the_view_and_legible_after_a_4x_zoom():
    for _, _, generated in all_tasks("tiny_text", seeds=10):
        text_px = generated.spec.scene["text_px"]
        assert text_px / 4 <= 4.5 and text_px >= 11
