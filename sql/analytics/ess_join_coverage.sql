-- Per round and country: respondents by join status, and the share that got some regional context.
DROP VIEW IF EXISTS analytics.ess_join_coverage;
CREATE VIEW analytics.ess_join_coverage AS
SELECT
    essround,
    cntry,
    CAST(COUNT(*) AS INTEGER) AS respondents,
    CAST(SUM(CASE WHEN join_status = 'exact' THEN 1 ELSE 0 END) AS INTEGER) AS exact,
    CAST(SUM(CASE WHEN join_status = 'via_crosswalk' THEN 1 ELSE 0 END) AS INTEGER) AS via_crosswalk,
    CAST(SUM(CASE WHEN join_status = 'parent_region' THEN 1 ELSE 0 END) AS INTEGER) AS parent_region,
    CAST(SUM(CASE WHEN join_status = 'unjoinable' THEN 1 ELSE 0 END) AS INTEGER) AS unjoinable,
    CAST(SUM(CASE WHEN join_status <> 'unjoinable' THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
    / COUNT(*) AS joined_share
FROM analytics.ess_regional_context
GROUP BY essround, cntry;
