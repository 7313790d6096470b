"""Eurostat's catalogue (table of contents): every dataset, its navigation themes and when it last changed.

The API serves it at ``catalogue/toc/txt?lang=en`` (tab-separated, quoted, the navigation tree as indentation of
the title by four spaces per level) and ``catalogue/toc/xml`` (the same tree as ``nt:branch``/``nt:leaf`` elements,
multilingual, several times larger). Columns of the text form::

    "title"  "code"  "type"  "last update of data"  "last table structure change"  "data start"  "data end"  "values"

``type`` is ``folder``, ``dataset`` or ``table``; dates are ``DD.MM.YYYY`` (a day, Brussels time); ``values`` is the
number of observations (empty in older files). A dataset appears once per folder that lists it: the entries are
merged into one, with every folder as a theme. See tests/fixtures/eurostat/catalogue_toc_txt_en_excerpt.txt.

Which datasets have a NUTS ``geo`` dimension? The catalogue does not say. Two stages keep that cheap:

1. ``regional_candidate`` (free, from the catalogue alone): the dataset sits under Eurostat's "Regional statistics
   by NUTS classification" theme (``reg``), or its title names NUTS or regions, or its code follows Eurostat's
   regional naming (``demo_r_...``, ``nama_10r_...``, ``..._r``).
2. ``geo_levels`` (exact, one content-constraint request per candidate): the NUTS levels its ``geo`` codes hold.
   The answer is kept in the warehouse (``eurostat.catalogue``) and asked again only when the catalogue's dates of
   that dataset move, so it costs requests once, not daily.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from datetime import date

from multilevel.errors import ParseError

TOC_TXT_PATH = "catalogue/toc/txt"
TOC_XML_PATH = "catalogue/toc/xml"
NAVTREE = "{urn:eu.europa.ec.eurostat.navtree}"
TXT_COLUMNS = ["title", "code", "type", "last update of data", "last table structure change", "data start",
               "data end", "values"]
LEAF_TYPES = ("dataset", "table")
REGIONAL_THEME = "reg"  # "Regional statistics by NUTS classification"
INDENT = 4

# Country prefixes of NUTS and statistical-region codes (EU, EFTA, candidates; Eurostat writes EL and UK).
COUNTRIES = frozenset(
    "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK "
    "IS LI NO CH UK AL ME MK RS TR BA XK".split()
)
_REGION_CODE = re.compile(r"^([A-Z]{2})([0-9A-Z]{0,3})$")
_REGIONAL_TITLE = re.compile(r"\bNUTS\b|\bregions?\b|\bregional\b", re.IGNORECASE)
_REGIONAL_CODE = re.compile(r"(^|_)(r|\d+r)_|_r\d?$|^reg_|^tgs00")


@dataclass
class CatalogueEntry:
    """One dataset (or table) of the catalogue."""

    code: str  # lower case, as the API and datasets.yaml spell it
    title: str
    type: str  # dataset | table
    update_data: str | None  # ISO date of the last update of data
    update_structure: str | None  # ISO date of the last table structure change
    data_start: str | None = None
    data_end: str | None = None
    values: int | None = None  # observations, when the catalogue says
    themes: list[str] = field(default_factory=list)  # codes of every folder above it, outermost first

    def to_dict(self) -> dict:
        return asdict(self)


def _iso(day: str | None) -> str | None:
    """``DD.MM.YYYY`` (or ISO) -> ``YYYY-MM-DD``; blank -> None."""
    day = (day or "").strip()
    if not day:
        return None
    match = re.fullmatch(r"(\d{2})\.(\d{2})\.(\d{4})", day)
    try:
        if match:
            return date(int(match[3]), int(match[2]), int(match[1])).isoformat()
        return date.fromisoformat(day[:10]).isoformat()
    except ValueError:
        raise ParseError(f"catalogue date {day!r} is neither DD.MM.YYYY nor YYYY-MM-DD") from None


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def _add(entries: dict[str, CatalogueEntry], entry: CatalogueEntry, themes: list[str]) -> None:
    """Merge a leaf into ``entries``: a dataset listed under several folders keeps every folder as a theme."""
    known = entries.get(entry.code)
    if known is None:
        entry.themes = list(themes)
        entries[entry.code] = entry
        return
    known.themes.extend(t for t in themes if t not in known.themes)


def parse_toc_txt(text: str | bytes) -> list[CatalogueEntry]:
    """Every dataset and table of the text catalogue (``catalogue/toc/txt``), in catalogue order."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    rows = csv.reader(io.StringIO(text), delimiter="\t", quotechar='"')
    header = next(rows, None)
    if not header or [h.strip().lower() for h in header[:7]] != TXT_COLUMNS[:7]:
        raise ParseError(
            f"not Eurostat's text catalogue: the header is {header[:8] if header else header!r}, expected "
            f"{TXT_COLUMNS}; is the URL .../{TOC_TXT_PATH}?lang=en?"
        )
    entries: dict[str, CatalogueEntry] = {}
    stack: list[tuple[int, str]] = []  # (depth, folder code)
    for line, row in enumerate(rows, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) < 3:
            raise ParseError(f"catalogue line {line} has {len(row)} columns, expected {len(TXT_COLUMNS)}: {row!r}")
        raw_title, code, kind = row[0], row[1].strip().lower(), row[2].strip().lower()
        depth = (len(raw_title) - len(raw_title.lstrip(" "))) // INDENT
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if kind == "folder":
            stack.append((depth, code))
            continue
        if kind not in LEAF_TYPES:
            continue  # a leaf type this version does not know: skip it rather than guess
        cells = row + [""] * (len(TXT_COLUMNS) - len(row))
        entry = CatalogueEntry(code, raw_title.strip(), kind, _iso(cells[3]), _iso(cells[4]),
                               cells[5].strip() or None, cells[6].strip() or None, _int(cells[7]))
        _add(entries, entry, [c for _, c in stack])
    if not entries:
        raise ParseError("the catalogue lists no dataset; is the answer complete?")
    return list(entries.values())


