"""DuckDB compaction: a warehouse file that revisions filled with free blocks is copied into a new file and swapped in.

DuckDB never reuses the blocks a revision's UPDATE frees, so without this the file grows with runs, not rows. The swap
must never lose a row, never show a half-written file, and survive a kill at its worst moment.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

import loadkit
import pytest
from click.testing import CliRunner

from multilevel.cli import main
from multilevel.errors import WarehouseBusy
from multilevel.stage import open_store
from multilevel.warehouse import connect
from multilevel.warehouse.duckdb import COMPACT_SUFFIX, compact
from multilevel.warehouse.history import load_run

HISTORY = f'SELECT count(*) FROM eurostat."{loadkit.DATASET}_history"'


def revision_runs(settings, runs: int) -> None:
    """``runs`` loads of 60,000 rows, each revising a fifth of the values (the closed rows free whole blocks)."""
    cells = [(f"Y{a}", f"G{g:04d}", str(t)) for a in range(2) for g in range(1000) for t in range(1990, 2020)]
    values = [float(i) for i in range(len(cells))]
    pick = random.Random(1)
    store = open_store(settings.stage_url)
    for run in range(runs):
        if run:
            values = [v + 1 if pick.random() < 0.2 else v for v in values]
        manifest = loadkit.stage_run(store, f"r{run:03d}", [(*c, v, None) for c, v in zip(cells, values, strict=True)])
        with connect(settings.warehouse_url, settings) as wh:
            load_run(wh, store, manifest, loadkit.LABELS)


def state(settings) -> tuple[dict, list[tuple], int]:
    with connect(settings.warehouse_url, settings) as wh:
        free = wh.query("SELECT free_blocks FROM pragma_database_size() WHERE database_name = current_database()")
        return loadkit.snapshot(wh), loadkit.current_rows(wh), free[0][0]


def db_file(settings) -> Path:
    return Path(settings.warehouse_url.removeprefix("duckdb:///"))


def test_compaction_shrinks_the_file_after_revision_runs_and_keeps_every_row(settings):
    revision_runs(settings, 6)
    before, current, free = state(settings)
    assert free > 0 and len(before["history"]) > 100_000
    size = db_file(settings).stat().st_size

    result = compact(settings.warehouse_url, settings)

    assert result.compacted and result.free_blocks == free
    assert db_file(settings).stat().st_size == result.bytes_after < 0.7 * size
    assert state(settings) == (before, current, 0)  # history, load log, labels and the current view; no free block
    with connect(settings.warehouse_url, settings) as wh:  # and it is a warehouse like before: the next run loads
        manifest = loadkit.stage_run(open_store(settings.stage_url), "after", loadkit.BASE_ROWS)
        assert load_run(wh, open_store(settings.stage_url), manifest, loadkit.LABELS).status == "loaded"


def test_a_file_with_few_free_blocks_is_left_alone(settings):
    revision_runs(settings, 1)
    inode = db_file(settings).stat().st_ino
    result = compact(settings.warehouse_url, settings)
    assert not result.compacted and result.bytes_after == result.bytes_before
    assert db_file(settings).stat().st_ino == inode


def test_compaction_refuses_while_this_process_holds_another_connection(settings):
    revision_runs(settings, 3)
    before = state(settings)
    with connect(settings.warehouse_url, settings):  # shares DuckDB's in-process instance: it would keep the old file
        with pytest.raises(WarehouseBusy, match="other connection"):
            compact(settings.warehouse_url, settings, force=True)
    assert state(settings) == before
    assert not db_file(settings).with_name(db_file(settings).name + COMPACT_SUFFIX).exists()


# Compacts in a process that is SIGKILLed where it would rename the finished copy over the warehouse file.
KILLED_AT_RENAME = """
import os, signal, sys
from multilevel.warehouse.duckdb import compact
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
compact(sys.argv[1], force=True)
"""


def test_a_kill_between_copy_and_rename_leaves_the_old_file_whole_and_the_next_compaction_cleans_up(settings):
    revision_runs(settings, 4)
    before = state(settings)
    killed = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME, settings.warehouse_url], capture_output=True,
                            text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    leftover = db_file(settings).with_name(db_file(settings).name + COMPACT_SUFFIX)
    assert leftover.stat().st_size > 0  # the copy was written, never renamed

    assert state(settings) == before  # the warehouse is the old file, whole, and loads on
    with connect(settings.warehouse_url, settings) as wh:
        manifest = loadkit.stage_run(open_store(settings.stage_url), "after", loadkit.BASE_ROWS)
        load_run(wh, open_store(settings.stage_url), manifest, loadkit.LABELS)
        loaded = loadkit.snapshot(wh)

    assert compact(settings.warehouse_url, settings, force=True).compacted
    assert not leftover.exists()
    assert state(settings)[0] == loaded


def test_harvest_and_compact_commands_compact_when_enough_blocks_are_free(settings, api, monkeypatch):
    for name, value in {"MULTILEVEL_EUROSTAT_URL": api.url, "MULTILEVEL_STAGE_URL": settings.stage_url,
                        "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url,
                        "MULTILEVEL_DUCKDB_COMPACT_FREE_FRACTION": "0.0001"}.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    done = runner.invoke(main, ["harvest", "--no-progress", "demo_r_pjanind3"])
    assert done.exit_code == 0, done.output
    api.revise("demo_r_pjanind3", n=2000)
    inode = db_file(settings).stat().st_ino
    done = runner.invoke(main, ["harvest", "--no-progress", "demo_r_pjanind3"])
    assert done.exit_code == 0, done.output
    assert db_file(settings).stat().st_ino != inode  # a new file was swapped in ...
    history, free = harvested(settings)
    assert free == 0 and len({row[:5] for row in history}) < len(history)  # ... holding the revision, no free block

    done = runner.invoke(main, ["compact", "--force"])
    assert done.exit_code == 0 and '"compacted": true' in done.output
    assert harvested(settings) == (history, 0)
    assert not any(p.name.endswith(COMPACT_SUFFIX) for p in db_file(settings).parent.iterdir())


def harvested(settings) -> tuple[list[tuple], int]:
    with connect(settings.warehouse_url, settings) as wh:
        free = wh.query("SELECT free_blocks FROM pragma_database_size() WHERE database_name = current_database()")
        rows = wh.query("SELECT * FROM eurostat.demo_r_pjanind3_history ORDER BY ALL")
        return rows, free[0][0]
