"""`inboxflow demo`: a company with queues, agents, rules and a few customer emails."""

from __future__ import annotations

from uuid import uuid4

from adapters.inbound import to_inbound
from adapters.mime import parse_message
from api.bootstrap import Services, hash_token, new_token
from domain.actors import OPERATOR, Actor

SAMPLES = (
    ("carol@customer.test", "Invoice 1042 charged twice", "I was charged twice this month."),
    ("dan@customer.test", "Cannot log in", "The password reset link does not arrive."),
    ("erin@customer.test", "Refund for order 77", "The parcel came back; please refund."),
)


def seed(services: Services) -> dict[str, str]:
    """Creates the demo company; returns the tokens to try the API with."""
    app, now = services.app, services.clock()
    company_id, admin_id = uuid4(), uuid4()
    app.create_company(
        company_id, name="Acme (demo)", timezone="Europe/Berlin", open_limit=50, by=OPERATOR, at=now
    )
    tokens = {"admin": new_token()}
    app.register_user(
        admin_id,
        company_id,
        name="Ada Admin",
        email="ada@acme.test",
        role="admin",
        queue_ids=[],
        capacity=1,
        token_hash=hash_token(tokens["admin"]),
        by=OPERATOR,
        at=now,
    )
    admin = Actor("admin", admin_id)
    general, billing = uuid4(), uuid4()
    app.create_queue(general, company_id, name="General", priority=1, by=admin, at=now)
    app.create_queue(billing, company_id, name="Billing", priority=5, by=admin, at=now)
    for name in ("Alice", "Bob"):
        tokens[name] = new_token()
        app.register_user(
            uuid4(),
            company_id,
            name=name,
            email=f"{name.lower()}@acme.test",
            role="agent",
            queue_ids=[general, billing],
            capacity=3,
            token_hash=hash_token(tokens[name]),
            by=admin,
            at=now,
        )
    app.add_mailbox(
        company_id, uuid4(), address="support@acme.test", default_queue_id=general, by=admin, at=now
    )
    app.replace_routing_rules(
        company_id,
        [
            {
                "id": "billing",
                "queue_id": str(billing),
                "conditions": [{"field": "subject", "op": "regex", "value": "invoice|refund"}],
            }
        ],
        by=admin,
        at=now,
    )
    for sender, subject, body in SAMPLES:
        raw = (
            f"From: {sender}\r\nTo: support@acme.test\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid4().hex}@customer.test>\r\n\r\n{body}\r\n"
        ).encode()
        parsed = parse_message(raw)
        email = to_inbound(parsed, services.blobs.put(raw), [])
        app.receive_email(
            company_id,
            email,
            recipient=None,
            arrived_at=now,
            at=now,
            find_by_ref=services.read.search.find_by_short_ref,
        )
    return {"company_id": str(company_id), **tokens}
