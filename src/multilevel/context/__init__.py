"""Regional context for ESS respondents: NUTS versions from codes, reconstruction across versions (JRC converter),
the region-level table, snapshots and exports."""

from multilevel.context.build import METHODS, build_values, to_regions
from multilevel.context.config import ContextConfig, load_context_config
from multilevel.context.tables import build_context

__all__ = ["METHODS", "ContextConfig", "build_context", "build_values", "load_context_config", "to_regions"]
