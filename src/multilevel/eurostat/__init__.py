"""Extract from Eurostat: API client, planner, slice download with 413 splitting, JSON-stat parser."""
