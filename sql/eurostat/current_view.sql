-- The current value of every observation: what Eurostat publishes today.
CREATE OR REPLACE VIEW {current} AS
SELECT {dimension_list}, time_period, value, flag, valid_from, source_updated
FROM {history}
WHERE valid_to IS NULL;
