-- Redshift: bulk-load staged Parquet files listed in a COPY manifest into a (staging) table.
--
-- Credentials: IAM_ROLE names the role the cluster assumes to read the stage bucket (settings.redshift_iam_role),
-- never access keys. {manifest_url} and {iam_role} are SQL string literals checked against strict patterns.
--
-- COMPUPDATE / STATUPDATE are left at their defaults on purpose:
-- * COMPUPDATE: COPY from a columnar format never applies automatic compression
--   (https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-copy-from-columnar.html), and the target is a
--   temporary staging table dropped after the merge, so there is nothing to decide.
-- * STATUPDATE: by default COPY analyses a table that was empty before the load
--   (https://docs.aws.amazon.com/redshift/latest/dg/copy-parameters-data-load.html#copy-statupdate). The staging
--   table always is, so the planner knows its real size when it plans the merge joins against the history table;
--   the history table itself is kept analysed by automatic analyze
--   (https://docs.aws.amazon.com/redshift/latest/dg/t_Analyzing_tables.html).
-- Columnar COPY accepts only a short list of parameters (same page as above), one more reason to add none.
COPY {staging}
FROM {manifest_url}
IAM_ROLE {iam_role}
MANIFEST
FORMAT AS PARQUET;
