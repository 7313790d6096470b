"""Time and memory of building the regional context, by number of respondents.

    python bench/context_bench.py [--respondents 3000 50000]

Loads the stand-in Eurostat data of the tests and the synthetic ESS9 file into a fresh DuckDB warehouse, then
multiplies the respondents (same regions, new idno) to each size and times, in a child process each:

* build: multilevel.context.build_context (read Eurostat + reference tables, resolve every region, write the region
  table and the views);
* query: SELECT * FROM analytics.ess_regional_context (the respondent view: ess.respondents x region table);
* export: round_frame + Parquet (one row per respondent with its context).

Peak memory is the child's maximum resident set size (getrusage), which includes the Python interpreter (~100 MB).
The build works per region, not per respondent, so its time should hardly grow with respondents.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "analytics"))


def prepare(folder: Path) -> str:
    import standin_eurostat

    from multilevel import paths
    from multilevel.ess.load import load_ess
    from multilevel.settings import Settings
    from multilevel.warehouse import connect

    url = f"duckdb:///{folder / 'w.duckdb'}"
    with connect(url) as wh:
        standin_eurostat.create(wh, folder / "es")
    load_ess(str(paths.DATA_DIR / "ess9_synthetic.dta"),
             Settings(_env_file=None, stage_url=str(folder / "stage"), warehouse_url=url))
    return url


def grow(url: str, respondents: int) -> int:
    """Copies of the loaded respondents with new ids (idno + k * 1,000,000) until there are at least
    ``respondents``; returns the count (a multiple of the file's 3,000)."""
    from multilevel.warehouse import connect

    with connect(url) as wh:
        cols = wh.columns_of("ess", "respondents")
        copy = 1
        while wh.query("SELECT COUNT(*) FROM ess.respondents")[0][0] < respondents:
            select = ", ".join(f"idno + {copy * 1_000_000}" if c == "idno" else c for c in cols)
            wh.execute(f"INSERT INTO ess.respondents ({', '.join(cols)}) SELECT {select} FROM ess.respondents "
                       "WHERE idno < 1000000")
            copy += 1
        return wh.query("SELECT COUNT(*) FROM ess.respondents")[0][0]


def child(url: str, what: str, out: str) -> None:
    from multilevel.context import build_context
    from multilevel.context.export import round_frame, write_export
    from multilevel.warehouse import connect

    start = time.perf_counter()
    with connect(url) as wh:
        if what == "build":
            build_context(wh)
        elif what == "query":
            rows = len(wh.query_df("SELECT * FROM analytics.ess_regional_context"))
            assert rows > 0
        else:
            write_export(round_frame(wh, 9), "parquet", Path(out))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{seconds:.2f} {peak:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--respondents", type=int, nargs="+", default=[3000, 50000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="context-bench-") as tmp:
        url = prepare(Path(tmp))
        print(f"{'respondents':>11} {'step':>7} {'seconds':>8} {'peak RSS MB':>12}")
        for wanted in args.respondents:
            n = grow(url, wanted)
            for what in ("build", "query", "export"):
                done = subprocess.run(
                    [sys.executable, __file__, "--child", url, what, str(Path(tmp) / "e.parquet")],
                    capture_output=True, text=True, check=True,
                )
                seconds, peak = done.stdout.split()[-2:]
                print(f"{n:>11} {what:>7} {float(seconds):>8.2f} {float(peak):>12.0f}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
