"""The stand-in's data model: a dense cube of values and status codes, with revisions and update timestamps.

A cube is dense: one float64 array of values (NaN = no value) and one small-int array of status codes (index
into ``flags``; 0 = no status) over the full cartesian product of its dimensions. A cell is an *observation*
when it has a value or a status (``|C`` cells carry a status and no value, as in the real Statistics API).
Cells with neither are absent from the body, e.g. a NUTS 2013 region in a year published in NUTS 2021, or a
figure a country did not report (the real API has no ``:`` cells in JSON-stat; see synthetic.BASE_FLAGS).

``BaseCube`` is content shared read-only between stand-in instances (made by ``synthetic``/``demography`` or
loaded by ``fixture``); a ``Cube`` copies its arrays only when it is first revised.
"""

from __future__ import annotations

import logging
import threading
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

logger = logging.getLogger(__name__)

BRUSSELS = ZoneInfo("Europe/Brussels")
TIMESTAMP_FORMAT = (
    "%Y-%m-%dT%H:%M:%S%z"  # 2025-12-04T23:00:00+0100: no colon in the offset, as Eurostat writes it
)
FLAG_LABELS = {
    "p": "provisional",
    "e": "estimated",
    "b": "break in time series",
    "ep": "estimated, provisional",
    "u": "low reliability",
    "d": "definition differs (see metadata)",
    # as the Statistics API labels it, bar included (real body tests/fixtures/eurostat/slices/
    # statsapi_sts_inpr_m_ie_confidential.json: "extension":{"status":{"label":{"|C":"|confidential"}}})
    "|C": "|confidential",
}


@dataclass(frozen=True)
class Dimension:
    """One dimension of a cube: id, label, category codes in cube order and their labels."""

    id: str
    label: str
    codes: list[str]
    labels: dict[str, str]

    @property
    def index(self) -> dict[str, int]:
        """Position of each code in the cube."""
        return {c: i for i, c in enumerate(self.codes)}


@dataclass
class BaseCube:
    """Generated or loaded cube content, shared read-only between stand-in instances."""

    code: str  # lower case, as in the dataset configuration
    label: str
    dims: list[Dimension]
    values: np.ndarray
    status: np.ndarray
    flags: list[str]  # status code -> flag text; flags[0] == ""
    annotations: list[dict]  # the dataflow annotation list; dynamic types are rewritten on output
    dsd_version: str
    # (flat position, value) of observations blanked at generation, for revisions to publish as new ones
    reserve: list[tuple[int, float]] = field(default_factory=list)


def _parse_ts(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT)


def format_ts(moment: datetime) -> str:
    """Format a timestamp like Eurostat's annotations, in Brussels time."""
    return moment.astimezone(BRUSSELS).strftime(TIMESTAMP_FORMAT)


def next_publication(after: datetime) -> datetime:
    """The first Eurostat publication slot (11:00 or 23:00 Brussels time) strictly after ``after``."""
    local = after.astimezone(BRUSSELS)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    for days in range(0, 3):
        for hour in (11, 23):
            slot = (day + timedelta(days=days, hours=hour)).replace(tzinfo=BRUSSELS)
            if slot > local:
                return slot
    raise AssertionError("unreachable: a slot always exists within two days")


