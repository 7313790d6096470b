"""multilevel: Eurostat regional statistics and ESS survey data, fresh, complete and joinable."""

__version__ = "0.1.0"
