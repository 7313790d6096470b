"""Redshift, in two parts that say what they check.

Redshift-only parts, offline: every statement parses with sqlfluff's redshift dialect; DISTKEY/SORTKEY (dialect
data, sql/dialects.toml) name real files and columns; the COPY and its manifest; URL options and credentials.

The redshift-connector client on PostgreSQL (``test_client_on_postgres_*``): the real client library, the
Redshift SQL (without its table attributes) and the client-side COPY, against PostgreSQL 18 behind the tests'
start-up filter. That is not a Redshift: a real one is checked by the opt-in ``real_redshift`` load contract run
(tests/warehouse/test_load_contract.py, MULTILEVEL_TEST_REDSHIFT_URL).
"""

from __future__ import annotations

import json
import re

import pytest
from loadkit import BASE_ROWS, LABELS, redshift_on_postgres, revised_rows, stage_run
from sqlfluff.core import FluffConfig, Linter

from multilevel import paths
from multilevel.errors import ConfigError, WarehouseError
from multilevel.settings import Settings
from multilevel.stage import open_store
from multilevel.warehouse import Dialect, connect
from multilevel.warehouse.base import render_sql
from multilevel.warehouse.history import _fragments, load_run
from multilevel.warehouse.redshift import (
    RedshiftWarehouse,
    connection_options,
    copy_manifest,
    copy_statement,
    manifest_key,
)

ROLE = "arn:aws:iam::123456789012:role/multilevel-copy"
LINTER = Linter(config=FluffConfig(overrides={"dialect": "redshift"}))

# Sample fragments for every {placeholder} of the SQL files (a new placeholder needs a sample here).
SAMPLES = {
    **_fragments("demo_r_pjangrp3", ["freq", "unit", "sex", "age", "geo"]),
    "answer_columns": '"trstprl" SMALLINT,\n    "trstprl_missing" VARCHAR(1)',
    "manifest_url": "'s3://stage-bucket/eurostat/demo_r_pjangrp3/run1/slices/redshift-copy-stg.manifest'",
    "iam_role": f"'{ROLE}'",
    "indicator_columns": '"population" DOUBLE PRECISION,\n    "population_method" VARCHAR(16)',
    "context_columns": 'c."population", c."population_method"',
}


def parse_errors(sql: str) -> list[str]:
    """sqlfluff's redshift parse of one statement; %s parameters become literals first."""
    parsed = LINTER.parse_string(sql.replace("%s", "'2025-01-01 00:00:00'") + "\n")
    return [f"{v.desc()}" for v in parsed.violations]


def redshift_sql_files() -> dict[str, str]:
    """Every SQL file Redshift may run, as it runs it: the common files with Redshift's table attributes filled in,
    and the Redshift-only statements under sql/redshift/."""
    files = {}
    for path in sorted(paths.SQL_DIR.rglob("*.sql")):
        rel = str(path.relative_to(paths.SQL_DIR))
        if rel.split("/")[0] not in ("postgres", "duckdb"):
            files[rel] = RedshiftWarehouse.dialect.sql(rel)
    return files


def statements(text: str) -> list[str]:
    from multilevel.warehouse.base import render_sql, split_statements

    missing = set(re.findall(r"\{([a-z_][a-z0-9_]*)\}", text)) - set(SAMPLES)
    assert not missing, f"add samples for placeholders {missing} to SAMPLES"
    return split_statements(render_sql(text, SAMPLES))


@pytest.mark.parametrize("relpath", sorted(redshift_sql_files()))
def test_every_redshift_sql_file_parses_as_redshift_sql(relpath):
    for sql in statements(redshift_sql_files()[relpath]):
        assert parse_errors(sql) == [], f"{relpath}: {sql[:200]}"
        assert not re.search(r"ACCESS_KEY_ID|SECRET_ACCESS_KEY|CREDENTIALS\s+'", sql, re.I), relpath


def test_the_parser_can_fail():
    assert parse_errors("SELEC value FROM eurostat.x WHERE") != []
    assert parse_errors("CREATE TABLE t (a INT) DISTKEY") != []
    assert parse_errors("CREATE TABLE t (a INT) DISTSTYLE KEY DISTKEY (a) COMPOUND SORTKEY (a)") == []


