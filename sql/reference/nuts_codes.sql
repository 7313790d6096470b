-- NUTS codes of versions 2013, 2016, 2021 and 2024 (kind NUTS, or SR for statistical regions of non-EU countries).
CREATE TABLE IF NOT EXISTS reference.nuts_codes (
    nuts_version VARCHAR(4) NOT NULL,
    code VARCHAR(8) NOT NULL,
    country VARCHAR(2) NOT NULL,
    level SMALLINT NOT NULL,
    name VARCHAR(300),
    kind VARCHAR(4) NOT NULL,
    PRIMARY KEY (nuts_version, code)
)
{table_attributes};
