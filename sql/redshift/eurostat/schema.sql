-- Redshift: the common tables, with distribution and sort keys. Both tables are small and read by every load and
-- every report, so a full copy on every node (DISTSTYLE ALL) keeps their joins local.
CREATE SCHEMA IF NOT EXISTS eurostat;

CREATE TABLE IF NOT EXISTS eurostat.load_log (
    dataset VARCHAR(64) NOT NULL,
    run_id VARCHAR(128) NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    update_data VARCHAR(32),
    update_structure VARCHAR(32),
    status VARCHAR(16) NOT NULL,
    rows_received BIGINT,
    rows_inserted BIGINT,
    rows_closed BIGINT,
    rows_unchanged BIGINT,
    message VARCHAR(1024)
)
DISTSTYLE ALL
COMPOUND SORTKEY (dataset, finished_at);

CREATE TABLE IF NOT EXISTS eurostat.labels (
    dataset VARCHAR(64) NOT NULL,
    dimension VARCHAR(64) NOT NULL,
    code VARCHAR(64) NOT NULL,
    label VARCHAR(1024)
)
DISTSTYLE ALL
COMPOUND SORTKEY (dataset, dimension, code);
