"""(Re)create the analytics views that join respondents to their regional context."""

from __future__ import annotations

from multilevel.errors import ConfigError
from multilevel.warehouse import Warehouse

NEEDS = [("eurostat", "demo_r_pjanind3"), ("eurostat", "demo_r_pjangrp3"), ("ess", "respondents")]


def missing_sources(wh: Warehouse) -> list[str]:
    return [f"{s}.{n}" for s, n in NEEDS if not wh.relation_exists(s, n)]


def create_context_views(wh: Warehouse) -> None:
    """Create analytics.ess_regional_context and analytics.ess_join_coverage (needs the Eurostat views)."""
    missing = missing_sources(wh)
    if missing:
        raise ConfigError(
            f"cannot create the regional context views: {', '.join(missing)} missing; run `multilevel harvest` "
            "(Eurostat) and `multilevel ess load` first"
        )
    wh.run_sql_file("analytics/schema.sql")
    wh.run_sql_file("analytics/ess_regional_context.sql")
    wh.run_sql_file("analytics/ess_join_coverage.sql")
