"""The default stage: a local folder with atomic, write-once run files."""

import pytest

from multilevel.errors import StageError
from multilevel.stage import open_store, split_url
from multilevel.stage.base import sha256_bytes


def test_plain_path_and_file_url_name_the_same_store(tmp_path):
    a = open_store(str(tmp_path / "stage"))
    b = open_store(f"file://{tmp_path / 'stage'}")
    a.write_bytes("eurostat/x/run/plan.json", b"{}")
    assert b.read_bytes("eurostat/x/run/plan.json") == b"{}"
    assert b.list("eurostat/x") == ["eurostat/x/run/plan.json"]


def test_write_once_allows_the_same_bytes_and_refuses_others(tmp_path):
    store = open_store(str(tmp_path))
    assert store.put_immutable("run/a.parquet", b"one") == sha256_bytes(b"one")
    assert store.put_immutable("run/a.parquet", b"one") == sha256_bytes(b"one")  # a retried step
    with pytest.raises(StageError, match="immutable.*new run"):
        store.put_immutable("run/a.parquet", b"two")
    local = tmp_path / "b.bin"
    local.write_bytes(b"three")
    store.upload_immutable("run/b.bin", local)
    local.write_bytes(b"four")
    with pytest.raises(StageError, match="immutable"):
        store.upload_immutable("run/b.bin", local)
    assert store.read_bytes("run/a.parquet") == b"one" and store.read_bytes("run/b.bin") == b"three"
    assert not [p for p in tmp_path.rglob("*.tmp")]  # no temporary files left behind


def test_missing_objects_and_escaping_keys_are_clear_errors(tmp_path):
    store = open_store(str(tmp_path))
    with pytest.raises(StageError, match="does not exist; did the step that writes it run"):
        store.read_bytes("nope.json")
    with pytest.raises(StageError, match="outside the stage folder"):
        store.write_bytes("../escape.txt", b"x")


def test_split_url_gives_the_parent_store_and_the_key(tmp_path):
    store, key = split_url(f"{tmp_path}/eurostat/d/r/plan.json")
    assert key == "plan.json" and store.url == str(tmp_path / "eurostat" / "d" / "r")
    with pytest.raises(StageError, match="unsupported stage URL"):
        open_store("ftp://host/x")


def test_only_a_durable_store_fsyncs_its_writes(tmp_path, monkeypatch):
    """The stage fsyncs every file; a step's intermediate files (raw bodies, a validated slice) do not need to."""
    import os

    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    open_store(str(tmp_path / "stage")).write_bytes("a", b"1")
    assert len(synced) == 1
    scratch, key = split_url(str(tmp_path / "work" / "b"), durable=False)
    scratch.write_bytes(key, b"2")
    assert len(synced) == 1 and (tmp_path / "work" / "b").read_bytes() == b"2"  # written, atomically, not synced
