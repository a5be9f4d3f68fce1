"""The flag_lookup family: answers are the knowledge base's facts of the drawn country, only flags that cannot be
mistaken for another are drawn, each in exactly its colours, and harder tasks ask harder facts about more flags."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from vista_envs.answers import score_answer
from vista_envs.knowledge_base import FLAG_LAYOUTS, FlagSpec, load_knowledge_base
from vista_envs.tasks.families.flag_lookup import FLAG_ASPECT, draw_flag, drawable_countries

from tool_checks import *  # noqa: F403 (its kind's shared checks, run for this file's family)
from tool_checks import all_tasks, mean_per_difficulty, task


def test_flag_answers_are_the_knowledge_base_facts_of_the_drawn_country():
    kb = load_knowledge_base()
    attributes = set()
    for _, _, generated in all_tasks("flag_lookup"):
        scene, spec = generated.spec.scene, generated.spec
        shown = [kb.country(flag["country"]) for flag in scene["flags"]]
        assert len({c.name for c in shown}) == len(shown)
        country = shown[scene["target"]]
        attribute = scene["attribute"]
        expected = {
            "continent": (country.continent, country.continent_note),
            "capital": (country.capital, country.capital_note),
            "currency": (country.currency, country.currency_note),
            "currency_code": (country.currency_code, country.currency_note),
        }[attribute]
        assert expected[1] is None, "a fact with a caveat must not be asked"
        assert spec.answer == expected[0].lower()
        if attribute == "capital":
            assert set(spec.aliases) == {a.lower() for a in country.capital_aliases}
        if attribute == "currency":
            assert score_answer(country.currency_code, spec) == 1.0
        if len(shown) > 1:
            assert f"labelled {scene['flags'][scene['target']]['label']}" in spec.question
        attributes.add(attribute)
    assert attributes == {"continent", "capital", "currency", "currency_code"}


def test_only_flags_that_cannot_be_mistaken_for_another_are_drawn():
    countries = drawable_countries()
    assert len(countries) >= 30
    signatures = [(c.flag.layout, c.flag.color_names, c.flag.ratios, c.flag.offset) for c in countries]
    assert len(set(signatures)) == len(signatures)


@pytest.mark.parametrize("country", drawable_countries(), ids=lambda c: c.name)
def test_each_drawn_flag_shows_exactly_its_specified_colours(country):
    image = Image.new("RGB", (150, 100), (128, 128, 128))
    draw_flag(ImageDraw.Draw(image), country.flag, (0, 0, 149, 99))
    inside = np.asarray(image)[2:-2, 2:-2].reshape(-1, 3)
    drawn = {tuple(int(v) for v in pixel) for pixel in np.unique(inside, axis=0)}
    specified = {tuple(int(c[i : i + 2], 16) for i in (1, 3, 5)) for c in country.flag.colors}
    assert drawn == specified


@pytest.mark.parametrize("layout", sorted(FLAG_LAYOUTS))
def test_every_flag_layout_of_the_knowledge_base_can_be_drawn(layout):
    fewest, _ = FLAG_LAYOUTS[layout]
    palette = ("#CC0000", "#FFFFFF", "#0000CC", "#00AA00", "#000000")[:fewest]
    image = Image.new("RGB", (90, round(90 / FLAG_ASPECT)))
    draw_flag(ImageDraw.Draw(image), FlagSpec(layout, palette, tuple(f"c{i}" for i in range(fewest))), (0, 0, 89, 59))
    assert len(np.unique(np.asarray(image).reshape(-1, 3), axis=0)) >= fewest


def test_harder_flag_tasks_ask_harder_facts_about_more_flags():
    flags = mean_per_difficulty("flag_lookup", lambda s: len(s["flags"]))
    assert flags[0] == flags[1] == flags[2] == 1 and 1 < flags[3] < flags[4]
    asked = [{task("flag_lookup", seed, d).spec.scene["attribute"] for seed in range(30)} for d in (1, 2, 3)]
    assert asked == [{"continent"}, {"capital"}, {"currency", "currency_code"}]
