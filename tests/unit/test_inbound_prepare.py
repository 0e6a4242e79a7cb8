"""Inbound bytes made ready for the model: stored first, parsed within bounds, files stored."""

from __future__ import annotations

from pathlib import Path

from adapters.blobs import FileBlobStore, digest_of
from adapters.inbound import prepare, prepare_many
from adapters.mime import ParseLimits

PLAIN = b"From: Carol <carol@customer.test>\r\nMessage-ID: <1@c.test>\r\n\r\nHello\r\n"
WITH_FILE = (
    b"From: carol@customer.test\r\nMessage-ID: <2@c.test>\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n\r\nSee file.\r\n--b\r\n'
    b"Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf\r\n\r\n"
    b"%PDF\r\n--b--\r\n"
)
JUNK = b"Subject: no sender\r\n\r\n"


def test_a_chunk_is_stored_at_once_exactly_as_one_by_one(tmp_path: Path) -> None:
    one_by_one, at_once = FileBlobStore(tmp_path / "a"), FileBlobStore(tmp_path / "b")
    limits = ParseLimits()
    raws = [PLAIN, WITH_FILE, JUNK, PLAIN]

    expected = [prepare(raw, one_by_one, limits) for raw in raws]
    prepared = prepare_many(raws, at_once, limits)

    assert prepared == expected
    assert [p.blob for p in prepared] == [digest_of(raw) for raw in raws]
    assert prepared[2].email is None
    assert prepared[2].problem
    (attachment,) = prepared[1].email.attachments  # type: ignore[union-attr]
    assert at_once.get(attachment["blob"]) == b"%PDF"
    assert all(at_once.get(digest_of(raw)) == raw for raw in raws)  # junk keeps its bytes
    assert not list((tmp_path / "b").rglob(".tmp-*"))


def test_put_many_gives_the_digests_in_order_and_stores_repeats_once(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)

    digests = store.put_many([b"a", b"b", b"a"])

    assert digests == [digest_of(b"a"), digest_of(b"b"), digest_of(b"a")]
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 2
    assert store.put_many([]) == []
