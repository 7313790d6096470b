-- Views that join the survey to its regional context.
CREATE SCHEMA IF NOT EXISTS analytics;
