"""Admins see, download and retry quarantined input; attachments download with their type;
a mailbox shows what ingestion last saw of it."""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID, uuid4

from fastapi.testclient import TestClient

from tests.api.scenario import Company, bearer, company, ok, post_email, raw_email

PDF = b"%PDF-1.4 pretend\n"


def quarantined(client: TestClient, acme: Company, **query: Any) -> list[dict[str, Any]]:
    url = f"/v1/companies/{acme.id}/quarantine"
    return ok(client.get(url, params=query, headers=bearer(acme.admin)))["items"]


def eventually_listed(client: TestClient, acme: Company, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 5
    while len(items := quarantined(client, acme)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return items


def with_attachment(name: str = "Rechnung März.pdf") -> bytes:
    return (
        (
            "From: Carol <carol@customer.test>\r\nTo: support@acme.test\r\nSubject: Invoice\r\n"
            f"Message-ID: <{uuid4().hex}@customer.test>\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            "--b\r\nContent-Type: text/plain\r\n\r\nSee the attachment.\r\n"
            "--b\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename*=utf-8''{name.replace(' ', '%20')}\r\n\r\n"
            "JVBERi0xLjQgcHJldGVuZAo=\r\n--b--\r\n"
        )
        .replace("März", "M%C3%A4rz")
        .encode()
    )


def test_unparseable_input_is_listed_downloadable_and_still_refused_on_retry(
    client: TestClient,
) -> None:
    acme = company(client)
    junk = b"Subject: no sender at all\r\n\r\nhello\r\n"
    refused = post_email(client, acme, junk, status=422)

    (item,) = eventually_listed(client, acme, 1)
    assert (item["quarantine_id"], item["source"], item["released"]) == (
        refused["quarantine_id"],
        "api",
        False,
    )
    base = f"/v1/companies/{acme.id}/quarantine/{item['quarantine_id']}"
    raw = client.get(f"{base}/raw", headers=bearer(acme.admin))
    assert (raw.status_code, raw.content) == (200, junk)
    assert raw.headers["content-type"] == "message/rfc822"
    retried = client.post(f"{base}/retry", headers=bearer(acme.admin))
    assert retried.status_code == 422
    assert retried.json()["type"] == "/problems/unparseable-message"
    for role in ("A", "supervisor"):
        assert client.get(f"{base}/raw", headers=acme.token(role)).status_code == 403


def test_a_retry_that_now_succeeds_releases_the_record_with_its_interaction(
    client: TestClient,
) -> None:
    """Bytes the parser once refused (say, before a fix) are recorded by the admin's retry."""
    acme = company(client)
    services = client.app.state.services  # type: ignore[attr-defined]
    raw = raw_email(subject="Retried")
    blob = services.blobs.put(raw)
    record = services.app.quarantine(
        uuid4(), UUID(acme.id), blob=blob, reason="parser bug", source="api", at=services.clock()
    ).aggregate
    url = f"/v1/companies/{acme.id}/quarantine/{record.id}/retry"

    delivered = ok(client.post(url, headers=bearer(acme.admin)), 201)

    view = ok(
        client.get(f"/v1/interactions/{delivered['interaction_id']}", headers=acme.token("A"))
    )
    assert view["subject"] == "Retried"
    items = quarantined(client, acme, released=True, min_position=delivered["position"])
    assert [(i["quarantine_id"], i["interaction_id"]) for i in items] == [
        (str(record.id), delivered["interaction_id"])
    ]
    again = client.post(url, headers=bearer(acme.admin))
    assert (again.status_code, again.json()["type"]) == (409, "/problems/rule-violated")


def test_an_attachment_downloads_with_its_type_only_from_its_interaction(
    client: TestClient,
) -> None:
    acme = company(client)
    interaction_id = post_email(client, acme, with_attachment())["interaction_id"]
    thread = ok(client.get(f"/v1/interactions/{interaction_id}/messages", headers=acme.token("A")))
    (attachment,) = thread["items"][0]["attachments"]
    assert (attachment["filename"], attachment["content_type"], attachment["size"]) == (
        "Rechnung März.pdf",
        "application/pdf",
        len(PDF),
    )
    url = f"/v1/interactions/{interaction_id}/attachments/{attachment['blob']}"

    download = client.get(url, headers=acme.token("A"))

    assert (download.status_code, download.content) == (200, PDF)
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-type-options"] == "nosniff"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="Rechnung M_rz.pdf"')
    assert "filename*=UTF-8''Rechnung%20M%C3%A4rz.pdf" in disposition
    other = post_email(client, acme, raw_email())["interaction_id"]
    elsewhere = client.get(
        f"/v1/interactions/{other}/attachments/{attachment['blob']}", headers=acme.token("A")
    )
    assert elsewhere.status_code == 404  # listed by another interaction only


def test_a_mailbox_shows_its_ingestion_status(client: TestClient) -> None:
    acme = company(client)
    admin = bearer(acme.admin)
    plain = ok(client.get(f"/v1/companies/{acme.id}/mailboxes/{acme.mailbox_id}", headers=admin))
    assert plain["status"] == {"ingesting": False}
    body = {
        "address": "imap@acme.test",
        "default_queue_id": acme.queues["General"],
        "imap": {"host": "127.0.0.1", "port": 9, "username": "u", "password": "secret"},
    }
    created = ok(client.post(f"/v1/companies/{acme.id}/mailboxes", headers=admin, json=body), 201)

    shown = ok(client.get(f"/v1/companies/{acme.id}/mailboxes/{created['id']}", headers=admin))

    assert shown["status"]["ingesting"] is True
    assert set(shown["status"]) >= {"connected", "last_fetch_at", "last_error", "paused_by_limit"}
    assert shown["status"]["connected"] is False
