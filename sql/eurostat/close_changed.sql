-- Close the current rows a run changes: both statements compare on the observation key, so the work is a join of
-- the current rows with the staged rows on the key, and only rows that really change are written (a revision of
-- 0.5 % writes 0.5 %). The same two statements run on DuckDB, PostgreSQL and Redshift.
--
-- 1. Revised: the staged row has the same key but another value or flag. NULLs compare equal, spelled out because
--    Redshift lacks IS DISTINCT FROM: (a <> b) is NULL when one side is NULL, and then the IS NULL test decides.
UPDATE {history} AS h
SET valid_to = %s
FROM {staging} AS s
WHERE h.valid_to IS NULL
    AND {key_match}
    AND (h.value <> s.value OR (h.value IS NULL) <> (s.value IS NULL)
         OR h.flag <> s.flag OR (h.flag IS NULL) <> (s.flag IS NULL));
-- 2. Vanished: no staged row has the key any more (an anti-join; the plan's row-drop guard has already refused a run
--    that would close too many).
UPDATE {history} AS h
SET valid_to = %s
WHERE h.valid_to IS NULL
    AND NOT EXISTS (SELECT 1 FROM {staging} AS s WHERE {key_match});
