"""Sizes of the text columns of the warehouse tables (Eurostat and ESS), in UTF-8 bytes, in one place.

The DDL (sql/eurostat/*.sql, sql/ess/*.sql; dimension columns in warehouse/history.py) declares them;
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

# ESS (sql/ess/*.sql): answers are numbers; these texts come from the survey file
ESS_TEXT_BYTES = {"edition": 16, "cntry": 2, "region": 8, "region_flag": 200}  # ess.respondents: checked
ESS_VARIABLE_BYTES = 64  # ess.variable_labels.variable (Stata names have at most 32 characters)
ESS_LABEL_BYTES = 512  # ess.variable_labels.label: cut
ESS_VALUE_LABELS_BYTES = 8192  # ess.variable_labels.value_labels (a JSON object): each label cut until it fits


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def fit_text(text: str | None, limit: int) -> str | None:
    """``text`` cut to at most ``limit`` UTF-8 bytes at a character boundary, ending in "..." when cut."""
    if text is None or utf8_length(text) <= limit:
        return text
    return text.encode("utf-8")[: limit - 3].decode("utf-8", "ignore") + "..."


def fit_value_labels(values: dict[str, str], limit: int = ESS_VALUE_LABELS_BYTES) -> tuple[str, bool]:
    """``values`` as a JSON object of at most ``limit`` bytes: every code kept, the longest labels cut (with "...")
    until it fits, so the column stays valid JSON on every warehouse. Returns (json, whether anything was cut)."""
    import json

    text = json.dumps(values)
    if utf8_length(text) <= limit:
        return text, False
    low, high = 0, max(utf8_length(v) for v in values.values())  # the largest label length that fits
    while low < high:
        mid = (low + high + 1) // 2
        if utf8_length(json.dumps({k: fit_text(v, max(mid, 3)) for k, v in values.items()})) <= limit:
            low = mid
        else:
            high = mid - 1
    cut = {k: fit_text(v, max(low, 3)) for k, v in values.items()}
    text = json.dumps(cut)
    if utf8_length(text) > limit:  # so many codes that even "..." labels do not fit: keep the codes that do
        while cut and utf8_length(json.dumps(cut)) > limit:
            cut.popitem()
        text = json.dumps(cut)
    return text, True
