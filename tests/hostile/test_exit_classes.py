"""Exit classes (issue 13 item 9): what a retry cannot fix exits 1, what it can exits 75, and every failure is a clear
one-line message recorded in load_log, never a traceback; a multi-dataset harvest runs every dataset."""

from __future__ import annotations

import os
import resource
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from click.testing import CliRunner
from hostile_api import HostileApi

from multilevel.cli import main
from multilevel.errors import WarehouseError
from multilevel.eurostat.harvest import harvest_dataset
from multilevel.warehouse import connect

DATASET = "demo_r_pjanind3"
CODES = ["MEDAGEPOP", "DEPRATIO1"]
CONFIG = f"datasets:\n  - code: {DATASET}\n    split: indic_de\n    filters: {{indic_de: [{', '.join(CODES)}]}}\n"
KEY = "freq, indic_de, unit, geo, time_period, valid_from"


@pytest.fixture
def hostile(settings, tmp_path):
    path = tmp_path / "datasets.yaml"
    path.write_text(CONFIG)
    settings.datasets_file = path
    with HostileApi() as api:
        settings.eurostat_url = api.url
        yield api


def environment(settings, **extra: str) -> dict[str, str]:
    return {
        "MULTILEVEL_EUROSTAT_URL": settings.eurostat_url,
        "MULTILEVEL_STAGE_URL": settings.stage_url,
        "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url,
        "MULTILEVEL_DATASETS_FILE": str(settings.datasets_file),
        "MULTILEVEL_HTTP_BACKOFF_SECONDS": "0.01",
        "MULTILEVEL_HTTP_BACKOFF_CAP_SECONDS": "0.05",
        "MULTILEVEL_HTTP_MAX_RETRIES": "1",
        **extra,
    }


def cli(settings, monkeypatch, *args: str, **extra: str):
    monkeypatch.chdir(Path(settings.stage_url).parent)
    result = CliRunner().invoke(main, list(args), env=environment(settings, **extra))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def history(settings) -> pd.DataFrame:
    with connect(settings.warehouse_url) as wh:
        return wh.query_df(f"SELECT * FROM eurostat.{DATASET}_history ORDER BY {KEY}")


def load_log(settings) -> list[tuple]:
    with connect(settings.warehouse_url) as wh:
        return wh.query("SELECT dataset, status, message FROM eurostat.load_log ORDER BY started_at")


# --- harvest A B ------------------------------------------------------------------------------------------------
def test_harvest_of_several_datasets_runs_every_one_and_names_the_failures(settings, monkeypatch, hostile):
    settings.datasets_file.write_text(CONFIG + "  - code: nama_10r_3gdp\n    split: unit\n")  # not on the API: 404
    result = cli(settings, monkeypatch, "harvest", "--no-progress", "nama_10r_3gdp", DATASET)
    assert result.exit_code == 1
    assert "1 of 2 datasets failed: nama_10r_3gdp (Eurostat API answered HTTP 404" in result.stderr
    assert '"dataset": "demo_r_pjanind3"' in result.stdout and '"status": "loaded"' in result.stdout
    assert set(history(settings)["indic_de"]) == set(CODES)  # the second dataset ran after the first failed
    assert [(d, s) for d, s, _ in load_log(settings)] == [("nama_10r_3gdp", "failed"), (DATASET, "loaded")]


def test_a_multi_dataset_harvest_whose_failures_are_all_transient_exits_75(settings, monkeypatch, hostile):
    assert cli(settings, monkeypatch, "harvest", "--no-progress").exit_code == 0
    hostile.standin.revise(DATASET, n=1)
    hostile.use("stale_dataflow", date="2020-01-01T00:00:00+0100")
    result = cli(settings, monkeypatch, "harvest", "--no-progress")
    assert result.exit_code == 75 and "1 of 1 datasets failed: demo_r_pjanind3" in result.stderr


def test_an_unknown_dataset_stops_before_anything_runs(settings, monkeypatch, hostile):
    result = cli(settings, monkeypatch, "harvest", "--no-progress", DATASET, "nope")
    assert result.exit_code == 1 and "dataset(s) nope not configured" in result.stderr
    assert hostile.requests == []


# --- PostgreSQL refusing for good ------------------------------------------------------------------------------
@pytest.fixture
def password_role(postgres_server):
    """A role that must log in with a password (the test server trusts everyone else)."""
    role = f"pw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'right-one'")
        hba = Path(con.execute("SHOW hba_file").fetchone()[0])
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        con.execute("SELECT pg_reload_conf()")
    return role


REFUSED = {"postgresql": "PostgreSQL refused", "redshift": "refused the connection"}


