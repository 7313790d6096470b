"""Build the NUTS reference CSVs in data/reference/ from Eurostat's material vendored in vendor/nuts/.

Outputs (all sorted, UTF-8, deterministic; a test regenerates them and compares):

- ``nuts_codes.csv``          nuts_version, code, country, level, name, kind   (NUTS 2013, 2016, 2021, 2024)
- ``nuts_changes.csv``        from_version, to_version, from_code, to_code, level, change, comment
- ``nuts_version_years.csv``  nuts_version, first_year, last_year: the version Eurostat uses for a reference year
- ``ess_region_crosswalk.csv`` source_version, source_code, source_level, target_version, target_code, relation, note

The crosswalk says, for every NUTS 2016 code (the version ESS Round 9 uses), what the same territory is called in
each other version. ``relation`` is read from the region's point of view:

    same            same code, same territory
    renamed         same code and territory, new name
    recoded         new code, same territory
    merged          the target region is larger and contains the whole source region (also learnt from the JRC NUTS 3
                    pieces where Eurostat's list says only "boundary change": NO01 in NO08, IE04 in IE01, UKM7 in UKM2)
    split           the source region is spread over several target regions (one row per target)
    boundary_change the territory changed: no target region has the same territory
    not_in_version  the target version does not cover the country (e.g. non-EU countries in 2013)

Usage: python data/build_nuts_reference.py [--source vendor/nuts] [--out data/reference]
"""

from __future__ import annotations

import argparse
import csv
import re
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parent / "vendor" / "nuts"
DEFAULT_PIECES = HERE / "reference" / "nuts3_pieces.csv"  # data/build_jrc_reference.py; run it first
DEFAULT_OUT = HERE / "reference"

VERSIONS = ["2013", "2016", "2021", "2024"]
SOURCE_VERSION = "2016"
# Eurostat publishes each reference year in the NUTS version in force for it (vendor/nuts/MANIFEST.md).
VERSION_YEARS = [("2013", 2015, 2017), ("2016", 2018, 2020), ("2021", 2021, 2023), ("2024", 2024, 9999)]

# Relations ordered from harmless to useless; composing two steps keeps the worse one.
SEVERITY = ["same", "renamed", "recoded", "merged", "split", "boundary_change", "not_in_version"]
NUTS_CODE = re.compile(r"^[A-Z]{2}[0-9A-Z]{0,3}$")
CODE_IN_TEXT = re.compile(r"\b([A-Z]{2}) ?([0-9][0-9A-Z]{0,2})\b")


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def codes_in(text: str, known: set[str]) -> list[str]:
    """NUTS codes mentioned in a change comment that exist in ``known`` (e.g. 'FR 21, FR 41 and FR42')."""
    found = []
    for country, rest in CODE_IN_TEXT.findall(text):
        code = country + rest
        if code in known and code not in found:
            found.append(code)
    return found


def classify(text: str, source: str, target: str) -> str:
    """Relation for a change row that names both codes, from its Eurostat wording."""
    t = text.lower()
    if "split" in t:
        return "split"
    if "boundary" in t or "5(2a)" in t:
        return "boundary_change"
    if "merge" in t:
        return "merged"
    if source != target:
        return "recoded"
    if "renam" in t or "relabel" in t or "name" in t:
        return "renamed"
    return "same"


