-- One row per daily catalogue check: what it asked, what it found, what it handed to the harvest.
CREATE TABLE IF NOT EXISTS eurostat.check_log (
    check_id VARCHAR(128) NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    requests INTEGER,                     -- HTTP requests the check made (1 on a day when nothing moved)
    datasets INTEGER,                     -- selected datasets looked at
    changed INTEGER,                      -- handed to the harvest
    unchanged INTEGER,
    changed_list VARCHAR(4096)
)
{table_attributes};
