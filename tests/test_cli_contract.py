"""The contract every command keeps, checked by walking the click group (a new command cannot slip past it).

Argo's retryStrategy retries a step on exit 75 (errors.EXIT_TRANSIENT) and gives up on anything else, so every
command must exit 75 when a service it needs is away (API, S3, warehouse, a busy port) and 1 on bad input, with a
one-line `error:` message and no traceback. The mapping lives once, in the root group (cli.StepGroup).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass, field

import click
import duckdb
import pytest
from click.testing import CliRunner
from servers import free_port

from multilevel.cli import main
from multilevel.errors import EXIT_TERMINAL, EXIT_TRANSIENT, TerminalError, TransientError

DATASET = "demo_r_pjanind3"


def leaf_commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command, nested groups included (e.g. ('ess', 'load'))."""
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += leaf_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = leaf_commands()


def test_the_walk_finds_the_pipeline_commands():
    assert {("plan",), ("load",), ("harvest",), ("ess", "load"), ("report",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_documents_itself_with_an_example(path):
    done = CliRunner().invoke(main, [*path, "--help"])
    assert done.exit_code == 0, done.output
    assert "Example:" in done.output, f"`multilevel {' '.join(path)} --help` shows no example"


@dataclass
class Case:
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    in_subprocess: bool = False  # commands that serve forever when the failure does not happen


@pytest.fixture
def world(settings, api, tmp_path, monkeypatch):
    """Settings for the commands, a real plan of a two-slice run, and addresses where nothing listens."""
    from multilevel.eurostat.steps import plan_step

    datasets = tmp_path / "datasets.yaml"
    datasets.write_text(
        f"datasets:\n  - code: {DATASET}\n    split: indic_de\n    filters: {{indic_de: [MEDAGEPOP, OLDDEP1]}}\n"
    )
    settings.datasets_file = datasets
    env = {
        "MULTILEVEL_DATASETS_FILE": str(datasets),
        "MULTILEVEL_EUROSTAT_URL": settings.eurostat_url,
        "MULTILEVEL_STAGE_URL": settings.stage_url,
        "MULTILEVEL_WAREHOUSE_URL": settings.warehouse_url,
        "MULTILEVEL_HTTP_BACKOFF_SECONDS": "0.01",
        "MULTILEVEL_HTTP_MAX_RETRIES": "1",
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    plan_url = plan_step(settings, DATASET, run_id="contract").url
    dead = f"127.0.0.1:{free_port()}"
    (tmp_path / "empty").mkdir()
    (tmp_path / "not-stata.dta").write_text("hello\n")
    (tmp_path / "bad-selection.yaml").write_text("selections:\n  - pattern: 'demo_r_*'\n    min_level: 2\n")
    busy = duckdb.connect(str(tmp_path / "busy.duckdb"))  # holds the file's lock for `compact`'s transient case
    yield {"plan": plan_url, "dead": dead, "tmp": tmp_path, "busy_duckdb": tmp_path / "busy.duckdb"}
    busy.close()


def transient_cases(w) -> dict[tuple[str, ...], Case]:
    """One way per command that a service it needs is away right now."""
    api_away = {"MULTILEVEL_EUROSTAT_URL": f"http://{w['dead']}"}
    s3_away = {"AWS_ENDPOINT_URL_S3": f"http://{w['dead']}"}
    warehouse_away = {"MULTILEVEL_WAREHOUSE_URL": f"postgresql://multilevel@{w['dead']}/multilevel"}
    plan, tmp = w["plan"], w["tmp"]
    return {
        ("plan",): Case(["plan", DATASET], api_away),
        ("download",): Case(["download", "--plan", plan, "--slice", "OLDDEP1", "--out", str(tmp / "raw")], api_away),
        ("validate",): Case(["validate", "--plan", plan, "--slice", "OLDDEP1", "--raw", "s3://stage/raw/OLDDEP1",
                             "--out", str(tmp / "v.parquet")], s3_away),
        ("stage",): Case(["stage", "--plan", plan, "--slice", "OLDDEP1", "--in", "s3://stage/v/OLDDEP1.parquet"],
                         s3_away),
        ("load",): Case(["load", "--plan", f"s3://stage/eurostat/{DATASET}/contract/plan.json"], s3_away),
        ("record-failure",): Case(["record-failure", "--plan", plan], warehouse_away),
        ("harvest",): Case(["harvest", DATASET, "--no-progress"], api_away),
        ("standin",): Case(["standin", "--size", "small", "--port", "{busy_port}"], in_subprocess=True),
        ("ess", "load"): Case(["ess", "load", f"http://{w['dead']}/ESS9e03.dta"]),
        ("report",): Case(["report", "--out", str(tmp / "report")], warehouse_away),
        ("catalogue",): Case(["catalogue"], api_away),
        ("check",): Case(["check"], api_away),
        ("compact",): Case(["compact", "--wait", "0"], {"MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{w['busy_duckdb']}"},
                           in_subprocess=True),  # the file is held by this (the test's) process
        ("status",): Case(["status"], warehouse_away),
        ("context", "build"): Case(["context", "build"], warehouse_away),
        ("context", "snapshot"): Case(["context", "snapshot", "--name", "s1"], warehouse_away),
        ("export",): Case(["export", "--round", "9", "--out", str(tmp / "e.parquet")], warehouse_away),
    }


def bad_input_cases(w) -> dict[tuple[str, ...], Case]:
    """One way per command to be handed input that no retry can fix."""
    plan, tmp = w["plan"], w["tmp"]
    missing = str(tmp / "missing" / "plan.json")
    bad_config = {"MULTILEVEL_DATASETS_FILE": str(tmp / "bad-selection.yaml")}  # an unknown selection key
    return {
        ("plan",): Case(["plan", "not_configured"]),
        ("download",): Case(["download", "--plan", missing, "--slice", "OLDDEP1", "--out", str(tmp / "raw")]),
        ("validate",): Case(["validate", "--plan", plan, "--slice", "OLDDEP1", "--raw", str(tmp / "empty"),
                             "--out", str(tmp / "v.parquet")]),
        ("stage",): Case(["stage", "--plan", plan, "--slice", "OLDDEP1", "--in", str(tmp / "missing.parquet")]),
        ("load",): Case(["load", "--plan", plan]),  # no slice of the run was ever staged
        ("record-failure",): Case(["record-failure", "--plan", missing]),  # not a .../eurostat/D/RUN/plan.json path
        ("harvest",): Case(["harvest", "not_configured", "--no-progress"]),
        ("standin",): Case(["standin", "--size", "small", "--host", "no-such-host.invalid"], in_subprocess=True),
        ("ess", "load"): Case(["ess", "load", str(tmp / "not-stata.dta")]),
        ("report",): Case(["report", "--out", str(tmp / "report")]),  # nothing harvested or loaded yet
        ("catalogue",): Case(["catalogue", "--selected"], bad_config),
        ("check",): Case(["check"], bad_config),
        ("compact",): Case(["compact"], {"MULTILEVEL_WAREHOUSE_URL": f"duckdb:///{tmp / 'no-such.duckdb'}"}),
        ("status",): Case(["status"], bad_config),
        ("context", "build"): Case(["context", "build", "--as-of", "yesterday"]),
        ("context", "snapshot"): Case(["context", "snapshot", "--name", "s1"]),  # nothing harvested or loaded yet
        ("export",): Case(["export", "--round", "9", "--out", str(tmp / "e.parquet")]),  # nothing loaded yet
    }


def invoke(case: Case, monkeypatch) -> tuple[int, str]:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if not case.in_subprocess:
        done = CliRunner().invoke(main, case.args)
        if done.exception is not None and not isinstance(done.exception, SystemExit):
            raise done.exception  # a crash: the test reports its traceback
        return done.exit_code, done.output
    with closing(socket.socket()) as busy:  # a port someone else holds, for `standin`
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        args = [a.replace("{busy_port}", str(busy.getsockname()[1])) for a in case.args]
        done = subprocess.run([sys.executable, "-m", "multilevel.cli", *args], capture_output=True, text=True,
                              timeout=120, env=os.environ.copy())
    return done.returncode, done.stdout + done.stderr


def test_every_command_has_a_transient_and_a_bad_input_case(world):
    """A command added without cases here fails this test: say how it meets a dead service and bad input."""
    assert sorted(transient_cases(world)) == COMMANDS
    assert sorted(bad_input_cases(world)) == COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_a_service_that_is_away_exits_75_so_argo_retries(world, monkeypatch, path):
    code, output = invoke(transient_cases(world)[path], monkeypatch)
    assert code == EXIT_TRANSIENT, f"`multilevel {' '.join(path)}` exited {code}, not 75:\n{output}"
    assert "error:" in output and "Traceback" not in output


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_bad_input_exits_1_with_a_one_line_error(world, monkeypatch, path):
    code, output = invoke(bad_input_cases(world)[path], monkeypatch)
    assert code == EXIT_TERMINAL, f"`multilevel {' '.join(path)}` exited {code}, not 1:\n{output}"
    assert "error:" in output and "Traceback" not in output


def test_the_mapping_is_the_root_groups_so_a_new_nested_command_gets_it_for_free():
    """A command written without any error handling, in a nested group, still maps library errors."""
    group = click.Group("scratch")

    @group.command("transient")
    def transient():
        raise TransientError("the warehouse is busy; run again")

    @group.command("terminal")
    def terminal():
        raise TerminalError("bad file")

    main.add_command(group)
    try:
        runner = CliRunner()
        assert runner.invoke(main, ["scratch", "transient"]).exit_code == EXIT_TRANSIENT
        done = runner.invoke(main, ["scratch", "terminal"])
        assert done.exit_code == EXIT_TERMINAL and "error: bad file" in done.output
    finally:
        main.commands.pop("scratch")


def test_a_real_process_exits_75_for_the_ess_load(world, tmp_path):
    """The exit status Argo sees comes from the process, not from click's test runner."""
    done = subprocess.run([sys.executable, "-m", "multilevel.cli", "ess", "load", f"http://{world['dead']}/x.dta"],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == EXIT_TRANSIENT, done.stderr
