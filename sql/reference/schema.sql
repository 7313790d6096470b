-- Reference data shipped in data/reference/ (built by data/build_nuts_reference.py).
CREATE SCHEMA IF NOT EXISTS reference;
