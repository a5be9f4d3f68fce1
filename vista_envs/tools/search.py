"""The ``search`` tool: an offline knowledge base, a BM25 index over it, and an optional web backend.

The knowledge base ships in the wheel as ``vista_envs/assets/knowledge_base.jsonl``, one JSON object a
line. Every entry has ``id``, ``type`` (``"country"`` or ``"product"``), ``title`` and ``text`` (a prose
passage, what search indexes and returns), plus structured fields that task families read through
:class:`KnowledgeBase`:

- **countries** (the 193 UN member states): ``name``, ``capital``, ``continent``, and where known
  ``currency`` + ``currency_code`` (ISO 4217), ``languages`` (main languages), ``flag_colors``, and for
  flags with a simple geometry a drawable ``flag`` (:class:`FlagSpec`). ``aliases`` and
  ``capital_aliases`` are other accepted spellings. A ``*_note`` field (``capital_note``,
  ``continent_note``, ``currency_note``) marks a fact with a caveat (several capitals, a country on
  two continents, two currencies): a family that needs one unambiguous answer should skip those.
  Continents: Africa, Asia, Europe, North America (with Central America and the Caribbean),
  South America, Oceania; a country on two continents is placed by its UN geoscheme (M49) region.
- **products** (a fictional "Vista Mart" catalogue): ``sku``, ``name``, ``category``, ``price``
  (USD, two decimals, for one ``unit`` such as ``"each"`` or ``"pack of 10"``) and ``weight_g``
  (grams of one unit).

Search engines follow the :class:`SearchEngine` protocol: ``engine.search(query, k)`` returns a
:class:`SearchResult` (ranked :class:`SearchHit`\\ s, or an error) whose ``text`` is what the model reads.
Neither backend raises on bad input or a failed request: the error is in the result.

- :class:`LocalSearch`: Okapi BM25 over the knowledge base, offline and deterministic; built once per
  process by :func:`get_local_search`.
- :class:`WebSearch`: DuckDuckGo and other engines through the ``ddgs`` package (``pip install
  'vista-envs[search]'``), with a wall-clock timeout.

Example::

    >>> from vista_envs.tools.search import load_knowledge_base, search
    >>> load_knowledge_base().country("France").capital
    'Paris'
    >>> print(search("currency of Japan", k=1))  # doctest: +ELLIPSIS
    Search results for "currency of Japan" (local knowledge base):
    1. Japan [country:japan]
       Japan is a country in Asia. Its capital is Tokyo. Its currency is the Japanese yen (JPY). ...
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib
import json
import math
import re
import reprlib
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, ClassVar, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

__all__ = [
    "BM25Index",
    "CONTINENTS",
    "Country",
    "FLAG_LAYOUTS",
    "FlagSpec",
    "KNOWLEDGE_BASE_FILE",
    "KnowledgeBase",
    "LocalSearch",
    "MAX_QUERY_CHARS",
    "MAX_RESULTS",
    "Product",
    "SearchEngine",
    "SearchHit",
    "SearchResult",
    "SNIPPET_CHARS",
    "WebSearch",
    "get_local_search",
    "load_knowledge_base",
    "make_search_engine",
    "search",
    "tokenize",
]

KNOWLEDGE_BASE_FILE = "knowledge_base.jsonl"
CONTINENTS: tuple[str, ...] = ("Africa", "Asia", "Europe", "North America", "South America", "Oceania")

# Layout -> (fewest colours, most colours). Colour order per layout:
#   horizontal_stripes: top to bottom; vertical_stripes: hoist to fly (optional relative ``ratios``);
#   nordic_cross: field, cross, or field, cross border, cross; centered_cross: field, cross;
#   disc: field, disc (optional ``offset``: the disc centre as a fraction of the width, from the hoist);
#   hoist_triangle: horizontal stripes top to bottom, then the triangle at the hoist;
#   hoist_band: the vertical band at the hoist, then horizontal stripes top to bottom.
FLAG_LAYOUTS: dict[str, tuple[int, int]] = {
    "horizontal_stripes": (2, 5),
    "vertical_stripes": (2, 5),
    "nordic_cross": (2, 3),
    "centered_cross": (2, 2),
    "disc": (2, 2),
    "hoist_triangle": (3, 5),
    "hoist_band": (3, 4),
}
_STRIPED_LAYOUTS = ("horizontal_stripes", "vertical_stripes")
_HEX_COLOR = re.compile(r"#[0-9A-F]{6}")
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")

MAX_QUERY_CHARS = 1000  # longer queries are cut: nothing useful is that long, and tokenising is O(n)
MAX_RESULTS = 10
SNIPPET_CHARS = 320


# --------------------------------------------------------------------------- knowledge base entries


@dataclass(frozen=True)
class FlagSpec:
    """A flag that can be drawn from geometry alone (no emblem); see :data:`FLAG_LAYOUTS`.

    Attributes:
        layout: a key of :data:`FLAG_LAYOUTS`.
        colors: ``#RRGGBB`` colours in the layout's order (a stripe colour repeats per stripe).
        color_names: plain colour words for ``colors``, item by item ("red", "light blue").
        ratios: relative stripe sizes of a striped layout (Colombia ``(2, 1, 1)``); None = equal.
        offset: the disc centre of a ``disc`` layout as a fraction of the width; None = centred.
    """

    layout: str
    colors: tuple[str, ...]
    color_names: tuple[str, ...]
    ratios: tuple[int, ...] | None = None
    offset: float | None = None

    def __post_init__(self) -> None:
        if self.layout not in FLAG_LAYOUTS:
            raise ValueError(f"unknown flag layout {self.layout!r}; expected one of {sorted(FLAG_LAYOUTS)}")
        fewest, most = FLAG_LAYOUTS[self.layout]
        if not fewest <= len(self.colors) <= most:
            raise ValueError(f"a {self.layout} flag has {fewest} to {most} colours, got {len(self.colors)}")
        if not all(isinstance(color, str) and _HEX_COLOR.fullmatch(color) for color in self.colors):
            raise ValueError(f"flag colours must be '#RRGGBB' in upper case, got {self.colors}")
        if len(self.color_names) != len(self.colors):
            raise ValueError("a flag needs one colour name per colour")
        if self.ratios is not None and (
            self.layout not in _STRIPED_LAYOUTS
            or len(self.ratios) != len(self.colors)
            or not all(isinstance(r, int) and r > 0 for r in self.ratios)
        ):
            raise ValueError(f"ratios must be positive ints, one per stripe of a striped layout, got {self.ratios}")
        if self.offset is not None and (self.layout != "disc" or not 0 < self.offset < 1):
            raise ValueError(f"offset is the disc centre of a disc layout, in (0, 1), got {self.offset}")


@dataclass(frozen=True)
class Country:
    """A UN member state. Optional facts are None (or empty) where the knowledge base does not state them."""

    type: ClassVar[str] = "country"

    id: str
    title: str
    text: str
    name: str
    capital: str
    continent: str
    aliases: tuple[str, ...] = ()
    capital_aliases: tuple[str, ...] = ()
    capital_note: str | None = None
    continent_note: str | None = None
    currency: str | None = None
    currency_code: str | None = None
    currency_note: str | None = None
    languages: tuple[str, ...] = ()
    flag_colors: tuple[str, ...] = ()
    flag: FlagSpec | None = None

    def __post_init__(self) -> None:
        if self.continent not in CONTINENTS:
            raise ValueError(f"{self.name}: unknown continent {self.continent!r}")
        if (self.currency is None) != (self.currency_code is None):
            raise ValueError(f"{self.name}: currency and currency_code go together")
        if self.currency_code is not None and not _CURRENCY_CODE.fullmatch(self.currency_code):
            raise ValueError(f"{self.name}: {self.currency_code!r} is not an ISO 4217 code")

    @property
    def names(self) -> tuple[str, ...]:
        """The country's name and its aliases: every accepted answer for "which country"."""
        return (self.name, *self.aliases)

    @property
    def capital_names(self) -> tuple[str, ...]:
        """The capital and its other spellings: every accepted answer for "which capital"."""
        return (self.capital, *self.capital_aliases)


