-- What the daily check knows about each regional dataset of Eurostat's catalogue (one row per check: check_log.sql).
-- eurostat.catalogue holds one row per dataset the check looked at (regional candidates and configured codes);
-- a row is rewritten only when the catalogue's dates for it move, so an unchanged day writes one check_log row
-- and one UPDATE of checked_at, whatever the number of datasets.
CREATE TABLE IF NOT EXISTS eurostat.catalogue (
    dataset VARCHAR(64) NOT NULL,
    title VARCHAR(1024),
    type VARCHAR(16),
    themes VARCHAR(1024),                 -- folder codes above it in the catalogue, space-separated
    toc_update_data VARCHAR(10),          -- last update of data (ISO day) as the catalogue said at the last check
    toc_update_structure VARCHAR(10),
    toc_values BIGINT,                    -- observations, as the catalogue says
    data_start VARCHAR(16),
    data_end VARCHAR(16),
    geo_levels VARCHAR(16),               -- NUTS levels of its geo codes, e.g. '0,1,2,3'; '' none; NULL not probed
    probed_update_structure VARCHAR(10),  -- structure date when geo_levels was asked (asked again when it moves)
    dataflow_update_data VARCHAR(32),     -- UPDATE_DATA of the dataflow at the last check that asked
    dataflow_update_structure VARCHAR(32),
    selected BOOLEAN NOT NULL,            -- chosen by datasets.yaml at the last check
    checked_at TIMESTAMP                  -- last check that looked at it
)
{table_attributes};
