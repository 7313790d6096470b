-- A run's rows are copied here first; the merge compares them with the current rows. {staging_kind} is TEMP or
-- UNLOGGED (sql/dialects.toml): never logged either way, as the rows are in the stage and the table lives for one
-- transaction.
DROP TABLE IF EXISTS {staging};
CREATE {staging_kind} TABLE {staging} (
    {dimension_columns},
    time_period VARCHAR(16) NOT NULL,
    value DOUBLE PRECISION,
    flag VARCHAR(16)
)
{table_attributes};
