-- What a NUTS 2016 region (as ESS Round 9 codes it) is called in each NUTS version, and how they relate:
-- same, renamed, recoded (same territory), merged (the target contains it), split, boundary_change, not_in_version.
CREATE TABLE IF NOT EXISTS reference.ess_region_crosswalk (
    source_version VARCHAR(4) NOT NULL,
    source_code VARCHAR(8) NOT NULL,
    source_level SMALLINT NOT NULL,
    target_version VARCHAR(4) NOT NULL,
    target_code VARCHAR(8),
    relation VARCHAR(16) NOT NULL,
    note VARCHAR(300)
)
{table_attributes};
