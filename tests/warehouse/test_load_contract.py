"""The load contract, run against every warehouse (and both kinds of stage) on real servers.

first load · unchanged rerun · identical new run · revision · injected failure mid-load · two concurrent loaders ·
a loader killed with SIGKILL mid-load. Each case must leave the history exactly as the contract says.

Targets: DuckDB and PostgreSQL with a folder or an S3-API stage; the redshift-connector client with the Redshift SQL
on PostgreSQL (``redshift-client-on-postgres``); and, opt-in, a real Amazon Redshift (``real-redshift``, marker
``real_redshift``), run only when MULTILEVEL_TEST_REDSHIFT_URL is set (otherwise deselected, not skipped):

    MULTILEVEL_TEST_REDSHIFT_URL=redshift://user:password@cluster.xxx.eu-west-1.redshift.amazonaws.com:5439/dev
    MULTILEVEL_TEST_REDSHIFT_STAGE_URL=s3://bucket/prefix   # a bucket the cluster can COPY from
    MULTILEVEL_REDSHIFT_IAM_ROLE=arn:aws:iam::...:role/...   # the role Redshift's COPY assumes
    make test PYTEST_ARGS="-m real_redshift"

The real run uses the test dataset ``eurostat.demo_r_test*`` of that cluster and drops it before each test.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from loadkit import (
    BASE_ROWS,
    DATASET,
    DIMENSIONS,
    LABELS,
    current_rows,
    expected,
    redshift_on_postgres,
    revised_rows,
    snapshot,
    stage_run,
)

from multilevel.errors import StageError, ValidationFailed, WarehouseError
from multilevel.settings import Settings
from multilevel.stage import Store, open_store
from multilevel.warehouse import connect
from multilevel.warehouse.history import load_run

LOADER = Path(__file__).with_name("load_once.py")


REAL_REDSHIFT_URL = "MULTILEVEL_TEST_REDSHIFT_URL"
REAL_REDSHIFT_STAGE_URL = "MULTILEVEL_TEST_REDSHIFT_STAGE_URL"


@dataclass
class Target:
    warehouse_url: str
    store: Store
    loader_options: tuple[str, ...] = ()  # for load_once.py
    settings: Settings | None = None

    def connect(self):
        return connect(self.warehouse_url, self.settings)


def real_redshift_target(tmp_path) -> Target:
    """A real Redshift from the environment, with the test dataset dropped (a failure, not a skip, when incomplete)."""
    stage_url = os.environ.get(REAL_REDSHIFT_STAGE_URL, "")
    assert stage_url.startswith("s3://"), f"set {REAL_REDSHIFT_STAGE_URL}=s3://bucket/prefix for the real Redshift run"
    settings = Settings(_env_file=None)
    assert settings.redshift_iam_role, "set MULTILEVEL_REDSHIFT_IAM_ROLE for the real Redshift run"
    store = open_store(f"{stage_url.rstrip('/')}/{tmp_path.name}")
    target = Target(os.environ[REAL_REDSHIFT_URL], store, settings=settings)
    with target.connect() as wh, wh.transaction():
        wh.execute(f'DROP VIEW IF EXISTS eurostat."{DATASET}"')
        wh.execute(f'DROP TABLE IF EXISTS eurostat."{DATASET}_history"')
        for table in ("load_log", "labels"):
            if wh.relation_exists("eurostat", table):
                wh.execute(f"DELETE FROM eurostat.{table} WHERE dataset = %s", (DATASET,))
    return target


@pytest.fixture(
    params=[
        "duckdb-folder",
        "duckdb-s3",
        "postgres-folder",
        "postgres-s3",
        pytest.param("redshift-s3", id="redshift-client-on-postgres-s3"),
        pytest.param("real-redshift", id="real-redshift", marks=pytest.mark.real_redshift),
    ]
)
def target(request, tmp_path, monkeypatch) -> Target:
    if request.param == "real-redshift":
        return real_redshift_target(tmp_path)
    warehouse, stage = request.param.split("-")
    stage_url = request.getfixturevalue("s3_stage") if stage == "s3" else str(tmp_path / "stage")
    if warehouse == "duckdb":
        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    elif warehouse == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = request.getfixturevalue("redshift_url")
        redshift_on_postgres(monkeypatch)
        return Target(url, open_store(stage_url), ("--redshift-on-postgres",))
    return Target(url, open_store(stage_url))


def _load(target: Target, manifest: dict):
    with target.connect() as wh:
        return load_run(wh, target.store, manifest, LABELS)


def _state(target: Target) -> dict:
    with target.connect() as wh:
        return snapshot(wh)


def test_first_load(target):
    result = _load(target, stage_run(target.store, "run1", BASE_ROWS))
    assert (result.status, result.rows_received, result.rows_inserted, result.rows_closed) == (
        "loaded",
        8,
        8,
        0,
    )
    with target.connect() as wh:
        assert current_rows(wh) == expected(BASE_ROWS)
        assert wh.query("SELECT status, rows_received FROM eurostat.load_log") == [("loaded", 8)]
        # every row carries the run's version, stamped at a time within the load
        assert wh.query(
            f'SELECT DISTINCT h.run_id, h.source_updated, h.valid_to, h.valid_from BETWEEN l.started_at AND '
            f'l.finished_at FROM eurostat."{DATASET}_history" AS h, eurostat.load_log AS l'
        ) == [("run1", "2025-01-01T11:00:00+0100", None, True)]
        assert sorted(
            wh.query("SELECT dimension, code, label FROM eurostat.labels WHERE dataset = %s", (DATASET,))
        ) == sorted(LABELS)


def test_rerun_of_the_same_run_changes_nothing(target):
    manifest = stage_run(target.store, "run1", BASE_ROWS)
    _load(target, manifest)
    before = _state(target)
    assert _load(target, manifest).status == "already_loaded"
    assert _state(target) == before


def test_new_run_with_identical_data_adds_no_history(target):
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    history_before = _state(target)["history"]
    result = _load(target, stage_run(target.store, "run2", BASE_ROWS))
    assert (result.status, result.rows_inserted, result.rows_closed, result.rows_unchanged) == (
        "loaded",
        0,
        0,
        8,
    )
    assert _state(target)["history"] == history_before


def test_revision_closes_old_versions_and_inserts_new_ones(target):
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    result = _load(
        target, stage_run(target.store, "run2", revised_rows(), update_data="2025-02-01T11:00:00+0100")
    )
    # closed: changed value, dropped flag, vanished row; inserted: their two new versions and the new row
    assert (result.rows_closed, result.rows_inserted, result.rows_unchanged) == (3, 3, 5)
    with target.connect() as wh:
        assert current_rows(wh) == expected(revised_rows())
        history = wh.query(
            f"SELECT age, geo, time_period, value, valid_to IS NULL, run_id "
            f'FROM eurostat."{DATASET}_history" WHERE age = %s AND geo = %s AND time_period = %s '
            "ORDER BY valid_from",
            ("Y_LT5", "AT1", "2021"),
        )
        assert [(float(v), cur, run) for _, _, _, v, cur, run in history] == [
            (101.0, False, "run1"),
            (111.0, True, "run2"),
        ]
        assert wh.query(f'SELECT count(*) FROM eurostat."{DATASET}_history"')[0][0] == len(BASE_ROWS) + 3
    # and loading the revision again is a no-op
    assert _load(target, stage_run(target.store, "run3", revised_rows())).rows_inserted == 0


def test_changes_to_and_from_null_are_revisions_and_equal_nulls_are_not(target):
    """The merge compares value and flag with NULLs equal: each kind of NULL change closes exactly its row."""
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    changes = {
        ("Y_LT5", "AT2", "2021"): (5.0, "c"),  # value NULL -> 5
        ("Y_LT5", "AT1", "2020"): (100.0, "p"),  # flag NULL -> p
        ("Y5-9", "AT1", "2021"): (None, "e"),  # value 201.5 -> NULL
        ("Y5-9", "AT2", "2020"): (0.0, None),  # flag '' -> NULL ('' is a flag, NULL is none)
    }
    rows = [r[:3] + changes.get(r[:3], r[3:]) for r in BASE_ROWS]
    result = _load(target, stage_run(target.store, "run2", rows))
    assert (result.rows_closed, result.rows_inserted, result.rows_unchanged) == (4, 4, 4)
    with target.connect() as wh:
        assert current_rows(wh) == expected(rows)
    assert _load(target, stage_run(target.store, "run3", rows)).rows_closed == 0


def test_failure_mid_load_leaves_the_warehouse_as_before(target, monkeypatch):
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    before = _state(target)
    manifest = stage_run(target.store, "run2", revised_rows())
    with target.connect() as wh:
        run_sql_file = wh.run_sql_file

        def failing(relpath, *args, **kwargs):
            changed = run_sql_file(relpath, *args, **kwargs)
            if relpath.endswith("close_changed.sql"):  # rows are already closed inside the transaction
                raise RuntimeError("injected failure between closing and inserting")
            return changed

        monkeypatch.setattr(wh, "run_sql_file", failing)
        with pytest.raises(RuntimeError, match="injected"):
            load_run(wh, target.store, manifest, LABELS)
    assert _state(target) == before
    assert _load(target, manifest).rows_inserted == 3  # the same run completes afterwards


def test_manifest_promising_other_row_counts_is_rejected_and_rolled_back(target):
    manifest = stage_run(target.store, "run1", BASE_ROWS)
    manifest["files"][0]["rows"] += 1
    with pytest.raises(StageError, match="promises 9 rows"):
        _load(target, manifest)
    state = _state(target)
    assert not state.get("history") and not state.get("load_log")


TWICE = r"4 key\(s\) arrive more than once .*e\.g\. Y5-9 AT1 2020 \(2 times\)"


def test_a_first_load_with_a_key_twice_is_refused_and_leaves_nothing(target):
    """PostgreSQL copies a first load straight into the history and lets its unique index find a key twice; every
    warehouse still refuses the run whole, naming the keys the same way."""
    manifest = stage_run(target.store, "run1", BASE_ROWS)
    manifest["files"].append(manifest["files"][0])  # a slice staged twice: its 4 keys arrive twice
    with pytest.raises(ValidationFailed, match=TWICE):
        _load(target, manifest)
    state = _state(target)
    assert not state.get("history") and not state.get("load_log")
    assert _load(target, stage_run(target.store, "run2", BASE_ROWS)).rows_inserted == len(BASE_ROWS)


@pytest.mark.parametrize("rows", [BASE_ROWS, revised_rows()], ids=["keys-unchanged", "keys-changed-and-new"])
def test_a_revision_with_a_key_twice_is_refused_and_changes_nothing(target, rows):
    """On PostgreSQL the merge itself is the check (its unique index refuses a changed or new key inserted twice; an
    unchanged key staged twice leaves fewer current rows than staged rows): both cases are refused like elsewhere."""
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    before = _state(target)
    manifest = stage_run(target.store, "run2", rows)
    manifest["files"].append(manifest["files"][0])  # the Y5-9 slice staged twice
    with pytest.raises(ValidationFailed, match=TWICE):
        _load(target, manifest)
    assert _state(target) == before
    assert _load(target, stage_run(target.store, "run3", rows)).status == "loaded"


def _loader(target: Target, manifest_key: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(LOADER), target.warehouse_url, target.store.url, manifest_key]
        + [*target.loader_options, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def test_two_concurrent_loads_of_the_same_run(target):
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    stage_run(target.store, "run2", revised_rows())
    key = f"eurostat/{DATASET}/run2/manifest.json"
    loaders = [_loader(target, key), _loader(target, key)]
    outcomes = []
    for p in loaders:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        outcomes.append(out.strip().splitlines()[-1])
    assert sorted(outcomes) == ["already_loaded", "loaded"]
    with target.connect() as wh:
        assert current_rows(wh) == expected(revised_rows())
        assert wh.query(f'SELECT count(*) FROM eurostat."{DATASET}_history"')[0][0] == len(BASE_ROWS) + 3


def test_loader_killed_mid_load_leaves_the_warehouse_as_before(target):
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    before = _state(target)
    stage_run(target.store, "run2", revised_rows())
    key = f"eurostat/{DATASET}/run2/manifest.json"
    loader = _loader(target, key, "--pause-after", "close_changed.sql")
    try:
        line = loader.stdout.readline()
        assert line.strip() == "PAUSED", loader.stderr.read()
    finally:
        loader.send_signal(signal.SIGKILL)
        loader.communicate(timeout=30)
    assert loader.returncode == -signal.SIGKILL
    assert _state(target) == before
    result = _load(
        target, stage_run(target.store, "run2", revised_rows())
    )  # staged files are immutable: same run
    assert (result.status, result.rows_closed, result.rows_inserted) == ("loaded", 3, 3)


def test_postgres_first_load_builds_the_unique_current_key_index(postgres_url, tmp_path):
    """The first load inserts without the partial unique index and builds it afterwards (speed); the guarantee stays:
    after any load, a second current row for a key is refused by PostgreSQL itself."""
    target = Target(postgres_url, open_store(str(tmp_path / "stage")))
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    with target.connect() as wh:  # the first load set the version columns as defaults for its COPY only
        assert wh.query(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_default IS NOT NULL",
            (f"{DATASET}_history",),
        ) == []
    duplicate = (
        f'INSERT INTO eurostat."{DATASET}_history" (age, geo, time_period, value, flag, valid_from, valid_to, '
        f"source_updated, run_id) SELECT age, geo, time_period, value, flag, valid_from, NULL, source_updated, 'x' "
        f'FROM eurostat."{DATASET}_history" LIMIT 1'
    )
    for run in ("run1", "run2"):
        if run == "run2":
            _load(target, stage_run(target.store, "run2", revised_rows()))
        with target.connect() as wh:
            assert wh.query("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (f"{DATASET}_current_key",))
            with pytest.raises(WarehouseError, match="duplicate key"), wh.transaction():
                wh.execute(duplicate)


@pytest.mark.parametrize("history_collation", ["C", "default"], ids=["history-as-created-now", "older-history"])
def test_postgres_history_codes_compare_bytewise_and_the_closing_update_probes_the_key_index(
        postgres_url, tmp_path, history_collation):
    """The history's code columns are COLLATE "C" on PostgreSQL (sql/dialects.toml: byte order, a faster index build);
    the staging table keeps the default collation. The revision's closing UPDATE compares the two and must still
    probe the unique current-key index, on a history created now and on one created before (default collation)."""
    from multilevel.warehouse.base import render_sql
    from multilevel.warehouse.history import _fragments

    target = Target(postgres_url, open_store(str(tmp_path / "stage")))
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    keys = [*DIMENSIONS, "time_period"]
    history = f'eurostat."{DATASET}_history"'
    with target.connect() as wh:
        collations = dict(wh.query(
            "SELECT column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = 'eurostat' AND table_name = %s", (f"{DATASET}_history",)))
        assert {k: collations[k] for k in keys} == dict.fromkeys(keys, "C")
        assert collations["flag"] is None and collations["run_id"] is None
        if history_collation == "default":  # as a history table created by an earlier version is
            wh.execute(f'DROP VIEW eurostat."{DATASET}"')
            wh.execute(f"ALTER TABLE {history} " + ", ".join(
                f'ALTER COLUMN "{k}" TYPE VARCHAR(100) COLLATE "default"' for k in keys))
        f = _fragments(DATASET, DIMENSIONS, wh.dialect)
        with wh.transaction():
            wh.run_sql_file("eurostat/staging_table.sql", **f)
            wh.execute(f"INSERT INTO {f['staging']} SELECT {f['key_columns']}, value + 1, flag FROM {history}")
            if wh.dialect.analyze_staging:  # as the load does
                wh.execute(f"ANALYZE {f['staging']}")
            wh.run_sql_file("eurostat/changes.sql", **f)
            # a handful of rows: left to itself the planner would scan them all; it may only probe an index by key
            for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin", "enable_material"):
                wh.execute(f"SET LOCAL {setting} = off")
            update = render_sql(wh.dialect.sql("eurostat/close_changed.sql"), f).rstrip().rstrip(";")
            plan = "\n".join(r[0] for r in wh.query("EXPLAIN " + update, ("2030-01-01",)))
    probe = plan.split(f"Index Scan using {DATASET}_current_key", 1)[-1]
    assert "Index Cond" in probe and "geo" in probe.split("Index Cond", 1)[1], plan


def test_postgres_merge_may_join_the_staged_rows_in_parallel(postgres_url, tmp_path):
    """The revision's one big join (changes.sql) may run as a parallel hash join on PostgreSQL: its staging table is
    UNLOGGED (sql/dialects.toml), as no temporary table is ever scanned by parallel workers. The test rows are few,
    so parallel plans are made free here; the staging table must still be one the workers can read."""
    from multilevel.warehouse.base import render_sql, split_statements
    from multilevel.warehouse.history import _fragments

    target = Target(postgres_url, open_store(str(tmp_path / "stage")))
    _load(target, stage_run(target.store, "run1", BASE_ROWS))
    with target.connect() as wh:
        f = _fragments(DATASET, DIMENSIONS, wh.dialect)
        with wh.transaction():
            wh.run_sql_file("eurostat/staging_table.sql", **f)
            wh.execute(f"INSERT INTO {f['staging']} SELECT {f['key_columns']}, value + 1, flag "
                       f"FROM eurostat.\"{DATASET}_history\"")
            wh.prepare_merge()
            for setting, value in {"parallel_setup_cost": 0, "parallel_tuple_cost": 0,
                                   "min_parallel_table_scan_size": 0, "max_parallel_workers_per_gather": 2}.items():
                wh.execute(f"SET LOCAL {setting} = {value}")
            drop, changes = split_statements(render_sql(wh.dialect.sql("eurostat/changes.sql"), f))
            plan = "\n".join(r[0] for r in wh.query("EXPLAIN " + changes))
    assert "Parallel Hash Full Join" in plan and f"Parallel Seq Scan on stg_{DATASET}" in plan, plan


def test_postgres_history_statistics_are_refreshed_after_a_first_load_and_a_large_revision_only(postgres_url,
                                                                                                 tmp_path):
    """ANALYZE of the history after a load: always after the first, after a revision only when it changed at least
    10 % of the rows (history.ANALYZE_AFTER_CHANGED, autovacuum's own threshold). pg_class.reltuples is the row count
    the last ANALYZE saw (the test's changes are far below autovacuum's thresholds, so only the load analyses)."""
    target = Target(postgres_url, open_store(str(tmp_path / "stage")))
    rows = [(age, f"AT{g:03d}", "2020", float(g), None) for age in ("Y_LT5", "Y5-9") for g in range(100)]

    def revised(n: int, by: float) -> list[tuple]:  # the first n rows with a new value
        return [(*r[:3], r[3] + by, r[4]) if i < n else r for i, r in enumerate(rows)]

    def analysed_rows() -> int:
        with target.connect() as wh:
            return int(wh.query("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                                (f'eurostat."{DATASET}_history"',))[0][0])

    _load(target, stage_run(target.store, "run1", rows))
    assert analysed_rows() == 200
    small = _load(target, stage_run(target.store, "run2", revised(5, 1), update_data="2025-02-01T11:00:00+0100"))
    assert (small.rows_inserted, small.rows_closed) == (5, 5)
    assert analysed_rows() == 200  # 10 of 200 changed: the statistics stay as they were (history: 205 rows)
    large = _load(target, stage_run(target.store, "run3", revised(15, 2), update_data="2025-03-01T11:00:00+0100"))
    assert (large.rows_inserted, large.rows_closed) == (15, 15)
    assert analysed_rows() == 220  # 30 of 200 changed: analysed again (history: 220 rows)
