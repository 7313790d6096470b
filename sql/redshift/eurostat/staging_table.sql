-- Redshift: the run's rows land here (COPY from the staged Parquet files), distributed like the history table so
-- the merge below compares rows on the same node. A temporary table: gone at the end of the session.
-- The columns must be in the staged Parquet files' order: COPY from Parquet maps columns by position.
DROP TABLE IF EXISTS {staging};
CREATE TEMP TABLE {staging} (
    {dimension_columns},
    time_period VARCHAR(16) NOT NULL,
    value DOUBLE PRECISION,
    flag VARCHAR(16)
)
DISTKEY ({distribution_key});
