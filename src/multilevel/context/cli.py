"""``multilevel context build|snapshot`` and ``multilevel export`` (library errors become exit codes in the root
group, multilevel.cli.StepGroup)."""

from __future__ import annotations

from pathlib import Path

import click

AS_OF_HELP = "ISO time stamp (UTC unless it names a zone): the context as the warehouse knew it then; 'latest' = now."


def _warehouse():
    from multilevel.settings import load_settings
    from multilevel.warehouse import connect

    settings = load_settings()
    return connect(settings.warehouse_url, settings)


def _require_sources(wh) -> None:
    from multilevel.errors import ConfigError
    from multilevel.ess.views import missing_sources

    missing = missing_sources(wh)
    if missing:
        raise ConfigError(
            f"no regional context yet: {', '.join(missing)} missing; run `multilevel harvest` and "
            "`multilevel ess load FILE` first"
        )


def _warn_if_empty(methods, as_of: str) -> None:
    """Say so when nothing has context (e.g. --as-of before the first harvest): exit 0, but not silently."""
    if len(methods) and set(methods.dropna()) <= {"none"}:
        click.echo(f"warning: no respondent has regional context as of {as_of}: no Eurostat data was loaded by then "
                   "(see `multilevel status`)", err=True)


@click.group("context")
def context() -> None:
    """Regional context of ESS respondents: rebuild it, or freeze it under a name."""


@context.command("build")
@click.option("--as-of", "as_of", default="latest", show_default=True, help=AS_OF_HELP)
def build(as_of: str) -> None:
    """Rebuild analytics.ess_region_context (and the views over it) as of a time.

    Example: multilevel context build --as-of 2026-06-01T00:00:00Z
    """
    from multilevel.context import build_context
    from multilevel.context.snapshot import parse_as_of

    moment = parse_as_of(as_of)
    with _warehouse() as wh:
        _require_sources(wh)
        regions = build_context(wh, as_of=moment)
    _warn_if_empty(regions["method"], as_of)
    counts = regions["method"].value_counts().to_dict()
    click.echo(f"{len(regions)} regions: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))


@context.command("snapshot")
@click.option("--name", required=True, help="Name to cite, e.g. ess9-2026-11 (never overwritten).")
@click.option("--as-of", "as_of", default="latest", show_default=True, help=AS_OF_HELP)
def snapshot(name: str, as_of: str) -> None:
    """Freeze the context as of a time under NAME (analytics.context_snapshots / context_snapshot_values).

    Example: multilevel context snapshot --as-of 2026-11-30T12:00:00Z --name ess9-2026-11
    """
    from multilevel.context.snapshot import create_snapshot, parse_as_of

    moment = parse_as_of(as_of)
    with _warehouse() as wh:
        _require_sources(wh)
        regions = create_snapshot(wh, name, moment)
    _warn_if_empty(regions["method"], as_of)
    click.echo(f"snapshot {name}: {len(regions)} regions")


@click.command("export")
@click.option("--round", "essround", type=int, required=True, help="ESS round, e.g. 9.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "dta", "csv"]), default="parquet", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File (default ess{round}_context.FMT).")
@click.option("--as-of", "as_of", default="latest", show_default=True, help=AS_OF_HELP)
@click.option("--snapshot", default=None, help="Use a frozen snapshot instead of --as-of.")
def export(essround: int, fmt: str, out: Path | None, as_of: str, snapshot: str | None) -> None:
    """One row per respondent: answers, missing reasons, weights, design variables and the regional context.

    Example: multilevel export --round 9 --format dta --snapshot ess9-2026-11
    """
    from multilevel.context.export import round_frame, write_export
    from multilevel.context.snapshot import parse_as_of

    out = out or Path(f"ess{essround}_context.{fmt}")
    moment = parse_as_of(as_of)
    with _warehouse() as wh:
        _require_sources(wh)
        frame = round_frame(wh, essround, as_of=moment, snapshot=snapshot)
    _warn_if_empty(frame["method"], snapshot or as_of)
    write_export(frame, fmt, out)
    click.echo(str(out))
