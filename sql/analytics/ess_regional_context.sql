-- One row per ESS respondent with the demographic context of its region (portable: DuckDB, PostgreSQL, Redshift).
--
-- How a respondent is joined:
-- 1. its region (ISO prefixes GB/GR written UK/EL as NUTS does) must be a code of the round's NUTS version at the
--    level regunit names; otherwise unjoinable, with the reason;
-- 2. candidates are the region itself and every region containing it (its NUTS parents up to the country), each
--    carried to every NUTS version through reference.ess_region_crosswalk;
-- 3. a candidate matches a Eurostat (geo, year) when the geo has a context value for that year, the year is the
--    interview year or earlier, and the year is published in the candidate's NUTS version;
-- 4. the best match: same territory first (own region same/renamed/recoded), then the closest containing region
--    (a NUTS parent, or the larger region a merged one went into), then the latest year.
-- Split regions and boundary changes have no same-territory code, so they never match at their own level: they
-- fall back to a containing region (parent_region) or stay unjoinable, and join_reason says which relation stopped
-- them.
DROP VIEW IF EXISTS analytics.ess_join_coverage;
DROP VIEW IF EXISTS analytics.ess_regional_context;
CREATE VIEW analytics.ess_regional_context AS
WITH respondent AS (
    SELECT
        r.essround,
        r.cntry,
        r.idno,
        r.region,
        r.regunit,
        r.region_nuts_version,
        r.inwyys,
        r.anweight,
        CASE
            WHEN SUBSTRING(r.region, 1, 2) = 'GB' THEN 'UK' || SUBSTRING(r.region, 3, 6)
            WHEN SUBSTRING(r.region, 1, 2) = 'GR' THEN 'EL' || SUBSTRING(r.region, 3, 6)
            ELSE r.region
        END AS nuts_region
    FROM ess.respondents AS r
),

checked AS (
    SELECT
        p.*,
        c.level AS region_level
    FROM respondent AS p
    LEFT JOIN reference.nuts_codes AS c
        ON c.nuts_version = p.region_nuts_version AND c.code = p.nuts_region
),

levels_up AS (
    SELECT 0 AS n UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3
),

ancestor AS (
    SELECT
        k.essround,
        k.cntry,
        k.idno,
        k.inwyys,
        k.region_nuts_version,
        u.n AS levels_up,
        SUBSTRING(k.nuts_region, 1, 2 + k.region_level - u.n) AS via_code
    FROM checked AS k
    INNER JOIN levels_up AS u ON u.n <= k.region_level
    WHERE k.region_level = k.regunit AND k.inwyys IS NOT NULL
),

candidate AS (
    SELECT
        a.essround,
        a.cntry,
        a.idno,
        a.inwyys,
        a.levels_up,
        a.via_code,
        x.target_version,
        x.target_code,
        x.relation,
        CASE
            WHEN a.levels_up = 0 AND x.relation = 'same' THEN 'exact'
            WHEN a.levels_up = 0 AND x.relation IN ('renamed', 'recoded') THEN 'via_crosswalk'
            ELSE 'parent_region'
        END AS candidate_status,
        CASE WHEN a.levels_up = 0 AND x.relation IN ('same', 'renamed', 'recoded') THEN 0 ELSE 1 END AS territory_rank
    FROM ancestor AS a
    INNER JOIN reference.ess_region_crosswalk AS x
        ON x.source_version = a.region_nuts_version AND x.source_code = a.via_code
    WHERE x.relation IN ('same', 'renamed', 'recoded', 'merged') AND x.target_code IS NOT NULL
),

context_year AS (
    SELECT DISTINCT
        o.geo,
        o.yr,
        v.nuts_version
    FROM (
        SELECT geo, CAST(time_period AS INTEGER) AS yr
        FROM eurostat.demo_r_pjanind3
        WHERE freq = 'A' AND indic_de IN ('MEDAGEPOP', 'OLDDEP1', 'PC_Y65_MAX') AND value IS NOT NULL
        UNION
        SELECT geo, CAST(time_period AS INTEGER) AS yr
        FROM eurostat.demo_r_pjangrp3
        WHERE freq = 'A' AND sex = 'T' AND age = 'TOTAL' AND unit = 'NR' AND value IS NOT NULL
    ) AS o
    INNER JOIN reference.nuts_version_years AS v ON o.yr BETWEEN v.first_year AND v.last_year
),

ranked AS (
    SELECT
        c.*,
        y.yr AS context_year,
        ROW_NUMBER() OVER (
            PARTITION BY c.essround, c.cntry, c.idno
            ORDER BY c.territory_rank, c.levels_up, y.yr DESC, c.candidate_status, c.target_code
        ) AS pick
    FROM candidate AS c
    INNER JOIN context_year AS y
        ON y.geo = c.target_code AND y.nuts_version = c.target_version AND y.yr <= c.inwyys
),