class Nomenclature:
    """Codes per version and change rows per pair of consecutive versions."""

    def __init__(self, codes: list[dict], changes: list[dict]):
        self.codes: dict[str, set[str]] = defaultdict(set)
        self.countries: dict[str, set[str]] = defaultdict(set)
        self.level: dict[tuple[str, str], int] = {}
        for row in codes:
            self.codes[row["nuts_version"]].add(row["code"])
            self.countries[row["nuts_version"]].add(row["country"])
            self.level[(row["nuts_version"], row["code"])] = int(row["level"])
        self.changes: dict[tuple[str, str], list[dict]] = defaultdict(list)
        for row in changes:
            self.changes[(row["from_version"], row["to_version"])].append(row)

    def has(self, version: str, code: str) -> bool:
        # Country codes (level 0) are missing for EU members in the 2024 list but are still valid geo codes.
        if len(code) == 2:
            return code in self.countries[version]
        return code in self.codes[version]

    def forward(self, v1: str, v2: str, code: str) -> list[tuple[str, str, str]]:
        """(target, relation, note) for a ``v1`` code in the next version ``v2``."""
        rows = self.changes[(v1, v2)]
        mine = [r for r in rows if r["from_code"] == code]
        if not mine:
            if self.has(v2, code):
                return [(code, "same", "")]
            if code[:2] not in self.countries[v2]:
                return [("", "not_in_version", f"NUTS {v2} does not cover {code[:2]}")]
            return [("", "boundary_change", f"{code} not in NUTS {v2} and no change recorded")]
        with_target = [r for r in mine if r["to_code"]]
        if with_target:
            note = "; ".join(sorted({f"{r['change']} {r['comment']}".strip() for r in with_target}))
            if len(with_target) > 1:
                return [(r["to_code"], "split", note) for r in with_target]
            r = with_target[0]
            return [(r["to_code"], classify(f"{r['change']} {r['comment']}", code, r["to_code"]), note)]
        # Discontinued: find the new regions whose description mentions this code.
        text = " ".join(f"{r['change']} {r['comment']}" for r in mine)
        if "split into" in text:
            targets = codes_in(text.split("split into", 1)[1], self.codes[v2])
            if targets:
                return [(t, "split", text.strip()) for t in targets]
        successors = [
            (r["to_code"], f"{r['change']} {r['comment']}")
            for r in rows
            if not r["from_code"] and r["to_code"] and code in codes_in(f"{r['change']} {r['comment']}", {code})
        ]
        if len(successors) == 1:
            target, described = successors[0]
            # "made from parts of ex-..." takes only a part of this region: not the same territory, not a container.
            relation = "boundary_change" if "part" in described.lower() else "merged"
            return [(target, relation, f"{text.strip()}; {target}: {described.strip()}")]
        if len(successors) > 1:
            return [(t, "split", text.strip()) for t, _ in successors]
        return [("", "boundary_change", text.strip() or "discontinued")]

    def backward(self, v1: str, v2: str, code: str) -> list[tuple[str, str, str]]:
        """(target, relation, note) for a ``v2`` code in the previous version ``v1``."""
        mine = [r for r in self.changes[(v1, v2)] if r["to_code"] == code]
        if not mine:
            if self.has(v1, code):
                return [(code, "same", "")]
            if code[:2] not in self.countries[v1]:
                return [("", "not_in_version", f"NUTS {v1} does not cover {code[:2]}")]
            return [("", "boundary_change", f"{code} not in NUTS {v1} and no change recorded")]
        r = mine[0]
        text = f"{r['change']} {r['comment']}".strip()
        if r["from_code"]:
            return [(r["from_code"], classify(text, code, r["from_code"]), text)]
        # A new region: its description says what it was made of.
        before_minus = text.split(" minus ", 1)[0]
        olds = codes_in(before_minus, self.codes[v1])
        if not olds:
            return [("", "boundary_change", text)]
        if " minus " in text and len(olds) == 1:
            return [(olds[0], "merged", text)]  # the old region contained this one and more
        if len(olds) == 1 and ("equal" in text or "identical" in text):
            return [(olds[0], "recoded", text)]
        if len(olds) == 1:
            return [(olds[0], "boundary_change", text)]
        return [(old, "split", text) for old in olds]


def compose(first: list[tuple[str, str, str]], step) -> list[tuple[str, str, str]]:
    """Follow a second step from every target of the first; the worse relation wins."""
    out = []
    for target, relation, note in first:
        if not target or relation in ("split", "boundary_change", "not_in_version"):
            out.append((target, relation, note))
            continue
        for target2, relation2, note2 in step(target):
            worse = max(relation, relation2, key=SEVERITY.index)
            out.append((target2, worse, "; ".join(n for n in (note, note2) if n)))
    return out


