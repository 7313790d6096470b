"""The ``multilevel`` command: one subcommand per pipeline step, plus ``harvest``, ``ess load`` and ``report``.

Each step reads and writes only the files or URLs named on its command line, so the same command runs here,
in a test as a subprocess, or in its own container under Argo. Exit codes, the same for every command (the root
group maps them, so no command can forget it): 0 done, 75 transient failure (worth a retry: Argo's retryStrategy
retries on it), 2 wrong command line (click's usage error), 1 anything else.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from multilevel import redaction
from multilevel.errors import EXIT_TERMINAL, ApiUnavailable, ConfigError, MultilevelError, TransientError
from multilevel.settings import load_settings

log = logging.getLogger("multilevel")


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    redaction.install()  # no secret in any log line or traceback, whatever logged it (botocore's DEBUG included)


class StepGroup(click.Group):
    """The root group: turns a library error raised by ANY subcommand (nested groups included) into a one-line
    message and the exit code Argo's retryStrategy understands (errors.py: 75 transient, 1 terminal)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MultilevelError as e:
            click.echo(redaction.redact(f"error: {e}"), err=True)
            ctx.exit(e.exit_code)


@click.group(cls=StepGroup)
@click.option("--log-level", default=None, help="DEBUG, INFO (default), WARNING.")
@click.option("-v", "--verbose", is_flag=True, help="On a terminal, show the INFO log above the progress display.")
@click.version_option(package_name="multilevel")
@click.pass_context
def main(ctx: click.Context, log_level: str | None, verbose: bool) -> None:
    """Keep a warehouse of Eurostat regional statistics and ESS survey data fresh, complete and joinable.

    Settings come from MULTILEVEL_* environment variables (MULTILEVEL_EUROSTAT_URL, MULTILEVEL_STAGE_URL,
    MULTILEVEL_WAREHOUSE_URL, ...), a .env file or files in /run/secrets.
    """
    try:
        settings = load_settings()
    except Exception as e:  # pydantic's ValidationError: name the variable and stop
        click.echo(redaction.redact(f"error: invalid settings: {e}"), err=True)
        sys.exit(EXIT_TERMINAL)
    setup_logging(log_level or settings.log_level)
    ctx.meta["verbose"] = verbose
    ctx.obj = settings


def _plan(url: str):
    from multilevel.eurostat.load_step import read_plan  # not steps: a load must not import the parse stack

    return read_plan(url)


@main.command()
@click.argument("dataset")
@click.option("--run-id", help="Run id (default: UTC time + random suffix; Argo passes the workflow name).")
@click.option("--out", help="Where to write the plan (default {stage}/eurostat/DATASET/RUN_ID/plan.json).")
@click.option("--slices-out", type=click.Path(dir_okay=False, writable=True),
              help="Write the slice ids as a JSON list here ([] when unchanged), for Argo's withParam.")
@click.pass_obj
def plan(settings, dataset, run_id, out, slices_out):
    """Ask Eurostat whether DATASET changed; if so, plan one slice per code of its split dimension.

    Example: multilevel plan demo_r_pjangrp3 --slices-out /tmp/slices.json
    """
    from multilevel.eurostat.steps import plan_step

    outcome = plan_step(settings, dataset, run_id=run_id, out=out)
    ids = [s.id for s in outcome.plan.slices] if outcome.plan.changed else []
    if slices_out:
        Path(slices_out).write_text(json.dumps(ids))
    if outcome.url:
        click.echo(outcome.url)
        log.info("plan %s: %d slices, written to %s", dataset, len(ids), outcome.url)
    else:
        click.echo("unchanged")


@main.command()
@click.option("--plan", "plan_url", required=True, help="Plan written by `multilevel plan` (path or URL).")
@click.option("--slice", "slice_id", required=True, help="Slice id from the plan.")
@click.option("--out", required=True, help="Folder or URL prefix receiving the JSON-stat parts.")
@click.option("--async-waits-out", type=click.Path(dir_okay=False, writable=True),
              help="Also write how many asynchronous answers were waited for to this file (an Argo output parameter "
                   "for metrics); written even when the step fails.")
