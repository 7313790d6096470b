"""Pandera checks of a parsed Eurostat slice before it is staged.

``validate_slice`` runs every rule at once (pandera ``lazy=True``) and raises one ``ValidationFailed``
that names the dataset, each failed rule, how many rows fail it, up to five of those rows and what to do.
Rules:

==================== =====================================================================================
``columns``          the frame has time_period, value and flag (and at least one dimension column)
``dtype``            value is float64
``key_not_null``     dimension codes and time_period are never missing
``key_unique``       no two rows share all dimension codes and time_period
``geo_code``         geo is a NUTS-shaped code (also extra-regio ``DEZ``, ``FRZZZ``) or a known aggregate
``time_period_format`` 2024, 2024-Q1, 2024-S1, 2024-01, 2024-W01 or 2024-01-15
``flag_known``       flags follow ``multilevel.validate.flags`` (unknown letters fail, never pass silently)
``value_finite``     value is a finite number, or NULL with a flag (``:`` or ``|C`` cells)
``value_nonnegative`` value >= 0, only for datasets configured ``nonnegative: true``
``min_rows``         at least ``expected_min_rows`` rows (the caller derives it from the last load)
``text_length``      codes, periods and flags fit the warehouse columns (UTF-8 bytes, see ``TEXT_LIMITS``)
``slice_membership`` every row belongs to the slice: its split code and filters (an API that ignores a filter
                     would otherwise stage the same cells in several slices)
==================== =====================================================================================
"""

from __future__ import annotations

import functools
import logging
import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc

with warnings.catch_warnings():
    # pandera warns about an old typeguard on import; it does not affect the checks used here.
    warnings.simplefilter("ignore", UserWarning)
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors

from multilevel.datasets import Dataset
from multilevel.errors import ValidationFailed
from multilevel.textlimits import MAX_CODE_BYTES, MAX_FLAG_BYTES, MAX_LABEL_BYTES, MAX_TIME_BYTES, fit_text, utf8_length
from multilevel.validate.flags import explain_flag, known_flags

log = logging.getLogger(__name__)

TIME_COLUMN = "time_period"
VALUE_COLUMN = "value"
FLAG_COLUMN = "flag"
GEO_COLUMN = "geo"
MAX_EXAMPLES = 5

# NUTS 0-3 codes have two country letters and up to three characters; extra-regio codes (DEZ, FRZZ, FRZZZ) and
# plain country codes (DE, EL, UK, AL) fit the same shape.
NUTS_PATTERN = r"[A-Z]{2}[0-9A-Z]{0,3}"
# EU and euro-area aggregates, optionally with the year of the composition: EU27_2020, EU28, EA19, EA.
AGGREGATE_PATTERN = r"(?:EU\d{1,2}|EA\d{0,2})(?:_\d{4})?"
# Other aggregates in Eurostat code lists that the patterns above do not cover. Add a code here when
# Eurostat uses a new one (the failure message of the geo_code rule points to this set).
KNOWN_GEO_AGGREGATES = frozenset({"DE_TOT", "EFTA", "EEA", "EEA30_2007", "EEA31"})
GEO_PATTERN = rf"(?:{NUTS_PATTERN}|{AGGREGATE_PATTERN})"

# Eurostat period codes: year, quarter, semester, month, ISO week, day. Kept as text.
TIME_PERIOD_PATTERN = (
    r"\d{4}(?:-Q[1-4]|-S[12]|-(?:0[1-9]|1[0-2])(?:-(?:0[1-9]|[12]\d|3[01]))?|-W(?:0[1-9]|[1-4]\d|5[0-3]))?"
)

FIXES = {
    "columns": "validate the frame returned by multilevel.eurostat.jsonstat.parse_jsonstat "
    "(dimension columns, time_period, value, flag)",
    "dtype": "value must be float64 (NaN for NULL): build the frame with parse_jsonstat",
    "key_not_null": "a dimension code or time period is missing: the body is inconsistent; "
    "download the slice again",
    "key_unique": "the same cell appears twice: slices overlap (check the split dimension and filters in "
    "datasets.yaml) or a part was read twice",
    "geo_code": "if the code is a genuine Eurostat aggregate, add it to KNOWN_GEO_AGGREGATES in "
    "multilevel/validate/eurostat.py; otherwise the body is corrupt",
    "time_period_format": "Eurostat period codes are 2024, 2024-Q1, 2024-S1, 2024-01, 2024-W01, "
    "2024-01-15; if Eurostat added a frequency, extend TIME_PERIOD_PATTERN",
    "flag_known": "flags since January 2025 are b d e f i m n p u, ':' and |C |N |P; "
    "if Eurostat added a flag, add it to multilevel/validate/flags.py",
    "value_finite": "values must be finite numbers, or NULL with a flag; "
    "check the body for inf or empty cells",
    "value_nonnegative": "the dataset is configured nonnegative: true; check the unit and the source, or set "
    "nonnegative: false in datasets.yaml if negative values are genuine",
    "text_length": f"codes longer than {MAX_CODE_BYTES} bytes (periods and flags: {MAX_TIME_BYTES}) do not fit the "
    "warehouse columns on Redshift and PostgreSQL; the body is corrupt, or Eurostat changed its codes: then widen "
    "the columns (sql/eurostat, warehouse/history.py) and TEXT_LIMITS together",
    "slice_membership": "the API answered rows outside the requested slice (it ignored the split or a filter): "
    "nothing was staged; download the slice again, and check the filters in datasets.yaml if it persists",
    "min_rows": "far fewer rows than the last load: check the filters and the API answer; if the drop is "
    "genuine, raise MULTILEVEL_MAX_ROW_DROP_FRACTION for one run",
}


