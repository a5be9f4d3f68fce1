"""The offline knowledge base, the BM25 search engine and the web backend's failure modes."""

import dataclasses
import doctest
import json
import math
import os
import subprocess
import sys
import threading
import time
import types
from importlib.resources import files

import pytest

import vista_envs.knowledge_base as knowledge_base_module
import vista_envs.tools.search as search_module
from vista_envs.knowledge_base import FLAG_LAYOUTS, Country, FlagSpec, KnowledgeBase, Product, load_knowledge_base
from vista_envs.tools.search import (
    MAX_RESULTS,
    SNIPPET_CHARS,
    BM25Index,
    LocalSearch,
    SearchEngine,
    SearchResult,
    WebSearch,
    get_local_search,
    make_search_engine,
    search,
    tokenize,
)


@pytest.fixture(scope="module")
def kb():
    return load_knowledge_base()


@pytest.fixture(scope="module")
def engine():
    return get_local_search()


def top_id(engine, query):
    return engine.search(query, k=3).hits[0].id


# --------------------------------------------------------------------------- knowledge base content


def test_knowledge_base_ships_as_package_data():
    assert files("vista_envs.assets").joinpath("knowledge_base.jsonl").is_file()


def test_knowledge_base_has_every_un_member_state_and_a_product_catalogue(kb):
    assert len(kb) >= 300
    assert len(kb.countries()) == 193
    assert len(kb.products()) >= 100
    assert len(kb.countries()) + len(kb.products()) == len(kb)


def test_every_entry_has_a_unique_typed_id_a_title_and_a_prose_passage(kb):
    ids = [entry.id for entry in kb]
    assert len(ids) == len(set(ids))
    for entry in kb:
        assert entry.id.startswith(f"{entry.type}:")
        assert entry.title and entry.title in entry.text
        assert entry.text.endswith(".") and len(entry.text.split()) >= 10


def test_every_country_states_capital_and_continent_in_its_passage(kb):
    for country in kb.countries():
        assert f"Its capital is {country.capital}" in country.text
        assert f"is a country in {country.continent}." in country.text
        if country.currency_code:
            assert f"({country.currency_code})" in country.text


def test_country_names_and_capitals_are_unique(kb):
    names = [name.casefold() for country in kb.countries() for name in country.names]
    assert len(names) == len(set(names))
    assert len({country.capital for country in kb.countries()}) == len(kb.countries())


@pytest.mark.parametrize(
    "name, capital, continent, currency_code",
    [
        ("France", "Paris", "Europe", "EUR"),
        ("Japan", "Tokyo", "Asia", "JPY"),
        ("Australia", "Canberra", "Oceania", "AUD"),
        ("Brazil", "Brasília", "South America", "BRL"),
        ("Canada", "Ottawa", "North America", "CAD"),
        ("Kenya", "Nairobi", "Africa", "KES"),
        ("United Kingdom", "London", "Europe", "GBP"),
        ("United States", "Washington, D.C.", "North America", "USD"),
        ("Switzerland", "Bern", "Europe", "CHF"),
        ("India", "New Delhi", "Asia", "INR"),
        ("Egypt", "Cairo", "Africa", "EGP"),
        ("Turkey", "Ankara", "Asia", "TRY"),
        ("Nigeria", "Abuja", "Africa", "NGN"),
        ("Croatia", "Zagreb", "Europe", "EUR"),
    ],
)
def test_well_known_country_facts(kb, name, capital, continent, currency_code):
    country = kb.country(name)
    assert (country.capital, country.continent, country.currency_code) == (capital, continent, currency_code)


def test_facts_with_a_caveat_carry_a_note(kb):
    assert "Cape Town" in kb.country("South Africa").capital_note
    assert "La Paz" in kb.country("Bolivia").capital_note
    assert "Asia" in kb.country("Russia").continent_note
    assert kb.country("France").capital_note is None


def test_every_flag_spec_is_valid(kb):
    flags = [country.flag for country in kb.countries() if country.flag is not None]
    assert len(flags) >= 40
    for country in kb.countries():
        if country.flag is None:
            continue
        flag = country.flag
        fewest, most = FLAG_LAYOUTS[flag.layout]
        assert fewest <= len(flag.colors) <= most
        assert set(flag.color_names) == set(country.flag_colors), country.name
        assert dataclasses.replace(flag) == flag  # re-runs the validation


def test_no_two_flag_specs_draw_the_same_flag(kb):
    drawn = [(c.flag.layout, c.flag.colors, c.flag.ratios, c.flag.offset) for c in kb.countries() if c.flag]
    assert len(drawn) == len(set(drawn))