@click.option("--async-seconds-out", type=click.Path(dir_okay=False, writable=True),
              help="Also write the seconds spent waiting for asynchronous answers to this file.")
@click.pass_obj
def download(settings, plan_url, slice_id, out, async_waits_out, async_seconds_out):
    """Download one slice as JSON-stat, splitting requests the API refuses as too big.

    Example: multilevel download --plan stage/.../plan.json --slice Y_LT5 --out work/raw/Y_LT5
    """
    from multilevel.eurostat.client import EurostatClient
    from multilevel.eurostat.steps import download_step

    client = EurostatClient.from_settings(settings)
    try:
        parts = download_step(settings, _plan(plan_url), slice_id, out, client=client)
    finally:  # a step that gave up waiting (exit 75) reports its waits too
        if async_waits_out:
            Path(async_waits_out).write_text(str(client.stats.async_waits))
        if async_seconds_out:
            Path(async_seconds_out).write_text(f"{client.stats.async_seconds:g}")
    click.echo(f"{parts} parts")


@main.command()
@click.option("--plan", "plan_url", required=True, help="Plan written by `multilevel plan` (path or URL).")
@click.option("--slice", "slice_id", required=True, help="Slice id from the plan.")
@click.option("--raw", required=True, help="Folder or URL prefix written by `multilevel download`.")
@click.option("--out", required=True, help="Parquet file (path or URL) to write the validated rows to.")
@click.pass_obj
def validate(settings, plan_url, slice_id, raw, out):
    """Parse a downloaded slice and check it (pandera) before anything is staged.

    Example: multilevel validate --plan .../plan.json --slice Y_LT5 --raw work/raw/Y_LT5 --out work/Y_LT5.parquet
    """
    from multilevel.eurostat.steps import validate_step

    rows = validate_step(settings, _plan(plan_url), slice_id, raw, out)
    click.echo(f"{rows} rows")


@main.command()
@click.option("--plan", "plan_url", required=True, help="Plan written by `multilevel plan` (path or URL).")
@click.option("--slice", "slice_id", required=True, help="Slice id from the plan.")
@click.option("--in", "validated", required=True, help="Parquet file written by `multilevel validate`.")
@click.pass_obj
def stage(settings, plan_url, slice_id, validated):
    """Publish a validated slice into the run's folder of the stage (immutable once written).

    Example: multilevel stage --plan .../plan.json --slice Y_LT5 --in work/Y_LT5.parquet
    """
    from multilevel.eurostat.steps import stage_step

    sidecar = stage_step(settings, _plan(plan_url), slice_id, validated)
    click.echo(f"{sidecar['rows']} rows staged")


@main.command()
@click.option("--plan", "plan_url", required=True, help="Plan written by `multilevel plan` (path or URL).")
@click.option("--rows-out", type=click.Path(dir_okay=False, writable=True),
              help="Also write the number of rows received to this file (an Argo output parameter for metrics).")
@click.pass_obj
def load(settings, plan_url, rows_out):
    """Load every staged slice of a run into the warehouse in one transaction, keeping history.

    Example: multilevel load --plan .../plan.json
    """
    from multilevel.eurostat.load_step import load_step

    result = load_step(settings, _plan(plan_url))
    if rows_out:
        Path(rows_out).write_text(str(result.rows_received))
    click.echo(json.dumps(result.__dict__))
    _compact_if_worthwhile(settings)


