-- Insert a new version for every staged row without a current row (new observations, and those whose old version
-- close_changed.sql just closed): an anti-join, the second half of the staging-table merge.
INSERT INTO {history} ({dimension_list}, time_period, value, flag, valid_from, valid_to, source_updated, run_id)
SELECT {staged_dimension_list}, s.time_period, s.value, s.flag, %s, NULL, %s, %s
FROM {staging} AS s
LEFT JOIN {history} AS h
    ON h.valid_to IS NULL AND {key_match}
WHERE h.run_id IS NULL;
