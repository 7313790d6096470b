"""Which territory a NUTS code covers, in which versions, and how regions of two versions overlap.

Everything is derived from two reference tables: ``reference.nuts_codes`` (which versions a code is valid in) and
``reference.nuts3_pieces`` (the JRC converter: population of every piece shared by two NUTS 3 regions of two
versions). A region of any level is the union of the NUTS 3 regions whose code starts with its code, so its overlap
with a region of another version is the sum of the pieces between their NUTS 3 regions. From these overlaps:

- two codes are *one region* when each holds at least ``same_territory`` of the other's population (NO02 of 2016 and
  NO020 of 2024 are not: 15,905 people of Jevnaker and Lunner moved to Akershus);
- a region *contains* another when it holds ``same_territory`` of the other's population (NO01 of 2016 lies in NO08
  of 2021), which the crosswalk of Eurostat's change lists does not say;
- a NUTS 3 region j of version W gives a share pop(j ∩ r) / pop(j) of its counts to region r of version V (the JRC
  interpolation), and the pieces of r whose j has data cover a share of r's population.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import pandas as pd

VERSIONS = ("2013", "2016", "2021", "2024")
LABEL_VERSION = re.compile(r"\((?:NUTS|statistical regions?)\s+(\d{4})\)", re.IGNORECASE)
# ESS writes the United Kingdom and Greece with their ISO codes; NUTS with UK and EL.
ISO_TO_NUTS = {"GB": "UK", "GR": "EL"}


def nuts_code(code: str) -> str:
    return ISO_TO_NUTS.get(code[:2], code[:2]) + code[2:]


def version_in_label(label: str | None) -> str | None:
    """The NUTS version a Eurostat label names, e.g. 'Oslo og Akershus (NUTS 2016)' -> '2016'."""
    m = LABEL_VERSION.search(label or "")
    return m.group(1) if m else None


@dataclass(frozen=True)
class Piece:
    """Overlap of a region with one NUTS 3 region ``j`` of another version: shared weight and j's whole weight."""

    j: str
    shared: float
    whole: float