def _compact_if_worthwhile(settings) -> None:
    """DuckDB: swap in a compacted copy of the file once enough of it is free blocks (warehouse/duckdb.py says why).

    Run at the end of a command, when this process holds no other connection to the file. A failure costs disk
    space, not data: a warning, and the next load tries again.
    """
    if not settings.warehouse_url.startswith("duckdb:"):
        return
    from multilevel.warehouse.duckdb import compact

    try:
        compact(settings.warehouse_url, settings)
    except MultilevelError as e:
        log.warning("compacting the DuckDB warehouse failed (the load itself succeeded): %s", e)


@main.command("compact")
@click.option("--force", is_flag=True, help="Copy the file even when few of its blocks are free.")
@click.option("--wait", "wait_seconds", type=float, default=30.0, show_default=True,
              help="Seconds to wait for other processes (a running load) to release the file.")
@click.pass_obj
def compact_command(settings, force, wait_seconds):
    """Shrink the DuckDB warehouse file: copy it into a new file and swap that in (DuckDB never reuses freed
    blocks in place). `load` and `harvest` do it when MULTILEVEL_DUCKDB_COMPACT_FREE_FRACTION of the blocks are free.

    Example: multilevel compact --force
    """
    if not settings.warehouse_url.startswith("duckdb:"):
        raise ConfigError("`multilevel compact` compacts a DuckDB warehouse file; MULTILEVEL_WAREHOUSE_URL names "
                          "another warehouse (PostgreSQL and Redshift reclaim space with VACUUM)")
    from multilevel.warehouse.duckdb import compact

    click.echo(json.dumps(compact(settings.warehouse_url, settings, force=force,
                                  lock_wait_seconds=wait_seconds).__dict__))


@main.command("record-failure")
@click.option("--plan", "plan_url", help="Plan URL of the run (it need not exist: a failed plan step wrote none).")
@click.option("--dataset", help="Dataset, when there is no plan URL.")
@click.option("--run-id", help="Run id, when there is no plan URL.")
@click.option("--reason", default="run failed", help="What failed (shown in eurostat.load_log.message).")
@click.option("--check-run", help="Run id of a `multilevel check --run-id`: record every dataset it handed over "
                                  "whose harvest logged nothing (the catalogue workflow's exit handler).")
@click.pass_obj
def record_failure(settings, plan_url, dataset, run_id, reason, check_run):
    """Record a failed run in eurostat.load_log (the Argo exit handler runs this).

    Example: multilevel record-failure --plan .../eurostat/demo_r_pjangrp3/RUN/plan.json --reason "download failed"
    """
    from multilevel.eurostat.load_step import failed_run_of, record_failure_step

    if check_run:
        from multilevel.eurostat.check import record_unfinished

        click.echo(json.dumps({"recorded_failed": record_unfinished(settings, check_run, reason)}))
        return
    if plan_url:
        dataset, run_id, update_data, update_structure = failed_run_of(plan_url)
    elif dataset and run_id:
        update_data = update_structure = None
    else:
        raise click.UsageError("give --plan, or --dataset and --run-id")
    record_failure_step(settings, dataset, run_id, reason, update_data=update_data, update_structure=update_structure)


@main.command()
@click.argument("datasets", nargs=-1)
@click.option("--standin", is_flag=True,
              help="Start the local Eurostat API stand-in and harvest from it (offline demo, no internet needed).")
@click.option("--standin-size", type=click.Choice(["small", "full"]), default="full", show_default=True)
@click.option("--standin-current-codes", default="", metavar="CC,CC",
              help="With --standin: serve these countries' regions only in current NUTS codes (as Eurostat does).")
@click.option("--progress/--no-progress", default=None,
              help="Live progress display (default: only on a terminal; otherwise one log line per request and step).")