@dataclass(frozen=True)
class RuleFailure:
    """One failed rule: its name, how many rows fail it, and a few of them."""

    rule: str
    count: int
    examples: pd.DataFrame | None
    detail: str = ""


def key_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that identify a cell: every dimension column plus time_period."""
    dims = [c for c in frame.columns if c not in (TIME_COLUMN, VALUE_COLUMN, FLAG_COLUMN)]
    return dims + ([TIME_COLUMN] if TIME_COLUMN in frame.columns else [])


def per_distinct(series: pd.Series, test, *, missing: bool = False) -> pd.Series:
    """Apply ``test`` (code -> bool) once per distinct value and map the answers back to the rows.

    One hash pass (``pd.factorize``) and one array take: O(rows), whatever the number of allowed codes (``isin``
    with a set builds one Arrow scalar per allowed code, on every check of every slice). Missing values get
    ``missing``.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    answers = np.fromiter((bool(test(u)) for u in uniques), dtype=bool, count=len(uniques))
    answers = np.append(answers, missing)  # the sentinel -1 takes the last entry
    return pd.Series(answers[codes], index=series.index)


# A worker validates slice after slice of the same dataset, with the same few thousand region codes and periods each
# time: the answers per code are kept (bounded), so each code's regular expression runs once per process.
@functools.lru_cache(maxsize=1 << 16)
def _is_geo_code(value: object) -> bool:
    return isinstance(value, str) and (value in KNOWN_GEO_AGGREGATES or _GEO_REGEX.fullmatch(value) is not None)


@functools.lru_cache(maxsize=1 << 16)
def _is_time_period(value: object) -> bool:
    return isinstance(value, str) and _TIME_PERIOD_REGEX.fullmatch(value) is not None


_GEO_REGEX = re.compile(GEO_PATTERN)
_TIME_PERIOD_REGEX = re.compile(TIME_PERIOD_PATTERN)


def _geo_ok(series: pd.Series) -> pd.Series:
    return per_distinct(series, _is_geo_code)


def _time_period_ok(series: pd.Series) -> pd.Series:
    return per_distinct(series, _is_time_period)


def build_schema(frame: pd.DataFrame, dataset: Dataset) -> pa.DataFrameSchema:
    """The pandera schema for a slice with the columns of ``frame``."""
    keys = key_columns(frame)
    columns: dict[str, pa.Column] = {}
    for col in keys:
        checks = []
        if col == GEO_COLUMN:
            checks.append(pa.Check(_geo_ok, name="geo_code"))
        if col == TIME_COLUMN:
            checks.append(pa.Check(_time_period_ok, name="time_period_format"))
        columns[col] = pa.Column(nullable=False, checks=checks)
    value_checks = [pa.Check(lambda s: ~np.isinf(s), name="value_finite")]
    if dataset.nonnegative:
        value_checks.append(pa.Check(lambda s: s >= 0, name="value_nonnegative"))
    columns[VALUE_COLUMN] = pa.Column(float, nullable=True, checks=value_checks)
    columns[FLAG_COLUMN] = pa.Column(nullable=True, checks=[pa.Check(known_flags, name="flag_known")])
    return pa.DataFrameSchema(
        columns,
        # A NULL value is fine only when a flag says why (':' not available, '|C' confidential).
        checks=[
            pa.Check(
                lambda df: df[VALUE_COLUMN].notna() | df[FLAG_COLUMN].notna(),
                name="value_finite",
            )
        ],
        unique=keys,
        report_duplicates="all",
        name=f"eurostat slice {dataset.code}",
    )


# pandera's names for its built-in checks -> our rule names
_PANDERA_RULES = {
    "not_nullable": "key_not_null",
    "multiple_fields_uniqueness": "key_unique",
    "column_in_dataframe": "columns",
}


