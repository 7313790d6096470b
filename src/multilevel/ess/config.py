"""The ESS load configuration (config.yaml): which answer variables a round keeps and its NUTS version."""

from __future__ import annotations

from dataclasses import dataclass, field
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
NUTS_VERSIONS = ("2013", "2016", "2021", "2024")  # the versions data/reference/nuts_codes.csv holds
MISSING_REASONS = {"a": "Not applicable", "b": "Refusal", "c": "Don't know", "d": "No answer"}


@dataclass(frozen=True)
class RoundConfig:
    """One ESS round: its number, the NUTS version of its regions and the answers with their valid ranges."""

    essround: int
    nuts_version: str
    answers: dict[str, tuple[int, int]]
    # countries whose region variable uses another NUTS version than the round's (``countries:`` in config.yaml)
    country_versions: dict[str, str] = field(default_factory=dict)

    def version_for(self, cntry: str) -> str:
        """The NUTS version of ``cntry``'s region codes in this round."""
        return self.country_versions.get(cntry, self.nuts_version)

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
    country_versions = {}
    for cntry, version in (entry.get("countries") or {}).items():
        if isinstance(cntry, bool):  # YAML 1.1 reads an unquoted NO (Norway) as false
            raise ConfigError(f"ESS round {essround}: countries: a key read as {cntry}: quote country codes ('NO')")
        if not (isinstance(cntry, str) and len(cntry) == 2 and cntry.isupper()):
            raise ConfigError(f"ESS round {essround}: countries: {cntry!r} is not a two-letter ISO country code")
        if str(version) not in NUTS_VERSIONS:
            raise ConfigError(
                f"ESS round {essround}: countries: {cntry}: NUTS version {version!r} is not one of "
                f"{', '.join(NUTS_VERSIONS)}"
            )
        country_versions[cntry] = str(version)
    return RoundConfig(
        essround=int(essround),
        nuts_version=str(entry["nuts_version"]),
        answers=answers,
        country_versions=country_versions,
    )