@click.pass_obj
def harvest(settings, datasets, standin, standin_size, standin_current_codes, progress):
    """Run the whole harvest in-process for DATASETS (default: every configured dataset).

    A dataset that fails does not stop the others: each runs, and the command exits non-zero at the end naming the
    failed ones (75 if every failure is transient, else 1).

    Example: multilevel harvest demo_r_pjanind3
    """
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import nullcontext

    from multilevel.eurostat.client import EurostatClient
    from multilevel.eurostat.harvest import HarvestFailed, dataset_codes, harvest_dataset, plan_ahead

    codes = dataset_codes(settings, datasets)
    if settings.slice_processes > 0:  # its imports overlap the planning (also when nothing changed: ~1 s of CPU)
        from multilevel.eurostat.workers import start_fork_server

        start_fork_server()
    if standin:
        from multilevel.standin import StandIn

        server = StandIn(size=standin_size, current_codes=standin_current_codes.split(","))
    else:
        server = nullcontext()
    with server:
        if standin:
            settings = settings.model_copy(update={"eurostat_url": server.url})
            click.echo(f"using the local Eurostat API stand-in at {server.url}", err=True)
        client = EurostatClient.from_settings(settings)
        _preflight(client)
        show = sys.stderr.isatty() if progress is None else progress
        display = _display(show)
        failures: dict[str, MultilevelError] = {}

        def finish(code, result) -> None:
            try:
                result = result.wait()
            except MultilevelError as e:  # the other datasets still run; the exit code says it at the end
                click.echo(redaction.redact(f"error: {code}: {e}"), err=True)
                failures[code] = e
                return
            summary = {"dataset": result.dataset, "run_id": result.run_id, "status": result.status}
            if result.load:
                summary.update(rows_received=result.load.rows_received, rows_inserted=result.load.rows_inserted,
                               rows_closed=result.load.rows_closed, seconds=round(result.load.seconds, 1))
            click.echo(json.dumps(summary))

        # One loader thread: a dataset's load (warehouse work) runs while the next dataset downloads and validates
        # (network and worker processes), so the two overlap on two cores; loads stay one at a time, in order, and
        # at most one waits while the next dataset is fetched. One planner thread: the next dataset is planned while
        # this one downloads (harvest.plan_ahead); a dataset listed twice is planned after its first load instead.
        with display.running() if display else nullcontext(), \
                ThreadPoolExecutor(1, thread_name_prefix="load") as loader, \
                ThreadPoolExecutor(1, thread_name_prefix="plan") as planner:
            previous = None
            ahead = {}
            for i, code in enumerate(codes):
                following = codes[i + 1] if i + 1 < len(codes) and codes[i + 1] not in codes[: i + 1] else None

                def plan_next(following=following) -> None:
                    if following is not None:
                        ahead[following] = plan_ahead(planner, settings, following, client)

                try:
                    staged = (code, _harvest_one(settings, code, client, display, harvest_dataset, loader,
                                                 planned=ahead.pop(code, None), plan_next=plan_next))
                except MultilevelError as e:
                    click.echo(redaction.redact(f"error: {code}: {e}"), err=True)
                    failures[code] = e
                    staged = None
                if previous:
                    finish(*previous)
                previous = staged
            if previous:
                finish(*previous)
        _compact_if_worthwhile(settings)  # every connection is closed now: the loader thread has finished
        if failures:
            raise HarvestFailed(failures, len(codes))


def _display(show: bool):
    """The live display on a terminal (rich), None in a pod or a pipe."""
    if not show:
        return None
    from rich.console import Console

    from multilevel.progress import HarvestDisplay

    verbose = click.get_current_context().meta["verbose"]
    return HarvestDisplay(Console(stderr=True, force_terminal=True), verbose=verbose)


def _harvest_one(settings, code, client, display, harvest_dataset, loader, **plans):
    if display is None:  # in a pod or a pipe: plain log lines
        return harvest_dataset(settings, code, client=client, loader=loader, **plans,
                               progress=lambda done, total, msg: log.info("slice %d/%d done: %s", done, total, msg))
    return harvest_dataset(settings, code, client=client, loader=loader, progress=display.dataset(code), **plans)


