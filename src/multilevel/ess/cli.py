"""``multilevel ess load SOURCE``: load an ESS Stata file into ess.respondents."""

from __future__ import annotations

import click


@click.group("ess")
def ess() -> None:
    """European Social Survey files."""


@ess.command("load")
@click.argument("source")
@click.option("--round", "essround", type=int, default=None, help="Expected ESS round (checked against the file).")
@click.option("--run-id", default=None, help="Run id for the staged files (default: time stamp + random).")
def load(source: str, essround: int | None, run_id: str | None) -> None:
    """Read, validate, stage and load an ESS .dta file; reloading a round replaces it in one transaction.

    SOURCE is a local path, file://, s3:// or https:// URL (e.g. ESS9e03.dta from the ESS Data Portal).

    Example:

        multilevel ess load data/ess9_synthetic.dta --round 9
    """
    from multilevel.ess.load import load_ess
    from multilevel.settings import load_settings

    result = load_ess(source, load_settings(), essround=essround, run_id=run_id)
    click.echo(f"ESS round {result.essround}: {result.rows} respondents loaded from {result.parquet_url}")
