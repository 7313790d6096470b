"""`multilevel ess load` with bad inputs (issue 13 item 13): the clear message, exit 1, no traceback, nothing loaded.

Each case runs the real command in its own process (as the ess-load pod does) and reads all it printed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
from hostile_api import HostileApi

from multilevel import paths

SYNTHETIC = paths.DATA_DIR / "ess9_synthetic.dta"


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
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["csv renamed .dta", "empty", "truncated", "another round", "missing columns",
                                  "missing file", "404"])
def test_a_bad_ess_input_is_one_clear_message_without_a_traceback(tmp_path, case):
    warehouse = tmp_path / "w.duckdb"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MULTILEVEL_")},
           "MULTILEVEL_STAGE_URL": str(tmp_path / "stage"), "MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{warehouse}"}
    with HostileApi() as api:
        args, fragment = make_input(case, tmp_path, api.url)
        done = subprocess.run([sys.executable, "-m", "multilevel.cli", "ess", "load", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and 'File "' not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and fragment in errors[0], done.stderr
    assert not (tmp_path / "stage").exists() or not list((tmp_path / "stage").rglob("*.parquet"))  # nothing staged
    assert not warehouse.exists()  # nothing loaded
