"""The offline knowledge base: the facts that task families ask about and that the ``search`` tool indexes.

It ships in the wheel as ``vista_envs/assets/knowledge_base.jsonl``, one JSON object a line. Every entry
has ``id``, ``type`` (``"country"`` or ``"product"``), ``title`` and ``text`` (a prose passage, what search
indexes and returns), plus structured fields that task families read through :class:`KnowledgeBase`:

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

It lives apart from :mod:`vista_envs.tools.search` because both the tasks (which draw flags and prices
from it) and the tools (which search it) read it: neither package has to import the other.

Example::

    >>> from vista_envs.knowledge_base import load_knowledge_base
    >>> load_knowledge_base().country("France").capital
    'Paris'
"""

from __future__ import annotations

import functools
import json
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, ClassVar, TypeVar

__all__ = [
    "CONTINENTS",
    "Country",
    "FLAG_LAYOUTS",
    "FlagSpec",
    "KNOWLEDGE_BASE_FILE",
    "KnowledgeBase",
    "Product",
    "fold",
    "load_knowledge_base",
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


def fold(text: str) -> str:
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
        self._countries_by_name = {fold(name): c for c in self.of_type(Country) for name in c.names}
        self._products_by_sku = {fold(p.sku): p for p in self.of_type(Product)}

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
            return self._countries_by_name[fold(name)]
        except KeyError:
            raise KeyError(f"no country called {name!r} in the knowledge base") from None

    def product(self, sku: str) -> Product:
        """The product with this SKU, ignoring case."""
        try:
            return self._products_by_sku[fold(sku)]
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