def _table_columns(text: str) -> list[str]:
    """The column names of the one CREATE TABLE in a rendered SQL file, comments dropped."""
    text = re.sub(r"--[^\n]*", "", text)
    (body,) = re.findall(r"CREATE (?:TEMP )?TABLE[^(]*\((.*?)\n\)", text, re.S)  # up to the ")" closing the columns
    names = [line.strip().split()[0].strip('"') for line in body.splitlines() if line.strip()]
    return [n for n in names if n not in ("PRIMARY", "UNIQUE", "CONSTRAINT")]


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "redshift"])
def test_dialect_data_names_real_files_and_columns(dialect):
    """Every table-attributes entry belongs to a SQL file with a {table_attributes} placeholder, and every column its
    DISTKEY/SORTKEY names is a column of that table (so a renamed column cannot leave a dead key behind)."""
    data = Dialect.load(dialect)
    for name, attributes in data.table_attributes.items():
        text = data.sql(f"{name}.sql")  # raises when the file lacks the placeholder
        assert attributes in text
        columns = _table_columns(render_sql(text, SAMPLES))
        for keys in re.findall(r"(?:DISTKEY|SORTKEY)\s*\(([^)]*)\)", render_sql(attributes, SAMPLES)):
            for key in keys.split(","):
                assert key.strip().strip('"') in columns, f"{dialect} {name}: {key.strip()} is not a column"
    for name in data.indexes:
        assert (paths.SQL_DIR / f"{name}.sql").is_file(), name


def test_redshift_tables_keep_their_keys():
    """Redshift's DDL carries its distribution and sort keys; the other dialects run the same file without them."""
    history = RedshiftWarehouse.dialect.sql("eurostat/history_table.sql")
    assert "DISTKEY ({distribution_key})" in history and "COMPOUND SORTKEY ({distribution_key}, time_period)" in history
    assert "DISTSTYLE ALL" in RedshiftWarehouse.dialect.sql("eurostat/load_log.sql")
    assert "DISTKEY (region)" in RedshiftWarehouse.dialect.sql("ess/respondents.sql")
    for table in ("ess_region_context", "ess_context_values", "context_snapshot_values"):  # joined with respondents
        assert "DISTSTYLE ALL" in RedshiftWarehouse.dialect.sql(f"analytics/{table}.sql"), table
    for other in ("duckdb", "postgres"):
        assert "DIST" not in Dialect.load(other).sql("eurostat/history_table.sql")


def test_table_attributes_need_a_placeholder(tmp_path, monkeypatch):
    (tmp_path / "t.sql").write_text("CREATE TABLE t (a INTEGER);\n")
    monkeypatch.setattr(paths, "SQL_DIR", tmp_path)
    with pytest.raises(ConfigError, match="no {table_attributes} placeholder"):
        Dialect(name="redshift", table_attributes={"t": "DISTKEY (a)"}).sql("t.sql")
    with pytest.raises(ConfigError, match="dialects.toml"):
        Dialect.load("redshift")


def test_a_dialect_creates_its_staging_table_as_temp_or_unlogged(tmp_path, monkeypatch):
    assert [Dialect.load(d).staging_kind for d in ("duckdb", "postgres", "redshift")] == ["TEMP", "UNLOGGED", "TEMP"]
    (tmp_path / "dialects.toml").write_text('[postgres]\nstaging_kind = "TEMPORARY UNLOGGED"\n')
    monkeypatch.setattr(paths, "SQL_DIR", tmp_path)
    with pytest.raises(ConfigError, match="staging_kind 'TEMPORARY UNLOGGED' is not one of TEMP, UNLOGGED"):
        Dialect.load("postgres")


def test_copy_statement_and_manifest(s3_stage):
    store = open_store(s3_stage)
    manifest = stage_run(store, "run1", BASE_ROWS)
    keys = [f["key"] for f in manifest["files"]]
    key = manifest_key('"stg_demo_r_test"', keys)
    assert key == "eurostat/demo_r_test/run1/slices/redshift-copy-stg_demo_r_test.manifest"
    body = json.loads(copy_manifest(store, keys))
    assert body == {
        "entries": [
            {"url": store.url_for(k), "mandatory": True, "meta": {"content_length": len(store.read_bytes(k))}}
            for k in keys
        ]
    }
    template = (paths.SQL_DIR / "redshift" / "copy_parquet.sql").read_text()
    sql = copy_statement(template, '"stg_demo_r_test"', store.url_for(key), ROLE)
    assert " ".join(sql.split()) == (
        f"COPY \"stg_demo_r_test\" FROM '{store.url_for(key)}' IAM_ROLE '{ROLE}' MANIFEST FORMAT AS PARQUET"
    )
    assert parse_errors(sql) == []
    with pytest.raises(ConfigError, match="MULTILEVEL_REDSHIFT_IAM_ROLE"):
        copy_statement(template, '"stg"', store.url_for(key), None)
    with pytest.raises(ConfigError, match="IAM role"):
        copy_statement(template, '"stg"', store.url_for(key), "AKIAIOSFODNN7EXAMPLE' CREDENTIALS 'x")
    with pytest.raises(ConfigError, match="manifest URL"):
        copy_statement(template, '"stg"', "s3://b/x'; DROP TABLE t; --", ROLE)