@pytest.mark.parametrize(
    "name, layout, color_names",
    [
        ("France", "vertical_stripes", ("blue", "white", "red")),
        ("Italy", "vertical_stripes", ("green", "white", "red")),
        ("Germany", "horizontal_stripes", ("black", "red", "gold")),
        ("Ukraine", "horizontal_stripes", ("blue", "yellow")),
        ("Japan", "disc", ("white", "red")),
        ("Sweden", "nordic_cross", ("blue", "yellow")),
        ("Czechia", "hoist_triangle", ("white", "red", "blue")),
    ],
)
def test_well_known_flags(kb, name, layout, color_names):
    flag = kb.country(name).flag
    assert (flag.layout, flag.color_names) == (layout, color_names)


@pytest.mark.parametrize(
    "fields",
    [
        {"layout": "spiral", "colors": ("#FFFFFF", "#000000"), "color_names": ("white", "black")},
        {"layout": "disc", "colors": ("#FFFFFF",), "color_names": ("white",)},
        {"layout": "disc", "colors": ("#ffffff", "#BC002D"), "color_names": ("white", "red")},
        {"layout": "disc", "colors": ("#FFFFFF", "#BC002D"), "color_names": ("white",)},
        {
            "layout": "nordic_cross",
            "colors": ("#FFFFFF", "#002F6C"),
            "color_names": ("white", "blue"),
            "ratios": (1, 1),
        },
        {"layout": "disc", "colors": ("#FFFFFF", "#BC002D"), "color_names": ("white", "red"), "offset": 1.5},
    ],
)
def test_malformed_flag_specs_are_rejected(fields):
    with pytest.raises(ValueError):
        FlagSpec(**fields)


def test_products_have_a_price_in_cents_a_unit_and_a_weight(kb):
    skus = [product.sku for product in kb.products()]
    assert len(skus) == len(set(skus))
    for product in kb.products():
        assert product.price > 0 and round(product.price * 100) == pytest.approx(product.price * 100)
        assert f"${product.price:.2f}" in product.text and product.sku in product.text
        assert product.unit and product.weight_g > 0


# --------------------------------------------------------------------------- knowledge base look-ups


def test_country_lookup_ignores_case_accents_and_accepts_aliases(kb):
    ivory_coast = kb.country("Côte d'Ivoire")
    assert kb.country("cote d'ivoire") is ivory_coast
    assert kb.country("IVORY COAST") is ivory_coast
    assert kb.country("Czech Republic") is kb.country("Czechia")
    assert "Kiev" in kb.country("Ukraine").capital_names


def test_product_lookup_by_sku_ignores_case(kb):
    product = kb.products()[0]
    assert kb.product(product.sku.lower()) is product
    assert kb.get(product.id) is product


def test_where_filters_by_field_values(kb):
    euro_area = {c.name for c in kb.where(Country, currency_code="EUR")}
    assert {"France", "Germany", "Croatia"} <= euro_area
    assert "United Kingdom" not in euro_area
    assert len(kb.where(Country, continent="South America")) == 12
    assert all(p.category == "toys" for p in kb.where(Product, category="toys"))


def test_unknown_names_raise_key_error(kb):
    with pytest.raises(KeyError, match="Atlantis"):
        kb.country("Atlantis")
    with pytest.raises(KeyError):
        kb.product("XX-0000")
    with pytest.raises(KeyError):
        kb.get("country:atlantis")
    assert "country:france" in kb and "country:atlantis" not in kb


def test_a_bad_record_is_reported_with_its_line_number():
    good = json.dumps(
        {
            "id": "country:x",
            "type": "country",
            "title": "X",
            "text": "X.",
            "name": "X",
            "capital": "Y",
            "continent": "Europe",
        }
    )
    bad = json.dumps(
        {
            "id": "country:z",
            "type": "country",
            "title": "Z",
            "text": "Z.",
            "name": "Z",
            "capital": "W",
            "continent": "Atlantis",
        }
    )
    assert len(KnowledgeBase.from_jsonl(good + "\n\n")) == 1
    with pytest.raises(ValueError, match="line 2"):
        KnowledgeBase.from_jsonl(good + "\n" + bad)
    with pytest.raises(ValueError, match="duplicate"):
        KnowledgeBase.from_jsonl(good + "\n" + good)


# --------------------------------------------------------------------------- tokeniser and BM25


def test_tokenize_lowercases_strips_punctuation_accents_and_stop_words():
    assert tokenize("What is the capital of Brasília?!") == ["capital", "brasilia"]


def test_tokenize_keeps_codes_whole_and_in_parts():
    assert tokenize("ST-3839") == ["st-3839", "st", "3839"]
    assert tokenize("$12.49") == ["12.49", "12", "49"]


