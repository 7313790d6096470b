"""Whole-harvest time and peak memory at full size: `multilevel harvest` against the local API stand-in.

    python bench/harvest_bench.py [--concurrency 1 3]

Starts the stand-in (full-size synthetic cubes: about 1.65M + 1.33M observations) in this process, then runs the
real CLI as a child process into a fresh DuckDB warehouse once per concurrency setting, and a second time on the same
warehouse (the "unchanged" check), then once more after a revision of 50 values. Peak memory is the child's maximum
resident set size, so the stand-in's own memory is not counted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from multilevel.standin import StandIn


def run_harvest(env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one `multilevel harvest` child process."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "multilevel.cli", "--log-level", "WARNING", "harvest"], env=env,
                             stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the maximum over all children
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"harvest failed with exit code {child.returncode}")
    return time.perf_counter() - started, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    print(f"{'run':44} {'concurrency':>11} {'seconds':>8} {'peak RSS MB':>12}")
    for concurrency in args.concurrency:
        with StandIn(size="full") as api, tempfile.TemporaryDirectory() as tmp:
            api.preload()
            env = {
                **os.environ,
                "MULTILEVEL_EUROSTAT_URL": api.url,
                "MULTILEVEL_STAGE_URL": str(Path(tmp) / "stage"),
                "MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{Path(tmp) / 'warehouse.duckdb'}",
                "MULTILEVEL_MAX_CONCURRENT_DOWNLOADS": str(concurrency),
            }
            for label in ("first load, both datasets", "unchanged rerun", "after a revision of 50 values"):
                if label.startswith("after"):
                    api.revise("demo_r_pjangrp3", n=50)
                seconds, peak = run_harvest(env)
                print(f"{label:44} {concurrency:>11} {seconds:>8.1f} {peak:>12.0f}")


if __name__ == "__main__":
    main()
