-- Per dataset: last check, what Eurostat last published, what is loaded, current rows, revisions kept, last failure.
-- Datasets appear when a check selected them (eurostat.catalogue) or when any run logged them (eurostat.load_log).
-- current_rows: a run carries the whole dataset, so the rows received by the last load are the current rows;
-- revisions_kept: every closed row is a kept old version, so their sum over loads is the history's extra rows.
CREATE OR REPLACE VIEW eurostat.dataset_status AS
WITH runs AS (
    SELECT dataset,
           max(started_at) AS last_run_at,
           max(CASE WHEN status = 'loaded' THEN finished_at END) AS last_loaded_at,
           max(CASE WHEN status = 'failed' THEN finished_at END) AS last_failed_at,
           sum(CASE WHEN status = 'loaded' THEN rows_closed ELSE 0 END) AS revisions_kept
    FROM eurostat.load_log
    GROUP BY dataset
),
last_load AS (
    SELECT l.dataset, max(l.update_data) AS loaded_update_data, max(l.rows_received) AS current_rows
    FROM eurostat.load_log l
    JOIN runs r ON r.dataset = l.dataset AND l.finished_at = r.last_loaded_at
    WHERE l.status = 'loaded'
    GROUP BY l.dataset
),
last_failure AS (
    SELECT l.dataset, max(l.message) AS last_failure
    FROM eurostat.load_log l
    JOIN runs r ON r.dataset = l.dataset AND l.finished_at = r.last_failed_at
    WHERE l.status = 'failed'
    GROUP BY l.dataset
),
selected AS (
    SELECT * FROM eurostat.catalogue WHERE selected
),
names AS (
    SELECT dataset FROM selected
    UNION
    SELECT dataset FROM runs
)
SELECT
    n.dataset,
    c.title,
    CASE
        WHEN c.checked_at IS NULL THEN r.last_run_at
        WHEN r.last_run_at IS NULL OR c.checked_at > r.last_run_at THEN c.checked_at
        ELSE r.last_run_at
    END AS last_checked_at,
    c.toc_update_data AS eurostat_updated_on,
    c.dataflow_update_data AS eurostat_update_data,
    r.last_loaded_at,
    ll.loaded_update_data,
    ll.current_rows,
    coalesce(r.revisions_kept, 0) AS revisions_kept,
    r.last_failed_at,
    lf.last_failure
FROM names n
LEFT JOIN selected c ON c.dataset = n.dataset
LEFT JOIN runs r ON r.dataset = n.dataset
LEFT JOIN last_load ll ON ll.dataset = n.dataset
LEFT JOIN last_failure lf ON lf.dataset = n.dataset;