@dataclass(frozen=True)
class Product:
    """An item of the fictional Vista Mart catalogue: ``price`` USD buys one ``unit`` weighing ``weight_g`` grams."""

    type: ClassVar[str] = "product"

    id: str
    title: str
    text: str
    sku: str
    name: str
    category: str
    price: float
    unit: str
    weight_g: int
    currency_code: str = "USD"

    def __post_init__(self) -> None:
        if not (self.price > 0 and round(self.price, 2) == self.price):
            raise ValueError(f"{self.sku}: price must be positive with at most two decimals, got {self.price}")
        if self.weight_g <= 0:
            raise ValueError(f"{self.sku}: weight_g must be positive, got {self.weight_g}")


Entry = Country | Product
EntryT = TypeVar("EntryT", Country, Product)
_ENTRY_TYPES: dict[str, type[Country] | type[Product]] = {"country": Country, "product": Product}


def _fold(text: str) -> str:
    """Lower case without diacritics: "Brasília" and "brasilia" compare equal."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _entry_from_record(record: dict[str, Any]) -> Entry:
    fields = dict(record)
    kind = fields.pop("type", None)
    if kind not in _ENTRY_TYPES:
        raise ValueError(f"unknown entry type {kind!r}; expected one of {sorted(_ENTRY_TYPES)}")
    for key, value in fields.items():
        if isinstance(value, list):
            fields[key] = tuple(value)
    if isinstance(fields.get("flag"), dict):
        flag = {key: tuple(value) if isinstance(value, list) else value for key, value in fields["flag"].items()}
        fields["flag"] = FlagSpec(**flag)
    return _ENTRY_TYPES[kind](**fields)


class KnowledgeBase:
    """The entries of the knowledge base, with the look-ups task families need.

    Entries are frozen dataclasses (:class:`Country`, :class:`Product`); use
    :func:`dataclasses.asdict` for a JSON-ready dict. Get the shipped one with
    :func:`load_knowledge_base`.
    """

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries: tuple[Entry, ...] = tuple(entries)
        self._by_id: dict[str, Entry] = {}
        for entry in self.entries:
            if entry.id in self._by_id:
                raise ValueError(f"duplicate knowledge-base id {entry.id!r}")
            self._by_id[entry.id] = entry
        self._countries_by_name = {_fold(name): c for c in self.of_type(Country) for name in c.names}
        self._products_by_sku = {_fold(p.sku): p for p in self.of_type(Product)}

    @classmethod
    def from_jsonl(cls, text: str) -> KnowledgeBase:
        """Parse JSON Lines (blank lines skipped); a bad record raises ValueError naming its line."""
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(_entry_from_record(json.loads(line)))
            except (ValueError, TypeError) as error:
                raise ValueError(f"knowledge base line {number}: {error}") from error
        return cls(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def get(self, entry_id: str) -> Entry:
        """The entry with this id (``"country:france"``, ``"product:st-3839"``)."""
        try:
            return self._by_id[entry_id]
        except KeyError:
            raise KeyError(f"no knowledge-base entry with id {entry_id!r}") from None

    def of_type(self, entry_type: type[EntryT]) -> tuple[EntryT, ...]:
        """Every entry of one type, in file order: ``kb.of_type(Country)``."""
        return tuple(entry for entry in self.entries if isinstance(entry, entry_type))

    def countries(self) -> tuple[Country, ...]:
        """Every country, in file order."""
        return self.of_type(Country)

    def products(self) -> tuple[Product, ...]:
        """Every product, in file order."""
        return self.of_type(Product)

    def country(self, name: str) -> Country:
        """The country called ``name`` or one of its aliases, ignoring case and accents."""
        try:
            return self._countries_by_name[_fold(name)]
        except KeyError:
            raise KeyError(f"no country called {name!r} in the knowledge base") from None

    def product(self, sku: str) -> Product:
        """The product with this SKU, ignoring case."""
        try:
            return self._products_by_sku[_fold(sku)]
        except KeyError:
            raise KeyError(f"no product with SKU {sku!r} in the knowledge base") from None

    def where(self, entry_type: type[EntryT], **fields: Any) -> tuple[EntryT, ...]:
        """Entries of ``entry_type`` whose fields equal the given values: ``kb.where(Country, continent="Asia")``."""
        return tuple(e for e in self.of_type(entry_type) if all(getattr(e, k) == v for k, v in fields.items()))


@functools.lru_cache(maxsize=1)
def load_knowledge_base() -> KnowledgeBase:
    """The knowledge base shipped with the package, read once per process."""
    source = files("vista_envs.assets").joinpath(KNOWLEDGE_BASE_FILE)
    return KnowledgeBase.from_jsonl(source.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- BM25

# Query words that say what kind of question it is rather than what it is about.
_STOPWORDS = frozenset(
    "a an and are as at be by do does for from has have how in is it its of on or the this that to "
    "what which who whose with".split()
)
# A word, or words joined by "-" or "." without spaces ("ST-3839", "12.49", "Guinea-Bissau").
_TOKEN = re.compile(r"[^\W_]+(?:[-.][^\W_]+)*")
_JOINERS = re.compile(r"[-.]")


def tokenize(text: str) -> list[str]:
    """Index terms of ``text``: lower case, accents and punctuation dropped, stop words removed.

    A hyphenated or dotted word yields itself and its parts, so "ST-3839" matches "st-3839",
    "ST 3839" and "3839", and "Guinea-Bissau" ranks above "Guinea" for "Guinea-Bissau".
    """
    terms: list[str] = []
    for match in _TOKEN.finditer(_fold(text)):
        word = match.group()
        if word not in _STOPWORDS:
            terms.append(word)
        if _JOINERS.search(word):
            terms.extend(part for part in _JOINERS.split(word) if part not in _STOPWORDS)
    return terms


class BM25Index:
    """Okapi BM25 over a fixed list of documents.

    score(d, q) = sum over distinct terms t of q of
    idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl)),
    with idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5)). The per-(term, document) weights do not
    depend on the query, so they are computed once here and a query only adds up postings.

    Args:
        documents: the texts to index; results refer to them by position.
        k1: term-frequency saturation (higher: repeated terms count for more).
        b: length normalisation, 0 (none) to 1 (full).
    """

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise ValueError(f"BM25 needs k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self.k1, self.b = k1, b
        self.size = len(documents)
        term_counts: dict[str, dict[int, int]] = {}
        lengths = np.zeros(self.size)
        for doc, text in enumerate(documents):
            terms = tokenize(text)
            lengths[doc] = len(terms)
            for term in terms:
                counts = term_counts.setdefault(term, {})
                counts[doc] = counts.get(doc, 0) + 1
        average_length = lengths.mean() if self.size and lengths.any() else 1.0
        length_norm = k1 * (1 - b + b * lengths / average_length)
        self._postings: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for term, counts in term_counts.items():
            docs = np.fromiter(counts, dtype=np.intp, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            idf = math.log(1 + (self.size - len(counts) + 0.5) / (len(counts) + 0.5))
            self._postings[term] = (docs, idf * tf * (k1 + 1) / (tf + length_norm[docs]))

    def scores(self, query: str) -> np.ndarray:
        """The BM25 score of every document for ``query`` (0 where no term matches)."""
        scores = np.zeros(self.size)
        for term in dict.fromkeys(tokenize(query)):  # distinct terms, in query order
            posting = self._postings.get(term)
            if posting is not None:
                docs, weights = posting
                scores[docs] += weights
        return scores

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """Up to ``k`` (document position, score) pairs with a positive score, best first; ties by position."""
        scores = self.scores(query)
        matched = np.flatnonzero(scores > 0)
        ranked = matched[np.lexsort((matched, -scores[matched]))][:k]
        return [(int(doc), float(scores[doc])) for doc in ranked]


# --------------------------------------------------------------------------- search results and engines


@dataclass(frozen=True)
class SearchHit:
    """One ranked result: ``id`` is a knowledge-base id (local) or a URL (web); ``score`` is None for web hits."""

    id: str
    title: str
    snippet: str
    score: float | None = None


@dataclass(frozen=True)
class SearchResult:
    """What a search returned: hits, or an ``error`` explaining why there are none."""

    query: str
    source: str
    hits: tuple[SearchHit, ...] = ()
    error: str | None = None

    @property
    def text(self) -> str:
        """The result as the model reads it."""
        if self.error is not None:
            return f"Search error: {self.error}"
        if not self.hits:
            return f'No results for "{self.query}" in the {self.source}. Try other keywords.'
        lines = [f'Search results for "{self.query}" ({self.source}):']
        for rank, hit in enumerate(self.hits, start=1):
            lines.append(f"{rank}. {hit.title} [{hit.id}]")
            lines.append(f"   {hit.snippet}")
        return "\n".join(lines)


@runtime_checkable
class SearchEngine(Protocol):
    """A search backend. ``search`` never raises: bad input or a failed request gives ``result.error``."""

    source: str

    def search(self, query: str, k: int = 3) -> SearchResult:
        """The ``k`` best hits for ``query``."""
        ...


def _request_problem(query: object, k: object) -> str | None:
    """Why (query, k) cannot be searched, or None."""
    if not isinstance(query, str):
        return f"the query must be a string, got {type(query).__name__}"
    if not query.strip():
        return "the query is empty; give some keywords to search for"
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        return f"k must be a positive integer, got {reprlib.repr(k)}"
    return None


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _echo(query: object) -> str:
    """The query as quoted back in a result: whitespace collapsed, cut to 200 characters."""
    return _shorten(query[:MAX_QUERY_CHARS], 200) if isinstance(query, str) else f"<{type(query).__name__}>"


# A sentence ends at ". " unless the dot belongs to "St." or "D.C." (as in "St. John's").
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\bSt\.)(?<!D\.C\.)\s+")


class LocalSearch:
    """BM25 search over the knowledge base; fully offline and deterministic.

    Titles are indexed with the text, so a name in the title counts twice. A hit's snippet is its
    whole passage when that fits in :data:`SNIPPET_CHARS` characters; otherwise the first sentence
    (which names the entity) plus every later sentence that contains a query term, cut to fit.

    Args:
        knowledge_base: what to index (default: the shipped one).
        k1, b: BM25 parameters (see :class:`BM25Index`).
    """

    source = "local knowledge base"

    def __init__(self, knowledge_base: KnowledgeBase | None = None, k1: float = 1.5, b: float = 0.75) -> None:
        self.knowledge_base = knowledge_base if knowledge_base is not None else load_knowledge_base()
        entries = self.knowledge_base.entries
        self.index = BM25Index([f"{entry.title}. {entry.text}" for entry in entries], k1=k1, b=b)
        self._sentences = [
            [(sentence, frozenset(tokenize(sentence))) for sentence in _SENTENCE_END.split(entry.text)]
            for entry in entries
        ]

    def search(self, query: str, k: int = 3) -> SearchResult:
        """The ``k`` (at most :data:`MAX_RESULTS`) best entries for ``query``."""
        problem = _request_problem(query, k)
        if problem is not None:
            return SearchResult(_echo(query), self.source, error=problem)
        query = query[:MAX_QUERY_CHARS]
        terms = frozenset(tokenize(query))
        entries = self.knowledge_base.entries
        hits = tuple(
            SearchHit(entries[doc].id, entries[doc].title, self._snippet(doc, terms), score)
            for doc, score in self.index.top(query, min(k, MAX_RESULTS))
        )
        return SearchResult(_echo(query), self.source, hits)

    def _snippet(self, doc: int, terms: frozenset[str]) -> str:
        text = self.knowledge_base.entries[doc].text
        if len(text) <= SNIPPET_CHARS:
            return text
        sentences = self._sentences[doc]
        chosen = [sentences[0][0]] + [sentence for sentence, words in sentences[1:] if words & terms]
        return _shorten(" ".join(chosen), SNIPPET_CHARS)


@functools.lru_cache(maxsize=1)
def get_local_search() -> LocalSearch:
    """The shared local engine over the shipped knowledge base, indexed once per process."""
    return LocalSearch()


@functools.lru_cache(maxsize=1)
def _web_request_pool() -> concurrent.futures.ThreadPoolExecutor:
    # A request that outlives its timeout keeps its thread; the caller has long returned by then.
    return concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="vista-web-search")


def _web_hit(row: dict[str, Any]) -> SearchHit:
    """A ``ddgs`` text result (``href``, ``title``, ``body``) as a hit."""
    title, body = str(row.get("title", "")), str(row.get("body", ""))
    return SearchHit(str(row.get("href", "")), _shorten(title, 120), _shorten(body, SNIPPET_CHARS))


class WebSearch:
    """Web search through the optional ``ddgs`` package (``pip install 'vista-envs[search]'``).

    Missing package, no network, rate limits and slow answers all come back as ``result.error``
    after at most about ``timeout_s`` seconds; nothing is raised.

    Args:
        timeout_s: wall-clock limit of one search, in seconds.
        backend: the ``ddgs`` backend(s), e.g. ``"auto"`` or ``"duckduckgo"``.
    """

    source = "web"
    install_hint = "pip install 'vista-envs[search]'"

    def __init__(self, timeout_s: float = 10.0, backend: str = "auto") -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self.backend = backend

    def search(self, query: str, k: int = 3) -> SearchResult:
        """The ``k`` (at most :data:`MAX_RESULTS`) best web pages for ``query``."""
        problem = _request_problem(query, k)
        query = _echo(query)  # web engines take short queries; this is also what is sent
        if problem is not None:
            return SearchResult(query, self.source, error=problem)
        try:
            ddgs = importlib.import_module("ddgs")
        except ImportError as error:
            hint = f"install it with {self.install_hint}, or use the offline local backend"
            return SearchResult(query, self.source, error=f"web search needs the optional 'ddgs' package ({error}); {hint}")
        request = _web_request_pool().submit(self._fetch, ddgs, query, min(k, MAX_RESULTS))
        try:
            rows = request.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            reason = f"timed out after {self.timeout_s:g} s"
            return SearchResult(query, self.source, error=f"web search {reason}; the machine may be offline")
        except Exception as error:  # ddgs raises its own, network and parsing errors: all mean "no results"
            reason = f"{type(error).__name__}: {_shorten(str(error), 200)}"
            return SearchResult(query, self.source, error=f"web search failed ({reason}); the machine may be offline")
        hits = tuple(_web_hit(row) for row in rows if isinstance(row, dict))
        return SearchResult(query, self.source, hits)

    def _fetch(self, ddgs: Any, query: str, k: int) -> list[Any]:
        client = ddgs.DDGS(timeout=max(1, math.ceil(self.timeout_s)))
        return list(client.text(query, max_results=k, backend=self.backend))


def make_search_engine(backend: Literal["local", "web"] = "local", **kwargs: Any) -> SearchEngine:
    """A search engine by name: ``"local"`` (the shared BM25 index) or ``"web"`` (``WebSearch(**kwargs)``)."""
    if backend == "local":
        if kwargs:
            raise TypeError(f"the local backend takes no options, got {sorted(kwargs)}")
        return get_local_search()
    if backend == "web":
        return WebSearch(**kwargs)
    raise ValueError(f"unknown search backend {backend!r}; expected 'local' or 'web'")


def search(query: str, k: int = 3, backend: Literal["local", "web"] = "local") -> str:
    """Search and return the text the model reads (errors included, never raised)."""
    return make_search_engine(backend).search(query, k).text
