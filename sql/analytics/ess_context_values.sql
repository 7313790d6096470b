-- One row per (round, country, ESS region, context variable): the value, how it was obtained (method: published,
-- recoded, reconstructed, coarser_region, country, none), the reconstruction's coverage of the region's population,
-- and where it came from (Eurostat geo codes, their NUTS version and level, year, flags, source_updated, note).
-- Replaced whole by each `multilevel context build` (context/tables.py).
CREATE TABLE analytics.ess_context_values (
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
