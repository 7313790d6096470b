"""Processes import only what their step needs: the parse/validate stack only where slices are parsed.

pandas, pyarrow, pandera and requests cost a load process about 100 MiB of peak RSS before any SQL (issue 10: the
DuckDB load's peak RSS against DuckDB's own CREATE TABLE AS of the same rows), and `multilevel harvest`'s own process
half a second of CPU before its first request (its worker processes parse). Each command runs here for real, as a
separate process, and reports which of those modules it had imported when it exited.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from multilevel.eurostat.harvest import harvest_dataset
from multilevel.eurostat.load_step import default_plan_url
from multilevel.warehouse import connect

DATASET = "demo_r_pjanind3"
PARSE_STACK = ["pandas", "pyarrow", "pandera", "numpy", "requests", "multilevel.eurostat.steps"]

# Run the CLI's entry point in this process, then report the heavy modules it imported (atexit: click exits).
PROBE = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules))))
from multilevel.cli import main
main(sys.argv[2:])
"""


def test_the_load_step_loads_a_run_without_importing_the_parse_stack(settings, api, tmp_path):
    # stage a real run (the in-process harvest also loads it into `settings`' warehouse) ...
    plan_url = default_plan_url(settings, DATASET, harvest_dataset(settings, DATASET).run_id)
    # ... then load the same staged run into a fresh warehouse with `multilevel load`, as its own process
    fresh = f"duckdb:///{tmp_path / 'fresh.duckdb'}"
    env = {**os.environ, "MULTILEVEL_STAGE_URL": settings.stage_url, "MULTILEVEL_WAREHOUSE_URL": fresh}
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(PARSE_STACK), "load", "--plan", plan_url],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded, imported = done.stdout.strip().splitlines()
    assert json.loads(loaded)["status"] == "loaded"
    assert json.loads(imported) == []
    with connect(fresh) as wh, connect(settings.warehouse_url) as first:
        assert wh.query(f"SELECT count(*) FROM eurostat.{DATASET}")[0][0] == first.query(
            f"SELECT count(*) FROM eurostat.{DATASET}")[0][0] > 1000


def test_the_harvest_process_leaves_the_parse_stack_to_its_workers(settings, api, tmp_path):
    env = {**os.environ, "MULTILEVEL_EUROSTAT_URL": api.url, "MULTILEVEL_STAGE_URL": settings.stage_url,
           "MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}", "MULTILEVEL_SLICE_PROCESSES": "1"}
    heavy = ["pandas", "pyarrow", "pandera", "multilevel.eurostat.steps"]
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(heavy), "harvest", "--no-progress", DATASET],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    *results, imported = done.stdout.strip().splitlines()
    assert [json.loads(r)["status"] for r in results] == ["loaded"]
    assert json.loads(imported) == []
