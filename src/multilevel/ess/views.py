"""(Re)create the regional context of the respondents: the region table and the views over it."""

from __future__ import annotations

from multilevel.errors import ConfigError
from multilevel.warehouse import Warehouse


def needs() -> list[tuple[str, str]]:
    from multilevel.context.config import load_context_config

    datasets = set()
    for ind in load_context_config().indicators.values():
        datasets.add(ind.selection.dataset)
        if ind.groups is not None:
            datasets.add(ind.groups.dataset)
    return [("eurostat", f"{d}_history") for d in sorted(datasets)] + [
        ("ess", "respondents"), ("reference", "nuts_codes"), ("reference", "nuts3_pieces")
    ]


def missing_sources(wh: Warehouse) -> list[str]:
    return [f"{s}.{n}" for s, n in needs() if not wh.relation_exists(s, n)]


def create_context_views(wh: Warehouse) -> None:
    """Build analytics.ess_region_context and the views over it (needs the Eurostat tables and the ESS load)."""
    from multilevel.context import build_context

    missing = missing_sources(wh)
    if missing:
        raise ConfigError(
            f"cannot build the regional context: {', '.join(missing)} missing; run `multilevel harvest` "
            "(Eurostat) and `multilevel ess load` first"
        )
    build_context(wh)