@pytest.mark.parametrize("scheme", ["postgresql", "redshift"])
@pytest.mark.parametrize("case", ["wrong password", "missing database", "missing role"])
def test_a_warehouse_refusing_the_login_is_terminal_not_transient(settings, monkeypatch, hostile, postgres_server,
                                                                  redshift_client_proxy, password_role, case, scheme):
    """PostgreSQL, and Redshift's own client (through the start-up filter in front of the same server)."""
    base = postgres_server.rsplit("@", 1)[1].rsplit("/", 1)[0] if scheme == "postgresql" else redshift_client_proxy
    options = "" if scheme == "postgresql" else "?ssl=false&copy_mode=client"
    url = {
        "wrong password": f"{scheme}://{password_role}:wrong%2F%23secret@{base}/postgres",
        "missing database": f"{scheme}://postgres:x@{base}/no_such_db_{uuid.uuid4().hex[:6]}",
        "missing role": f"{scheme}://no_such_role:x@{base}/postgres",
    }[case] + options
    settings.warehouse_url = url
    result = cli(settings, monkeypatch, "harvest", "--no-progress")
    assert result.exit_code == 1, result.stderr
    assert REFUSED[scheme] in result.stderr and "Retrying cannot help" in result.stderr
    assert "Traceback" not in result.stderr
    assert "wrong/#secret" not in result.stderr and "wrong%2F%23secret" not in result.stderr
    assert hostile.requests == [] or all("/statistics/" not in r for r in hostile.requests)  # nothing downloaded


def test_a_warehouse_that_is_down_is_transient(settings, monkeypatch, hostile):
    with socket.create_server(("127.0.0.1", 0)) as unused:  # a port nothing listens on once closed
        port = unused.getsockname()[1]
    settings.warehouse_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    result = cli(settings, monkeypatch, "harvest", "--no-progress")
    assert result.exit_code == 75, result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


# --- a COMMIT that fails ----------------------------------------------------------------------------------------
def test_a_failed_commit_is_a_clear_error_recorded_in_load_log(settings, monkeypatch, hostile, postgres_url):
    settings.warehouse_url = postgres_url
    harvest_dataset(settings, DATASET)
    before = history(settings)
    with psycopg.connect(postgres_url, autocommit=True) as con:  # a constraint checked only at COMMIT
        con.execute("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'refused at commit time'; END $$")
        con.execute("CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON eurostat.labels "  # every load writes labels
                    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse()")
    hostile.standin.revise(DATASET, n=2)
    with pytest.raises(WarehouseError, match="COMMIT failed, nothing of this transaction was written"):
        harvest_dataset(settings, DATASET)
    pd.testing.assert_frame_equal(history(settings), before)
    dataset, status, message = load_log(settings)[-1]
    assert status == "failed" and "COMMIT failed" in message and "refused at commit time" in message

    result = cli(settings, monkeypatch, "harvest", "--no-progress")
    assert result.exit_code == 1 and "COMMIT failed" in result.stderr and "Traceback" not in result.stderr


# --- a full disk ------------------------------------------------------------------------------------------------
def _small_files_only() -> None:  # in the child: every file it writes may hold at most 2 kB (EFBIG beyond)
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


def test_a_full_stage_disk_is_a_clear_error_recorded_in_load_log(settings, hostile, postgres_url, tmp_path):
    settings.warehouse_url = postgres_url  # PostgreSQL writes in its own process: only the harvest's disk is full
    harvest_dataset(settings, DATASET)
    before = history(settings)
    hostile.standin.revise(DATASET, n=2)
    done = subprocess.run(
        [sys.executable, "-m", "multilevel.cli", "harvest", "--no-progress"], cwd=tmp_path, capture_output=True,
        text=True, timeout=120, env={**os.environ, **environment(settings)}, preexec_fn=_small_files_only,
    )
    assert done.returncode == 1, done.stderr
    assert "cannot write" in done.stderr and "File too large" in done.stderr and "Traceback" not in done.stderr
    pd.testing.assert_frame_equal(history(settings), before)
    dataset, status, message = load_log(settings)[-1]
    assert status == "failed" and "cannot write" in message


# --- a run id that is a path -------------------------------------------------------------------------------------
@pytest.mark.parametrize("args", [["record-failure", "--dataset", DATASET, "--run-id", ".."],
                                  ["ess", "load", "data/ess9_synthetic.dta", "--run-id", "../x"]])
def test_other_commands_reject_a_run_id_that_is_a_path(settings, monkeypatch, hostile, args):
    if args[0] == "ess":
        args[2] = str(Path(__file__).resolve().parents[2] / args[2])
    result = cli(settings, monkeypatch, *args)
    assert result.exit_code == 1 and "must be 1-128 letters" in result.stderr


def test_the_hostile_api_refuses_unknown_scenarios():
    api = HostileApi()
    with pytest.raises(ValueError, match="unknown scenario"):
        api.use("no_such_scenario")
    with pytest.raises(ValueError, match="takes no option"):
        api.use("nan", dim="x")


def test_a_warehouse_path_that_is_not_a_duckdb_file_is_terminal_and_untouched(settings, monkeypatch, hostile):
    not_duckdb = Path(settings.datasets_file)  # e.g. a slip in MULTILEVEL_WAREHOUSE_URL
    content = not_duckdb.read_bytes()
    settings.warehouse_url = f"duckdb:///{not_duckdb}"
    result = cli(settings, monkeypatch, "harvest", "--no-progress")
    assert result.exit_code == 1, result.stderr
    assert f"cannot open the DuckDB warehouse {not_duckdb}" in result.stderr and "Retrying cannot help" in result.stderr
    assert not_duckdb.read_bytes() == content
