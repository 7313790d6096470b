"""Each optional extra works on its own: ``pip install 'multilevel[redshift]'`` alone imports and uses Redshift, etc.

How, cheaply and honestly: every case runs in a fresh interpreter whose import system hides the packages that only
*other* extras bring, as if they were not installed. The hidden set is computed from the installed metadata, not
listed by hand: the distributions reachable from the other extras' requirements (transitively) minus those
reachable from the core requirements and this extra's, mapped to their import names. A meta-path finder placed
first then refuses those names (``ModuleNotFoundError``, exactly what a missing package raises), submodules included.
So a module that reaches into another extra's driver, even through a shared helper, fails here. Not covered: a
transitive dependency that pip would resolve to another version when fewer packages are installed (the floors run
in notes/14-newcomer.md covers versions). Each case then *uses* the extra on a real server, not just imports it.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "warehouse"))
from loadkit import BASE_ROWS  # noqa: E402

EXTRAS = ["ess", "postgres", "redshift", "report", "workflows"]


def _closure(requirements: list[Requirement]) -> set[str]:
    """Canonical names of the installed distributions these requirements pull in, transitively."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional dependency that is not installed cannot be imported anyway
        seen.add(name)
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in (req.extras or {""})):
                todo.append(sub)
    return seen


def _own(extra: str | None) -> list[Requirement]:
    """The requirements of the core package plus ``extra`` (None: the core alone)."""
    reqs = [Requirement(r) for r in metadata.requires("multilevel") or []]
    return [r for r in reqs if r.marker is None or (extra is not None and r.marker.evaluate({"extra": extra}))]


def hidden_modules(extra: str | None) -> list[str]:
    """Import names of the packages that only the other extras install."""
    mine = _closure(_own(extra))
    others = set()
    for other in EXTRAS:
        if other != extra:
            others |= _closure([r for r in _own(other) if r.marker is not None])
    hidden = others - mine - {"pip", "setuptools", "wheel"}  # the installer's own, present in every environment
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if {canonicalize_name(d) for d in dists} & hidden and not {canonicalize_name(d) for d in dists} & mine
    )


FINDER = """
import importlib.abc, sys
HIDDEN = frozenset({hidden!r})
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}} (its extra is not installed)", name=name)
sys.meta_path.insert(0, Hide())
"""


def run_with_only(extra: str | None, code: str, **env: str) -> subprocess.CompletedProcess:
    prelude = FINDER.format(hidden=hidden_modules(extra))
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, **env},
    )


def test_the_hidden_sets_are_what_each_extra_does_not_bring():
    assert {"psycopg", "redshift_connector", "pyreadstat", "matplotlib", "hera"} <= set(hidden_modules(None))
    redshift = set(hidden_modules("redshift"))
    assert "redshift_connector" not in redshift and {"psycopg", "pyreadstat", "matplotlib", "hera"} <= redshift
    assert "psycopg" not in hidden_modules("postgres") and "pandas" not in redshift and "boto3" not in redshift
    blocked = run_with_only("redshift", "import psycopg")
    assert blocked.returncode != 0 and "ModuleNotFoundError: No module named 'psycopg'" in blocked.stderr


HARVEST = """
    import json, os, sys
    from multilevel.settings import Settings
    from multilevel.standin import StandIn
    from multilevel.eurostat.harvest import harvest_dataset
    from multilevel.warehouse import connect
    with StandIn(size="small") as api:
        settings = Settings(_env_file=None, eurostat_url=api.url, stage_url=os.environ["STAGE"],
                            warehouse_url=os.environ["WAREHOUSE"])
        result = harvest_dataset(settings, "demo_r_pjanind3")
    with connect(settings.warehouse_url) as wh:
        rows = wh.query("SELECT COUNT(*) FROM eurostat.demo_r_pjanind3")[0][0]
    print(json.dumps([result.status, result.load.rows_inserted, rows, sorted(sys.modules.keys() & {HIDDEN})]))
"""


