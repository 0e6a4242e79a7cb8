"""An email from arrival to close and reopen, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.scenario import bearer, company, ok, post_email, raw_email
from tests.fakes import FixedClock


def timeline(
    client: TestClient, token: dict[str, str], interaction_id: str, position: int
) -> list[dict[str, object]]:
    body = ok(
        client.get(
            f"/v1/interactions/{interaction_id}/timeline",
            params={"min_position": position},
            headers=token,
        )
    )
    return body["entries"]


def test_an_email_travels_from_arrival_to_close_and_reopen(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    admin, a, b = bearer(acme.admin), acme.token("A"), acme.token("B")
    rules = [
        {
            "id": "billing",
            "queue_id": acme.queues["Billing"],
            "conditions": [{"field": "subject", "op": "contains", "value": "invoice"}],
        }
    ]
    ok(client.put(f"/v1/companies/{acme.id}/routing-rules", headers=admin, json={"rules": rules}))
    ok(
        client.put(
            f"/v1/companies/{acme.id}/dispositions",
            headers=admin,
            json={
                "tree": [
                    {"name": "Resolved", "children": [{"name": "Refund"}, {"name": "Explained"}]}
                ],
                "mandatory": True,
            },
        )
    )

    delivered = post_email(client, acme, raw_email(subject="Invoice 42 is wrong"))
    first = delivered["interaction_id"]
    view = ok(client.get(f"/v1/interactions/{first}", headers=a))
    assert (view["status"], view["queue_id"], view["unread"]) == (
        "queued",
        acme.queues["Billing"],
        True,
    )

    def act(command: str, token: dict[str, str], minutes: float, **body: object) -> dict:
        clock.advance(minutes=minutes)
        return ok(
            client.post(f"/v1/interactions/{first}/{command}", headers=token, json=body or None)
        )

    act("accept", a, 1)
    act("park", a, 2)
    act("resume", a, 7)
    replied = act("reply", a, 1, body_text="We are fixing invoice 42.")
    act("transfer", a, 1, to_agent_id=acme.agent_id("B"))
    closed = act("close", b, 8, disposition=["Resolved", "Refund"])
    assert closed["status"] == "closed"
    assert closed["handling_ms"] == (2 + 2) * 60_000  # active segments only: 1→3 and 10→12 min
    assert closed["disposition"] == ["Resolved", "Refund"]

    our_reply = ok(client.get(f"/v1/interactions/{first}/messages", headers=a))["items"][1]
    assert our_reply["direction"] == "out"
    assert "We are fixing" in our_reply["body_text"]
    clock.advance(hours=1)
    answer = post_email(
        client,
        acme,
        raw_email(
            subject="Re: Invoice 42 [#" + replied["short_ref"] + "]",
            in_reply_to=our_reply["rfc_message_id"],
        ),
    )
    assert answer["outcome"] == "continued"
    second = answer["interaction_id"]
    assert ok(client.get(f"/v1/interactions/{first}", headers=a))["continued_in"] == second
    assert ok(client.get(f"/v1/interactions/{second}", headers=a))["continues"] == first

    clock.advance(minutes=5)
    reopened = ok(client.post(f"/v1/interactions/{first}/reopen", headers=admin))
    assert (reopened["status"], reopened["owner"], reopened["unread"]) == ("queued", None, True)
    assert reopened["queue_id"] == acme.queues["Billing"]

    for command, body in (("accept", None), ("close", {"disposition": ["Resolved", "Explained"]})):
        clock.advance(minutes=1)
        ok(client.post(f"/v1/interactions/{second}/{command}", headers=a, json=body))
    clock.advance(minutes=1)
    mine = ok(client.post(f"/v1/interactions/{second}/reopen", headers=a))
    assert (mine["status"], mine["owner"]) == ("active", acme.agent_id("A"))

    entries = timeline(client, a, first, reopened["position"])
    assert [e["type"] for e in entries] == [
        "received",
        "routed",
        "accepted",
        "parked",
        "resumed",
        "reply_queued",
        "transferred",
        "closed",
        "continued_in",
        "reopened",
    ]
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    routed = entries[1]
    assert routed["actor"] == "system"
    assert routed["details"]["rule_id"] == "billing"
    assert routed["details"]["rule_set_version"] == 1
    assert entries[2]["actor"] == f"agent:{acme.agent_id('A')}"
    assert entries[7]["actor"] == f"agent:{acme.agent_id('B')}"
    assert entries[7]["details"]["disposition"] == ["Resolved", "Refund"]
    assert all(e["at"].endswith(("Z", "+00:00")) for e in entries)
    segments = sum(e["details"].get("segment_ms", 0) for e in entries)
    assert segments == closed["handling_ms"]

    second_entries = timeline(client, a, second, mine["position"])
    assert [e["type"] for e in second_entries] == [
        "received",
        "routed",
        "accepted",
        "closed",
        "reopened",
    ]
    assert second_entries[-1]["details"]["agent_id"] == acme.agent_id("A")


def test_the_same_email_posted_twice_is_one_interaction(client: TestClient) -> None:
    acme = company(client)
    raw = raw_email(message_id="<same@customer.test>")
    first = post_email(client, acme, raw)
    again = post_email(client, acme, raw, status=200)
    assert again["interaction_id"] == first["interaction_id"]
    assert again["outcome"] == "duplicate"
    limits = ok(
        client.get(
            f"/v1/companies/{acme.id}/limits",
            headers=bearer(acme.admin),
            params={"min_position": again["position"]},
        )
    )
    assert limits["open_count"] == 1


def test_a_customer_reply_to_an_open_interaction_joins_it_and_clears_pending(
    client: TestClient,
) -> None:
    acme = company(client)
    a = acme.token("A")
    first = post_email(client, acme, raw_email(message_id="<q1@customer.test>"))
    iid = first["interaction_id"]
    ok(client.post(f"/v1/interactions/{iid}/accept", headers=a))
    ok(client.post(f"/v1/interactions/{iid}/substatus", headers=a, json={"substatus": "Pending"}))
    ok(client.post(f"/v1/interactions/{iid}/mark-read", headers=a))
    joined = post_email(client, acme, raw_email(in_reply_to="<q1@customer.test>"), status=200)
    assert (joined["interaction_id"], joined["outcome"]) == (iid, "threaded")
    view = ok(client.get(f"/v1/interactions/{iid}", headers=a))
    assert (view["substatus"], view["unread"]) == (None, True)


def test_a_stranger_answering_a_thread_opens_a_new_interaction(client: TestClient) -> None:
    acme = company(client)
    post_email(client, acme, raw_email(message_id="<t1@customer.test>"))
    other = post_email(
        client, acme, raw_email(sender="mallory@elsewhere.test", in_reply_to="<t1@customer.test>")
    )
    assert other["outcome"] == "created"


def test_mailbox_secrets_are_sealed_and_never_returned(client: TestClient) -> None:
    acme = company(client)
    admin = bearer(acme.admin)
    body = {
        "address": "sales@acme.test",
        "default_queue_id": acme.queues["General"],
        "imap": {"host": "imap.acme.test", "username": "sales", "password": "hunter2-imap"},
        "smtp": {"host": "smtp.acme.test", "username": "sales", "password": "hunter2-smtp"},
    }
    created = client.post(f"/v1/companies/{acme.id}/mailboxes", headers=admin, json=body)
    assert created.status_code == 201, created.text
    shown = [
        created.text,
        client.get(f"/v1/companies/{acme.id}/mailboxes/{created.json()['id']}", headers=admin).text,
        client.get(f"/v1/companies/{acme.id}/mailboxes", headers=admin).text,
        client.get(f"/v1/companies/{acme.id}", headers=admin).text,
    ]
    for text in shown:
        assert "hunter2" not in text
        assert "fernet:" not in text
    assert created.json()["imap"]["password_set"] is True


def test_plaintext_mail_servers_need_explicit_permission(client: TestClient) -> None:
    acme = company(client)
    body = {
        "address": "plain@acme.test",
        "default_queue_id": acme.queues["General"],
        "imap": {"host": "imap.acme.test", "tls": "none", "username": "u", "password": "p"},
    }
    refused = client.post(
        f"/v1/companies/{acme.id}/mailboxes", headers=bearer(acme.admin), json=body
    )
    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/validation-error"
    allowed = client.post(
        f"/v1/companies/{acme.id}/mailboxes",
        headers=bearer(acme.admin),
        json={**body, "allow_plaintext": True},
    )
    assert allowed.status_code == 201
