"""The audit log: every configuration change of a company, with who and when, and no secrets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from fastapi.testclient import TestClient

from api.bootstrap import Services, hash_token, new_token
from domain.actors import Actor
from domain.records import AccessToken
from projections.audit_log import AuditLog, event_type
from tests.api.conftest import OPERATOR_TOKEN
from tests.api.scenario import Company, bearer, company, ok
from tests.fakes import T0, FixedClock

IMAP_PASSWORD, SMTP_PASSWORD = "hunter2-audit-imap", "hunter2-audit-smtp"


def audit_log(client: TestClient, acme: Company, token: str | None = None, **params: Any) -> Any:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    params.setdefault("min_position", services.app.recorder.max_notification_id())
    return client.get(
        f"/v1/companies/{acme.id}/audit-log", headers=bearer(token or acme.admin), params=params
    )


def all_entries(client: TestClient, acme: Company) -> list[dict[str, Any]]:
    return list(ok(audit_log(client, acme, limit=200))["items"])


def admin_id(client: TestClient, acme: Company) -> str:
    return next(
        str(e["subject"]["id"])
        for e in all_entries(client, acme)
        if e["type"] == "agent_registered" and e["subject"]["name"] == "Ada"
    )


def mailbox_body(acme: Company, address: str = "sales@acme.test") -> dict[str, Any]:
    return {
        "address": address,
        "default_queue_id": acme.queues["General"],
        "imap": {"host": "imap.acme.test", "username": "sales", "password": IMAP_PASSWORD},
        "smtp": {"host": "smtp.acme.test", "username": "sales", "password": SMTP_PASSWORD},
    }


def configure_everything(
    client: TestClient, clock: FixedClock, acme: Company, admin: Actor
) -> None:
    """One change of every kind, a minute apart: through the API where it has a route."""
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    headers, base = bearer(acme.admin), f"/v1/companies/{acme.id}"

    def api(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        clock.advance(minutes=1)
        response = client.request(method, base + path, headers=headers, json=body)
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def direct(aggregate: Aggregate, change: Callable[..., Any], *args: Any) -> None:
        clock.advance(minutes=1)
        change(*args, actor=str(admin), at=clock())
        services.app.save(aggregate)

    api("PUT", "/open-limit", {"open_limit": 7})
    mailbox = api("POST", "/mailboxes", mailbox_body(acme), 201)["id"]
    api("PUT", f"/mailboxes/{mailbox}", mailbox_body(acme, "sales2@acme.test"))
    api("DELETE", f"/mailboxes/{mailbox}", status=204)
    api("PUT", "/routing-rules", {"rules": []})
    api("PUT", "/dispositions", {"tree": [{"name": "Resolved"}]})
    api("PUT", "/substatuses", {"substatuses": ["Waiting"]})
    api("PUT", "/distribution", {"offer_timeout_seconds": 90})
    billing = services.app.queue(UUID(acme.queues["Billing"]))
    direct(billing, billing.rename, "Invoices")
    direct(billing, billing.set_priority, 9)
    agent = services.app.agent(UUID(acme.agent_id("A")))
    direct(agent, agent.set_role, "supervisor")
    direct(agent, agent.leave_queue, billing.id)
    direct(agent, agent.join_queue, billing.id)
    direct(agent, agent.set_access_profile, [billing.id])
    direct(agent, agent.set_capacity, 4)
    direct(billing, billing.close)
    clock.advance(minutes=1)
    token = services.app.issue_token(
        UUID(acme.agent_id("B")),
        hash_token(new_token()),
        expires_at=None,
        scope=UUID(acme.id),
        by=admin,
        at=clock(),
    ).aggregate
    assert isinstance(token, AccessToken)
    direct(token, token.revoke)


def test_every_kind_of_configuration_change_is_logged_with_actor_and_time(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    admin = Actor("admin", UUID(admin_id(client, acme)))
    configure_everything(client, clock, acme, admin)
    entries = all_entries(client, acme)

    assert {e["type"] for e in entries} == {event_type(cls) for cls in AuditLog.handlers}
    assert [e["position"] for e in entries] == sorted(
        (e["position"] for e in entries), reverse=True
    )
    changes = [
        (e["type"], e["actor"], datetime.fromisoformat(e["at"]), e["subject"]["name"])
        for e in entries
    ]
    minute = [T0.replace(minute=m) for m in range(60)]
    made_by_admin = str(admin)
    assert Counter(changes) == Counter(
        [
            ("company_created", "operator", T0, "Acme"),
            ("agent_registered", "operator", T0, "Ada"),
            ("access_token_issued", "operator", T0, "Ada"),
            ("queue_created", made_by_admin, T0, "General"),
            ("queue_created", made_by_admin, T0, "Billing"),
            *[("agent_registered", made_by_admin, T0, name) for name in ("A", "B", "Sue")],
            *[("access_token_issued", made_by_admin, T0, name) for name in ("A", "B", "Sue")],
            ("company_mailbox_added", made_by_admin, T0, "support@acme.test"),
            ("company_open_limit_set", made_by_admin, minute[1], "Acme"),
            ("company_mailbox_added", made_by_admin, minute[2], "sales@acme.test"),
            ("company_mailbox_changed", made_by_admin, minute[3], "sales2@acme.test"),
            ("company_mailbox_removed", made_by_admin, minute[4], "sales2@acme.test"),
            ("company_routing_rules_replaced", made_by_admin, minute[5], "Acme"),
            ("company_dispositions_defined", made_by_admin, minute[6], "Acme"),
            ("company_substatuses_defined", made_by_admin, minute[7], "Acme"),
            ("company_distribution_settings_set", made_by_admin, minute[8], "Acme"),
            ("queue_renamed", made_by_admin, minute[9], "Invoices"),
            ("queue_priority_set", made_by_admin, minute[10], "Invoices"),
            ("agent_role_set", made_by_admin, minute[11], "A"),
            ("agent_left_queue", made_by_admin, minute[12], "A"),
            ("agent_joined_queue", made_by_admin, minute[13], "A"),
            ("agent_access_profile_set", made_by_admin, minute[14], "A"),
            ("agent_capacity_set", made_by_admin, minute[15], "A"),
            ("queue_closed", made_by_admin, minute[16], "Invoices"),
            ("access_token_issued", made_by_admin, minute[17], "B"),
            ("access_token_revoked", made_by_admin, minute[18], "B"),
        ]
    )
    newest = entries[0]
    assert newest["subject"] == {"kind": "user", "id": acme.agent_id("B"), "name": "B"}
    limit_set = next(e for e in entries if e["type"] == "company_open_limit_set")
    assert limit_set["details"] == {"open_limit": 7}
    assert limit_set["subject"] == {"kind": "company", "id": acme.id, "name": "Acme"}


def test_no_password_or_token_reaches_the_audit_log(client: TestClient, clock: FixedClock) -> None:
    acme = company(client)
    admin = Actor("admin", UUID(admin_id(client, acme)))
    configure_everything(client, clock, acme, admin)
    response = audit_log(client, acme, limit=200)
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    stored = repr(services.read.audit_log.view.dump()).encode()
    tokens = [acme.admin, OPERATOR_TOKEN, *(token for _, token in acme.agents.values())]
    secrets = [IMAP_PASSWORD, SMTP_PASSWORD, "fernet:", "gAAAA"]
    secrets += [*tokens, *(hash_token(token) for token in tokens)]
    for secret in secrets:
        assert secret.encode() not in response.content, secret
        assert secret.encode() not in stored, secret
    added = next(e for e in response.json()["items"] if e["type"] == "company_mailbox_added")
    imap = added["details"]["settings"]["imap"]
    assert imap["password"] == "[redacted]"
    assert imap["host"] == "imap.acme.test"


def test_filters_and_a_cursor_page_through_newest_first(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    admin = Actor("admin", UUID(admin_id(client, acme)))
    configure_everything(client, clock, acme, admin)
    everything = all_entries(client, acme)

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = ok(audit_log(client, acme, **params))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e for page in pages for e in page] == everything
    assert all(len(page) == 4 for page in pages[:-1])

    since, until = T0.replace(minute=2), T0.replace(minute=5)
    window = ok(audit_log(client, acme, **{"from": since.isoformat(), "to": until.isoformat()}))
    assert [e["type"] for e in window["items"]] == [
        "company_mailbox_removed",
        "company_mailbox_changed",
        "company_mailbox_added",
    ]
    by_operator = ok(audit_log(client, acme, actor="operator"))["items"]
    assert {e["type"] for e in by_operator} == {
        "company_created",
        "agent_registered",
        "access_token_issued",
    }
    queues = ok(audit_log(client, acme, type="queue_created"))["items"]
    assert [e["subject"]["name"] for e in queues] == ["Billing", "General"]


def test_supervisors_read_it_agents_do_not_and_bad_paging_is_refused(
    client: TestClient,
) -> None:
    acme = company(client)
    assert ok(audit_log(client, acme, acme.agents["supervisor"][1]))["items"]
    refused = audit_log(client, acme, acme.agents["A"][1])
    assert refused.status_code == 403
    for params, problem in (
        ({"cursor": "not-a-cursor"}, "invalid-cursor"),
        ({"limit": 201}, "validation-error"),
        ({"limit": 0}, "validation-error"),
    ):
        response = audit_log(client, acme, **params)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == f"/problems/{problem}"


def test_a_rebuild_of_the_audit_log_equals_the_live_one(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    configure_everything(client, clock, acme, Actor("admin", UUID(admin_id(client, acme))))
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    live_answer = all_entries(client, acme)
    live = services.read.audit_log.view.dump()
    services.read.rebuild("audit_log")
    assert services.read.audit_log.view.dump() == live
    assert all_entries(client, acme) == live_answer
