-- PostgreSQL: as the common file, plus a partial unique index that both speeds up the merge's key lookups and
-- guarantees at most one current row per observation key.
CREATE TABLE IF NOT EXISTS {history} (
    {dimension_columns},
    time_period VARCHAR(16) NOT NULL,
    value DOUBLE PRECISION,
    flag VARCHAR(16),
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP,
    source_updated VARCHAR(32),
    run_id VARCHAR(128) NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS {current_index} ON {history} ({key_columns}) WHERE valid_to IS NULL;
