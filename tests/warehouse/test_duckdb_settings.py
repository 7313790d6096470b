"""DuckDB takes its memory limit from the settings (so a merge spills instead of growing) and checkpoints loads."""

import pytest

from multilevel.errors import ConfigError
from multilevel.warehouse import connect


def test_memory_limit_comes_from_the_settings(settings, tmp_path):
    settings.duckdb_memory_limit = "300MB"
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}", settings) as wh:
        limit = wh.query("SELECT current_setting('memory_limit')")[0][0]
    assert limit.startswith("286") and "MiB" in limit  # 300 MB in DuckDB's own units


def test_a_default_limit_applies_without_settings(tmp_path):
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        assert wh.query("SELECT current_setting('memory_limit')")[0][0].startswith("122")  # 128MB


@pytest.mark.parametrize("bad", ["lots", "512MB'; DROP TABLE x; --", ""])
def test_a_bad_memory_limit_is_a_config_error_naming_the_setting(settings, tmp_path, bad):
    settings.duckdb_memory_limit = bad
    with pytest.raises(ConfigError, match="MULTILEVEL_DUCKDB_MEMORY_LIMIT"):
        connect(f"duckdb:///{tmp_path / 'w.duckdb'}", settings)


def test_bulk_copies_run_on_one_thread_and_give_the_threads_back(tmp_path, monkeypatch):
    """A Parquet copy runs on one DuckDB thread (cheaper and no slower: DuckDBWarehouse._one_thread says why); the
    merge after it gets every thread again, also when the copy failed."""
    from loadkit import BASE_ROWS, DIMENSIONS, stage_run

    from multilevel.stage import open_store
    from multilevel.warehouse.duckdb import DuckDBWarehouse

    store = open_store(str(tmp_path / "stage"))
    keys = [e["key"] for e in stage_run(store, "run1", BASE_ROWS)["files"]]
    columns = [*DIMENSIONS, "time_period", "value", "flag"]
    threads_at_insert = []
    execute = DuckDBWarehouse.execute

    def watching(self, sql, params=None):
        if "read_parquet" in sql:
            threads_at_insert.append(self.con.execute("SELECT current_setting('threads')").fetchone()[0])
        return execute(self, sql, params)

    monkeypatch.setattr(DuckDBWarehouse, "execute", watching)
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        wh.execute("SET threads = 3")  # whatever the machine has
        wh.execute("CREATE TABLE t (age VARCHAR, geo VARCHAR, time_period VARCHAR, value DOUBLE, flag VARCHAR)")
        assert wh.copy_parquet("t", store, keys, columns) == len(BASE_ROWS)
        assert threads_at_insert == [1]
        assert wh.query("SELECT current_setting('threads')")[0][0] == 3
        (tmp_path / "stage" / keys[0]).write_bytes(b"not parquet")
        with pytest.raises(Exception, match="parquet|Parquet"):
            wh.copy_parquet("t", store, keys, columns)
        assert wh.query("SELECT current_setting('threads')")[0][0] == 3
