-- Every changed row of Eurostat's correspondence tables between consecutive NUTS versions, as published.
CREATE TABLE IF NOT EXISTS reference.nuts_changes (
    from_version VARCHAR(4) NOT NULL,
    to_version VARCHAR(4) NOT NULL,
    from_code VARCHAR(8),
    to_code VARCHAR(8),
    level SMALLINT,
    change VARCHAR(300),
    comment VARCHAR(300)
)
{table_attributes};