def _rule_name(check: str) -> str:
    if check.startswith("dtype("):
        return "dtype"
    return _PANDERA_RULES.get(check, check)


def validate_slice(
    frame: pd.DataFrame,
    dataset: Dataset,
    *,
    expected_min_rows: int | None = None,
    filters: dict[str, list[str]] | None = None,
) -> pd.DataFrame:
    """Check a parsed slice and return it unchanged, or raise ValidationFailed listing every failed rule.

    Args:
        frame: the ``frame`` of a ``ParsedSlice`` (dimension columns, time_period, value, flag).
        dataset: the configured dataset (its code names the data in messages; ``nonnegative`` adds a rule).
        expected_min_rows: fail when the frame has fewer rows (the caller derives it from the last load and
            ``max_row_drop_fraction``); None skips the rule.
        filters: the slice's selection, ``{dimension: [codes]}`` (``time`` selects time_period); every row must
            fall inside it. None skips the rule.
    """
    missing = [c for c in (TIME_COLUMN, VALUE_COLUMN, FLAG_COLUMN) if c not in frame.columns]
    if missing or len(key_columns(frame)) < 2:
        raise ValidationFailed(
            f"dataset {dataset.code}: rule columns failed: the frame has columns {list(frame.columns)}; "
            f"missing {missing or 'a dimension column'}. what to do: {FIXES['columns']}"
        )
    # pandera reports failing rows by index label; a 0..n-1 index lets those labels pick rows by position.
    work = frame if frame.index.equals(pd.RangeIndex(len(frame))) else frame.reset_index(drop=True)
    failures: list[RuleFailure] = []
    try:
        build_schema(work, dataset).validate(work, lazy=True, inplace=True)
    except SchemaErrors as e:
        failures.extend(_collect(e.failure_cases, work))
    failures.extend(_too_long(work))
    if filters:
        failures.extend(_outside_slice(work, filters))
    if expected_min_rows is not None and len(work) < expected_min_rows:
        failures.append(
            RuleFailure(
                "min_rows",
                expected_min_rows - len(work),
                None,
                f"{len(work)} rows, expected at least {expected_min_rows}",
            )
        )
    if failures:
        err = ValidationFailed(_message(dataset.code, len(work), failures))
        err.dataset = dataset.code
        err.failures = failures
        raise err
    log.debug("dataset %s: %d rows passed validation", dataset.code, len(work))
    return frame


def check_min_rows(dataset: Dataset, rows: int, expected_min_rows: int | None) -> None:
    """Raise ValidationFailed (rule min_rows, as ``validate_slice`` words it) when a slice has too few rows.

    For a slice checked in chunks (the validate step): the other rules hold per row, this one for the whole slice.
    """
    if expected_min_rows is not None and rows < expected_min_rows:
        failure = RuleFailure("min_rows", expected_min_rows - rows, None,
                              f"{rows} rows, expected at least {expected_min_rows}")
        err = ValidationFailed(_message(dataset.code, rows, [failure]))
        err.dataset = dataset.code
        err.failures = [failure]
        raise err


def text_limit(column: str) -> int:
    """The size in UTF-8 bytes of the warehouse column a frame column goes to."""
    return {TIME_COLUMN: MAX_TIME_BYTES, FLAG_COLUMN: MAX_FLAG_BYTES}.get(column, MAX_CODE_BYTES)


def _long_values(series: pd.Series, limit: int) -> set[str]:
    """Distinct values longer than ``limit`` UTF-8 bytes.

    One vectorised length pass over the Arrow strings the parser builds (a Python loop over the distinct values cost
    a tenth of the validate step); a column of other objects takes the per-value path.
    """
    try:
        values = pyarrow.array(series.array)  # zero-copy for Arrow-backed str columns
    except (pyarrow.ArrowInvalid, pyarrow.ArrowTypeError):
        values = None
    if values is None or not (pyarrow.types.is_string(values.type) or pyarrow.types.is_large_string(values.type)):
        return {v for v in series.dropna().unique() if isinstance(v, str) and utf8_length(v) > limit}
    too_long = pc.greater(pc.binary_length(values), limit)
    if not pc.any(too_long).as_py():
        return set()
    return set(pc.filter(values, too_long).unique().to_pylist())


def _too_long(frame: pd.DataFrame) -> list[RuleFailure]:
    """Rows whose codes, period or flag would not fit the warehouse columns."""
    outside = np.zeros(len(frame), dtype=bool)
    what = []
    for column in [*key_columns(frame), FLAG_COLUMN]:
        limit = text_limit(column)
        long = _long_values(frame[column], limit)
        if long:
            outside |= frame[column].isin(long).to_numpy()
            what.append(f"{column} over {limit} bytes")
    if not outside.any():
        return []
    rows = np.flatnonzero(outside)
    return [RuleFailure("text_length", len(rows), frame.iloc[rows[:MAX_EXAMPLES]], "; ".join(what))]


