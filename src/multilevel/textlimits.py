"""Sizes of the text columns of the Eurostat warehouse tables, in UTF-8 bytes, in one place.

The DDL (sql/eurostat/*.sql, sql/redshift/eurostat/*.sql; dimension columns in warehouse/history.py) declares them;
a test checks that it agrees with these numbers. DuckDB ignores VARCHAR lengths, PostgreSQL counts characters and
Redshift counts UTF-8 bytes: validation checks bytes, so that every warehouse accepts exactly the same data and
nothing that loads into DuckDB fails later in production.
"""

from __future__ import annotations

MAX_CODE_BYTES = 64  # dimension columns, labels.dimension, labels.code
MAX_TIME_BYTES = 16  # time_period
MAX_FLAG_BYTES = 16  # flag
MAX_LABEL_BYTES = 1024  # labels.label: a longer label is cut (with "..."), not refused
MAX_UPDATE_BYTES = 32  # load_log.update_data / update_structure, history.source_updated
MAX_MESSAGE_BYTES = 1024  # load_log.message: a longer message is cut


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def fit_text(text: str | None, limit: int) -> str | None:
    """``text`` cut to at most ``limit`` UTF-8 bytes at a character boundary, ending in "..." when cut."""
    if text is None or utf8_length(text) <= limit:
        return text
    return text.encode("utf-8")[: limit - 3].decode("utf-8", "ignore") + "..."
