"""Frozen context: ``multilevel context snapshot --as-of T --name N`` computes the context as the warehouse knew it
at T and stores it under N, once; a paper cites N and gets the same numbers whenever it reruns.

- ``analytics.context_snapshots``        name, as_of, created_at, indicators (one row per snapshot)
- ``analytics.context_snapshot_values``  the long context table (analytics.ess_context_values) of each snapshot
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import pandas as pd

from multilevel.context.build import LONG_COLUMNS, build_values, to_regions
from multilevel.context.config import ContextConfig, load_context_config
from multilevel.context.tables import insert_frame
from multilevel.errors import ConfigError
from multilevel.warehouse import Warehouse, quote

log = logging.getLogger(__name__)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def ensure_tables(wh: Warehouse) -> None:
    wh.run_sql_file("analytics/schema.sql")
    wh.run_sql_file("analytics/context_snapshots.sql")
    wh.run_sql_file("analytics/context_snapshot_values.sql")


def parse_as_of(text: str | None) -> datetime | None:
    """``latest``/None -> None (now); else an ISO time stamp, read as UTC when it has no zone."""
    if text is None or text.lower() == "latest":
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise ConfigError(f"--as-of {text!r} is not an ISO time stamp (e.g. 2026-11-30T12:00:00Z) or 'latest'") from e
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)  # the history tables hold UTC without a zone
    return moment


def create_snapshot(
    wh: Warehouse, name: str, as_of: datetime | None = None, config: ContextConfig | None = None
) -> pd.DataFrame:
    """Freeze the context at ``as_of`` (default now) as ``name``; a name is never overwritten."""
    if not NAME.match(name):
        raise ConfigError(f"snapshot name {name!r}: use letters, digits, '.', '_' or '-' (up to 64), e.g. ess9-2026-11")
    config = config or load_context_config()
    ensure_tables(wh)
    if wh.query("SELECT COUNT(*) FROM analytics.context_snapshots WHERE name = %s", [name])[0][0]:
        raise ConfigError(f"snapshot {name} exists already and is frozen; choose another name")
    now = datetime.now(UTC).replace(tzinfo=None)
    values = build_values(wh, config, as_of)
    with wh.transaction():
        wh.execute(
            "INSERT INTO analytics.context_snapshots (name, as_of, created_at, indicators) VALUES (%s, %s, %s, %s)",
            [name, as_of or now, now, ",".join(config.names)],
        )
        frame = values[LONG_COLUMNS].copy()
        frame.insert(0, "snapshot", name)
        insert_frame(wh, "analytics.context_snapshot_values", frame)
    log.info("snapshot %s: %d context values as of %s", name, len(values), as_of or now)
    return to_regions(values, config)


def snapshot_regions(wh: Warehouse, name: str, config: ContextConfig | None = None) -> pd.DataFrame:
    """The region table of snapshot ``name``, exactly as frozen."""
    config = config or load_context_config()
    found = wh.query("SELECT indicators FROM analytics.context_snapshots WHERE name = %s", [name]) if (
        wh.relation_exists("analytics", "context_snapshots")) else []
    if not found:
        raise ConfigError(f"no context snapshot named {name}; create it with `multilevel context snapshot --name`")
    cols = ", ".join(quote(c) for c in LONG_COLUMNS)
    values = wh.query_df(f"SELECT {cols} FROM analytics.context_snapshot_values WHERE \"snapshot\" = %s", [name])
    return to_regions(values, config, found[0][0].split(","))
