"""The dataset configuration: which Eurostat datasets to harvest, how to slice them, when to run.

The configuration is read strictly: a typo (``nonegative: true``) must not silently disable a rule, so unknown keys,
wrong types, bad cron schedules, empty or non-UTF-8 files are errors that name the file, the entry and the key.
``DatasetsFile`` is the one schema of the whole file and ``Dataset`` of one entry: add a key by adding a field there
(``extra="forbid"`` rejects everything else).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from multilevel.errors import ConfigError

# Identifiers that reach SQL or URLs must match this: lower-case letters, digits and underscores.
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
PACKAGED = "the packaged datasets.yaml"


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise ConfigError naming it."""
    if not IDENTIFIER.match(name or ""):
        raise ConfigError(
            f"{what} {name!r} is not a safe identifier: use lower-case letters, digits and '_' (max 63 chars)"
        )
    return name


def _as_value_error(check, *args):
    """Run a check that raises ConfigError inside a pydantic validator (which reports only ValueError)."""
    try:
        return check(*args)
    except ConfigError as e:
        raise ValueError(str(e)) from None


# --- cron schedules (the syntax Argo's CronWorkflow accepts: five fields, or a descriptor) ------------------------
CRON_FIELDS = (  # name, lowest, highest, names
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day of week", 0, 7, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
CRON_DESCRIPTORS = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
_EVERY = re.compile(r"^@every (\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")


def _cron_number(text: str, low: int, high: int, names: tuple[str, ...], field: str) -> int:
    upper = text.upper()
    if upper in names:
        return names.index(upper) + low
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{field} {text!r} is not a number from {low} to {high}")
    return int(text)


def check_cron(expression: str) -> str:
    """Return ``expression`` if it is a valid cron schedule, else raise ValueError saying which field is wrong."""
    text = expression.strip()
    if text in CRON_DESCRIPTORS or _EVERY.match(text):
        return text
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron schedule {expression!r} has {len(fields)} fields; it needs 5 (minute hour day-of-month month "
            "day-of-week), e.g. '30 11 * * *', or a descriptor such as @daily"
        )
    for value, (field, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in value.split(","):
            base, _, step = part.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                raise ValueError(f"cron schedule {expression!r}: {field} step {step!r} must be a positive number")
            if base in ("*", "?"):
                continue
            start, _, end = base.partition("-")
            first = _cron_number(start, low, high, names, f"cron schedule {expression!r}: {field}")
            if end and _cron_number(end, low, high, names, f"cron schedule {expression!r}: {field}") < first:
                raise ValueError(f"cron schedule {expression!r}: {field} range {base!r} runs backwards")
    return text


class Dataset(BaseModel):
    """One configured Eurostat dataset (one entry of ``datasets:``)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    code: str
    # The dimension whose codes become one slice each; None: chosen per run from the content constraint (the
    # fewest requests under the cell limit, see multilevel.eurostat.plan.auto_slices).
    split: str | None = None
    description: str = ""
    filters: dict[str, list[str]] = Field(default_factory=dict)
    schedule: list[str] = Field(default_factory=lambda: ["30 11 * * *", "30 23 * * *"], min_length=1)
    nonnegative: bool = False

    @field_validator("code", "split")
    @classmethod
    def _identifier(cls, v: str | None) -> str | None:
        return None if v is None else _as_value_error(check_identifier, v.lower(), "dataset code or dimension")

    @field_validator("filters", mode="before")
    @classmethod
    def _filter_codes_as_text(cls, v: Any) -> Any:
        # YAML reads `time: [2020]` as a number; a code is text, so accept plain numbers as their text.
        if isinstance(v, dict):
            return {k: [str(c) if isinstance(c, int) and not isinstance(c, bool) else c for c in codes]
                    if isinstance(codes, list) else codes for k, codes in v.items()}
        return v

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for dim, codes in v.items():
            if not codes:
                raise ValueError(f"filter {dim!r} lists no codes (drop it to take every code)")
        return {_as_value_error(check_identifier, k.lower(), "filter dimension"): list(codes) for k, codes in v.items()}

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: list[str]) -> list[str]:
        return [check_cron(s) for s in v]


class Selection(BaseModel):
    """Many datasets at once, chosen from Eurostat's catalogue (one entry of ``selections:``).

    A dataset is selected when its code matches ``pattern`` (and no ``exclude`` pattern), it sits under the
    catalogue folder ``theme`` (when given) and its geo dimension holds NUTS regions down to ``min_nuts_level``.
    ``multilevel catalogue --selected`` shows what the selections resolve to.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    pattern: str = "*"
    theme: str | None = None
    min_nuts_level: int = Field(1, ge=1, le=3)
    exclude: list[str] = Field(default_factory=list)
    description: str = ""
    nonnegative: bool = False

    @field_validator("pattern", "theme")
    @classmethod
    def _lower(cls, v: str | None) -> str | None:
        return None if v is None else v.lower()

    @field_validator("exclude")
    @classmethod
    def _lower_all(cls, v: list[str]) -> list[str]:
        return [p.lower() for p in v]

    def matches_code(self, code: str) -> bool:
        """The free part of the test (code patterns only); theme and level need the catalogue."""
        return fnmatch.fnmatchcase(code, self.pattern) and not any(fnmatch.fnmatchcase(code, p) for p in self.exclude)

    def dataset(self, code: str) -> Dataset:
        """The configuration a selected dataset runs with: automatic slicing, no filters."""
        return Dataset(code=code, description=self.description, nonnegative=self.nonnegative)


class DatasetsFile(BaseModel):
    """The whole configuration file. New top-level keys are new fields here."""

    model_config = ConfigDict(extra="forbid", strict=True)

    datasets: list[Dataset] = Field(default_factory=list)
    selections: list[Selection] = Field(default_factory=list)

    @model_validator(mode="after")
    def _something(self) -> DatasetsFile:
        if not self.datasets and not self.selections:
            raise ValueError("it lists no dataset: give a `datasets:` list of codes, `selections:`, or both")
        return self


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, but a key given twice in one mapping is an error (plain YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _entry_name(raw: Any, loc: tuple) -> str:
    """'entry 2 (demo_r_pjangrp3)' for an error located in ``datasets[1]``, else the top level."""
    if len(loc) >= 2 and loc[0] == "selections" and isinstance(loc[1], int):
        return f"selection {loc[1] + 1}"
    if len(loc) >= 2 and loc[0] == "datasets" and isinstance(loc[1], int):
        entries = raw.get("datasets") if isinstance(raw, dict) else None
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
        code = entry.get("code") if isinstance(entry, dict) else None
        return f"entry {loc[1] + 1}" + (f" ({code})" if code else "")
    return "top level"


def _describe(error: dict, raw: Any) -> str:
    loc = tuple(error["loc"])
    where = _entry_name(raw, loc)
    key_path = [str(p) for p in (loc[2:] if where != "top level" else loc)]
    key = ".".join(key_path)
    if error["type"] == "extra_forbidden":
        model = DatasetsFile if where == "top level" else Selection if where.startswith("selection") else Dataset
        known = list(model.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"
        return f"{where}: unknown key {key!r}{hint}"
    if error["type"] == "missing":
        return f"{where}: key {key!r} is required"
    got = error.get("input")
    if not key and where != "top level":
        return f"{where} must be a mapping of keys ({', '.join(Dataset.model_fields)}), got {got!r}"
    message = error["msg"].removeprefix("Value error, ")
    shown = f" (got {got!r})" if not isinstance(got, dict | list) and repr(got) not in message else ""
    return f"{where}: key {key!r}: {message}{shown}" if key else f"{where}: {message}"


def parse_datasets(text: str, where: str) -> list[Dataset]:
    """Check the text of a configuration file (``where`` names it in messages) and return its datasets."""
    return parse_config(text, where).datasets


def parse_config(text: str, where: str) -> DatasetsFile:
    """Check the text of a configuration file (``where`` names it in messages) and return all of it."""
    if not text.strip():
        raise ConfigError(f"dataset configuration {where} is empty: it needs a `datasets:` list (see {PACKAGED})")
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        raise ConfigError(f"dataset configuration {where} is not valid YAML: {e}") from None
    if raw is None:
        raise ConfigError(f"dataset configuration {where} is empty: it needs a `datasets:` list (see {PACKAGED})")
    if not isinstance(raw, dict):
        raise ConfigError(
            f"dataset configuration {where} must be a mapping with a `datasets:` list, not a {type(raw).__name__}"
        )
    try:
        config = DatasetsFile.model_validate(raw)
        datasets = config.datasets
    except ValidationError as e:
        problems = "\n  - ".join(_describe(err, raw) for err in e.errors())
        raise ConfigError(f"dataset configuration {where} is invalid:\n  - {problems}") from None
    codes = [d.code for d in datasets]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise ConfigError(f"dataset configuration {where} lists a dataset twice: {', '.join(twice)}")
    return config


def load_datasets(path: Path | None = None) -> list[Dataset]:
    """Read the dataset configuration (the packaged ``datasets.yaml`` unless ``path`` is given)."""
    return load_config(path).datasets


def load_selections(path: Path | None = None) -> list[Selection]:
    """The ``selections`` of the dataset configuration ([] when there are none)."""
    return load_config(path).selections


def load_config(path: Path | None = None) -> DatasetsFile:
    """Read the whole dataset configuration: datasets by code and selections."""
    if path is None:
        data = resources.files("multilevel").joinpath("datasets.yaml").read_bytes()
        where = PACKAGED
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as e:
            raise ConfigError(f"cannot read dataset configuration {path}: {e.strerror or e}") from None
        where = str(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"dataset configuration {where} is not UTF-8 text (byte {e.start}, line {line}): save it as UTF-8"
        ) from None
    return parse_config(text.removeprefix("\ufeff"), where)


def get_dataset(code: str, path: Path | None = None) -> Dataset:
    """Return the configured dataset ``code`` or raise ConfigError listing the known ones.

    A dataset not listed by code but matched by a selection's code pattern runs with that selection's settings
    (the check step chose it from the catalogue, where theme and NUTS level are tested).
    """
    config = load_config(path)
    for d in config.datasets:
        if d.code == code.lower():
            return d
    for selection in config.selections:
        if IDENTIFIER.match(code.lower()) and selection.matches_code(code.lower()):
            return selection.dataset(code.lower())
    known = ", ".join(d.code for d in config.datasets)
    raise ConfigError(
        f"dataset {code!r} is not configured (known: {known}) and no selection matches it; "
        "add an entry or a selection to datasets.yaml"
    )
