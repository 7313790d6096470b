"""Every regional dataset, kept fresh: first full harvest, an unchanged day, a day with 5 % changed, memory per step.

    python bench/catalogue_bench.py [--datasets 300] [--changed 0.05] [--small-scale 30]

The stand-in (its own process: no child forked from here starts with its memory) serves a catalogue of
``--datasets`` synthetic regional datasets (a few large ones:
every country at NUTS 3, 6 indicators x 2 units x 20 years, about 470,000 observations each). ``datasets.yaml``
selects the whole "Regional statistics by NUTS classification" theme. Every command runs as a child process, as
on Argo, and its peak memory is that child's own maximum resident set size (the stand-in is not counted):

1. first day: ``multilevel check`` (catalogue, NUTS levels, dataflows), then ``multilevel harvest`` of every
   changed dataset in one process (time, rows, requests, peak memory);
2. an unchanged day: ``multilevel check`` (requests: the target is 1, rows written: 0);
3. a day with ``--changed`` of the datasets revised: check + harvest of the changed ones;
4. memory per step as Argo runs them (plan, download, validate, stage, load: one process each) for the largest
   and for a small dataset, and the check step at ``--small-scale`` datasets against the full catalogue: a step's
   peak must not grow with the number of datasets;
5. the warehouse: DuckDB file size, current and history rows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import requests

CONFIG = "selections:\n  - theme: reg\n"


def run(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, stdout) of one `multilevel ...` child process (its own rusage, via wait4)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "multilevel.cli", "--log-level", "WARNING", *args], env=env,
                                 stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"multilevel {' '.join(args[:3])} failed ({child.returncode}):\n{err.read()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read()


class Api:
    """The stand-in in a child process (``python -m multilevel.standin``), driven by its admin endpoints."""

    def __init__(self, catalogue: int):
        self.process = subprocess.Popen([sys.executable, "-m", "multilevel.standin", "--catalogue", str(catalogue)],
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        first = self.process.stdout.readline().strip()  # "standin listening on URL", after every cube is made
        if not first.startswith("standin listening on "):
            raise SystemExit(f"the stand-in did not start: {first!r}")
        self.url = first.rsplit(" ", 1)[1]

    def requests(self) -> int:
        return len(requests.get(f"{self.url}/_standin/log", timeout=60).json())

    def clear(self) -> None:
        requests.post(f"{self.url}/_standin/clear", timeout=60).raise_for_status()

    def revise(self, code: str) -> None:
        requests.post(f"{self.url}/_standin/revise", params={"dataset": code}, timeout=60).raise_for_status()

    def sizes(self) -> list[tuple[int, str]]:
        state = requests.get(f"{self.url}/_standin/state", timeout=60).json()["datasets"]
        return sorted(((d["obs_count"], code) for code, d in state.items() if "_s" in code or "_nat" in code),
                      reverse=True)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def rows(db_path: Path, sql: str) -> int:
    with duckdb.connect(str(db_path), read_only=True) as db:
        return int(db.execute(sql).fetchone()[0] or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=300)
    parser.add_argument("--changed", type=float, default=0.05)
    parser.add_argument("--small-scale", type=int, default=30)
    args = parser.parse_args()
    report: list[tuple[str, str]] = []

    def line(label: str, value: str) -> None:
        report.append((label, value))
        print(f"{label:58} {value}", flush=True)

    api = Api(args.datasets)
    try:
        big_peak = first_catalogue(args, api, line)
    finally:  # a failed run must not leave the stand-in serving
        api.close()
    small_api = Api(args.small_scale)
    try:
        with tempfile.TemporaryDirectory() as tmp2:
            config = Path(tmp2) / "datasets.yaml"
            config.write_text(CONFIG)
            small_env = {**os.environ, "MULTILEVEL_EUROSTAT_URL": small_api.url,
                         "MULTILEVEL_STAGE_URL": str(Path(tmp2) / "stage"), "MULTILEVEL_DATASETS_FILE": str(config),
                         "MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{Path(tmp2) / 'w.duckdb'}"}
            _, small_peak, _ = run(small_env, "check")
            _, small_peak_again, _ = run(small_env, "check")
    finally:
        small_api.close()
    line("peak MB of the check step by catalogue size",
         f"{args.small_scale} datasets: {small_peak:.0f} (first) / {small_peak_again:.0f} (unchanged); "
         f"{args.datasets} datasets: {big_peak:.0f} (unchanged)")


def first_catalogue(args: argparse.Namespace, api: Api, line) -> float:
    """Days 1-3, the warehouse and the memory per step on the full catalogue; returns the check step's peak MB."""
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "datasets.yaml"
        config.write_text(CONFIG)
        db_path = Path(tmp) / "warehouse.duckdb"
        env = {**os.environ, "MULTILEVEL_EUROSTAT_URL": api.url, "MULTILEVEL_STAGE_URL": str(Path(tmp) / "stage"),
               "MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{db_path}", "MULTILEVEL_DATASETS_FILE": str(config)}
        sizes = api.sizes()
        _, floor, _ = run(env, "--version")
        line("catalogue", f"{len(sizes)} synthetic datasets ({sum(1 for _, c in sizes if '_nat' in c)} "
             f"national-only), {sum(n for n, _ in sizes):,} observations, largest {sizes[0][1]} {sizes[0][0]:,}")
        line("peak MB of a process that only starts (`multilevel --version`)", f"{floor:.0f}")

        def day(label: str) -> list[str]:
            api.clear()
            seconds, peak, out = run(env, "check", "--out", str(Path(tmp) / "changed.json"))
            summary = json.loads(out)
            check_requests = api.requests()
            log_rows = rows(db_path, "SELECT count(*) FROM eurostat.load_log")
            line(f"{label}: check", f"{check_requests} requests, {len(summary['changed'])} of {summary['datasets']} "
                 f"changed, {seconds:.1f} s, peak {peak:.0f} MB")
            changed = summary["changed"]
            if changed:
                before = api.requests()
                seconds, peak, out = run(env, "harvest", "--no-progress", *changed)
                loaded = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
                received = sum(x.get("rows_received", 0) for x in loaded)
                line(f"{label}: harvest of the changed ones", f"{api.requests() - before} requests, "
                     f"{received:,} rows received, {seconds:.1f} s, peak {peak:.0f} MB (one process, all datasets)")
            written = rows(db_path, "SELECT count(*) FROM eurostat.load_log") - log_rows
            line(f"{label}: load_log rows written by the check", f"{written if not changed else 'n/a'}")
            return changed

        day("day 1 (first full harvest)")
        day("day 2 (nothing changed)")
        regional = [c for _, c in sizes if "_nat" not in c]  # national-only ones are not selected
        revised = regional[:: max(1, round(1 / args.changed))][: max(1, round(args.changed * len(regional)))]
        for code in revised:
            api.revise(code)
        day(f"day 3 ({len(revised)} datasets revised, {args.changed:.0%})")

        current = rows(db_path, "SELECT sum(rows_received) FROM eurostat.load_log l WHERE status = 'loaded' AND "
                       "finished_at = (SELECT max(finished_at) FROM eurostat.load_log m WHERE m.dataset = l.dataset "
                       "AND m.status = 'loaded')")
        closed = rows(db_path, "SELECT sum(rows_closed) FROM eurostat.load_log WHERE status = 'loaded'")
        line("warehouse", f"{db_path.stat().st_size / 2**20:.0f} MB DuckDB file, {current:,} current rows, "
             f"{closed:,} old versions kept")

        # memory per step, as Argo runs them: one process per step
        # the largest again with a 4x smaller cell limit: more, smaller slices, and a smaller validate peak
        cases = (("largest", sizes[0][1], None), ("small", sizes[len(sizes) // 2][1], None),
                 ("largest, 250k-cell limit", sizes[0][1], "250000"))
        for label, code, limit in cases:
            api.revise(code)
            step_env = {**env, **({"MULTILEVEL_MAX_CELLS_PER_REQUEST": limit} if limit else {})}
            plan_file = Path(tmp) / f"slices-{code}.json"
            run_id = f"bench-{code}-{limit or 'default'}"
            _, peak_plan, plan_url = run(step_env, "plan", code, "--run-id", run_id, "--slices-out", str(plan_file))
            plan_url = plan_url.strip()
            peaks = {"plan": peak_plan, "download": 0.0, "validate": 0.0, "stage": 0.0}
            slices = json.loads(plan_file.read_text())
            for slice_id in slices:
                raw = str(Path(tmp) / "raw" / run_id / slice_id)
                parquet = str(Path(tmp) / "v" / f"{run_id}-{slice_id}.pq")
                for step, argv in (("download", ["--out", raw]), ("validate", ["--raw", raw, "--out", parquet]),
                                   ("stage", ["--in", parquet])):
                    _, peak, _ = run(step_env, step, "--plan", plan_url, "--slice", slice_id, *argv)
                    peaks[step] = max(peaks[step], peak)
            _, peaks["load"], _ = run(step_env, "load", "--plan", plan_url)
            line(f"peak MB per step, {label} dataset {code} ({len(slices)} slices)",
                 ", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))

        _, big_peak, _ = run(env, "check")
    return big_peak


if __name__ == "__main__":
    main()
