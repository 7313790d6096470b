-- One row per load of a dataset's run (shared by every Eurostat dataset).
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
)
{table_attributes};