best AS (
    SELECT * FROM ranked WHERE pick = 1
),

own_relation AS (
    SELECT
        source_version,
        source_code,
        target_version,
        MIN(relation) AS relation
    FROM reference.ess_region_crosswalk
    GROUP BY source_version, source_code, target_version
),

indicator AS (
    SELECT
        geo,
        CAST(time_period AS INTEGER) AS yr,
        MAX(CASE WHEN indic_de = 'MEDAGEPOP' THEN value END) AS median_age,
        MAX(CASE WHEN indic_de = 'OLDDEP1' THEN value END) AS old_age_dependency,
        MAX(CASE WHEN indic_de = 'PC_Y65_MAX' THEN value END) AS share_aged_65_plus
    FROM eurostat.demo_r_pjanind3
    WHERE freq = 'A' AND indic_de IN ('MEDAGEPOP', 'OLDDEP1', 'PC_Y65_MAX')
    GROUP BY geo, CAST(time_period AS INTEGER)
),

population AS (
    SELECT
        geo,
        CAST(time_period AS INTEGER) AS yr,
        MAX(value) AS population
    FROM eurostat.demo_r_pjangrp3
    WHERE freq = 'A' AND sex = 'T' AND age = 'TOTAL' AND unit = 'NR'
    GROUP BY geo, CAST(time_period AS INTEGER)
)

SELECT
    k.essround,
    k.cntry,
    k.idno,
    k.region,
    k.regunit,
    k.region_nuts_version,
    k.inwyys,
    k.anweight,
    b.target_code AS eurostat_geo,
    b.target_version AS eurostat_nuts_version,
    b.context_year,
    CASE
        WHEN b.context_year IS NULL THEN NULL
        WHEN b.context_year = k.inwyys THEN 'interview year'
        ELSE 'nearest earlier year with data (none for ' || CAST(k.inwyys AS VARCHAR(4)) || ')'
    END AS context_year_reason,
    CASE WHEN b.target_code IS NULL THEN 'unjoinable' ELSE b.candidate_status END AS join_status,
    CASE
        WHEN k.region IS NULL THEN 'no region code'
        WHEN k.regunit = 4 THEN 'region ' || k.region || ' is not a NUTS unit (regunit 4)'
        WHEN k.region_level IS NULL
            THEN 'region ' || k.region || ' is not a NUTS ' || k.region_nuts_version || ' code'
        WHEN k.regunit IS NULL OR k.region_level <> k.regunit
            THEN 'region ' || k.region || ' is NUTS level ' || CAST(k.region_level AS VARCHAR(1))
                || ' but regunit says ' || COALESCE(CAST(k.regunit AS VARCHAR(2)), 'nothing')
        WHEN k.inwyys IS NULL THEN 'interview year missing'
        WHEN b.target_code IS NULL
            THEN 'no context data for ' || k.nuts_region || ' or a region containing it in '
                || CAST(k.inwyys AS VARCHAR(4)) || ' or earlier'
        WHEN b.candidate_status = 'exact'
            THEN 'same code and territory in NUTS ' || b.target_version
        WHEN b.candidate_status = 'via_crosswalk'
            THEN k.nuts_region || ' ' || b.relation || ' as ' || b.target_code || ' in NUTS ' || b.target_version
        ELSE 'own region ' || k.nuts_region || ' in NUTS ' || b.target_version || ': '
            || COALESCE(o.relation, 'no code')
            || CASE WHEN o.relation IN ('same', 'renamed', 'recoded') THEN ', but no data' ELSE '' END
            || '; used ' || b.target_code || ' (' || b.via_code || ' ' || b.relation
            || CASE WHEN b.levels_up > 0 THEN ', ' || CAST(b.levels_up AS VARCHAR(1)) || ' level(s) up' ELSE '' END
            || ')'
    END AS join_reason,
    i.median_age,
    i.old_age_dependency,
    i.share_aged_65_plus,
    p.population
FROM checked AS k
LEFT JOIN best AS b
    ON b.essround = k.essround AND b.cntry = k.cntry AND b.idno = k.idno
LEFT JOIN own_relation AS o
    ON o.source_version = k.region_nuts_version AND o.source_code = k.nuts_region AND o.target_version = b.target_version
LEFT JOIN indicator AS i
    ON i.geo = b.target_code AND i.yr = b.context_year
LEFT JOIN population AS p
    ON p.geo = b.target_code AND p.yr = b.context_year;
