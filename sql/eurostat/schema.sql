-- Tables shared by every Eurostat dataset: the run log and the English labels of codes.
CREATE SCHEMA IF NOT EXISTS eurostat;

CREATE TABLE IF NOT EXISTS eurostat.load_log (
    dataset VARCHAR(64) NOT NULL,
    run_id VARCHAR(128) NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    update_data VARCHAR(32),
    update_structure VARCHAR(32),
    status VARCHAR(16) NOT NULL,          -- loaded | unchanged | failed
    rows_received BIGINT,
    rows_inserted BIGINT,
    rows_closed BIGINT,
    rows_unchanged BIGINT,
    message VARCHAR(1024)
);

CREATE TABLE IF NOT EXISTS eurostat.labels (
    dataset VARCHAR(64) NOT NULL,
    dimension VARCHAR(64) NOT NULL,
    code VARCHAR(64) NOT NULL,
    label VARCHAR(1024)
);