class Cube:
    """A dataset as one stand-in instance serves it: base content plus revisions and update timestamps.

    All reads and writes go through the lock, so a revision never shows half-applied to a concurrent request.
    """

    def __init__(self, base: BaseCube):
        self.base = base
        self.code = base.code
        self.dims = base.dims
        self.values = base.values
        self.status = base.status
        self.flags = list(base.flags)
        self.version = 1
        self.lock = threading.RLock()
        self._owned = False
        self._reserve = list(base.reserve)
        self._overrides: dict[str, str] = {}
        self._obs_count: tuple[int, int] | None = None  # (version, count)
        dates = {a["type"]: a.get("date") for a in base.annotations}
        self.update_data = _parse_ts(dates["UPDATE_DATA"])
        self.update_structure = _parse_ts(dates["UPDATE_STRUCTURE"])

    @property
    def shape(self) -> tuple[int, ...]:
        """Sizes of the dimensions in cube order."""
        return tuple(len(d.codes) for d in self.dims)

    def dim(self, dim_id: str) -> Dimension:
        """The dimension named ``dim_id``; KeyError if the cube has none."""
        for d in self.dims:
            if d.id == dim_id:
                return d
        raise KeyError(dim_id)

    def obs_count(self) -> int:
        """Cells with a value or a status (what OBS_COUNT reports)."""
        with self.lock:
            if self._obs_count is None or self._obs_count[0] != self.version:
                n = int(np.count_nonzero(~np.isnan(self.values) | (self.status > 0)))
                self._obs_count = (self.version, n)
            return self._obs_count[1]

    def annotations(self) -> list[dict]:
        """The annotation list with the current UPDATE_DATA, UPDATE_STRUCTURE and OBS_COUNT."""
        dynamic = {
            "UPDATE_DATA": ("date", format_ts(self.update_data)),
            "UPDATE_STRUCTURE": ("date", format_ts(self.update_structure)),
            "OBS_COUNT": ("title", str(self.obs_count())),
        }
        for kind in ("DISSEMINATION_TIMESTAMP_DATA", "DISSEMINATION_TIMESTAMP_GLOBAL"):
            if kind in self._overrides:
                dynamic[kind] = ("date", self._overrides[kind])
        out = []
        for annotation in self.base.annotations:
            annotation = dict(annotation)
            if annotation["type"] in dynamic:
                key, value = dynamic[annotation["type"]]
                annotation[key] = value
            out.append(annotation)
        return out

    def present_codes(self) -> dict[str, list[str]]:
        """Per dimension, the codes that hold at least one observation (what the content constraint lists)."""
        with self.lock:
            present = ~np.isnan(self.values) | (self.status > 0)
        out = {}
        for axis, d in enumerate(self.dims):
            others = tuple(a for a in range(len(self.dims)) if a != axis)
            mask = present.any(axis=others)
            out[d.id] = [c for c, m in zip(d.codes, mask, strict=True) if m]
        return out

    def select(self, positions: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Copies of values and status of the sub-cube at ``positions`` (one index array per dimension)."""
        with self.lock:
            grid = np.ix_(*positions)
            return self.values[grid], self.status[grid], list(self.flags)

    def _own(self) -> None:
        if not self._owned:
            self.values = self.values.copy()
            self.status = self.status.copy()
            self._owned = True

    def _flag_code(self, flag: str) -> int:
        if flag not in self.flags:
            self.flags.append(flag)
        return self.flags.index(flag)

    def coordinates(self, flat: int) -> dict[str, str]:
        """``{dimension: code}`` of a flat (row-major) cube position."""
        idx = np.unravel_index(flat, self.shape)
        return {d.id: d.codes[int(i)] for d, i in zip(self.dims, idx, strict=True)}

    def revise(self, n: int = 5) -> dict:
        """Publish a revision: change ``n`` values (one also changes its flag), drop one observation, add one.

        Deterministic: the same sequence of calls on the same dataset changes the same cells. UPDATE_DATA
        moves to the next publication slot after the latest timestamp. Returns what changed, by cell
        coordinates.
        """
        if n < 1:
            raise ValueError(f"revise({self.code!r}, n={n}): n must be at least 1")
        with self.lock:
            self._own()
            rng = np.random.default_rng([zlib.crc32(self.code.encode()), self.version])
            flat_values = self.values.reshape(-1)
            flat_status = self.status.reshape(-1)
            with_value = np.flatnonzero(~np.isnan(flat_values))
            picked = rng.choice(with_value, size=min(n + 1, with_value.size), replace=False)
            changed, vanished = picked[:-1], int(picked[-1])
            for pos in changed:
                old = flat_values[pos]
                # population counts move by about 1 %, indicators (one decimal) by 0.1; never below zero
                step = max(1.0, round(abs(old) * 0.01)) if old == round(old) else 0.1
                sign = -1 if rng.random() < 0.5 and old >= step else 1
                flat_values[pos] = round(old + sign * step, 1)
            first = int(changed[0])
            flat_status[first] = self._flag_code("e") if self.flags[flat_status[first]] != "e" else 0
            flat_values[vanished] = np.nan
            flat_status[vanished] = 0
            if self._reserve:
                added, value = self._reserve.pop(0)
            else:  # e.g. a fixture file: fill any empty cell with a value taken from another cell
                absent = np.flatnonzero(np.isnan(flat_values) & (flat_status == 0))
                added = int(absent[rng.integers(absent.size)])
                value = float(flat_values[with_value[rng.integers(with_value.size)]])
            flat_values[added] = value
            flat_status[added] = self._flag_code("p")
            self.version += 1
            self.update_data = next_publication(max(self.update_data, self.update_structure))
            stamp = format_ts(self.update_data)
            self._overrides["DISSEMINATION_TIMESTAMP_DATA"] = stamp
            self._overrides["DISSEMINATION_TIMESTAMP_GLOBAL"] = stamp
            logger.info("standin revised %s to version %d (UPDATE_DATA %s)", self.code, self.version, stamp)
            return {
                "dataset": self.code,
                "version": self.version,
                "update_data": stamp,
                "changed": [self.coordinates(int(p)) for p in changed],
                "vanished": self.coordinates(vanished),
                "added": self.coordinates(int(added)),
            }

    def redisseminate(self, old: str = "e", new: str = "i") -> dict:
        """Re-disseminate: every ``old`` flag becomes ``new``; values and UPDATE_DATA stay, DISSEMINATION_* move.

        As Eurostat did on 24 January 2025 when it recoded its flags (the real hlth_ehis_hc8 body: UPDATE_DATA
        2014-03-20, DISSEMINATION_TIMESTAMP_DATA 2025-01-24). Returns the recoded cells.
        """
        with self.lock:
            if old not in self.flags:
                raise ValueError(f"redisseminate({self.code!r}): no cell has flag {old!r} (flags: {self.flags[1:]})")
            self._own()
            flat_status = self.status.reshape(-1)
            cells = np.flatnonzero(flat_status == self.flags.index(old))
            flat_status[cells] = self._flag_code(new)
            self.version += 1
            # published now (after the last harvest, as a real one would be), never before the latest stamp
            latest = max(self.update_data, self.update_structure, *(_parse_ts(v) for v in self._overrides.values()))
            now = (datetime.now(BRUSSELS) + timedelta(seconds=1)).replace(microsecond=0)  # the stamp has seconds
            stamp = format_ts(now if now > latest else next_publication(latest))
            self._overrides["DISSEMINATION_TIMESTAMP_DATA"] = stamp
            self._overrides["DISSEMINATION_TIMESTAMP_GLOBAL"] = stamp
            logger.info("standin re-disseminated %s: %d flags %r -> %r at %s", self.code, cells.size, old, new, stamp)
            return {
                "dataset": self.code,
                "version": self.version,
                "update_data": format_ts(self.update_data),
                "disseminated": stamp,
                "recoded": [self.coordinates(int(p)) for p in cells],
            }

    def bump_structure(self) -> str:
        """Move UPDATE_STRUCTURE to the next publication slot after the latest timestamp; return it."""
        with self.lock:
            self.update_structure = next_publication(max(self.update_data, self.update_structure))
            logger.info("standin structure of %s updated %s", self.code, format_ts(self.update_structure))
            return format_ts(self.update_structure)
