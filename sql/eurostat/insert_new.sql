-- Insert the new version of every changed or new key of the run (changes.sql found them; close_changed.sql has
-- just closed their old versions), the second half of the merge.
INSERT INTO {history} ({dimension_list}, time_period, value, flag, valid_from, valid_to, source_updated, run_id)
SELECT {staged_dimension_list}, s.time_period, s.value, s.flag, %s, NULL, %s, %s
FROM {changes} AS s
WHERE s.is_staged;
