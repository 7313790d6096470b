-- Frozen contexts (`multilevel context snapshot --as-of ... --name ...`): one row per name, never overwritten.
CREATE TABLE IF NOT EXISTS analytics.context_snapshots (
    name VARCHAR(64) NOT NULL,
    as_of TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    indicators VARCHAR(2048) NOT NULL,
    PRIMARY KEY (name)
)
{table_attributes};
