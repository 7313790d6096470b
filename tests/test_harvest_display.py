"""What the person at the terminal sees during `multilevel harvest`, and what a pod's log keeps.

The command runs as a real process against a stand-in in this process (one 503 queued, so there is a retry):
``--progress`` forces the terminal display (as on a TTY), no flag in a pipe is the pod's case.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from multilevel.standin import StandIn

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DATASET = "demo_r_pjanind3"


@pytest.fixture
def run(tmp_path):
    def harvest(*flags: str, async_cells: int | None = None) -> tuple[list[dict], str]:
        # with ``async_cells``, every data request over that many cells is first answered 413 ASYNCHRONOUS_RESPONSE
        with StandIn(size="small", async_cells=async_cells) as api:
            api.inject("503", path=f"/data/{DATASET}?")  # one slice request fails once, then succeeds
            env = {
                "MULTILEVEL_HTTP_ASYNC_PAUSE_SECONDS": "0.05",
                **os.environ,
                "MULTILEVEL_EUROSTAT_URL": api.url,
                "MULTILEVEL_STAGE_URL": str(tmp_path / "stage"),
                "MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'w.duckdb'}",
                "MULTILEVEL_HTTP_BACKOFF_SECONDS": "0.01",
                "COLUMNS": "160",
            }
            done = subprocess.run([str(Path(sys.executable).parent / "multilevel"), *flags, DATASET],
                                  capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return [json.loads(line) for line in done.stdout.splitlines()], done.stderr

    return harvest


def final_line(stderr: str) -> str:
    """The display's last frame of the dataset line, escape sequences removed."""
    frames = [line for line in re.split(r"[\r\n]", ANSI.sub("", stderr)) if line.startswith(DATASET)]
    assert frames, stderr[-2000:]
    return frames[-1]


def test_terminal_shows_live_progress_and_warnings_not_info_lines(run):
    (summary,), stderr = run("harvest", "--progress")
    line = final_line(stderr)
    done, total = map(int, re.search(r"(\d+)/(\d+) slices", line).groups())
    assert done == total > 1
    assert f"{summary['rows_received']:,} rows" in line
    requests = int(re.search(r"(\d+) requests", line).group(1))
    assert requests > total  # plan requests + one per slice + the retried one
    assert "1 retries" in line
    assert "0 async waits (0s)" in line
    text = ANSI.sub("", stderr)
    assert "retry 1/" in text and "WARNING" in text  # the warning prints above the display
    assert "GET http" not in text and " INFO " not in text  # no per-request or per-step INFO lines


def test_verbose_brings_the_info_log_back_above_the_display(run):
    _, stderr = run("-v", "harvest", "--progress")
    text = ANSI.sub("", stderr)
    assert "GET http" in text and "INFO" in text
    assert re.search(r"(\d+)/\1 slices", final_line(stderr))


def test_off_a_terminal_the_log_keeps_one_line_per_request_and_step(run):
    (summary,), stderr = run("harvest")  # stderr is a pipe here, as in a pod
    assert not ANSI.search(stderr)
    lines = stderr.splitlines()
    gets = [line for line in lines if " INFO " in line and "GET http" in line]
    slices = [line for line in lines if re.search(rf"slice \d+/\d+ done: {DATASET}", line)]
    assert len(slices) > 1 and len(gets) > len(slices)
    assert any("WARNING" in line and "retry 1/" in line for line in lines)
    assert summary["status"] == "loaded"



def test_asynchronous_answers_waited_for_show_on_the_line_and_in_the_log(run):
    """Issue 9: an asynchronous answer has its own log line (a warning, above the display) and its own count."""
    (summary,), stderr = run("harvest", "--progress", async_cells=0)
    line = final_line(stderr)
    total = int(re.search(r"(\d+)/\1 slices", line).group(1))
    waits = int(re.search(r"(\d+) async waits \(\d+s\)", line).group(1))
    assert waits >= total > 1  # every data request of every slice waited once
    text = ANSI.sub("", stderr)
    assert text.count("ASYNCHRONOUS_RESPONSE") >= waits and "asking again in" in text
    assert summary["rows_received"] > 0
