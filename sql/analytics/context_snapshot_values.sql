-- The values of each frozen context: the columns of analytics.ess_context_values, under the snapshot's name.
CREATE TABLE IF NOT EXISTS analytics.context_snapshot_values (
    "snapshot" VARCHAR(64) NOT NULL,  -- quoted: SNAPSHOT is a reserved word in Redshift
    essround SMALLINT,
    cntry VARCHAR(2),
    region VARCHAR(8),
    region_nuts_version VARCHAR(4),
    region_level SMALLINT,
    reference_date DATE,
    indicator VARCHAR(64),
    value DOUBLE PRECISION,
    method VARCHAR(16),
    coverage DOUBLE PRECISION,
    data_geo VARCHAR(256),
    data_nuts_version VARCHAR(32),
    data_level SMALLINT,
    data_year SMALLINT,
    flags VARCHAR(64),
    source_updated VARCHAR(32),
    note VARCHAR(256)
)
{table_attributes};
