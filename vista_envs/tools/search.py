"""The ``search`` tool: a BM25 index over the offline knowledge base, and an optional web backend.

The knowledge base itself (its entries and look-ups) is :mod:`vista_envs.knowledge_base`.

Search engines follow the :class:`SearchEngine` protocol: ``engine.search(query, k)`` returns a
:class:`SearchResult` (ranked :class:`SearchHit`\\ s, or an error) whose ``text`` is what the model reads.
Neither backend raises on bad input or a failed request: the error is in the result.

- :class:`LocalSearch`: Okapi BM25 over the knowledge base, offline and deterministic; built once per
  process by :func:`get_local_search`.
- :class:`WebSearch`: DuckDuckGo and other engines through the ``ddgs`` package (``pip install
  'vista-envs[search]'``), with a wall-clock timeout.

Example::

    >>> from vista_envs.tools.search import search
    >>> print(search("currency of Japan", k=1))  # doctest: +ELLIPSIS
    Search results for "currency of Japan" (local knowledge base):
    1. Japan [country:japan]
       Japan is a country in Asia. Its capital is Tokyo. Its currency is the Japanese yen (JPY). ...
"""

from __future__ import annotations

import concurrent.futures
import functools
import importlib
import math
import re
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from vista_envs.knowledge_base import KnowledgeBase, fold, load_knowledge_base

__all__ = [
    "BM25Index",
    "LocalSearch",
    "MAX_QUERY_CHARS",
    "MAX_RESULTS",
    "SearchEngine",
    "SearchHit",
    "SearchResult",
    "SNIPPET_CHARS",
    "WebSearch",
    "get_local_search",
    "make_search_engine",
    "search",
    "tokenize",
]

MAX_QUERY_CHARS = 1000  # longer queries are cut: nothing useful is that long, and tokenising is O(n)
MAX_RESULTS = 10
SNIPPET_CHARS = 320


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
    for match in _TOKEN.finditer(fold(text)):
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
            return SearchResult(
                query, self.source, error=f"web search needs the optional 'ddgs' package ({error}); {hint}"
            )
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
