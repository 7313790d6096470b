-- The first load of a dataset (its history is empty): every staged row is new, so a plain insert, without the
-- anti-join of insert_new.sql against an empty table.
INSERT INTO {history} ({dimension_list}, time_period, value, flag, valid_from, valid_to, source_updated, run_id)
SELECT {dimension_list}, time_period, value, flag, %s, NULL, %s, %s
FROM {staging};
