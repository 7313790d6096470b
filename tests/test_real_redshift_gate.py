"""The opt-in real-Redshift run: deselected (not skipped) by default, collected when a Redshift URL is given."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CONTRACT = Path(__file__).parent / "warehouse" / "test_load_contract.py"


def collect(**env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "MULTILEVEL_TEST_REDSHIFT_URL"} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(CONTRACT)],
        capture_output=True, text=True, cwd=CONTRACT.parents[2], env=environment, check=True,
    ).stdout


def runs_on(target: str, out: str) -> int:
    """Collected tests run on ``target`` (a test may add its own parameters: ``[target-keys-unchanged]``)."""
    return len(re.findall(rf"\[{target}(?:-[^\]]*)?\]", out))


def test_real_redshift_tests_are_deselected_without_a_url():
    out = collect()
    contract_tests = runs_on("redshift-client-on-postgres-s3", out)  # each contract test runs once per target
    assert contract_tests > 5 and runs_on("real-redshift", out) == 0
    assert f"({contract_tests} deselected)" in out and "skipped" not in out


def test_real_redshift_tests_are_collected_with_a_url():
    out = collect(MULTILEVEL_TEST_REDSHIFT_URL="redshift://u:p@cluster.example:5439/dev")
    assert runs_on("real-redshift", out) == runs_on("redshift-client-on-postgres-s3", out) > 5
    assert "deselected" not in out
