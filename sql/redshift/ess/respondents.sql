-- Redshift: as sql/ess/respondents.sql (same columns: a test keeps them equal), distributed by region so that the
-- regional-context joins (respondent region -> NUTS codes -> Eurostat geo, which the history tables are
-- distributed by) stay on one node; sorted by round and country, the usual filters.
CREATE TABLE IF NOT EXISTS ess.respondents (
    essround SMALLINT NOT NULL,
    edition VARCHAR(16),
    cntry VARCHAR(2) NOT NULL,
    idno BIGINT NOT NULL,
    region VARCHAR(8),
    regunit SMALLINT,
    region_nuts_version VARCHAR(4) NOT NULL,
    region_flag VARCHAR(200),
    inwyys SMALLINT,
    inwyys_missing VARCHAR(1),
    inwmms SMALLINT,
    {answer_columns},
    dweight DOUBLE PRECISION NOT NULL,
    pspwght DOUBLE PRECISION NOT NULL,
    pweight DOUBLE PRECISION NOT NULL,
    anweight DOUBLE PRECISION NOT NULL,
    psu BIGINT,
    stratum BIGINT,
    prob DOUBLE PRECISION,
    PRIMARY KEY (essround, cntry, idno)
)
DISTSTYLE KEY
DISTKEY (region)
COMPOUND SORTKEY (essround, cntry);