def fit_labels(labels: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Labels as the warehouse stores them: a code too long is an error, a label too long is cut with "..."."""
    long_codes = _long_values(labels["code"], MAX_CODE_BYTES) | _long_values(labels["dimension"], MAX_CODE_BYTES)
    if long_codes:
        shown = ", ".join(sorted(c[:80] for c in long_codes)[:MAX_EXAMPLES])
        raise ValidationFailed(
            f"dataset {dataset}: rule text_length failed: category codes over {MAX_CODE_BYTES} bytes: {shown}. "
            f"what to do: {FIXES['text_length']}"
        )
    long_labels = _long_values(labels["label"], MAX_LABEL_BYTES)
    if not long_labels:
        return labels
    log.warning("dataset %s: %d label(s) longer than %d bytes are cut", dataset, len(long_labels), MAX_LABEL_BYTES)
    cut = {v: fit_text(v, MAX_LABEL_BYTES) for v in long_labels}
    return labels.assign(label=labels["label"].map(lambda v: cut.get(v, v)))


def _outside_slice(frame: pd.DataFrame, filters: dict[str, list[str]]) -> list[RuleFailure]:
    """Rows whose code of a filtered dimension is not one the slice asked for (or a filtered dimension missing)."""
    outside = np.zeros(len(frame), dtype=bool)
    missing = []
    for dim, codes in filters.items():
        column = TIME_COLUMN if dim == "time" else dim
        if column not in frame.columns:
            missing.append(dim)
            continue
        outside |= ~frame[column].isin(codes).to_numpy()
    if missing:
        return [RuleFailure("slice_membership", len(frame), None,
                            f"the body has no dimension {', '.join(missing)} that the slice selects on")]
    if not outside.any():
        return []
    rows = np.flatnonzero(outside)
    wanted = "; ".join(f"{dim} in {'+'.join(codes[:5])}{'+...' if len(codes) > 5 else ''}"
                       for dim, codes in filters.items())
    examples = frame.iloc[rows[:MAX_EXAMPLES]]
    return [RuleFailure("slice_membership", len(rows), examples, f"the slice asked for {wanted}")]


def _collect(cases: pd.DataFrame, frame: pd.DataFrame) -> list[RuleFailure]:
    """Group pandera's failure cases by rule and pick the offending rows from the frame."""
    failures = []
    cases = cases.assign(rule=cases["check"].astype(str).map(_rule_name))
    for rule, group in cases.groupby("rule", sort=False):
        rows = pd.to_numeric(group["index"], errors="coerce").dropna().astype(np.int64).unique()
        rows.sort()
        if len(rows):
            examples = frame.iloc[rows[:MAX_EXAMPLES]]
            detail = ""
            if rule == "flag_known":
                bad = examples[FLAG_COLUMN].dropna().unique()
                detail = "; ".join(explain_flag(f) for f in bad)
            failures.append(RuleFailure(rule, len(rows), examples, detail))
        else:  # a schema-level failure without rows (e.g. a wrong dtype)
            what = ", ".join(sorted({str(x) for x in group["failure_case"]}))
            failures.append(RuleFailure(rule, 0, None, f"column {group['column'].iloc[0]}: {what}"))
    order = list(FIXES)
    return sorted(failures, key=lambda f: order.index(f.rule) if f.rule in order else len(order))


def _message(code: str, n_rows: int, failures: list[RuleFailure]) -> str:
    """A message a person can act on: rule, count, a few rows, what to do."""
    lines = [f"dataset {code}: {len(failures)} validation rule(s) failed on {n_rows} rows"]
    for f in failures:
        if f.rule == "min_rows":
            head = f"- rule min_rows: {f.count} row(s) short ({f.detail})"
        else:
            head = f"- rule {f.rule}: {f.count} failing row(s)" if f.count else f"- rule {f.rule}"
            head += f" ({f.detail})" if f.detail else ""
        lines.append(head)
        if f.examples is not None and len(f.examples):
            shown = f.examples.to_string(index=False, na_rep="NULL", max_colwidth=30)
            lines.append("    " + shown.replace("\n", "\n    "))
            if f.count > len(f.examples):
                lines.append(f"    ... and {f.count - len(f.examples)} more")
        lines.append(f"  what to do: {FIXES.get(f.rule, 'see multilevel/validate/eurostat.py')}")
    return "\n".join(lines)
