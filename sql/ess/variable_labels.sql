-- Variable and value labels of the kept ESS columns, as the round's .dta file has them (value_labels: JSON
-- {code: label} of the numeric codes); the analyst export writes them back into its .dta.
CREATE TABLE IF NOT EXISTS ess.variable_labels (
    essround SMALLINT NOT NULL,
    variable VARCHAR(64) NOT NULL,
    label VARCHAR(512),
    value_labels VARCHAR(8192)
)
{table_attributes};
