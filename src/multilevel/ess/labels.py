"""Variable and value labels of the kept ESS columns, read from the .dta and stored beside the respondents
(``ess.variable_labels``), so that an export for analysts carries the survey's own labels."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from multilevel.ess.config import RoundConfig
from multilevel.textlimits import ESS_LABEL_BYTES, ESS_VALUE_LABELS_BYTES, fit_text, fit_value_labels
from multilevel.warehouse import Warehouse

log = logging.getLogger(__name__)

def read_labels(path: Path, config: RoundConfig) -> list[tuple[str, str | None, str | None]]:
    """(variable, label, value labels as JSON {code: label} of the numeric codes) for the configured columns."""
    from multilevel.ess.reader import _read

    _, meta = _read(path, metadataonly=True, user_missing=True)
    out = []
    for name in config.source_columns:
        values = {str(int(k)): v for k, v in (meta.variable_value_labels.get(name) or {}).items()
                  if isinstance(k, int | float)}
        # cut here, in bytes (Redshift counts bytes, PostgreSQL characters, DuckDB neither), never mid-JSON
        label = fit_text(meta.column_names_to_labels.get(name), ESS_LABEL_BYTES)
        stored, cut = fit_value_labels(values) if values else (None, False)
        if cut:
            log.warning("ESS variable %s: its value labels take more than %d bytes; the longest are cut to fit",
                        name, ESS_VALUE_LABELS_BYTES)
        out.append((name, label, stored))
    return out


def store_labels(wh: Warehouse, essround: int, labels: list[tuple[str, str | None, str | None]]) -> None:
    """Replace the round's labels (one transaction)."""
    wh.run_sql_file("ess/schema.sql")
    wh.run_sql_file("ess/variable_labels.sql")
    with wh.transaction():
        wh.execute("DELETE FROM ess.variable_labels WHERE essround = %s", [essround])
        if labels:
            one = "(%s, %s, %s, %s)"
            wh.execute(
                "INSERT INTO ess.variable_labels (essround, variable, label, value_labels) VALUES "
                + ", ".join([one] * len(labels)),
                [v for name, label, values in labels for v in (essround, name, label or None, values)],
            )
    log.info("ess.variable_labels round %d: %d variables", essround, len(labels))


def stored_labels(wh: Warehouse, essround: int) -> dict[str, tuple[str | None, dict[int, str]]]:
    if not wh.relation_exists("ess", "variable_labels"):
        return {}
    rows = wh.query("SELECT variable, label, value_labels FROM ess.variable_labels WHERE essround = %s", [essround])
    return {v: (label, {int(k): t for k, t in json.loads(values).items()} if values else {})
            for v, label, values in rows}
