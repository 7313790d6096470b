-- Close current rows whose value or flag changed, or that vanished from the dataset. (Null-safe comparison
-- written out because Redshift has no IS DISTINCT FROM.)
UPDATE {history} AS h
SET valid_to = %s
WHERE h.valid_to IS NULL
  AND NOT EXISTS (
      SELECT 1 FROM {staging} AS s
      WHERE {key_match}
        AND (h.value = s.value OR (h.value IS NULL AND s.value IS NULL))
        AND (h.flag = s.flag OR (h.flag IS NULL AND s.flag IS NULL))
  );
