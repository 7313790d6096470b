"""JSON-stat parse speed and memory: multilevel's vectorised parser side by side with pyjstat.

    python bench/parse_bench.py [--repeat 3]

Bodies come from the local API stand-in at full size (the same JSON-stat the harvest downloads): one slice of each
seed dataset (one age group, one indicator), the whole demo_r_pjanind3 cube in one body (what a harvest without
slicing would have to parse), and the real Eurostat sample shipped with the tests. pyjstat builds a row for every
cell of the cube and is much slower, so it runs on the slices and the sample only. Peak memory is tracemalloc's
peak of Python allocations during the parse (numpy and pandas report theirs to it).
"""

from __future__ import annotations

import argparse
import json
import time
import tracemalloc
from pathlib import Path

import requests
from pyjstat import pyjstat

from multilevel.eurostat.jsonstat import parse_jsonstat
from multilevel.standin import StandIn

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "eurostat"
SAMPLE = FIXTURES / "statsapi_jsonstat_hlth_ehis_hc8_full.json"


def measure(func, body, repeat):
    """Best wall time of ``repeat`` untraced runs, then one traced run for the allocation peak."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        rows = func(body)
        best = min(best, time.perf_counter() - started)
    tracemalloc.start()
    func(body)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak, rows


def ours(body: bytes) -> int:
    """Rows out: cells with a value or a status."""
    return len(parse_jsonstat(body).frame)


def reference(body: bytes) -> int:
    """Rows out: pyjstat makes one per cell of the cube, with or without a value."""
    return len(pyjstat.Dataset.read(body.decode()).write("dataframe", naming="id"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with StandIn(size="full", max_cells=10**8) as api:
        def get(query: str) -> bytes:
            return requests.get(f"{api.url}/statistics/1.0/data/{query}", timeout=120).content

        bodies = {
            "demo_r_pjangrp3 age=Y_LT5 (1 slice)": get("demo_r_pjangrp3?format=JSON&lang=EN&age=Y_LT5"),
            "demo_r_pjanind3 indic_de=MEDAGEPOP (1 slice)": get(
                "demo_r_pjanind3?format=JSON&lang=EN&indic_de=MEDAGEPOP"
            ),
            "demo_r_pjanind3 whole cube (1 body)": get("demo_r_pjanind3?format=JSON&lang=EN"),
            "hlth_ehis_hc8 real sample": SAMPLE.read_bytes(),
        }
    head = f"{'body':46} {'cells':>9} {'MB':>6} | {'parser':10} {'seconds':>8} {'cells/s':>11} {'rows':>9}"
    print(f"{head} {'peak MB':>8}")
    for name, body in bodies.items():
        doc = json.loads(body)
        cells = 1
        for n in doc["size"]:
            cells *= n
        contenders = [("multilevel", ours)]
        if cells <= 300_000:
            contenders.append(("pyjstat", reference))
        for label, func in contenders:
            seconds, peak, rows = measure(func, body, args.repeat)
            print(f"{name:46} {cells:>9,} {len(body) / 1e6:>6.1f} | {label:10} {seconds:>8.3f} "
                  f"{cells / seconds:>11,.0f} {rows:>9,} {peak / 1e6:>8.1f}")


if __name__ == "__main__":
    main()
