"""A vectorised reader of JSON-stat 2.0 datasets as answered by Eurostat's Statistics API.

JSON-stat stores a cube: ``id`` lists the dimensions, ``size`` their lengths, and ``value`` / ``status``
hold the cells in row-major order of ``id`` (the last dimension varies fastest), either as arrays of the
full cube or as sparse objects keyed by the flat cell number. Eurostat sends sparse objects with keys in no
particular order and folds confidentiality into ``status`` (``"|C"``), often with no ``value`` entry for
that cell.

``parse_jsonstat`` turns the cube into one tidy row per cell that has a value or a status::

    <dimension ids, lower case, id order, time excluded> | time_period | value | flag

The work is done with numpy and pyarrow: one pass per dimension (``np.unravel_index`` on the flat cell
numbers, then a take from the dimension's code list), never a Python loop per cell. Decoding is orjson (about 3x
faster than ``json.loads``; it also rejects the non-standard ``NaN`` and ``Infinity`` literals that Python's parser
accepts, so such a body is a parse error, not a silently missing value). The decode is the main cost; the rest
stays within half of it (measured in ``make bench``).

Text columns use pandas' default string dtype (``str``: pyarrow-backed, missing = NaN). It is the fastest to
build (a pyarrow ``take`` from the code list) and writes to Parquet without converting Python objects; a
missing flag is a missing value (``pd.isna``), stored as NULL.
"""

from __future__ import annotations

import gzip
import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from multilevel.datasets import IDENTIFIER
from multilevel.errors import ParseError

log = logging.getLogger(__name__)

TIME_COLUMN = "time_period"
VALUE_COLUMN = "value"
FLAG_COLUMN = "flag"
# Dimension ids that name the time dimension when ``role.time`` is absent (the Statistics API says ``time``,
# SDMX-derived bodies say ``TIME_PERIOD``).
TIME_IDS = ("time", "time_period")
TEXT_DTYPE = "str"


@dataclass(frozen=True)
class ParsedSlice:
    """One parsed JSON-stat dataset.

    Attributes:
        frame: one row per cell with a value or a status (columns: dimensions, time_period, value, flag).
        labels: English labels of every category of every non-time dimension (dimension, code, label).
        update_data: the dataset's ``UPDATE_DATA`` annotation (when Eurostat last changed the data).
        update_structure: the ``UPDATE_STRUCTURE`` annotation (when the code lists last changed).
        dataset: the dataset code from ``extension.id``, lower case.
    """

    frame: pd.DataFrame
    labels: pd.DataFrame
    update_data: str | None
    update_structure: str | None
    dataset: str | None

    @property
    def dimensions(self) -> list[str]:
        """The dimension columns of ``frame`` (time excluded), in the body's ``id`` order."""
        return list(self.frame.columns[:-3])


def parse_jsonstat(body: bytes | str | dict) -> ParsedSlice:
    """Parse a JSON-stat 2.0 dataset (raw bytes, text or an already decoded dict) into a ``ParsedSlice``.

    Raises:
        ParseError: the body is not JSON, is an API error or warning, or is inconsistent JSON-stat.
    """
    cells = read_jsonstat(body)
    return ParsedSlice(cells.frame(), cells.labels, cells.update_data, cells.update_structure, cells.dataset)


