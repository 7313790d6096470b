-- A run's rows are copied here first; the merge below compares them with the current rows.
DROP TABLE IF EXISTS {staging};
CREATE TEMP TABLE {staging} (
    {dimension_columns},
    time_period VARCHAR(16) NOT NULL,
    value DOUBLE PRECISION,
    flag VARCHAR(16)
)
{table_attributes};