class Territory:
    """NUTS codes per version and the JRC pieces between versions (both directions); results are cached, since
    every indicator of a region asks the same questions."""

    def __init__(self, codes: pd.DataFrame, pieces: pd.DataFrame, weight: str = "pop21", same: float = 0.995):
        self.same = same
        self.codes: dict[str, set[str]] = defaultdict(set)
        self.levels: dict[str, int] = {}
        for version, code, level in codes[["nuts_version", "code", "level"]].itertuples(index=False):
            self.codes[str(version)].add(code)
            self.levels[code] = int(level)
        # by_country[(V, W)][country] = [(a: NUTS 3 code of V, b: NUTS 3 code of W, weight)], for V != W
        self.by_country: dict[tuple[str, str], dict[str, list[tuple[str, str, float]]]] = {}
        self.whole: dict[tuple[str, str], dict[str, float]] = {}  # weight of each NUTS 3 region b of W in the pair
        self.nuts3: dict[str, dict[str, float]] = {}  # weight of each NUTS 3 region of a version
        weights = pieces[weight].astype(float).fillna(0.0).to_numpy()
        frame = pieces[["from_version", "to_version", "from_code", "to_code"]].astype(str)
        for (v1, v2, a, b), w in zip(frame.itertuples(index=False, name=None), weights, strict=True):
            for pair, x, y in (((v1, v2), a, b), ((v2, v1), b, a)):
                self.by_country.setdefault(pair, defaultdict(list))[x[:2]].append((x, y, float(w)))
                whole = self.whole.setdefault(pair, defaultdict(float))
                whole[y] += float(w)
        for (v, _other), countries in self.by_country.items():
            if v not in self.nuts3:
                totals: dict[str, float] = defaultdict(float)
                for rows in countries.values():
                    for a, _b, w in rows:
                        totals[a] += w
                self.nuts3[v] = dict(totals)
        self._cache: dict[tuple, object] = {}

    def _cached(self, key: tuple, compute):
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    # -- codes ---------------------------------------------------------------------------------------------------
    def valid_in(self, code: str) -> list[str]:
        """Versions whose code list holds ``code`` (countries are valid in every version)."""
        if len(code) == 2:
            return list(VERSIONS)
        return [v for v in VERSIONS if code in self.codes[v]]

    def level(self, code: str) -> int | None:
        return 0 if len(code) == 2 else self.levels.get(code)

    def nuts3_of(self, version: str, code: str) -> dict[str, float]:
        """NUTS 3 regions of ``version`` inside ``code`` (by prefix), with their weights."""
        return self._cached(
            ("nuts3", version, code),
            lambda: {j: w for j, w in self.nuts3.get(version, {}).items() if j.startswith(code)},
        )

    # -- overlaps ------------------------------------------------------------------------------------------------
    def _rows(self, version: str, code: str, other: str) -> list[tuple[str, str, float]]:
        rows = self.by_country.get((version, other), {}).get(code[:2], [])
        return self._cached(("rows", version, code, other), lambda: [r for r in rows if r[0].startswith(code)])

    def pieces_of(self, version: str, code: str, other: str) -> list[Piece]:
        """The NUTS 3 regions j of version ``other`` that overlap region ``code`` of ``version``."""
        if other == version:
            return [Piece(j, w, w) for j, w in self.nuts3_of(version, code).items()]

        def compute():
            shared: dict[str, float] = defaultdict(float)
            for _a, b, w in self._rows(version, code, other):
                shared[b] += w
            whole = self.whole[(version, other)]
            return [Piece(j, shared[j], whole[j]) for j in sorted(shared)]

        return self._cached(("pieces", version, code, other), compute)

    def overlap(self, version: str, code: str, other: str, other_code: str) -> tuple[float, float, float]:
        """(shared weight, weight of the first region, weight of the second) of two regions of two versions."""
        if version == other:
            mine, theirs = self.nuts3_of(version, code), self.nuts3_of(version, other_code)
            return sum(w for j, w in mine.items() if j in theirs), sum(mine.values()), sum(theirs.values())
        mine = self._rows(version, code, other)
        theirs = self._rows(other, other_code, version)
        return (
            sum(w for _a, b, w in mine if b.startswith(other_code)),
            sum(w for _a, _b, w in mine),
            sum(w for _a, _b, w in theirs),
        )

    def same_region(self, version: str, code: str, other: str, other_code: str) -> bool:
        if len(code) == 2 or len(other_code) == 2:
            return code == other_code

        def compute():
            shared, first, second = self.overlap(version, code, other, other_code)
            return first > 0 and second > 0 and shared >= self.same * first and shared >= self.same * second

        return self._cached(("same", version, code, other, other_code), compute)

    def contains(self, version: str, code: str, other: str, other_code: str) -> bool:
        """Whether region ``other_code`` of ``other`` holds (almost) all of region ``code`` of ``version``."""
        if len(other_code) == 2:
            return code[:2] == other_code

        def compute():
            shared, first, _ = self.overlap(version, code, other, other_code)
            return first > 0 and shared >= self.same * first

        return self._cached(("contains", version, code, other, other_code), compute)

    def neighbours(self, version: str, code: str, other: str) -> list[str]:
        """Codes of every level of ``other`` that overlap region ``code`` of ``version`` (candidates for relations)."""

        def compute():
            out = set()
            for piece in self.pieces_of(version, code, other):
                for n in range(3, len(piece.j) + 1):
                    if piece.j[:n] in self.codes[other]:
                        out.add(piece.j[:n])
            return sorted(out)

        return self._cached(("neighbours", version, code, other), compute)

    # -- the versions a published geo code stands for --------------------------------------------------------------
    def versions_of(self, code: str, label: str | None = None) -> set[str]:
        """The NUTS versions a Eurostat ``geo`` code stands for, from the code itself, not the year.

        A code valid in several versions with the same territory is one region (all those versions). A code whose
        territory differs between versions is read in the version its label names ('... (NUTS 2016)'), or else in
        the newest version it is valid in, as Eurostat labels codes of older versions and not current ones.
        """
        valid = self.valid_in(code)
        if len(code) == 2 or len(valid) <= 1:
            return set(valid)
        classes: list[list[str]] = []
        for v in valid:
            for cls in classes:
                if self.same_region(cls[0], code, v, code):
                    cls.append(v)
                    break
            else:
                classes.append([v])
        if len(classes) == 1:
            return set(valid)
        named = version_in_label(label)
        for cls in classes:
            if named in cls:
                return set(cls)
        return set(max(classes, key=lambda cls: max(cls)))
