"""The S3 store against a real S3-API server (moto_server on 127.0.0.1, started by tests/servers.py)."""

from __future__ import annotations

import hashlib
import logging
import os

import boto3
import pytest

from multilevel.errors import StageError, TransientError
from multilevel.stage import open_store
from multilevel.stage.s3 import MB, S3Store


def _bucket_and_prefix(url: str) -> tuple[str, str]:
    bucket, _, prefix = url[len("s3://") :].partition("/")
    return bucket, prefix


def test_open_store_uses_the_endpoint_from_the_environment(s3_stage, s3_server):
    store = open_store(s3_stage)
    assert isinstance(store, S3Store)
    assert store.client.meta.endpoint_url == s3_server  # AWS_ENDPOINT_URL honoured by boto3 itself
    assert store.url == s3_stage


def test_write_read_checksum_and_list(s3_stage):
    store = open_store(s3_stage)
    data = b"slice,1\n" * 1000
    store.write_bytes("eurostat/demo/run1/part-0.parquet", data)
    store.write_bytes("eurostat/demo/run10/part-0.parquet", b"other")
    assert store.exists("eurostat/demo/run1/part-0.parquet")
    assert not store.exists("eurostat/demo/run1/part-1.parquet")
    assert store.read_bytes("eurostat/demo/run1/part-0.parquet") == data
    assert store.checksum("eurostat/demo/run1/part-0.parquet") == hashlib.sha256(data).hexdigest()
    # a prefix is a folder, not a partial name: run1 does not list run10
    assert store.list("eurostat/demo/run1") == ["eurostat/demo/run1/part-0.parquet"]
    assert store.list("eurostat/demo/run1/part-0.parquet") == ["eurostat/demo/run1/part-0.parquet"]
    assert store.list() == ["eurostat/demo/run1/part-0.parquet", "eurostat/demo/run10/part-0.parquet"]
    assert (
        store.url_for("eurostat/demo/run1/part-0.parquet") == f"{s3_stage}/eurostat/demo/run1/part-0.parquet"
    )
    # the object really lives below the prefix in the bucket
    bucket, prefix = _bucket_and_prefix(s3_stage)
    head = boto3.client("s3").head_object(Bucket=bucket, Key=f"{prefix}/eurostat/demo/run1/part-0.parquet")
    assert head["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()


def test_staged_files_are_immutable(s3_stage):
    store = open_store(s3_stage)
    digest = store.put_immutable("eurostat/demo/r/manifest.json", b'{"a": 1}')
    assert (
        store.put_immutable("eurostat/demo/r/manifest.json", b'{"a": 1}') == digest
    )  # a retried step: no-op
    with pytest.raises(StageError, match="immutable"):
        store.put_immutable("eurostat/demo/r/manifest.json", b'{"a": 2}')
    assert store.read_bytes("eurostat/demo/r/manifest.json") == b'{"a": 1}'


def test_large_upload_goes_in_parts_and_round_trips(s3_stage, tmp_path):
    # S3's smallest part is 5 MiB: a 11 MiB file with 5 MiB parts is a real three-part upload.
    store = S3Store(s3_stage, multipart_threshold=5 * MB, multipart_chunk=5 * MB)
    big = tmp_path / "big.parquet"
    big.write_bytes(os.urandom(11 * MB))
    expected = hashlib.sha256(big.read_bytes()).hexdigest()
    assert store.upload_immutable("ess/9/respondents.parquet", big) == expected
    bucket, prefix = _bucket_and_prefix(s3_stage)
    etag = boto3.client("s3").head_object(Bucket=bucket, Key=f"{prefix}/ess/9/respondents.parquet")["ETag"]
    assert etag.strip('"').endswith("-3")  # S3 marks multipart objects with the part count
    assert store.checksum("ess/9/respondents.parquet") == expected
    back = tmp_path / "back" / "copy.parquet"
    store.download("ess/9/respondents.parquet", back)
    assert hashlib.sha256(back.read_bytes()).hexdigest() == expected


def test_corrupt_object_is_detected_on_read_and_download(s3_stage, tmp_path):
    store = open_store(s3_stage)
    store.write_bytes("eurostat/demo/r/part.parquet", b"good bytes")
    bucket, prefix = _bucket_and_prefix(s3_stage)
    # someone replaces the body but keeps the old digest
    boto3.client("s3").put_object(
        Bucket=bucket,
        Key=f"{prefix}/eurostat/demo/r/part.parquet",
        Body=b"evil bytes",
        Metadata={"sha256": hashlib.sha256(b"good bytes").hexdigest()},
    )
    with pytest.raises(StageError, match="corrupt"):
        store.read_bytes("eurostat/demo/r/part.parquet")
    with pytest.raises(StageError, match="corrupt"):
        store.download("eurostat/demo/r/part.parquet", tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()  # nothing half-verified is left behind


def test_checksum_of_an_object_written_without_our_metadata(s3_stage):
    store = open_store(s3_stage)
    bucket, prefix = _bucket_and_prefix(s3_stage)
    boto3.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/foreign.csv", Body=b"a,b\n1,2\n")
    assert store.checksum("foreign.csv") == hashlib.sha256(b"a,b\n1,2\n").hexdigest()


def test_missing_objects_and_buckets_are_clear_stage_errors(s3_stage, tmp_path):
    store = open_store(s3_stage)
    with pytest.raises(StageError, match="does not exist"):
        store.read_bytes("eurostat/nothing/here.parquet")
    with pytest.raises(StageError, match="does not exist"):
        store.download("eurostat/nothing/here.parquet", tmp_path / "x")
    with pytest.raises(StageError, match="does not exist"):
        store.checksum("eurostat/nothing/here.parquet")
    with pytest.raises(StageError, match="bucket no-such-bucket-here does not exist"):
        open_store("s3://no-such-bucket-here/p").write_bytes("k", b"x")
    with pytest.raises(StageError, match="bad stage key"):
        store.write_bytes("../escape", b"x")


def test_unreachable_server_is_transient(s3_env, monkeypatch):
    from servers import free_port

    for name, value in s3_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    store = S3Store("s3://bucket/prefix", max_attempts=1)
    with pytest.raises(TransientError, match="unreachable") as info:
        store.write_bytes("k", b"x")
    assert info.value.exit_code == 75


def test_one_log_line_per_object_operation(s3_stage, caplog):
    store = open_store(s3_stage)
    with caplog.at_level(logging.INFO, logger="multilevel.stage.s3"):
        store.write_bytes("a/b.json", b"{}")
        store.read_bytes("a/b.json")
    lines = [r.getMessage() for r in caplog.records if r.name == "multilevel.stage.s3"]
    assert len(lines) == 2 and lines[0].startswith("s3 put") and lines[1].startswith("s3 get")
    assert "testing" not in " ".join(lines)  # never a credential