class Containment:
    """What Eurostat's change lists call a boundary change with no target is often containment: NO01 (2016) lies wholly
    in NO08 (2021). The JRC converter's NUTS 3 pieces (data/reference/nuts3_pieces.csv, built by
    data/build_jrc_reference.py) say which region of the target version holds (>= 99.5 % of the population of) the
    source region. A shift too small to tell apart at that tolerance stays a boundary change."""

    def __init__(self, codes: list[dict], pieces: Path):
        import pandas as pd

        from multilevel.context.territory import Territory

        frame = pd.DataFrame(codes)[["nuts_version", "code", "level"]].astype({"level": int})
        self.t = Territory(frame, pd.read_csv(pieces, dtype={"from_version": str, "to_version": str}))

    def refine(self, code: str, version: str, found: tuple[str, str, str]) -> tuple[str, str, str]:
        containers = [c for c in self.t.neighbours(SOURCE_VERSION, code, version)
                      if self.t.contains(SOURCE_VERSION, code, version, c)]
        if not containers:
            return found
        best = max(containers, key=len)  # the smallest region holding it
        if self.t.same_region(SOURCE_VERSION, code, version, best):
            return found  # a shift below the tolerance: keep Eurostat's "boundary change"
        return best, "merged", "; ".join(n for n in (found[2], f"JRC NUTS 3 pieces: {code} lies in {best}") if n)


def build(source: Path, out: Path, pieces: Path = DEFAULT_PIECES) -> dict[str, int]:
    """Write the four CSVs; returns their row counts."""
    codes = read_csv(source / "nuts_codes.csv")
    # The workbooks carry a few section headings in code columns: keep only rows whose codes look like codes.
    changes = [
        r
        for r in read_csv(source / "nuts_changes.csv")
        if (r["from_code"] or r["to_code"]) and all(NUTS_CODE.match(c) for c in (r["from_code"], r["to_code"]) if c)
    ]
    for r in changes:
        r["level"] = r["level"] or str(len(r["from_code"] or r["to_code"]) - 2)
    nom = Nomenclature(codes, changes)

    code_rows = sorted(
        [r["nuts_version"], r["code"], r["country"], int(r["level"]), r["name"].strip(), r["kind"]] for r in codes
    )
    write_csv(out / "nuts_codes.csv", ["nuts_version", "code", "country", "level", "name", "kind"], code_rows)

    change_rows = [
        [r["from_version"], r["to_version"], r["from_code"], r["to_code"], int(r["level"]), r["change"], r["comment"]]
        for r in changes
    ]
    write_csv(
        out / "nuts_changes.csv",
        ["from_version", "to_version", "from_code", "to_code", "level", "change", "comment"],
        sorted(change_rows),
    )
    write_csv(out / "nuts_version_years.csv", ["nuts_version", "first_year", "last_year"], VERSION_YEARS)

    territory = Containment(codes, pieces)
    crosswalk = []
    for code in sorted(nom.codes[SOURCE_VERSION]):
        level = nom.level[(SOURCE_VERSION, code)]
        targets = {
            "2016": [(code, "same", "")],
            "2013": nom.backward("2013", "2016", code),
            "2021": nom.forward("2016", "2021", code),
        }
        targets["2024"] = compose(targets["2021"], lambda c: nom.forward("2021", "2024", c))
        for version in VERSIONS:
            found = sorted(set(targets[version]))
            if len(found) == 1 and found[0][1] == "boundary_change":
                found = [territory.refine(code, version, found[0])]
            for target, relation, note in found:
                crosswalk.append([SOURCE_VERSION, code, level, version, target, relation, note])
    write_csv(
        out / "ess_region_crosswalk.csv",
        ["source_version", "source_code", "source_level", "target_version", "target_code", "relation", "note"],
        crosswalk,
    )
    return {
        "nuts_codes": len(code_rows),
        "nuts_changes": len(change_rows),
        "nuts_version_years": len(VERSION_YEARS),
        "ess_region_crosswalk": len(crosswalk),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder with the NUTS CSVs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    counts = build(args.source, args.out)
    for name, n in counts.items():
        print(f"{name}: {n} rows")


if __name__ == "__main__":
    main()
