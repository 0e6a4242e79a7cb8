"""Free text `q`: the id, the short reference, the contact, the subject and every message's text."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from projections import search_reads
from tests.api.scenario import company, ok
from tests.api.search_world import SearchWorld
from tests.fakes import FixedClock


def mail(
    sender: str, name: str, subject: str, body: str, *, replying: str = "", mid: str = ""
) -> bytes:
    threading = f"In-Reply-To: {replying}\r\n" if replying else ""
    message_id = mid or f"<{uuid4().hex}@customer.test>"
    return (
        f"From: {name} <{sender}>\r\nTo: support@acme.test\r\nSubject: {subject}\r\n"
        f"Message-ID: {message_id}\r\n{threading}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{body}\r\n"
    ).encode()


class TextWorld(SearchWorld):
    def post(self, name: str, raw: bytes, status: int = 201) -> Any:
        self.clock.advance(minutes=1)
        answer = ok(
            self.client.post(
                f"/v1/companies/{self.acme.id}/inbound",
                content=raw,
                headers={
                    "Authorization": f"Bearer {self.acme.admin}",
                    "Content-Type": "message/rfc822",
                },
            ),
            status,
        )
        self.ids.setdefault(name, answer["interaction_id"])
        self.position = max(self.position, answer["position"])
        return answer

    def q(self, text: str) -> set[str]:
        return self.listed(q=text)


@pytest.fixture
def world(client: TestClient, clock: FixedClock) -> TextWorld:
    w = TextWorld(client, clock, company(client))
    invoice = "<invoice@customer.test>"
    carol = ("carol@customer.test", "Carol Smith")
    w.post("invoice", mail(*carol, "Invoice 42 is wrong", "Please fix my invoice.", mid=invoice))
    w.post("invoice", mail(*carol, "Re", "Tracking XK-9912 lost.", replying=invoice), 200)
    w.post(
        "parcel",
        mail("dan@shop.test", "Dan Brown", "Delivery", "The parcel never reached Müllerstraße 5."),
    )
    long = "Thanks a lot.\r\n" + "More words here. " * 30 + "Greetings from Zanzibar"  # > snippet
    w.post("percent", mail("eve@customer.test", "Eve", "100% satisfied", long))
    w.post("spelled", mail("fay@customer.test", "Fay", "100 percent", "Nothing else"))
    w.act("A", "accept", "parcel")
    reply = "We have refunded the shipping costs.\n\n" + "Kind regards, " * 20 + "Lighthouse"
    w.act("A", "reply", "parcel", {"body_text": reply})
    started = ok(
        client.post(
            f"/v1/companies/{w.acme.id}/outbound",
            headers=w.acme.token("B"),
            json={
                "mailbox_id": w.acme.mailbox_id,
                "queue_id": w.acme.queues["General"],
                "to": ["Zoe@Partner.test"],
                "subject": "Partnership",
                "body_text": "Let us talk about pricing.",
            },
        ),
        201,
    )
    w.ids["outbound"] = started["id"]
    w.position = max(w.position, started["position"])
    return w


def test_words_of_the_subject_the_contact_and_every_message(world: TextWorld) -> None:
    assert world.q("invoice") == {"invoice"}  # subject and first message
    assert world.q("INVO") == {"invoice"}  # the start of a word, any case
    assert world.q("smith") == world.q("Carol") == {"invoice"}  # the contact's name
    assert world.q("lost") == {"invoice"}  # the customer's second message
    assert world.q("parcel") == {"parcel"}
    assert world.q("müllerstraße") == world.q("MÜLLERSTRASSE") == {"parcel"}
    assert world.q("refunded") == {"parcel"}  # the agent's reply
    assert world.q("pricing") == {"outbound"}  # an email we started
    assert world.q("zanzibar") == {"percent"}  # beyond the 200 characters of the snippet
    assert world.q("lighthouse") == {"parcel"}
    assert world.q("zoe") == {"outbound"}  # whom we wrote to


def test_every_word_must_match(world: TextWorld) -> None:
    assert world.q("fix invoice") == {"invoice"}
    assert world.q("invoice parcel") == set()
    assert world.q("  ") == set(world.ids)
    assert world.q("unheard") == set()


def test_addresses_ids_and_references(world: TextWorld) -> None:
    invoice = world.ids["invoice"]
    ref = world.row("invoice")["short_ref"]
    assert world.q("carol@customer.test") == world.q("Carol@Customer.Test") == {"invoice"}
    assert world.q("shop.test") == {"parcel"}
    assert world.q(invoice) == {"invoice"}
    assert world.q(ref) == world.q(f"[#{ref}]") == world.q(ref.lower()) == {"invoice"}
    assert world.q(str(uuid4())) == set()


def test_punctuation_matches_as_written(world: TextWorld) -> None:
    assert world.q("100%") == {"percent"}
    assert world.q("100") == {"percent", "spelled"}
    assert world.q("xk-9912") == {"invoice"}
    assert world.q("42%") == set()
    assert world.q("x_k") == set()


def test_free_text_combines_with_filters(world: TextWorld) -> None:
    assert world.listed(q="100", status="queued") == {"percent", "spelled"}
    assert world.listed(q="refunded", status="queued") == set()
    assert world.listed(q="pricing", assignee="me", who="B") == {"outbound"}


def test_pages_of_free_text_do_not_depend_on_the_rows_looked_at_first(
    world: TextWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL first looks for a page among the newest rows (`TEXT_WINDOW`), then asks the
    text index: the pages are the same whichever way they were found."""

    def pages(q: str) -> list[list[str]]:
        found, cursor = [], None
        while True:
            params = {"q": q, "limit": 1} | ({"cursor": cursor} if cursor else {})
            page = ok(world.page(**params))
            found.append(world.names(page["items"]))
            if not (cursor := page.get("next_cursor")):
                return found

    for q in ("customer", "re", "100"):
        monkeypatch.setattr(search_reads, "TEXT_WINDOW", 0)  # the text index only
        expected = pages(q)
        assert any(expected)
        for window in (1, 2, 3, 400):
            monkeypatch.setattr(search_reads, "TEXT_WINDOW", window)
            assert pages(q) == expected, (q, window)