@dataclass(frozen=True)
class JsonStatCells:
    """A checked JSON-stat dataset whose rows are built on demand: ``frame(start, stop)`` gives rows [start, stop).

    Holds the cells as compact arrays (flat cell number, value, flag number: 20 bytes a row), so a caller can build,
    check and write a huge body's rows a chunk at a time (the validate step does) instead of all at once.
    """

    columns: list[str]  # lower-case dimension ids in ``id`` order (the time dimension included)
    time_i: int
    sizes: list[int]
    codes: list[np.ndarray]
    cells: np.ndarray  # flat cell numbers of the rows, ascending
    values: np.ndarray  # float64, NaN where the cell has only a status
    flag_pos: np.ndarray  # int32 index into ``flags``, -1 for no status
    flags: np.ndarray
    labels: pd.DataFrame
    update_data: str | None
    update_structure: str | None
    dataset: str | None

    @property
    def rows(self) -> int:
        return len(self.cells)

    @property
    def dimensions(self) -> list[str]:
        """The dimension columns of the frame (time excluded), in the body's ``id`` order."""
        return [c for i, c in enumerate(self.columns) if i != self.time_i]

    def frame(self, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Rows ``start`` to ``stop`` (default: all): dimensions, time_period, value, flag."""
        window = slice(start, stop)
        positions = np.unravel_index(self.cells[window], self.sizes)
        data: dict[str, Any] = {}
        for i, col in enumerate(self.columns):
            if i != self.time_i:
                data[col] = _take(self.codes[i], positions[i])
        data[TIME_COLUMN] = _take(self.codes[self.time_i], positions[self.time_i])
        del positions
        data[VALUE_COLUMN] = self.values[window] if start or stop is not None else self.values
        data[FLAG_COLUMN] = _take(self.flags, self.flag_pos[window], nullable=True)
        return pd.DataFrame(data, copy=False)


def read_jsonstat(body: bytes | str | dict) -> JsonStatCells:
    """Decode and check a JSON-stat 2.0 dataset; its rows are built later by ``JsonStatCells.frame``.

    Raises:
        ParseError: as ``parse_jsonstat``.
    """
    doc = body if isinstance(body, dict) else _decode(body)
    name = _dataset_name(doc)
    ids, sizes = _structure(doc, name)
    dims = doc["dimension"]
    codes = [_category_codes(dims[i], i, n, name) for i, n in zip(ids, sizes, strict=True)]
    time_i = _time_position(doc, ids, name)
    columns = _column_names(ids, time_i, name)

    total = int(np.prod(sizes, dtype=np.int64))
    val_idx, vals = _values(doc, total, name)
    st_idx, flag_codes, flag_uniques = _status(doc, total, val_idx, name)
    if doc is not body:  # our own decoded document: free its cells (its largest part) before the rows are built
        doc.pop("value", None)
        doc.pop("status", None)

    # Every cell with a value or a status becomes a row; rows come out in row-major (flat index) order.
    cells, val_row, st_row = _merge_cells(val_idx, st_idx, total)
    del val_idx, st_idx
    value = np.full(len(cells), np.nan)
    value[val_row] = vals
    # Flags are few distinct strings: gather them like a dimension, -1 (no status) becomes a missing flag.
    flag_pos = np.full(len(cells), -1, dtype=np.int32)
    flag_pos[st_row] = flag_codes

    labels = _labels(dims, ids, codes, columns, time_i)
    update_data, update_structure = _annotations(doc)
    ext = doc.get("extension") if isinstance(doc.get("extension"), dict) else {}
    dataset = ext.get("id").lower() if isinstance(ext.get("id"), str) else None
    log.debug("parsed JSON-stat %s: %d cells of %d positions", name, len(cells), total)
    return JsonStatCells(columns, time_i, list(sizes), codes, cells, value, flag_pos,
                         np.asarray(flag_uniques, dtype=object), labels, update_data, update_structure, dataset)


@dataclass(frozen=True)
class SparseCells:
    """A sparse ``value`` or ``status`` object read straight from the body's bytes (see ``_lift_sparse``).

    ``keys`` are the flat cell numbers; ``entries`` the values (float64, NaN for null) or the flags (Arrow strings).
    """

    keys: np.ndarray
    entries: np.ndarray | pa.Array


def _decode(body: bytes | str) -> dict:
    """Decode bytes or text into a dict; unzip a gzip body that came without a Content-Encoding header.

    The sparse ``value`` and ``status`` objects of a body are read into arrays straight from its bytes when they have
    the plain shape Eurostat sends (see ``_lift_sparse``): decoding them into a dict of millions of Python strings and
    floats is what made a 5M-cell body cost over a gigabyte. Anything else goes through the full decoder.
    """
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        # Eurostat sometimes sends large bodies gzip-compressed without saying so.
        if raw[:2] == b"\x1f\x8b":
            try:
                raw = gzip.decompress(raw)
            except (OSError, EOFError) as e:
                raise ParseError(
                    f"the JSON-stat body is a truncated or corrupt gzip stream ({e}); download it again"
                ) from e
        if raw[:3] == b"\xef\xbb\xbf":
            raw = raw[3:]
        text_head = raw[:80].decode("utf-8", "replace")
        lifted = _lift_sparse(raw)
        if lifted is not None:
            return lifted
        source: bytes | str = raw
    elif isinstance(body, str):
        source = body.lstrip("\ufeff")
        text_head = source[:80]
    else:
        raise ParseError(f"parse_jsonstat expects bytes, str or dict, not {type(body).__name__}")
    try:
        doc = orjson.loads(source)
    except orjson.JSONDecodeError as e:
        hint = (
            " (it looks like HTML: an error or 'sorry' page, not data)"
            if text_head.lstrip().startswith("<")
            else _nonstandard_number(source, e)
        )
        raise ParseError(
            f"the body is not JSON{hint}: {e}; it starts with {text_head!r}. "
            "Ask the Statistics API for format=JSON and check the response before parsing"
        ) from None
    if not isinstance(doc, dict):
        raise ParseError(f"the body is JSON but a {type(doc).__name__}, not a JSON-stat dataset object")
    return doc


_VALUE_MARK = b'"value":{'
_STATUS_MARK = b'"status":{'
_DIGITS = frozenset(b"0123456789")
_SPACE_OR_ESCAPE = re.compile(rb"[\s\\]")
_CSV = pa_csv.ParseOptions(quote_char=False, double_quote=False, escape_char=False, newlines_in_values=False)
_CSV_TAB = pa_csv.ParseOptions(delimiter="\t", quote_char=False, double_quote=False, escape_char=False,
                               newlines_in_values=False)


def _lift_sparse(raw: bytes) -> dict | None:
    """Decode ``raw`` with its top-level sparse ``value``/``status`` objects read as arrays; None: use the full decoder.

    Each object is cut out of the bytes (from its brace to the first closing brace: its keys are digits and its
    entries numbers, null or flag strings, so no brace can be inside) and read by Arrow's CSV reader in C: one
    ``cell,entry`` line per key, after turning ``","``-style separators into line breaks. The rest of the body (code
    lists, labels, annotations) is decoded by orjson with ``{}`` in their place, and must show ``{}`` exactly there
    (so a nested object of the same name was never the one cut). Any surprise (another shape, a string value, NaN,
    escapes) returns None, and the full decoder gives the same result or the same error as before.
    """
    cuts: list[tuple[int, int, str, SparseCells]] = []
    start = raw.find(_VALUE_MARK)
    if start < 0 or raw.find(_VALUE_MARK, start + 1) >= 0:
        return None
    starts = {"value": start + len(_VALUE_MARK)}
    status = [i + len(_STATUS_MARK) for i in _find_all(raw, _STATUS_MARK)
              if raw[i + len(_STATUS_MARK):i + len(_STATUS_MARK) + 1] == b'"'
              and raw[i + len(_STATUS_MARK) + 1] in _DIGITS]
    if len(status) > 1:
        return None
    if status:
        starts["status"] = status[0]
    for name, begin in starts.items():
        end = raw.find(b"}", begin)
        if end < 0:
            return None
        cells = (_value_cells if name == "value" else _status_cells)(raw[begin:end])
        if cells is None:
            return None
        cuts.append((begin, end, name, cells))
    cuts.sort(key=lambda c: c[0])
    pieces, at = [], 0
    for begin, end, _, _ in cuts:
        pieces += [raw[at:begin]]
        at = end
    pieces.append(raw[at:])
    try:
        doc = orjson.loads(b"".join(pieces))
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or any(doc.get(name) != {} for _, _, name, _ in cuts):
        return None
    for _, _, name, cells in cuts:
        doc[name] = cells
    return doc


def _find_all(raw: bytes, mark: bytes) -> list[int]:
    found, i = [], raw.find(mark)
    while i >= 0:
        found.append(i)
        i = raw.find(mark, i + 1)
    return found


def _read_pairs(text: bytes, options: pa_csv.ParseOptions, entry: pa.DataType) -> pa.Table | None:
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(text),
            read_options=pa_csv.ReadOptions(column_names=["cell", "entry"]),
            parse_options=options,
            convert_options=pa_csv.ConvertOptions(column_types={"cell": pa.int64(), "entry": entry},
                                                  null_values=["null"], strings_can_be_null=False,
                                                  quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_columns != 2 or table.column("cell").null_count:
        return None
    return table


def _value_cells(content: bytes) -> SparseCells | None:
    """``"12":3.5,"14":null`` -> cells [12, 14], values [3.5, NaN]; None unless every entry is a finite number/null."""
    text = content.translate(None, b" \t\r\n")
    if not text:
        return SparseCells(np.empty(0, dtype=np.int64), np.empty(0))
    if text[:1] != b'"':
        return None
    table = _read_pairs(text[1:].replace(b',"', b"\n").replace(b'":', b","), _CSV, pa.float64())
    if table is None:
        return None
    values = table.column("entry").to_numpy()
    numbers = values[~np.isnan(values)] if table.column("entry").null_count else values
    if not np.isfinite(numbers).all():  # a NaN or Infinity literal: the full decoder names it
        return None
    return SparseCells(table.column("cell").to_numpy(), values)


def _status_cells(content: bytes) -> SparseCells | None:
    """``"12":"p","15":":"`` -> cells [12, 15], flags ['p', ':']; None for whitespace, escapes or non-strings."""
    if len(content) < 2 or content[:1] != b'"' or content[-1:] != b'"' or _SPACE_OR_ESCAPE.search(content):
        return None
    table = _read_pairs(content[1:-1].replace(b'","', b"\n").replace(b'":"', b"\t"), _CSV_TAB, pa.string())
    if table is None or table.column("entry").null_count:
        return None
    return SparseCells(table.column("cell").to_numpy(), table.column("entry").combine_chunks())


def _nonstandard_number(source: bytes | str, error: orjson.JSONDecodeError) -> str:
    """Name a NaN / Infinity literal or an overflowing number where orjson stopped (it rejects them, as RFC 8259 does).

    Python's ``json`` accepts these literals and would turn them into a silently missing value.
    """
    at = source[max(error.pos - 1, 0) : error.pos + 9]
    text = at.decode("utf-8", "replace") if isinstance(at, bytes) else at
    literal = next((w for w in ("-Infinity", "Infinity", "NaN") if w in text), None)
    if literal:
        return f" (non-standard JSON number {literal}: JSON has no NaN or Infinity)"
    if "infinity" in str(error):
        return " (a number too large for a double, i.e. infinite: JSON has no NaN or Infinity)"
    return ""


def _check_finite(vals: np.ndarray, items: list | Any, name: str) -> None:
    """Reject NaN or infinite values: only ``null`` may mark a cell without a value.

    Whatever decoder produced ``items`` (one that accepts the NaN literal, or a huge exponent that overflows to
    infinity), a non-finite float must not pass as a missing value: it would silently drop the observation.
    """
    finite = np.isfinite(vals)
    if finite.all():
        return
    nulls = sum(1 for v in items if v is None)
    if np.isinf(vals).any() or int((~finite).sum()) != nulls:
        raise ParseError(
            f"JSON-stat {name}: 'value' holds NaN or an infinite number, which JSON does not allow; only null marks "
            "a missing value. The body is corrupt: download it again, and report it if it persists"
        )


def _dataset_name(doc: dict) -> str:
    """Name the dataset for messages; reject API error and warning bodies first."""
    if "error" in doc:
        errors = doc["error"] if isinstance(doc["error"], list) else [doc["error"]]
        entries = [e if isinstance(e, dict) else {"label": str(e)} for e in errors]
        # labels end with a full stop of their own: strip it, so the message never reads '..'
        text = "; ".join(f"{e.get('status')} {str(e.get('label')).strip().rstrip('.')}" for e in entries)
        statuses = {e.get("status") for e in entries}
        if 413 in statuses and "ASYNCHRONOUS" not in text.upper():
            advice = "split the request (by geo, time or another dimension)"
        elif "ASYNCHRONOUS" in text.upper():
            advice = "Eurostat is preparing the extraction: ask again later (the client waits for it)"
        elif statuses & {404} or any(e.get("id") == 100 for e in entries):
            advice = "check the dataset code and the filter codes against the dataset's content constraint"
        else:
            advice = "fix the request (dataset code, dimension names, filter values)"
        raise ParseError(f"the body is an Eurostat API error, not data: {text}; {advice}")
    if "warning" in doc and "value" not in doc:
        w = doc["warning"]
        label = str(w.get("label") if isinstance(w, dict) else w).strip().rstrip(".")
        advice = ("Eurostat is preparing the extraction: ask again later (the client waits for it)"
                  if "ASYNCHRONOUS" in label.upper() else "split the request by geo, time or another dimension")
        raise ParseError(f"the body is an Eurostat API warning, not data: {label}; {advice}")
    ext = doc.get("extension")
    if isinstance(ext, dict) and isinstance(ext.get("id"), str):
        return ext["id"].lower()
    return str(doc.get("label") or "dataset")


def _structure(doc: dict, name: str) -> tuple[list[str], list[int]]:
    """Return ``id`` and ``size`` after checking they describe the ``dimension`` object."""
    if doc.get("class", "dataset") != "dataset":
        raise ParseError(
            f"JSON-stat {name}: class is {doc.get('class')!r}; only class 'dataset' can be parsed"
        )
    missing = [k for k in ("id", "size", "dimension") if k not in doc]
    if missing or ("value" not in doc and "status" not in doc):
        missing += [] if ("value" in doc or "status" in doc) else ["value"]
        raise ParseError(
            f"{name} is not a JSON-stat 2.0 dataset: missing {', '.join(repr(m) for m in missing)}. "
            "Request format=JSON from the Statistics API (JSON-stat 1.x bundles are not supported)"
        )
    ids, sizes, dims = doc["id"], doc["size"], doc["dimension"]
    if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise ParseError(f"JSON-stat {name}: 'id' must be a list of dimension names, got {ids!r}")
    if not (
        isinstance(sizes, list)
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes)
    ):
        raise ParseError(f"JSON-stat {name}: 'size' must be a list of non-negative integers, got {sizes!r}")
    if len(ids) != len(sizes):
        raise ParseError(
            f"JSON-stat {name}: 'id' has {len(ids)} dimensions but 'size' has {len(sizes)} lengths"
        )
    if len(set(ids)) != len(ids):
        raise ParseError(f"JSON-stat {name}: 'id' repeats a dimension: {ids}")
    if not isinstance(dims, dict):
        raise ParseError(f"JSON-stat {name}: 'dimension' must be an object keyed by dimension id")
    absent = [i for i in ids if i not in dims]
    if absent:
        raise ParseError(
            f"JSON-stat {name}: dimensions {absent} are listed in 'id' but missing from 'dimension'"
        )
    return ids, sizes


def _category_codes(dim: Any, dim_id: str, size: int, name: str) -> np.ndarray:
    """Return the category codes of one dimension as an object array ordered by position."""
    where = f"JSON-stat {name}, dimension {dim_id!r}"
    cat = dim.get("category") if isinstance(dim, dict) else None
    if not isinstance(cat, dict):
        raise ParseError(f"{where}: no 'category' object")
    index = cat.get("index")
    if index is None:
        # JSON-stat allows dropping the index of a dimension with a single category: its label names it.
        label = cat.get("label")
        if not (isinstance(label, dict) and len(label) == 1):
            raise ParseError(
                f"{where}: no category 'index'; that is only allowed with exactly one category label"
            )
        codes = np.array(list(label), dtype=object)
    elif isinstance(index, list):
        codes = np.array(index, dtype=object)
    elif isinstance(index, dict):
        try:
            pos = np.fromiter(index.values(), dtype=np.int64, count=len(index))
        except (TypeError, ValueError):
            raise ParseError(f"{where}: category 'index' positions must be integers") from None
        if not np.array_equal(np.sort(pos), np.arange(len(index))):
            raise ParseError(f"{where}: category 'index' positions are not 0..{len(index) - 1} exactly once")
        codes = np.empty(len(index), dtype=object)
        codes[pos] = list(index)
    else:
        raise ParseError(
            f"{where}: category 'index' must be an object or an array, got {type(index).__name__}"
        )
    if len(codes) != size:
        raise ParseError(f"{where}: 'size' says {size} categories but the category index has {len(codes)}")
    if not all(isinstance(c, str) for c in codes):
        raise ParseError(f"{where}: category codes must be strings")
    if len(set(codes)) != len(codes):
        raise ParseError(f"{where}: category codes repeat")
    return codes


def _time_position(doc: dict, ids: list[str], name: str) -> int:
    """Position of the time dimension in ``id``: ``role.time`` if given, else ``time`` or ``TIME_PERIOD``."""
    role = doc.get("role")
    if isinstance(role, dict) and isinstance(role.get("time"), list):
        found = [ids.index(t) for t in role["time"] if t in ids]
        if len(found) == 1:
            return found[0]
    found = [i for i, d in enumerate(ids) if d.lower() in TIME_IDS]
    if len(found) != 1:
        raise ParseError(
            f"JSON-stat {name}: cannot tell the time dimension among {ids}; expected one dimension named "
            "'time' or 'TIME_PERIOD', or a role.time entry"
        )
    return found[0]


def _column_names(ids: list[str], time_i: int, name: str) -> list[str]:
    """Lower-case dimension ids, checked because they become warehouse column names."""
    columns = [d.lower() for d in ids]
    reserved = {TIME_COLUMN, VALUE_COLUMN, FLAG_COLUMN}
    for i, col in enumerate(columns):
        if i == time_i:
            continue
        if not IDENTIFIER.match(col) or col in reserved:
            raise ParseError(
                f"JSON-stat {name}: dimension id {ids[i]!r} cannot be a column name (it must match "
                f"{IDENTIFIER.pattern} and not be one of {sorted(reserved)})"
            )
    if len(set(columns)) != len(columns):
        raise ParseError(f"JSON-stat {name}: dimension ids {ids} collide once lower-cased")
    return columns


def _sparse_keys(obj: dict, total: int, what: str, name: str) -> np.ndarray:
    """Flat cell numbers of a sparse ``value``/``status`` object, checked against the cube size."""
    # Arrow's text-to-integer cast runs in C, ~2x faster than int() per key; it is strict (digits only).
    try:
        idx = pc.cast(pa.array(list(obj), type=pa.string()), pa.int64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        raise ParseError(f"JSON-stat {name}: '{what}' keys must be cell numbers (integers as text)") from None
    return _in_cube(idx, total, what, name)


def _in_cube(idx: np.ndarray, total: int, what: str, name: str) -> np.ndarray:
    """``idx`` if every cell number is inside the cube, else a ParseError naming the first one outside."""
    if len(idx) and (idx.min() < 0 or idx.max() >= total):
        bad = int(idx[(idx < 0) | (idx >= total)][0])
        raise ParseError(
            f"JSON-stat {name}: '{what}' has cell {bad} but the cube has only {total} cells "
            "('size' and 'value' disagree: the body is inconsistent or truncated)"
        )
    return idx


def _as_float(items: list | Any, count: int, what: str, name: str) -> np.ndarray:
    """Convert JSON numbers (and nulls) to float64; nulls become NaN."""
    try:
        return np.fromiter(items, dtype=np.float64, count=count)
    except TypeError:
        pass  # a null among the numbers: the slower path below turns None into NaN
    except ValueError:
        raise ParseError(f"JSON-stat {name}: '{what}' holds something that is not a number") from None
    try:
        return np.array(list(items) if not isinstance(items, list) else items, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParseError(f"JSON-stat {name}: '{what}' holds something that is not a number or null") from None


def _values(doc: dict, total: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (flat cell numbers, float values) of the cells that have a value."""
    raw = doc.get("value", {})
    if isinstance(raw, SparseCells):
        idx, vals = _in_cube(raw.keys, total, "value", name), raw.entries
    elif isinstance(raw, dict):
        idx = _sparse_keys(raw, total, "value", name)
        vals = _as_float(raw.values(), len(raw), "value", name)
        _check_finite(vals, raw.values(), name)
    elif isinstance(raw, list):
        if len(raw) != total:
            raise ParseError(
                f"JSON-stat {name}: 'value' array has {len(raw)} entries but 'size' gives {total} cells"
            )
        vals = _as_float(raw, len(raw), "value", name)
        _check_finite(vals, raw, name)
        idx = np.arange(total, dtype=np.int64)
    else:
        raise ParseError(f"JSON-stat {name}: 'value' must be an object or an array, got {type(raw).__name__}")
    keep = ~np.isnan(vals)
    return idx[keep], vals[keep]


def _status(doc: dict, total: int, val_idx: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (flat cell numbers, flag numbers, distinct flags) of the cells that have a status."""
    raw = doc.get("status")
    if raw is None:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=object)
    if isinstance(raw, SparseCells):
        idx = _in_cube(raw.keys, total, "status", name)
        present = pc.not_equal(raw.entries, "").to_numpy(zero_copy_only=False)
        encoded = pc.dictionary_encode(raw.entries.filter(pa.array(present)))
        return (idx[present], encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64),
                np.array(encoded.dictionary.to_pylist(), dtype=object))
    if isinstance(raw, list) and len(raw) == 1 and total != 1:
        raw = raw[0]  # JSON-stat: a one-element status array applies to every value, like a string
    if isinstance(raw, str):
        # A single status applies to all values (JSON-stat 2.0): to the cells that have one, so that a sparse
        # body does not turn every empty position into a row.
        return val_idx, np.zeros(len(val_idx), dtype=np.int64), np.array([raw], dtype=object)
    if isinstance(raw, dict):
        idx = _sparse_keys(raw, total, "status", name)
        sts = np.array(list(raw.values()), dtype=object)
    elif isinstance(raw, list):
        if len(raw) != total:
            raise ParseError(
                f"JSON-stat {name}: 'status' array has {len(raw)} entries but 'size' gives {total} cells"
            )
        idx = np.arange(total, dtype=np.int64)
        sts = np.array(raw, dtype=object)
    else:
        raise ParseError(f"JSON-stat {name}: 'status' must be an object, an array or a string")
    present = pd.notna(sts) & (sts != "")
    idx, sts = idx[present], sts[present]
    codes, uniques = pd.factorize(sts)
    if not all(isinstance(s, str) for s in uniques):
        raise ParseError(f"JSON-stat {name}: 'status' entries must be strings")
    return idx, codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _merge_cells(
    val_idx: np.ndarray, st_idx: np.ndarray, total: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted union of the cells with a value and the cells with a status, and the row of each input cell.

    A cube that is not much larger than its cells: mark the cells in a bitmap of the whole cube and number them
    with a running count (O(cube), no sort). A very sparse cube: one argsort of both lists instead (a sort beats
    numpy's hash-based ``union1d`` plus two ``searchsorted`` by ~4x).
    """
    if total <= 8 * (len(val_idx) + len(st_idx)) + 1_000_000:
        present = np.zeros(total, dtype=bool)
        present[val_idx] = True
        present[st_idx] = True
        cells = np.flatnonzero(present)
        row = np.cumsum(present, dtype=np.int64)
        row -= 1
        return cells, row[val_idx], row[st_idx]
    both = np.concatenate([val_idx, st_idx])
    order = np.argsort(both, kind="stable")
    ordered = both[order]
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    row = np.empty(len(both), dtype=np.int64)
    row[order] = np.cumsum(first) - 1
    return ordered[first], row[: len(val_idx)], row[len(val_idx) :]


def _take(codes: np.ndarray, positions: np.ndarray, *, nullable: bool = False) -> pd.Series:
    """Build a string column by taking codes at ``positions`` (pyarrow gathers in C).

    With ``nullable``, position -1 gives a missing value. ``large_string`` is what pandas' ``str``
    dtype holds, so ``to_pandas`` does not cast.
    """
    dictionary = pa.array(codes.tolist(), type=pa.large_string())
    indices = pa.array(positions, type=pa.int64(), mask=positions < 0 if nullable else None)
    return dictionary.take(indices).to_pandas()


def _labels(
    dims: dict, ids: list[str], codes: list[np.ndarray], columns: list[str], time_i: int
) -> pd.DataFrame:
    """English category labels of every non-time dimension; a missing label falls back to the code."""
    parts = []
    for i, dim_id in enumerate(ids):
        if i == time_i:
            continue
        label_map = dims[dim_id]["category"].get("label") or {}
        parts.append(
            pd.DataFrame(
                {
                    "dimension": columns[i],
                    "code": codes[i],
                    "label": [label_map.get(c, c) for c in codes[i]],
                }
            )
        )
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=TEXT_DTYPE) for c in ("dimension", "code", "label")})
    return pd.concat(parts, ignore_index=True).astype(TEXT_DTYPE)


def _annotations(doc: dict) -> tuple[str | None, str | None]:
    """UPDATE_DATA and UPDATE_STRUCTURE dates from ``extension.annotation`` (None when absent)."""
    ext = doc.get("extension")
    found: dict[str, str] = {}
    if isinstance(ext, dict) and isinstance(ext.get("annotation"), list):
        for a in ext["annotation"]:
            if isinstance(a, dict) and a.get("type") in ("UPDATE_DATA", "UPDATE_STRUCTURE"):
                found[a["type"]] = a.get("date") or a.get("title")
    return found.get("UPDATE_DATA"), found.get("UPDATE_STRUCTURE")
