"""Build data/reference/nuts3_pieces.csv from the JRC NUTS converter matrices vendored in data/reference/jrc_converter/.

The JRC NUTS converter (release 2025.08) gives, for a pair of NUTS versions, every piece of territory shared by a
NUTS 3 region of the older version and one of the newer, with its area and population 2011/2021. The project needs
only NUTS 3 (higher levels are unions of NUTS 3 regions) and only the pairs among the versions ESS rounds code their
regions in (2013, 2016, 2021) and the versions Eurostat publishes in (2013, 2016, 2021, 2024): the six files of
``PAIRS``. ``nuts3_pieces.csv`` is one table of them, loaded into reference.nuts3_pieces:

    from_version, to_version, from_code, to_code, area_km2, pop11, pop21   (numbers copied verbatim)

Usage:
    python data/build_jrc_reference.py                       # rebuild nuts3_pieces.csv from the vendored files
    python data/build_jrc_reference.py --refresh DIR   # re-vendor the six files from a JRC release folder

Source and licence: data/reference/jrc_converter/MANIFEST.md (Joint Research Centre NUTS converter, via the
MIT-licensed rOpenSci `nuts` package; cite both).
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENDORED = HERE / "reference" / "jrc_converter"
OUT = HERE / "reference" / "nuts3_pieces.csv"
PAIRS = [("2013", "2016"), ("2013", "2021"), ("2013", "2024"), ("2016", "2021"), ("2016", "2024"), ("2021", "2024")]
HEADER = ["from_version", "to_version", "from_code", "to_code", "area_km2", "pop11", "pop21"]


def file_name(old: str, new: str) -> str:
    return f"n3_cm_v{old}_v{new}.csv"


def refresh(shared: Path, vendored: Path = VENDORED) -> None:
    """Copy the needed matrices verbatim from a JRC NUTS converter release folder (see MANIFEST.md)."""
    vendored.mkdir(parents=True, exist_ok=True)
    for old, new in PAIRS:
        shutil.copyfile(shared / file_name(old, new), vendored / file_name(old, new))


def build(vendored: Path = VENDORED, out: Path = OUT) -> int:
    """Write ``out`` from the vendored matrices; returns its row count."""
    rows = []
    for old, new in PAIRS:
        with open(vendored / file_name(old, new), newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows.append([old, new, r[f"code_v{old}"], r[f"code_v{new}"], r["areaKm"], r["pop11"], r["pop21"]])
    rows.sort()
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--refresh", type=Path, help="JRC folder to re-vendor the matrices from first")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.refresh:
        refresh(args.refresh)
    print(f"nuts3_pieces: {build(VENDORED, args.out)} rows")


if __name__ == "__main__":
    main()
