-- The one comparison of a run with the current rows: a full outer join on the observation key, keeping only the
-- keys where something changes. close_changed.sql and insert_new.sql then read this small table instead of joining
-- all staged rows with all current rows again, so the big join happens once and the writes scale with what changed
-- (0.5 % of the rows in a typical revision). The same statement runs on DuckDB, PostgreSQL and Redshift.
--   is_staged: the run has the key (its new version is inserted); was_current: a current row has it (it is closed);
--   both: the value or the flag changed. NULLs compare equal, spelled out because Redshift lacks IS DISTINCT FROM:
--   (a <> b) is NULL when one side is NULL, and then the IS NULL test decides.
DROP TABLE IF EXISTS {changes};
CREATE TEMP TABLE {changes} AS
SELECT {coalesced_key_list}, s.value, s.flag,
    s.time_period IS NOT NULL AS is_staged, h.time_period IS NOT NULL AS was_current
FROM {staging} AS s
FULL OUTER JOIN (SELECT {key_columns}, value, flag FROM {history} WHERE valid_to IS NULL) AS h
    ON {key_match}
WHERE s.time_period IS NULL OR h.time_period IS NULL
    OR h.value <> s.value OR (h.value IS NULL) <> (s.value IS NULL)
    OR h.flag <> s.flag OR (h.flag IS NULL) <> (s.flag IS NULL);
