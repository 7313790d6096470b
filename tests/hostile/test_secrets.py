"""No secret in any output at any log level (issue 13 item 8), with secrets that contain URL delimiters.

Real processes, as a pod runs them: `multilevel harvest` against the hostile API, staging to the S3-API server
(botocore logs every request at DEBUG) and loading into PostgreSQL through a URL whose password holds an unencoded
'/', '#', '?' and '@'. Everything the process prints, on stdout and stderr, is searched for every secret in every
encoding; a failing run (a database that does not exist) and a signed ESS URL are searched the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import boto3
import pytest
from hostile_api import HostileApi

from multilevel.redaction import query_passwords, redact, redact_url, split_credentials

DATASET = "demo_r_pjanind3"
CONFIG = f"datasets:\n  - code: {DATASET}\n    split: indic_de\n    filters: {{indic_de: [MEDAGEPOP, DEPRATIO1]}}\n"
PASSWORD = "pa/ss#wo?rd@x"
SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAHOSTILE0SECRET01",
    "AWS_SECRET_ACCESS_KEY": "sec/ret#key?with&delims=",
    "AWS_SESSION_TOKEN": "FwoGZX/IvYXdz#token?part&more==",
}
ROOT = Path(__file__).resolve().parents[2]


def forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)} | (
        {secret.split("/")[0]} if "/" in secret and len(secret.split("/")[0]) >= 6 else set())


def assert_no_secret(output: str, secrets: list[str]) -> None:
    for secret in secrets:
        for form in forms(secret):
            at = output.find(form)
            assert at < 0, f"secret {secret!r} (as {form!r}) printed: ...{output[max(0, at - 400):at + 100]}..."


@pytest.fixture
def world(settings, tmp_path, s3_env, postgres_server):
    """Hostile API, a fresh bucket and database; yields the environment of a harvest process."""
    (tmp_path / "datasets.yaml").write_text(CONFIG)
    bucket = f"secrets-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_env["AWS_ENDPOINT_URL"], aws_access_key_id="x", aws_secret_access_key="x",
                 region_name="us-east-1").create_bucket(Bucket=bucket)
    database = f"s_{uuid.uuid4().hex[:10]}"
    import psycopg

    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{database}"')
    host = postgres_server.rsplit("@", 1)[1].rsplit("/", 1)[0]
    with HostileApi() as api:
        yield {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MULTILEVEL_"))},
            **s3_env, **SECRETS,
            "MULTILEVEL_EUROSTAT_URL": api.url,
            "MULTILEVEL_STAGE_URL": f"s3://{bucket}/stage",
            # the test server trusts every login, so the password only has to survive parsing and stay unprinted
            "MULTILEVEL_WAREHOUSE_URL": f"postgresql://postgres:{PASSWORD}@{host}/{database}",
            "MULTILEVEL_DATASETS_FILE": str(tmp_path / "datasets.yaml"),
            "MULTILEVEL_HTTP_MAX_RETRIES": "1",
            "MULTILEVEL_HTTP_BACKOFF_SECONDS": "0.01",
        }


def run(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "multilevel.cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
def test_a_harvest_prints_no_secret_at_any_log_level(world, tmp_path, level):
    done = run(world, tmp_path, "--log-level", level, "harvest", "--no-progress")
    output = done.stdout + done.stderr
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"status": "loaded"' in done.stdout  # it really staged to S3 and loaded into PostgreSQL
    if level == "DEBUG":
        assert "botocore" in output and "Authorization" in output  # botocore's request dumps were there
    assert_no_secret(output, [PASSWORD, *SECRETS.values()])


@pytest.mark.parametrize("where", ["userinfo", "query"])
def test_a_failing_connection_prints_no_password(world, tmp_path, where):
    """libpq also takes the password as a query parameter (postgresql://user@host/db?password=...)."""
    base = world["MULTILEVEL_WAREHOUSE_URL"].rsplit("/", 1)[0] + "/missing_db"
    if where == "query":
        base = base.replace(f":{PASSWORD}@", "@") + "?sslmode=disable&password=" + quote(PASSWORD, safe="")
    world["MULTILEVEL_WAREHOUSE_URL"] = base
    done = run(world, tmp_path, "--log-level", "DEBUG", "harvest", "--no-progress")
    assert done.returncode == 1 and "missing_db" in done.stderr
    assert ("postgres:***@" if where == "userinfo" else "password=***") in done.stderr
    assert_no_secret(done.stdout + done.stderr, [PASSWORD, *SECRETS.values()])


def test_a_signed_ess_url_is_printed_without_its_signature(world, tmp_path):
    with HostileApi() as api:  # answers 404 for a path it does not know, like an expired signed URL
        url = f"{api.url}/files/ESS9e03.dta?X-Amz-Signature=0badc0ffee0badc0ffee&X-Amz-Security-Token=tok%2Fen"
        world["MULTILEVEL_WAREHOUSE_URL"] = f"duckdb:///{tmp_path / 'w.duckdb'}"
        done = run(world, tmp_path, "--log-level", "DEBUG", "ess", "load", url)
    assert done.returncode == 1 and "ESS9e03.dta answered HTTP 404" in done.stderr and "Traceback" not in done.stderr
    assert "0badc0ffee" not in done.stdout + done.stderr and "tok%2Fen" not in done.stdout + done.stderr


@pytest.mark.parametrize("url, user, password", [
    ("postgresql://u:pa/ss#wo?rd@x@h:5432/db", "u", "pa/ss#wo?rd@x"),
    ("postgresql://u:p%2Fss%40w@h/db", "u", "p/ss@w"),
    ("redshift://admin:a#b@cluster.x.eu-west-1.redshift.amazonaws.com:5439/dev?ssl=true", "admin", "a#b"),
    ("postgresql://u@h/db", "u", None),
])
def test_url_passwords_with_delimiters_are_found_and_redacted(url, user, password):
    clean, found = split_credentials(url)
    assert found == password and (password is None or password not in clean)
    shown = redact_url(url)
    assert (password is None and shown == url) or (f"{user}:***@" in shown and password not in shown)
    assert password is None or password not in redact(f"could not connect to {url}")


def test_a_password_given_as_a_query_parameter_is_redacted_by_shape_and_registered():
    url = "postgresql://u@h/db?sslmode=require&password=qu%2Fery%23pw&application_name=x"
    assert redact_url(url) == "postgresql://u@h/db?sslmode=require&password=***&application_name=x"
    assert query_passwords(url) == ["qu/ery#pw"]