def _preflight(client) -> None:
    """Fail fast and clearly when the API cannot be reached at all (offline machine, wrong URL)."""
    import requests

    try:
        client.session.head(client.base_url, timeout=10, allow_redirects=False)
    except requests.RequestException as e:
        raise ApiUnavailable(
            f"cannot reach the Eurostat API at {client.base_url} ({type(e).__name__}). "
            "Offline? Run `make run STANDIN=1` (or `multilevel harvest --standin`) to harvest from the local "
            "stand-in, or set MULTILEVEL_EUROSTAT_URL to a reachable API."
        ) from None


def _levels(levels) -> str:
    if levels is None:
        return "?"
    return ",".join(str(x) for x in levels) or "-"


@main.command()
@click.option("--selected", is_flag=True, help="Only the datasets datasets.yaml selects (codes and selections).")
@click.option("--json", "as_json", is_flag=True, help="One JSON list for machines instead of the table.")
@click.option("--no-probe", is_flag=True, help="One request only: regional candidates from the catalogue alone, NUTS "
                                               "levels only where earlier runs found them ('?' otherwise).")
@click.pass_obj
def catalogue(settings, selected, as_json, no_probe):
    """List Eurostat's datasets with NUTS regions in their geo dimension (size, NUTS levels, last update).

    One request reads the catalogue; the NUTS levels of each regional candidate come from its content constraint,
    asked once and kept in the warehouse until the dataset's structure changes.

    Example: multilevel catalogue --selected
    """
    from multilevel.eurostat.check import catalogue_listing
    from multilevel.eurostat.client import EurostatClient

    rows = catalogue_listing(settings, EurostatClient.from_settings(settings), selected_only=selected,
                             probe=not no_probe)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in rows], indent=1))
        return
    width = max([len(r.code) for r in rows] + [7])
    click.echo(f"{'dataset':<{width}}  {'values':>10}  {'NUTS':<7}  {'updated':<10}  title")
    for r in rows:
        values = f"{r.values:,}" if r.values is not None else "?"
        title = r.title if len(r.title) <= 70 else r.title[:67] + "..."
        extra = f"  [{r.selected_by}]" if selected and r.selected_by else ""
        updated = r.update_data or "?"
        click.echo(f"{r.code:<{width}}  {values:>10}  {_levels(r.levels):<7}  {updated:<10}  {title}{extra}")
    click.echo(f"{len(rows)} datasets", err=True)


@main.command()
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Write the changed dataset codes as a JSON list here ([] when nothing changed), for Argo.")
@click.option("--harvest", "then_harvest", is_flag=True, help="Then harvest every changed dataset, in-process.")
@click.option("--run-id", help="Also keep the changed list in the stage under this run id (Argo: the workflow name), "
                               "for `record-failure --check-run`.")
@click.pass_obj
def check(settings, out, then_harvest, run_id):
    """The cheap daily check: one catalogue request, a dataflow request only where a dataset may have changed.

    Prints one JSON summary (requests made, changed datasets). Example: multilevel check --out /tmp/changed.json
    """
    from multilevel.eurostat.check import check as run_check
    from multilevel.eurostat.client import EurostatClient

    client = EurostatClient.from_settings(settings)
    result = run_check(settings, client)
    if run_id:
        from multilevel.eurostat.check import write_check_record

        write_check_record(settings, run_id, result)
    if out:
        Path(out).write_text(json.dumps(result.changed))
    click.echo(json.dumps(result.summary()))
    if then_harvest:
        from multilevel.eurostat.harvest import harvest_dataset

        failed = []
        for code in result.changed:
            try:
                outcome = harvest_dataset(settings, code, client=client)
                click.echo(json.dumps({"dataset": code, "status": outcome.status}))
            except MultilevelError as e:  # one dataset's failure never stops the others
                failed.append(code)
                click.echo(f"error: {code}: {e}", err=True)
        if failed:
            raise HarvestFailures(f"{len(failed)} of {len(result.changed)} harvests failed: {', '.join(failed)}")


