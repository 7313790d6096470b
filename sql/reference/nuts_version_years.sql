-- The NUTS version Eurostat uses for the observations of a reference year.
CREATE TABLE IF NOT EXISTS reference.nuts_version_years (
    nuts_version VARCHAR(4) NOT NULL,
    first_year INTEGER NOT NULL,
    last_year INTEGER NOT NULL,
    PRIMARY KEY (nuts_version)
)
{table_attributes};
