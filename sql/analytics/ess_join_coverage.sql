-- Respondents per round and country by how their region got its context: own boundary (published + recoded +
-- reconstructed), a containing region, the country, none. Nothing national counts as regional.
CREATE VIEW analytics.ess_join_coverage AS
SELECT
    essround,
    cntry,
    CAST(COUNT(*) AS INTEGER) AS respondents,
    CAST(SUM(CASE WHEN method IN ('published', 'recoded', 'reconstructed') THEN 1 ELSE 0 END) AS INTEGER) AS own_boundary,
    CAST(SUM(CASE WHEN method = 'published' THEN 1 ELSE 0 END) AS INTEGER) AS published,
    CAST(SUM(CASE WHEN method = 'recoded' THEN 1 ELSE 0 END) AS INTEGER) AS recoded,
    CAST(SUM(CASE WHEN method = 'reconstructed' THEN 1 ELSE 0 END) AS INTEGER) AS reconstructed,
    CAST(SUM(CASE WHEN method = 'coarser_region' THEN 1 ELSE 0 END) AS INTEGER) AS coarser_region,
    CAST(SUM(CASE WHEN method = 'country' THEN 1 ELSE 0 END) AS INTEGER) AS country,
    CAST(SUM(CASE WHEN method IS NULL OR method = 'none' THEN 1 ELSE 0 END) AS INTEGER) AS none,
    CAST(SUM(CASE WHEN method IN ('published', 'recoded', 'reconstructed') THEN 1 ELSE 0 END) AS DOUBLE PRECISION)
        / COUNT(*) AS own_boundary_share
FROM analytics.ess_regional_context
GROUP BY essround, cntry;
