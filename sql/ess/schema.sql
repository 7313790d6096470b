-- The ESS side of the warehouse.
CREATE SCHEMA IF NOT EXISTS ess;
