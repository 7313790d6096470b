"""Reading staged Parquet files in record batches: the client-side bulk load of PostgreSQL (COPY FROM STDIN) and of
Redshift's client copy mode. A file never has to fit in memory, and no row passes through Python one by one until a
driver needs it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.parquet as pq

from multilevel.errors import WarehouseError
from multilevel.stage import Store
from multilevel.workdir import work_dir

BATCH_ROWS = 64_000


@contextmanager
def parquet_file(store: Store, key: str) -> Iterator[pq.ParquetFile]:
    """Open a staged Parquet file for batch reading: in place for a folder store, else via a temporary download."""
    local = store.local_path(key)
    if local is not None:
        with pq.ParquetFile(local) as f:
            yield f
        return
    with work_dir("copy") as tmp:  # owned: a killed run's folder is removed by the next run
        path = tmp / "part.parquet"
        store.download(key, path)
        with pq.ParquetFile(path) as f:
            yield f


def parquet_batches(store: Store, keys: list[str], columns: list[str]) -> Iterator[pa.RecordBatch]:
    """Record batches of the staged files, columns in the given order (a missing column is a clear error)."""
    for key in keys:
        with parquet_file(store, key) as f:
            missing = [c for c in columns if c not in f.schema_arrow.names]
            if missing:
                raise WarehouseError(
                    f"{store.url_for(key)} lacks columns {missing} (it has {f.schema_arrow.names})"
                )
            yield from f.iter_batches(batch_size=BATCH_ROWS, columns=columns)
