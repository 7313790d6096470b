-- The English labels of every dataset's codes.
CREATE TABLE IF NOT EXISTS eurostat.labels (
    dataset VARCHAR(64) NOT NULL,
    dimension VARCHAR(64) NOT NULL,
    code VARCHAR(64) NOT NULL,
    label VARCHAR(1024)
)
{table_attributes};
