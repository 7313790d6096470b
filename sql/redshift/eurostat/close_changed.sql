-- Redshift: close current rows whose value or flag changed, or that vanished from the dataset.
-- The documented staging-table merge (https://docs.aws.amazon.com/redshift/latest/dg/merge-examples.html): UPDATE
-- the target FROM a derived table joined on the key. EXCEPT compares whole rows with NULLs equal, which Redshift has
-- no IS DISTINCT FROM for, and keeps correlated subqueries out of the UPDATE (Redshift restricts them).
-- Redshift's MERGE cannot do this step: it has one unconditional WHEN MATCHED, and unchanged rows must stay untouched.
UPDATE {history} AS h
SET valid_to = %s
FROM (
    SELECT {key_columns}, value, flag FROM {history} WHERE valid_to IS NULL
    EXCEPT
    SELECT {key_columns}, value, flag FROM {staging}
) AS s
WHERE h.valid_to IS NULL AND {key_match};
