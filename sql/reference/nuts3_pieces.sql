-- JRC NUTS converter (release 2025.08): every piece of territory shared by a NUTS 3 region of one version and one of
-- another, with its area and population 2011/2021 (data/reference/jrc_converter/MANIFEST.md for source and citation).
CREATE TABLE IF NOT EXISTS reference.nuts3_pieces (
    from_version VARCHAR(4) NOT NULL,
    to_version VARCHAR(4) NOT NULL,
    from_code VARCHAR(8) NOT NULL,
    to_code VARCHAR(8) NOT NULL,
    area_km2 DOUBLE PRECISION,
    pop11 DOUBLE PRECISION,
    pop21 DOUBLE PRECISION
)
{table_attributes};
