-- One row per (round, country, ESS region): a summary (reference date, least direct method, coverage, NUTS
-- versions and level of the data, flags, source_updated), then every context variable and its method.
-- The indicator columns are generated from src/multilevel/context/indicators.yaml: "<name>" DOUBLE PRECISION,
-- "<name>_method" VARCHAR(16) per variable (context/tables.py). Replaced whole by each `multilevel context build`.
CREATE TABLE analytics.ess_region_context (
    essround SMALLINT,
    cntry VARCHAR(2),
    region VARCHAR(8),
    region_nuts_version VARCHAR(4),
    region_level SMALLINT,
    reference_date DATE,
    method VARCHAR(16),
    coverage DOUBLE PRECISION,
    data_nuts_version VARCHAR(32),
    data_level SMALLINT,
    flags VARCHAR(64),
    source_updated VARCHAR(32),
    {indicator_columns}
)
{table_attributes};
