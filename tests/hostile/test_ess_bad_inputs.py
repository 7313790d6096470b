"""`multilevel ess load` with bad inputs (issue 13 items 11 and 13): the clear message, exit 1, no traceback, and the
round already loaded stays exactly as it was.

Each case runs the real command in its own process (as the ess-load pod does) against a warehouse that already holds
the synthetic round 9, and reads all it printed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from hostile_api import HostileApi

from multilevel import paths
from multilevel.warehouse import connect

SYNTHETIC = paths.DATA_DIR / "ess9_synthetic.dta"


def ess_load(folder: Path, warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MULTILEVEL_")},
           "MULTILEVEL_STAGE_URL": str(folder / "stage"), "MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{warehouse}"}
    return subprocess.run([sys.executable, "-m", "multilevel.cli", "ess", "load", *args], env=env, cwd=folder,
                          capture_output=True, text=True, timeout=120)


def snapshot(warehouse: Path) -> dict[str, pd.DataFrame]:
    with connect(f"duckdb:///{warehouse}") as wh:
        return {table: wh.query_df(f"SELECT * FROM ess.{table} ORDER BY ALL")
                for table in ("respondents", "variable_labels")}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> Path:
    """A warehouse holding the synthetic round 9 (loaded once; each case works on a copy)."""
    folder = tmp_path_factory.mktemp("ess-loaded")
    done = ess_load(folder, folder / "w.duckdb", str(SYNTHETIC))
    assert done.returncode == 0, done.stderr
    return folder / "w.duckdb"


def with_column(folder: Path, **values) -> Path:
    """The synthetic file with some columns replaced (written as a modern UTF-8 Stata file)."""
    frame, meta = pyreadstat.read_dta(str(SYNTHETIC), user_missing=True, encoding="latin1")
    for column, value in values.items():
        frame[column] = value
    path = folder / "ESS9e03.dta"
    pyreadstat.write_dta(frame, str(path), column_labels=meta.column_labels,
                         variable_value_labels=meta.variable_value_labels,
                         missing_user_values=meta.missing_user_values or None)
    return path


def make_input(case: str, folder: Path, api_url: str) -> tuple[list[str], str]:
    """The command-line arguments for one bad input, and a fragment its message must contain."""
    path = folder / "ESS9e03.dta"
    if case == "csv renamed .dta":
        path.write_text("essround,idno,cntry\n9,1,DE\n")
        return [str(path)], "is not a Stata .dta file"
    if case == "empty":
        path.write_bytes(b"")
        return [str(path)], "is not a Stata .dta file"
    if case == "truncated":
        data = SYNTHETIC.read_bytes()
        path.write_bytes(data[: len(data) // 3])
        return [str(path)], "truncated"
    if case == "another round":
        return [str(SYNTHETIC), "--round", "8"], "holds ESS round 9, not round 8"
    if case == "missing columns":
        pyreadstat.write_dta(pd.DataFrame({"essround": [9, 9], "idno": [1, 2], "cntry": ["DE", "FR"]}), str(path))
        return [str(path)], "lacks the ESS columns"
    if case == "missing file":
        return [str(folder / "nope.dta")], "does not exist"
    if case == "404":
        return [f"{api_url}/files/ESS9e03.dta"], "answered HTTP 404"
    if case == "edition too long":  # DuckDB would take it, PostgreSQL and Redshift refuse VARCHAR(16): validation
        return [str(with_column(folder, edition="3.1-revised-edition"))], "edition: text_length: at most 16 bytes"
    if case == "region too long":
        return [str(with_column(folder, region="DE12345678"))], "region: text_length: at most 8 bytes"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["csv renamed .dta", "empty", "truncated", "another round", "missing columns",
                                  "missing file", "404", "edition too long", "region too long"])
def test_a_bad_ess_input_is_one_clear_message_and_leaves_the_loaded_round(tmp_path, loaded, case):
    warehouse = tmp_path / "w.duckdb"
    shutil.copy(loaded, warehouse)
    before = snapshot(warehouse)
    with HostileApi() as api:
        args, fragment = make_input(case, tmp_path, api.url)
        done = ess_load(tmp_path, warehouse, *args)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and 'File "' not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and fragment in done.stderr[done.stderr.index("error: "):], done.stderr
    assert not (tmp_path / "stage").exists() or not list((tmp_path / "stage").rglob("*.parquet"))  # nothing staged
    after = snapshot(warehouse)
    for table, frame in before.items():
        pd.testing.assert_frame_equal(after[table], frame, obj=table)


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_value_labels_too_long_for_the_column_load_the_same_valid_json_on_every_warehouse(kind, request, tmp_path):
    """Country-specific labels in Cyrillic, 25 kB for one variable: cut in bytes, never mid-JSON, on every warehouse
    (PostgreSQL counts characters, Redshift bytes, DuckDB neither)."""
    from warehouses import warehouse_url

    frame, meta = pyreadstat.read_dta(str(SYNTHETIC), user_missing=True, encoding="latin1")
    labels = dict(meta.variable_value_labels)
    labels["trstprl"] = {i: f"{i}: " + "Доверие парламенту " * 60 for i in range(11)}
    path = tmp_path / "ESS9e03.dta"
    pyreadstat.write_dta(frame, str(path), column_labels=meta.column_labels, variable_value_labels=labels,
                         missing_user_values=meta.missing_user_values or None)
    with warehouse_url(kind, request, tmp_path) as url:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("MULTILEVEL_")},
               "MULTILEVEL_STAGE_URL": str(tmp_path / "stage"), "MULTILEVEL_WAREHOUSE_URL": url}
        done = subprocess.run([sys.executable, "-m", "multilevel.cli", "ess", "load", str(path)], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "ESS variable trstprl: its value labels take more than 8192 bytes" in done.stderr
        with connect(url) as wh:
            ((stored,),) = wh.query("SELECT value_labels FROM ess.variable_labels WHERE variable = 'trstprl'")
    assert len(stored.encode()) <= 8192
    values = json.loads(stored)
    assert sorted(values, key=int) == [str(i) for i in range(11)] and values["3"].startswith("3: Доверие")
