-- Insert a new version for every staged row without an identical current row (new or revised observations).
INSERT INTO {history} ({dimension_list}, time_period, value, flag, valid_from, valid_to, source_updated, run_id)
SELECT {staged_dimension_list}, s.time_period, s.value, s.flag, %s, NULL, %s, %s
FROM {staging} AS s
WHERE NOT EXISTS (
    SELECT 1 FROM {history} AS h
    WHERE h.valid_to IS NULL AND {key_match}
);
