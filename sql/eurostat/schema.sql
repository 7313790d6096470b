-- The schema of every Eurostat object.
CREATE SCHEMA IF NOT EXISTS eurostat;