def test_bm25_score_matches_the_formula():
    index = BM25Index(["apple banana", "apple"], k1=1.5, b=0.75)
    idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))
    expected = idf * 1 * 2.5 / (1 + 1.5 * (1 - 0.75 + 0.75 * 2 / 1.5))
    assert index.scores("banana")[0] == pytest.approx(expected)
    assert index.scores("banana")[1] == 0


def test_bm25_prefers_more_matching_terms_and_rarer_terms():
    index = BM25Index(["red apple", "red car", "green apple pie", "red red red"])
    assert index.top("green apple", 4)[0][0] == 2
    assert index.top("red pie", 1)[0][0] == 2  # "pie" is rarer than "red"


def test_bm25_length_normalisation_is_controlled_by_b():
    documents = ["kiwi one", "kiwi one two three four five"]
    assert [doc for doc, _ in BM25Index(documents, b=0.75).top("kiwi", 2)] == [0, 1]
    ties = BM25Index(documents, b=0.0).top("kiwi", 2)
    assert ties[0][1] == ties[1][1] and [doc for doc, _ in ties] == [0, 1]  # ties keep document order


def test_bm25_breaks_ties_by_document_order():
    index = BM25Index(["kiwi", "kiwi kiwi", "kiwi"] * 100, b=0.0)
    ranked = [doc for doc, _ in index.top("kiwi", 300)]
    twice = list(range(1, 300, 3))
    assert ranked == twice + [doc for doc in range(300) if doc not in twice]


def test_bm25_returns_only_matching_documents():
    index = BM25Index(["alpha", "beta"])
    assert index.top("gamma", 5) == []
    assert [doc for doc, _ in index.top("beta", 5)] == [1]
    assert BM25Index([]).top("alpha", 3) == []


@pytest.mark.parametrize("k1, b", [(-1.0, 0.75), (1.5, 1.5), (1.5, -0.1)])
def test_bm25_rejects_invalid_parameters(k1, b):
    with pytest.raises(ValueError):
        BM25Index(["x"], k1=k1, b=b)


# --------------------------------------------------------------------------- local search


@pytest.mark.parametrize(
    "query, expected",
    [
        ("capital of France", "country:france"),
        ("currency of Japan", "country:japan"),
        ("What is the capital of Australia?", "country:australia"),
        ("Brasilia", "country:brazil"),
        ("Ivory Coast", "country:cote-d-ivoire"),
        ("Guinea-Bissau capital", "country:guinea-bissau"),
        ("flag with a red disc on a white field", "country:japan"),
        ("flag yellow Nordic cross on blue", "country:sweden"),
        ("flag three vertical stripes green white red", "country:italy"),
        ("which country uses the Kenyan shilling", "country:kenya"),
    ],
)
def test_search_ranks_the_right_country_first(engine, query, expected):
    assert top_id(engine, query) == expected


def test_search_finds_every_product_by_its_sku(engine, kb):
    for product in kb.products():
        assert top_id(engine, product.sku) == product.id
        assert top_id(engine, f"price of {product.sku.replace('-', ' ').lower()}") == product.id


def test_search_finds_a_product_by_its_name(engine, kb):
    product = kb.products()[-1]
    assert top_id(engine, product.name) == product.id


def test_result_text_names_the_hit_and_states_the_fact(engine):
    text = engine.search("capital of France", k=3).text
    assert text.startswith('Search results for "capital of France"')
    assert "1. France [country:france]" in text and "Paris" in text
    assert search("capital of France") == text


def test_a_short_passage_is_returned_whole(engine, kb):
    product = kb.products()[0]
    assert engine.search(product.sku, k=1).hits[0].snippet == product.text


def test_a_long_passage_is_cut_to_the_sentences_about_the_query(engine, kb):
    south_africa = kb.country("South Africa")
    assert len(south_africa.text) > SNIPPET_CHARS
    snippet = engine.search("South Africa currency", k=1).hits[0].snippet
    assert len(snippet) <= SNIPPET_CHARS
    assert snippet.startswith("South Africa is a country in Africa.") and "South African rand (ZAR)" in snippet
    assert "colours of its flag" not in snippet


def test_hits_are_ranked_by_decreasing_score(engine):
    hits = engine.search("euro", k=MAX_RESULTS).hits
    assert len(hits) == MAX_RESULTS
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)


def test_k_limits_the_number_of_hits(engine):
    assert len(engine.search("capital", k=1).hits) == 1
    assert len(engine.search("capital", k=1000).hits) == MAX_RESULTS


def test_search_is_deterministic_within_a_process(engine, kb):
    query = "flag red white blue horizontal stripes"
    assert engine.search(query, k=5) == engine.search(query, k=5)
    assert LocalSearch(kb).search(query, k=5) == engine.search(query, k=5)


