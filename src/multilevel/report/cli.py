"""``multilevel report``: the regional-context PNG and HTML page."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("report"),
              show_default=True, help="Folder for regional_context.png and index.html.")
@click.option("--answer", default="trstprl", show_default=True, help="ESS answer variable to average.")
@click.option("--indicator", default="median_age", show_default=True,
              help="A context indicator of multilevel/context/indicators.yaml (e.g. old_age_dependency).")
@click.option("--round", "essround", type=int, default=None,
              help="ESS round of the chart and region table (default: the latest loaded); coverage shows every round.")
def report(out: Path, answer: str, indicator: str, essround: int | None) -> None:
    """Write a PNG and HTML page: per region, the anweight-weighted mean answer against a context indicator.

    Example:

        multilevel report --out report/
    """
    from multilevel.report.report import write_report
    from multilevel.settings import load_settings
    from multilevel.warehouse import connect

    settings = load_settings()
    with connect(settings.warehouse_url, settings) as wh:
        files = write_report(wh, out, answer, indicator, essround)
    click.echo(str(files.html))
