-- One table per dataset keeps every version of every observation. A row is current while valid_to IS NULL;
-- a revision closes the old row (valid_to = load time) and inserts the new one, so nothing Eurostat overwrote is lost.
CREATE TABLE IF NOT EXISTS {history} (
    {history_dimension_columns},
    time_period VARCHAR(16){code_collation} NOT NULL,
    value DOUBLE PRECISION,
    flag VARCHAR(16),
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP,
    source_updated VARCHAR(32),
    run_id VARCHAR(128) NOT NULL
)
{table_attributes};