def parse_toc_xml(body: str | bytes, lang: str = "en") -> list[CatalogueEntry]:
    """Every dataset and table of the XML catalogue (``catalogue/toc/xml``), titles in ``lang``."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise ParseError(f"the XML catalogue is not well-formed XML ({e})") from e
    entries: dict[str, CatalogueEntry] = {}

    def text(node: ET.Element, tag: str) -> str | None:
        child = node.find(f"{NAVTREE}{tag}")
        return child.text.strip() if child is not None and child.text else None

    def title(node: ET.Element) -> str:
        for child in node.findall(f"{NAVTREE}title"):
            if child.get("language") == lang:
                return (child.text or "").strip()
        return text(node, "title") or ""

    def walk(node: ET.Element, themes: list[str]) -> None:
        for child in node:
            if child.tag == f"{NAVTREE}branch":
                inner = themes + [(text(child, "code") or "").lower()]
                for children in child.findall(f"{NAVTREE}children"):
                    walk(children, inner)
            elif child.tag == f"{NAVTREE}leaf" and child.get("type") in LEAF_TYPES:
                entry = CatalogueEntry(
                    (text(child, "code") or "").lower(), title(child), child.get("type"),
                    _iso(text(child, "lastUpdate")), _iso(text(child, "lastModified")),
                    text(child, "dataStart"), text(child, "dataEnd"), _int(text(child, "values")),
                )
                _add(entries, entry, themes)

    if root.tag != f"{NAVTREE}tree":
        raise ParseError(f"not Eurostat's XML catalogue: root element {root.tag!r}, expected nt:tree")
    walk(root, [])
    if not entries:
        raise ParseError("the XML catalogue lists no dataset; is the answer complete?")
    return list(entries.values())


def regional_candidate(entry: CatalogueEntry) -> bool:
    """Could this dataset have a NUTS geo dimension? Free to answer (catalogue only); confirmed by geo_levels."""
    return (
        REGIONAL_THEME in entry.themes
        or bool(_REGIONAL_TITLE.search(entry.title))
        or bool(_REGIONAL_CODE.search(entry.code))
    )


def nuts_level(code: str) -> int | None:
    """0 (country) to 3 for a NUTS or statistical-region code; None for aggregates (EU27_2020, EA20, EFTA...)."""
    match = _REGION_CODE.match(code)
    if not match or match[1] not in COUNTRIES:
        return None
    return len(match[2])


def geo_levels(present: dict[str, list[str]]) -> list[int]:
    """NUTS levels of the geo codes a content constraint lists (``[]`` when there is no geo dimension)."""
    return sorted({level for code in present.get("geo", []) if (level := nuts_level(code)) is not None})


def is_regional(levels: list[int]) -> bool:
    """Regional data: at least one level below the country (NUTS 1, 2 or 3)."""
    return any(level >= 1 for level in levels)
