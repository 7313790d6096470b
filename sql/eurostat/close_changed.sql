-- Close the current rows the run changes (revised, or vanished from the run; changes.sql found them): a join of
-- the current rows with the few changed keys. The plan's row-drop guard has already refused a run that would close
-- too many.
UPDATE {history} AS h
SET valid_to = %s
FROM {changes} AS s
WHERE h.valid_to IS NULL
    AND s.was_current
    AND {key_match};
