"""DuckDB's executemany of an INSERT ... VALUES: text rows go in as one statement, other rows one by one; both alike."""

from multilevel.warehouse import connect

ROWS = [("d", "geo", f"AT{i}", f"Région {i} 'quoted'") for i in range(3000)] + [("d", "geo", "XX", None)]


def test_text_rows_insert_as_one_statement_with_every_row_intact(tmp_path):
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        wh.execute("CREATE TABLE labels (dataset VARCHAR, dimension VARCHAR, code VARCHAR, label VARCHAR)")
        wh.executemany("INSERT INTO labels (dataset, dimension, code, label) VALUES (%s, %s, %s, %s)", ROWS)
        assert sorted(wh.query("SELECT * FROM labels"), key=str) == sorted(ROWS, key=str)


def test_rows_with_other_types_insert_one_by_one_with_the_same_result(tmp_path):
    rows = [(i, f"c{i}", None if i % 2 else 1.5 * i) for i in range(50)]
    with connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as wh:
        wh.execute("CREATE TABLE t (n INTEGER, code VARCHAR, x DOUBLE)")
        wh.executemany("INSERT INTO t (n, code, x) VALUES (%s, %s, %s)", rows)
        assert wh.query("SELECT * FROM t ORDER BY n") == rows
