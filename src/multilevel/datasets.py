"""The dataset configuration: which Eurostat datasets to harvest, how to slice them, when to run."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from multilevel.errors import ConfigError

# Identifiers that reach SQL or URLs must match this: lower-case letters, digits and underscores.
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe SQL identifier, else raise ConfigError naming it."""
    if not IDENTIFIER.match(name or ""):
        raise ConfigError(
            f"{what} {name!r} is not a safe identifier: use lower-case letters, digits and '_' (max 63 chars)"
        )
    return name


class Dataset(BaseModel):
    """One configured Eurostat dataset."""

    code: str
    split: str
    description: str = ""
    filters: dict[str, list[str]] = Field(default_factory=dict)
    schedule: list[str] = Field(default_factory=lambda: ["30 11 * * *", "30 23 * * *"])
    nonnegative: bool = False

    @field_validator("code", "split")
    @classmethod
    def _identifier(cls, v: str) -> str:
        return check_identifier(v.lower(), "dataset code or dimension")

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        return {check_identifier(k.lower(), "filter dimension"): list(codes) for k, codes in v.items()}

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, v):
        return [v] if isinstance(v, str) else v


def load_datasets(path: Path | None = None) -> list[Dataset]:
    """Read the dataset configuration (the packaged ``datasets.yaml`` unless ``path`` is given)."""
    if path is None:
        text = resources.files("multilevel").joinpath("datasets.yaml").read_text()
        where = "the packaged datasets.yaml"
    else:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise ConfigError(f"cannot read dataset configuration {path}: {e}") from e
        where = str(path)
    try:
        entries = (yaml.safe_load(text) or {}).get("datasets") or []
        datasets = [Dataset(**entry) for entry in entries]
    except (yaml.YAMLError, ValidationError, TypeError, AttributeError) as e:
        raise ConfigError(f"dataset configuration {where} is invalid: {e}") from e
    codes = [d.code for d in datasets]
    if len(set(codes)) != len(codes):
        raise ConfigError(f"dataset configuration {where} lists a dataset twice: {codes}")
    return datasets


def get_dataset(code: str, path: Path | None = None) -> Dataset:
    """Return the configured dataset ``code`` or raise ConfigError listing the known ones."""
    datasets = load_datasets(path)
    for d in datasets:
        if d.code == code.lower():
            return d
    known = ", ".join(d.code for d in datasets)
    raise ConfigError(f"dataset {code!r} is not configured (known: {known}); add an entry to datasets.yaml")
