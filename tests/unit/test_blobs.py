"""Blob stores: content addressing, idempotence, atomic files, refusal of malformed digests."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from adapters.blobs import BlobNotFound, BlobStore, FileBlobStore, MemoryBlobStore

DATA = b"%PDF-1.7 \x00\xff attachment bytes"
MALFORMED = [
    "../../etc/passwd",
    "/etc/passwd",
    "",
    "ab",
    hashlib.sha256(DATA).hexdigest().upper(),
    hashlib.sha256(DATA).hexdigest()[:63],
    hashlib.sha256(DATA).hexdigest() + "0",
    "../" + hashlib.sha256(DATA).hexdigest()[3:],
]


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    return FileBlobStore(tmp_path / "blobs")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_put_returns_the_sha256_and_get_gives_the_bytes_back(store: BlobStore) -> None:
    digest = store.put(DATA)

    assert digest == hashlib.sha256(DATA).hexdigest()
    assert store.get(digest) == DATA
    assert store.exists(digest)


def test_empty_blob_round_trips(store: BlobStore) -> None:
    assert store.get(store.put(b"")) == b""


def test_putting_the_same_bytes_twice_gives_the_same_digest(store: BlobStore) -> None:
    assert store.put(DATA) == store.put(bytes(DATA))
    assert store.put(DATA) != store.put(DATA + b"!")


def test_unknown_digest_is_not_found(store: BlobStore) -> None:
    missing = hashlib.sha256(b"never stored").hexdigest()

    assert not store.exists(missing)
    with pytest.raises(BlobNotFound):
        store.get(missing)


@pytest.mark.parametrize("digest", MALFORMED)
def test_malformed_digest_is_not_found(store: BlobStore, digest: str) -> None:
    store.put(DATA)

    assert not store.exists(digest)
    with pytest.raises(BlobNotFound):
        store.get(digest)


def test_blob_not_found_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        MemoryBlobStore().get("0" * 64)


def test_file_store_lays_blobs_out_by_digest_prefix(tmp_path: Path) -> None:
    digest = FileBlobStore(tmp_path).put(DATA)

    assert files_under(tmp_path) == [tmp_path / digest[:2] / digest[2:4] / digest]
    assert (tmp_path / digest[:2] / digest[2:4] / digest).read_bytes() == DATA


def test_file_store_does_not_read_outside_its_root(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"not a blob")
    store = FileBlobStore(tmp_path / "blobs")

    with pytest.raises(BlobNotFound):
        store.get("../../etc/passwd")
    with pytest.raises(BlobNotFound):
        store.get("../secret")


def test_second_put_of_stored_bytes_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path)
    digest = store.put(DATA)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a stored blob was written again")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    assert store.put(DATA) == digest
    assert len(files_under(tmp_path)) == 1


def test_failed_write_leaves_neither_blob_nor_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileBlobStore(tmp_path)

    def disk_failure(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", disk_failure)
    with pytest.raises(OSError, match="disk full"):
        store.put(DATA)
    monkeypatch.undo()

    assert files_under(tmp_path) == []
    assert not store.exists(hashlib.sha256(DATA).hexdigest())
    assert store.get(store.put(DATA)) == DATA


def test_file_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    digests = {store.put(bytes([i]) * i) for i in range(50)}

    names = {p.name for p in files_under(tmp_path)}
    assert names == digests


def test_two_stores_on_one_root_share_blobs(tmp_path: Path) -> None:
    digest = FileBlobStore(tmp_path).put(DATA)

    assert FileBlobStore(tmp_path).get(digest) == DATA
