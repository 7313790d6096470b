-- One row per ESS respondent, keyed by (essround, cntry, idno); a round is replaced as a whole on reload.
-- Each answer is a nullable small integer beside its missing reason (column name + _missing) ('a' not applicable, 'b' refusal,
-- 'c' don't know, 'd' no answer). answer_columns is built from the configured answer list (quoted identifiers).
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
{table_attributes};