def test_url_options_and_credentials():
    kwargs, mode = connection_options("redshift://loader:s%40cret@host.example:5439/dev?ssl=false", None)
    assert (kwargs["user"], kwargs["password"], kwargs["ssl"], kwargs["port"], mode) == (
        "loader",
        "s@cret",
        False,
        5439,
        "s3",
    )
    settings = Settings(_env_file=None, warehouse_password="from-secret")
    assert connection_options("redshift://loader@host/dev", settings)[0]["password"] == "from-secret"
    iam, _ = connection_options(
        "redshift+iam://loader@c.x.eu-west-1.redshift.amazonaws.com/dev"
        "?cluster_identifier=c&region=eu-west-1&db_groups=etl,read",
        None,
    )
    assert (iam["iam"], iam["db_user"], iam["cluster_identifier"], iam["db_groups"]) == (
        True,
        "loader",
        "c",
        ["etl", "read"],
    )
    assert "password" not in iam
    serverless, _ = connection_options(
        "redshift+iam://wg.1.eu-west-1.redshift-serverless.amazonaws.com/dev?serverless_work_group=wg", None
    )
    assert serverless["is_serverless"] and serverless["serverless_work_group"] == "wg"
    with pytest.raises(ConfigError, match="no password"):
        connection_options("redshift://loader@host/dev", Settings(_env_file=None))
    with pytest.raises(ConfigError, match="unknown option 'sslmod'"):
        connection_options("redshift://u:p@host/dev?sslmod=verify-full", None)
    with pytest.raises(ConfigError, match="copy_mode"):
        connection_options("redshift://u:p@host/dev?copy_mode=fast", None)


def test_client_on_postgres_never_shows_the_password(redshift_url):
    with connect(redshift_url.replace(":test@", ":hunter2@")) as wh:
        assert "hunter2" not in wh.url and ":***@" in wh.url
        with pytest.raises(WarehouseError) as info:
            wh.execute("SELECT no_such_column FROM no_such_table")
        assert "hunter2" not in str(info.value)


def test_client_on_postgres_every_statement_of_a_load_parses(redshift_url, s3_stage, tmp_path, monkeypatch):
    """Run two loads with redshift-connector on PostgreSQL and parse every statement it sent as Redshift SQL."""
    redshift_on_postgres(monkeypatch)
    sent: list[str] = []
    execute = RedshiftWarehouse.execute
    query = RedshiftWarehouse._query_with_names
    monkeypatch.setattr(
        RedshiftWarehouse, "execute", lambda self, sql, p=None: sent.append(sql) or execute(self, sql, p)
    )
    monkeypatch.setattr(
        RedshiftWarehouse, "_query_with_names", lambda self, sql, p: sent.append(sql) or query(self, sql, p)
    )
    store = open_store(s3_stage)
    with connect(redshift_url) as wh:
        assert isinstance(wh, RedshiftWarehouse) and wh.copy_mode == "client"
        load_run(wh, store, stage_run(store, "run1", BASE_ROWS), LABELS)
        load_run(wh, store, stage_run(store, "run2", revised_rows()), LABELS)
    assert any(s.startswith("LOCK eurostat.load_log") for s in sent)
    assert any(s.lstrip().startswith("UPDATE") for s in sent)
    for sql in dict.fromkeys(sent):
        assert parse_errors(sql) == [], sql[:300]


def test_client_on_postgres_s3_copy_mode_sends_the_manifest_copy(redshift_url, s3_stage, tmp_path):
    """copy_mode=s3 writes the manifest and sends Redshift's COPY; PostgreSQL rejects it, which is as far as this
    path can go offline."""
    store = open_store(s3_stage)
    manifest = stage_run(store, "run1", BASE_ROWS)
    keys = [f["key"] for f in manifest["files"]]
    settings = Settings(_env_file=None, redshift_iam_role=ROLE)
    with connect(redshift_url.replace("copy_mode=client", "copy_mode=s3"), settings) as wh:
        wh.execute(
            'CREATE TEMP TABLE "stg_demo_r_test" (age VARCHAR(8), geo VARCHAR(8), time_period VARCHAR(16), '
            "value DOUBLE PRECISION, flag VARCHAR(16))"
        )
        with pytest.raises(WarehouseError, match="IAM_ROLE") as info:
            wh.copy_parquet('"stg_demo_r_test"', store, keys, ["age", "geo", "time_period", "value", "flag"])
        assert "MANIFEST FORMAT AS PARQUET" in str(info.value)
    assert store.exists(manifest_key('"stg_demo_r_test"', keys))
    folder = open_store(str(tmp_path / "stage"))
    folder_keys = [f["key"] for f in stage_run(folder, "run1", BASE_ROWS)["files"]]
    with connect(redshift_url.replace("copy_mode=client", "copy_mode=s3"), settings) as wh:
        with pytest.raises(ConfigError, match="MULTILEVEL_STAGE_URL=s3://"):
            wh.copy_parquet('"stg"', folder, folder_keys, ["age"])
    assert not folder.list("eurostat/demo_r_test/run1/slices")[-1].endswith(
        ".manifest"
    )  # refused before writing
