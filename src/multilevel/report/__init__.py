"""The regional-context picture: a weighted survey mean per region against a Eurostat context indicator."""