def _harvested(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    status, inserted, rows, leaked = json.loads(result.stdout.strip().splitlines()[-1])
    assert status == "loaded" and inserted == rows > 1000 and leaked == []


def test_core_alone_harvests_into_duckdb(tmp_path):
    code = HARVEST.replace("{HIDDEN}", repr(set(hidden_modules(None))))
    _harvested(run_with_only(None, code, STAGE=str(tmp_path / "stage"), WAREHOUSE=f"duckdb:///{tmp_path}/w.duckdb"))


def test_postgres_extra_alone_harvests_into_postgresql(tmp_path, postgres_url):
    code = HARVEST.replace("{HIDDEN}", repr(set(hidden_modules("postgres"))))
    _harvested(run_with_only("postgres", code, STAGE=str(tmp_path / "stage"), WAREHOUSE=postgres_url))


def test_redshift_extra_alone_loads_through_redshift_connector(tmp_path, redshift_url):
    """Connect with redshift-connector (here to PostgreSQL: see tests/servers.py) and load staged Parquet through
    the warehouse's own COPY path; no psycopg anywhere."""
    code = """
        import json, sys
        sys.path.insert(0, "tests/warehouse")
        from loadkit import BASE_ROWS, stage_run
        from multilevel.stage import open_store
        from multilevel.warehouse import connect
        store = open_store(__import__("os").environ["STAGE"])
        keys = [f["key"] for f in stage_run(store, "run1", BASE_ROWS)["files"]]
        with connect(__import__("os").environ["WAREHOUSE"]) as wh:
            kind = type(wh).__name__
            with wh.transaction():
                wh.execute('CREATE TEMP TABLE "stg_x" (age VARCHAR(8), geo VARCHAR(8), time_period VARCHAR(16), '
                           'value DOUBLE PRECISION, flag VARCHAR(16))')
                copied = wh.copy_parquet('"stg_x"', store, keys, ["age", "geo", "time_period", "value", "flag"])
                rows = wh.query('SELECT COUNT(*), SUM(value) FROM "stg_x"')[0]
        print(json.dumps([kind, copied, rows[0], float(rows[1]), "psycopg" in sys.modules]))
    """
    result = run_with_only("redshift", code, STAGE=str(tmp_path / "stage"), WAREHOUSE=redshift_url)
    assert result.returncode == 0, result.stderr[-3000:]
    kind, copied, rows, total, psycopg_loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert (kind, copied, rows, psycopg_loaded) == ("RedshiftWarehouse", 8, 8, False)
    assert total == pytest.approx(sum(r[3] for r in BASE_ROWS if r[3] is not None))


def test_ess_extra_alone_loads_the_survey_file(tmp_path):
    code = """
        import json, os
        from multilevel.settings import Settings
        from multilevel.ess.load import load_ess
        from multilevel.warehouse import connect
        settings = Settings(_env_file=None, stage_url=os.environ["STAGE"], warehouse_url=os.environ["WAREHOUSE"])
        load_ess("data/ess9_synthetic.dta", settings)
        with connect(settings.warehouse_url) as wh:
            print(json.dumps(wh.query("SELECT COUNT(*) FROM ess.respondents")[0][0]))
    """
    result = run_with_only("ess", code, STAGE=str(tmp_path / "stage"), WAREHOUSE=f"duckdb:///{tmp_path}/w.duckdb")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == 3000


def test_workflows_extra_alone_generates_the_manifests():
    result = run_with_only("workflows", "import runpy, sys\nsys.argv = ['workflows', '--check']\n"
                           "runpy.run_module('workflows', run_name='__main__')")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


def test_report_extra_alone_writes_the_report(tmp_path):
    """The report reads a warehouse another step filled: fill it here (all extras), then report with [report] only."""
    from multilevel.ess.load import load_ess
    from multilevel.eurostat.harvest import harvest_dataset
    from multilevel.settings import Settings
    from multilevel.standin import StandIn

    warehouse = f"duckdb:///{tmp_path}/w.duckdb"
    with StandIn(size="small") as api:
        settings = Settings(
            _env_file=None, eurostat_url=api.url, stage_url=str(tmp_path / "s"), warehouse_url=warehouse
        )
        for dataset in ("demo_r_pjanind3", "demo_r_pjangrp3"):
            harvest_dataset(settings, dataset)
    load_ess(str(ROOT / "data" / "ess9_synthetic.dta"), settings)
    code = """
        import sys
        from multilevel.cli import main
        main(["report", "--out", sys.argv[-1]], standalone_mode=True)
    """
    result = run_with_only("report", code.replace("sys.argv[-1]", repr(str(tmp_path / "report"))),
                           MULTILEVEL_WAREHOUSE_URL=warehouse, MULTILEVEL_STAGE_URL=str(tmp_path / "s"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert any((tmp_path / "report").iterdir())
