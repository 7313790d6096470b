-- Redshift: the common history table, distributed by region (geo) so that joins with ess.respondents (distributed
-- by region too) and between datasets on geo run on the same node; sorted by region and period, the columns that
-- reports and the merge filter and join on, so range-restricted scans skip blocks.
CREATE TABLE IF NOT EXISTS {history} (
    {dimension_columns},
    time_period VARCHAR(16) NOT NULL,
    value DOUBLE PRECISION,
    flag VARCHAR(16),
    valid_from TIMESTAMP NOT NULL,
    valid_to TIMESTAMP,
    source_updated VARCHAR(32),
    run_id VARCHAR(128) NOT NULL
)
DISTSTYLE KEY
DISTKEY ({distribution_key})
COMPOUND SORTKEY ({distribution_key}, time_period);