def test_search_is_deterministic_across_processes(engine):
    queries = ["flag red white blue", "currency franc", "price each 250 g"]
    program = (
        "import sys; from vista_envs.tools.search import search; print('\\n'.join(search(q, k=5) for q in "
        "sys.argv[1:]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    child = subprocess.run(
        [sys.executable, "-c", program, *queries], env=env, capture_output=True, text=True, check=True
    )
    assert child.stdout == "\n".join(search(q, k=5) for q in queries) + "\n"


def test_the_local_engine_is_built_once_per_process():
    assert get_local_search() is get_local_search()
    assert make_search_engine("local") is get_local_search()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "!!!???",
        "of the is what",
        "首都 東京",
        "🇫🇷🇯🇵",
        "\x00\n\t\r",
        "Ünïcödé",
        "zzzzqqqq",
        "a" * 5000,
        "x " * 100_000,
    ],
)
def test_odd_queries_return_a_result_and_never_raise(engine, query):
    result = engine.search(query, k=3)
    assert isinstance(result, SearchResult) and isinstance(result.text, str) and result.text


def test_a_query_without_matches_says_so(engine):
    result = engine.search("zzzzqqqq", k=3)
    assert result.hits == () and result.error is None
    assert result.text.startswith('No results for "zzzzqqqq"')


def test_a_ten_megabyte_query_is_answered_quickly(engine):
    start = time.perf_counter()
    result = engine.search("France " * 1_500_000, k=3)
    assert time.perf_counter() - start < 1.0
    assert result.hits[0].id == "country:france"


@pytest.mark.parametrize(
    "query, k",
    [
        (None, 3),
        (42, 3),
        (["France"], 3),
        ("France", 0),
        ("France", -2),
        ("France", "3"),
        ("France", 2.5),
        ("France", True),
    ],
)
def test_invalid_arguments_give_an_error_result(engine, query, k):
    result = engine.search(query, k)
    assert result.error and result.hits == ()
    assert result.text.startswith("Search error:")


def test_the_module_examples_hold():
    failures, tried = doctest.testmod(search_module)
    assert tried >= 2 and failures == 0
    failures, tried = doctest.testmod(knowledge_base_module)
    assert tried >= 2 and failures == 0


def test_both_backends_satisfy_the_search_engine_protocol(engine):
    assert isinstance(engine, SearchEngine)
    assert isinstance(WebSearch(), SearchEngine)


def test_unknown_backend_is_a_configuration_error():
    with pytest.raises(ValueError, match="backend"):
        make_search_engine("bing")


# --------------------------------------------------------------------------- web search (no network in tests)


def fake_ddgs(text_method):
    module = types.ModuleType("ddgs")
    module.DDGS = type("DDGS", (), {"__init__": lambda self, timeout=5: None, "text": text_method})
    return module


def test_web_search_without_ddgs_explains_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ddgs", None)  # makes `import ddgs` raise ImportError
    result = WebSearch().search("capital of France")
    assert result.hits == () and "ddgs" in result.error and "pip install" in result.error
    assert search("capital of France", backend="web").startswith("Search error:")


def test_web_search_offline_returns_an_error_result(monkeypatch):
    def unreachable(self, query, **kwargs):
        raise ConnectionError("[Errno 101] Network is unreachable")

    monkeypatch.setitem(sys.modules, "ddgs", fake_ddgs(unreachable))
    result = WebSearch().search("capital of France")
    assert result.hits == ()
    assert "Network is unreachable" in result.error and "offline" in result.error


def test_web_search_gives_up_at_its_timeout(monkeypatch):
    release = threading.Event()

    def hangs(self, query, **kwargs):
        release.wait(10)
        return []

    monkeypatch.setitem(sys.modules, "ddgs", fake_ddgs(hangs))
    start = time.perf_counter()
    result = WebSearch(timeout_s=0.2).search("capital of France")
    elapsed = time.perf_counter() - start
    release.set()
    assert "timed out" in result.error
    assert elapsed < 2.0


def test_web_search_turns_pages_into_hits(monkeypatch):
    requests = []

    def answers(self, query, max_results, **kwargs):
        requests.append((query, max_results))
        return [
            {
                "title": "Paris - Wikipedia",
                "href": "https://en.wikipedia.org/wiki/Paris",
                "body": "Paris is the capital of France.",
            },
            "not a row",
        ]

    monkeypatch.setitem(sys.modules, "ddgs", fake_ddgs(answers))
    result = WebSearch().search("capital of France", k=2)
    assert requests == [("capital of France", 2)]
    assert [(hit.id, hit.title) for hit in result.hits] == [
        ("https://en.wikipedia.org/wiki/Paris", "Paris - Wikipedia")
    ]
    assert "Paris is the capital of France." in result.text


def test_web_search_rejects_a_non_positive_timeout():
    with pytest.raises(ValueError):
        WebSearch(timeout_s=0)