class HarvestFailures(MultilevelError):
    """Some datasets of a check failed to harvest (each is recorded in eurostat.load_log)."""


EXIT_STALE = 3


@main.command()
@click.option("--stale-after-hours", type=float, default=None,
              help="Stale threshold (default: MULTILEVEL_STALE_AFTER_HOURS, 36).")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of the table.")
@click.pass_obj
def status(settings, stale_after_hours, as_json):
    """Per dataset: last checked, last changed at Eurostat, last loaded, rows, revisions kept, last failure.

    Exits 3 when any dataset is stale (never loaded, not checked, or an update not loaded within the threshold),
    so a cron job or an alert can use it. Example: multilevel status --stale-after-hours 30
    """
    from multilevel.eurostat.check import status as read_status

    hours = stale_after_hours if stale_after_hours is not None else settings.stale_after_hours
    rows = read_status(settings, stale_after_hours=hours)

    def when(value) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    if as_json:
        for row in rows:
            click.echo(json.dumps(row, default=str))
    else:
        click.echo(f"{'dataset':<20} {'checked':<16} {'Eurostat':<10} {'loaded':<16} {'rows':>10} {'revisions':>9}  "
                   "state")
        for r in rows:
            state = f"STALE: {r['why']}" if r["stale"] else "ok"
            if r["last_failure"]:
                state += f" (last failure {when(r['last_failed_at'])}: {r['last_failure'][:60]})"
            click.echo(f"{r['dataset']:<20} {when(r['last_checked_at']):<16} {r['eurostat_updated_on'] or '-':<10} "
                       f"{when(r['last_loaded_at']):<16} {r['current_rows'] or 0:>10,} {r['revisions_kept'] or 0:>9,}  "
                       f"{state}")
    stale = [r["dataset"] for r in rows if r["stale"]]
    if stale:
        click.echo(f"stale: {len(stale)} of {len(rows)} datasets ({', '.join(stale[:10])})", err=True)
        sys.exit(EXIT_STALE)


@main.command("standin")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8765, show_default=True, type=int)
@click.option("--size", type=click.Choice(["small", "full"]), default="full", show_default=True)
@click.option("--catalogue", "catalogue_size", default=0, show_default=True, type=int,
              help="Also serve this many synthetic regional datasets (in the catalogue and every endpoint).")
@click.option("--large-obs", default=0, show_default=True, type=int,
              help="Also serve synth_r_large with this many observations (scale and memory runs; 0: not served).")
@click.option("--current-codes", default="", metavar="CC,CC",
              help="Serve these countries' regions only in current NUTS codes, mixed with older ones in one geo "
                   "column, as Eurostat does after a boundary change (e.g. NO,IE).")
def standin_command(host, port, size, catalogue_size, large_obs, current_codes):
    """Serve the local Eurostat API stand-in (synthetic cubes, real URL shapes) until interrupted.

    Example: multilevel standin --port 8765 & MULTILEVEL_EUROSTAT_URL=http://127.0.0.1:8765 multilevel harvest
    """
    import errno

    from multilevel.standin import serve

    try:
        serve(host, port, size, catalogue_size, large_obs, current_codes.split(","))
    except OSError as e:  # bind failed: a busy port frees up later, a wrong host does not
        if e.errno == errno.EADDRINUSE:
            raise TransientError(f"port {port} on {host} is in use; stop the other server or pick --port") from None
        raise ConfigError(f"cannot serve the stand-in on {host}:{port}: {e}") from None


def _register_optional() -> None:
    """Commands of the other pipelines live in their own packages; add those that are installed."""
    try:
        from multilevel.ess.cli import ess

        main.add_command(ess)
    except ImportError:
        pass
    try:
        from multilevel.report.cli import report

        main.add_command(report)
    except ImportError:
        pass
    from multilevel.context.cli import context, export

    main.add_command(context)
    main.add_command(export)


_register_optional()

if __name__ == "__main__":
    main()
