"""The ESS load configuration (config.yaml): which answer variables a round keeps and its NUTS version."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import yaml

from multilevel.datasets import check_identifier
from multilevel.errors import ConfigError

# Kept from every round whatever the answers are: identification, region, interview year, weights, design.
ID_COLUMNS = ["essround", "edition", "cntry", "idno"]
REGION_COLUMNS = ["region", "regunit"]
WEIGHT_COLUMNS = ["dweight", "pspwght", "pweight", "anweight"]
DESIGN_COLUMNS = ["psu", "stratum", "prob"]
YEAR_COLUMN = "inwyys"
MONTH_COLUMN = "inwmms"  # kept when the file has it: the reference date of the context uses the median month
MISSING_REASONS = {"a": "Not applicable", "b": "Refusal", "c": "Don't know", "d": "No answer"}


@dataclass(frozen=True)
class RoundConfig:
    """One ESS round: its number, the NUTS version of its regions and the answers with their valid ranges."""

    essround: int
    nuts_version: str
    answers: dict[str, tuple[int, int]]

    @property
    def source_columns(self) -> list[str]:
        """The columns read from the .dta file, nothing more."""
        return ID_COLUMNS + REGION_COLUMNS + [YEAR_COLUMN] + list(self.answers) + WEIGHT_COLUMNS + DESIGN_COLUMNS

    @property
    def table_columns(self) -> list[str]:
        """Columns of ess.respondents in order (answers each followed by their ``_missing`` reason)."""
        answer_cols = [c for a in self.answers for c in (a, f"{a}_missing")]
        return (
            ID_COLUMNS
            + REGION_COLUMNS
            + ["region_nuts_version", "region_flag", YEAR_COLUMN, f"{YEAR_COLUMN}_missing", MONTH_COLUMN]
            + answer_cols
            + WEIGHT_COLUMNS
            + DESIGN_COLUMNS
        )


def load_round(essround: int, text: str | None = None) -> RoundConfig:
    """The configuration of ``essround`` (from the packaged config.yaml unless ``text`` is given)."""
    if text is None:
        text = resources.files("multilevel.ess").joinpath("config.yaml").read_text()
    try:
        rounds = (yaml.safe_load(text) or {}).get("rounds") or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"ESS configuration is not valid YAML: {e}") from e
    entry = rounds.get(essround)
    if entry is None:
        raise ConfigError(
            f"ESS round {essround} is not configured; add it under rounds: in multilevel/ess/config.yaml "
            f"(configured: {sorted(rounds)})"
        )
    answers = {}
    for name, bounds in (entry.get("answers") or {}).items():
        check_identifier(name, "ESS answer variable")
        if not (isinstance(bounds, list) and len(bounds) == 2):
            raise ConfigError(f"ESS round {essround}: answer {name} needs [lowest, highest], got {bounds!r}")
        answers[name] = (int(bounds[0]), int(bounds[1]))
    if not answers:
        raise ConfigError(f"ESS round {essround} lists no answer variables in config.yaml")
    return RoundConfig(essround=int(essround), nuts_version=str(entry["nuts_version"]), answers=answers)
