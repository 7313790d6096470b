"""Reference data: NUTS codes and changes, the NUTS version of each reference year, the ESS region crosswalk."""

from multilevel.reference.load import TABLES, load_reference

__all__ = ["TABLES", "load_reference"]
