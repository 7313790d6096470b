-- Close current rows whose value or flag changed, or that vanished from the dataset: the first half of the
-- staging-table merge AWS documents for Redshift (https://docs.aws.amazon.com/redshift/latest/dg/merge-examples.html),
-- which DuckDB and PostgreSQL run as well, so all three warehouses share one merge.
-- EXCEPT compares whole rows with NULLs equal (no IS DISTINCT FROM needed, which Redshift lacks) and keeps correlated
-- subqueries out of the UPDATE. MERGE cannot do this step on Redshift: it allows one unconditional WHEN MATCHED, and
-- unchanged rows must stay untouched.
UPDATE {history} AS h
SET valid_to = %s
FROM (
    SELECT {key_columns}, value, flag FROM {history} WHERE valid_to IS NULL
    EXCEPT
    SELECT {key_columns}, value, flag FROM {staging}
) AS s
WHERE h.valid_to IS NULL AND {key_match};
