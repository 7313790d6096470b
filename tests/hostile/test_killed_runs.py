"""A harvest killed mid-run (SIGKILL) leaves a working folder and an orphan stage run; the next run removes both
(issue 13 item 12), and never touches what belongs to a live process or to something else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hostile_api import HostileApi

from multilevel.eurostat.harvest import harvest_dataset
from multilevel.workdir import OWNER_FILE, remove_abandoned, work_dir

DATASET = "demo_r_pjanind3"
CONFIG = f"datasets:\n  - code: {DATASET}\n    split: indic_de\n    filters: {{indic_de: [MEDAGEPOP, DEPRATIO1]}}\n"


def wait_for(condition, what: str, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def runs(stage: Path) -> dict[str, set[str]]:
    base = stage / "eurostat" / DATASET
    return {r.name: {p.name for p in r.iterdir()} for r in base.iterdir()} if base.is_dir() else {}


@pytest.fixture
def killed_run(settings, tmp_path):
    """A harvest process killed while it downloads: returns (its temporary directory, the API)."""
    (tmp_path / "datasets.yaml").write_text(CONFIG)
    settings.datasets_file = tmp_path / "datasets.yaml"
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with HostileApi() as api:
        settings.eurostat_url = api.url
        api.standin.inject("slow", count=50, path="/statistics/", seconds=3)
        env = {**os.environ, "TMPDIR": str(scratch), "MULTILEVEL_EUROSTAT_URL": api.url,
               "MULTILEVEL_STAGE_URL": settings.stage_url, "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url,
               "MULTILEVEL_DATASETS_FILE": str(settings.datasets_file)}
        process = subprocess.Popen([sys.executable, "-m", "multilevel.cli", "harvest", "--no-progress"], env=env,
                                   cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: list(scratch.glob(f"multilevel-{DATASET}-*")) and runs(Path(settings.stage_url)),
                     "the harvest to plan and start downloading")
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        api.standin.clear()
        yield scratch, api


def test_the_next_run_removes_the_killed_runs_folder_and_orphan_stage_run(settings, killed_run, monkeypatch):
    scratch, api = killed_run
    (left,) = scratch.glob(f"multilevel-{DATASET}-*")
    assert (left / OWNER_FILE).is_file()
    ((orphan, files),) = runs(Path(settings.stage_url)).items()
    assert "plan.json" in files and "manifest.json" not in files

    foreign = scratch / "multilevel-pg-not-ours"  # no owner file: made by something else, e.g. a test server
    foreign.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    with work_dir("live") as live:  # a live process's folder (this one)
        first = harvest_dataset(settings, DATASET)  # orphan_run_hours=24: the orphan is too young to judge
        assert first.status == "loaded"
        assert not left.exists() and live.exists() and foreign.exists()
        assert orphan in runs(Path(settings.stage_url))

        settings.orphan_run_hours = 0
        api.standin.revise(DATASET, n=2)
        second = harvest_dataset(settings, DATASET)
    stage_runs = runs(Path(settings.stage_url))
    assert orphan not in stage_runs  # never loaded, old enough: gone
    assert first.run_id in stage_runs and second.run_id in stage_runs  # loaded runs are not orphans
    assert "manifest.json" in stage_runs[first.run_id]
    assert foreign.exists() and not list(scratch.glob("multilevel-live-*"))


def test_a_folder_whose_pid_was_reused_is_abandoned(tmp_path):
    folder = tmp_path / "multilevel-x-1"
    folder.mkdir()
    (folder / OWNER_FILE).write_text(f"{os.uname().nodename} {os.getpid()} 1")  # this pid, another start time
    other_host = tmp_path / "multilevel-x-2"
    other_host.mkdir()
    (other_host / OWNER_FILE).write_text("some-other-host 1 1")
    assert remove_abandoned(tmp_path) == [folder] and other_host.exists()


@pytest.mark.parametrize("stage_kind", ["folder", "s3"])
def test_orphan_runs_are_judged_by_plan_or_run_id_and_one_bad_run_never_blocks_the_rest(settings, request, stage_kind):
    """Orphans are dated by their plan.json, else by their run id: an unreadable plan.json (torn, or without
    created_at) no longer stops the clean-up of every other run; what cannot be dated, is recent or loaded stays."""
    import json

    from multilevel.eurostat.steps import remove_orphan_runs
    from multilevel.stage import open_store
    from multilevel.warehouse import connect

    if stage_kind == "s3":
        settings.stage_url = request.getfixturevalue("s3_stage")
    stage = open_store(settings.stage_url)
    base = f"eurostat/{DATASET}"
    old_plan = json.dumps({"created_at": "2020-01-01T00:00:00+00:00"}).encode()
    stage.write_bytes(f"{base}/20200101T000000Z-aaaaaa/plan.json", old_plan)  # killed while downloading
    stage.write_bytes(f"{base}/20200101T000000Z-aaaaaa/slices/A.parquet", b"x")
    stage.write_bytes(f"{base}/20200102T000000Z-bbbbbb/plan.json", b'{"created_at": "2020-01')  # torn plan.json
    stage.write_bytes(f"{base}/20200103T000000Z-cccccc/plan.json", b'{"slices": []}')  # no created_at
    stage.write_bytes(f"{base}/my-own-run/plan.json", b"{")  # cannot be dated: left alone
    young = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-dddddd"
    stage.write_bytes(f"{base}/{young}/plan.json", b"{")  # may still be running elsewhere
    stage.write_bytes(f"{base}/20200104T000000Z-eeeeee/plan.json", old_plan)  # loaded (its manifest written)
    stage.write_bytes(f"{base}/20200104T000000Z-eeeeee/manifest.json", b"{}")
    with connect(settings.warehouse_url) as wh:
        removed = remove_orphan_runs(settings, wh, DATASET, keep="current-run")
    assert removed == ["20200101T000000Z-aaaaaa", "20200102T000000Z-bbbbbb", "20200103T000000Z-cccccc"]
    left = {key.split("/")[2] for key in stage.list(base)}
    assert left == {"my-own-run", young, "20200104T000000Z-eeeeee"}
