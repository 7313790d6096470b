-- One row per respondent: ess.respondents joined to its region's context (constant within a region).
-- The context columns are generated from indicators.yaml: c."<name>", c."<name>_method" per variable.
CREATE VIEW analytics.ess_regional_context AS
SELECT
    r.essround, r.cntry, r.idno, r.region, r.regunit, r.region_nuts_version, r.inwyys, r.anweight,
    c.reference_date, c.method, c.coverage, c.data_nuts_version, c.data_level, c.flags, c.source_updated,
    {context_columns}
FROM ess.respondents AS r
LEFT JOIN analytics.ess_region_context AS c
    ON c.essround = r.essround AND c.cntry = r.cntry
    AND (c.region = r.region OR (c.region IS NULL AND r.region IS NULL));
