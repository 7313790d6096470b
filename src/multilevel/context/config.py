"""The context configuration (indicators.yaml): which Eurostat figures become regional context, and how each is
rebuilt across NUTS versions."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from importlib import resources

import yaml

from multilevel.datasets import check_identifier
from multilevel.errors import ConfigError

KINDS = ("count", "ratio", "median_age")
WEIGHTS = ("pop21", "pop11", "area_km2")
AGE_GROUP = re.compile(r"^Y(?:_LT(?P<lt>\d+)|(?P<lo>\d+)-(?P<hi>\d+)|_GE(?P<ge>\d+))$")


@dataclass(frozen=True)
class Selection:
    """Rows of one dataset: fixed filters, optionally summed over some codes of one dimension."""

    dataset: str
    filters: dict[str, str]
    sum_dimension: str | None = None
    sum_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Indicator:
    name: str
    label: str
    kind: str
    selection: Selection
    numerator: str | None = None
    denominator: str | None = None
    scale: float = 1.0
    groups: Selection | None = None  # median_age: the age-group counts (sum_codes are the groups)


@dataclass(frozen=True)
class ContextConfig:
    indicators: dict[str, Indicator]
    weight: str = "pop21"
    min_coverage: float = 0.95
    same_territory: float = 0.995
    reference_dates: dict[tuple[int, str], date] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return list(self.indicators)


def age_bounds(code: str) -> tuple[float, float | None]:
    """[lower, upper) age of an age-group code: Y_LT5 -> (0, 5), Y5-9 -> (5, 10), Y_GE85 -> (85, None)."""
    m = AGE_GROUP.match(code)
    if not m:
        raise ConfigError(f"age group {code!r} is not a Eurostat age-group code (Y_LT5, Y5-9, Y_GE85)")
    if m["lt"]:
        return 0.0, float(m["lt"])
    if m["ge"]:
        return float(m["ge"]), None
    return float(m["lo"]), float(m["hi"]) + 1


def _selection(name: str, entry: dict, where: str) -> Selection:
    dataset = entry.get("dataset")
    if not dataset:
        raise ConfigError(f"context indicator {name}: {where} needs a dataset")
    check_identifier(dataset, "Eurostat dataset")
    filters = {}
    for dim, code in (entry.get("filters") or {}).items():
        check_identifier(dim, "dimension")
        if not isinstance(code, str | int):
            raise ConfigError(f"context indicator {name}: filter {dim} must be one code, got {code!r}")
        filters[dim] = str(code)
    summed = entry.get("sum") or {}
    if len(summed) > 1:
        raise ConfigError(f"context indicator {name}: sum over one dimension only, got {sorted(summed)}")
    for dim, codes in summed.items():
        check_identifier(dim, "dimension")
        return Selection(dataset, filters, dim, tuple(str(c) for c in codes))
    if "dimension" in entry:
        check_identifier(entry["dimension"], "dimension")
        return Selection(dataset, filters, entry["dimension"], tuple(str(c) for c in entry.get("codes") or []))
    return Selection(dataset, filters)


def context_text() -> str:
    """The context configuration in use: MULTILEVEL_CONTEXT_FILE when set (a copy of indicators.yaml with more
    variables or reference-date overrides, no package edit needed), else the packaged indicators.yaml."""
    from multilevel.settings import Settings

    path = Settings().context_file
    if path is None:
        return resources.files("multilevel.context").joinpath("indicators.yaml").read_text()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(
            f"MULTILEVEL_CONTEXT_FILE={path} cannot be read ({e.strerror}); fix the path or unset it"
        ) from e


def load_context_config(text: str | None = None) -> ContextConfig:
    """The context configuration (``context_text``, or ``text``), checked: unknown kinds, missing counts and bad
    groups fail here."""
    if text is None:
        text = context_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"context configuration is not valid YAML: {e}") from e
    indicators: dict[str, Indicator] = {}
    for name, entry in (raw.get("indicators") or {}).items():
        check_identifier(name, "context indicator")
        kind = entry.get("kind")
        if kind not in KINDS:
            raise ConfigError(f"context indicator {name}: kind must be one of {KINDS}, got {kind!r}")
        groups = None
        if kind == "median_age":
            if not entry.get("groups"):
                raise ConfigError(f"context indicator {name}: median_age needs groups (the 5-year age counts)")
            groups = _selection(name, entry["groups"], "groups")
            bounds = [age_bounds(c) for c in groups.sum_codes]
            if not bounds or any(b[1] is not None and b[1] <= b[0] for b in bounds):
                raise ConfigError(f"context indicator {name}: groups.codes must list age groups")
        indicators[name] = Indicator(
            name=name,
            label=str(entry.get("label") or name),
            kind=kind,
            selection=_selection(name, entry, "the indicator"),
            numerator=entry.get("numerator"),
            denominator=entry.get("denominator"),
            scale=float(entry.get("scale", 1)),
            groups=groups,
        )
    if not indicators:
        raise ConfigError("context configuration lists no indicators")
    for ind in indicators.values():
        if ind.kind == "ratio":
            for part in (ind.numerator, ind.denominator):
                if part not in indicators or indicators[part].kind != "count":
                    raise ConfigError(
                        f"context indicator {ind.name}: numerator and denominator must name count indicators "
                        f"of this file, got {part!r}"
                    )
    weight = raw.get("weight", "pop21")
    if weight not in WEIGHTS:
        raise ConfigError(f"context weight must be one of {WEIGHTS}, got {weight!r}")
    overrides = {}
    for essround, countries in (raw.get("reference_dates") or {}).items():
        for cntry, day in (countries or {}).items():
            if not (isinstance(cntry, str) and re.fullmatch(r"[A-Z]{2}", cntry)):
                hint = " (YAML reads a bare NO as false: quote it, 'NO')" if isinstance(cntry, bool) else ""
                raise ConfigError(f"reference_dates of round {essround}: {cntry!r} is not a country code{hint}")
            try:
                overrides[(int(essround), str(cntry))] = date.fromisoformat(str(day))
            except ValueError as e:
                raise ConfigError(f"reference date of round {essround} {cntry}: {day!r} is not YYYY-MM-DD") from e
    return ContextConfig(
        indicators=indicators,
        weight=weight,
        min_coverage=float(raw.get("min_coverage", 0.95)),
        same_territory=float(raw.get("same_territory", 0.995)),
        reference_dates=overrides,
    )
