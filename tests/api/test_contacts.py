"""Contacts over HTTP: learned from mail, corrected by agents, and each one's journey."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi.testclient import TestClient

from domain.ids import contact_id_for
from tests.api.scenario import Company, bearer, company, ok, post_email, raw_email
from tests.fakes import FixedClock


def mail(
    client: TestClient,
    acme: Company,
    sender: str,
    name: str = "Carol",
    subject: str = "Hello",
    status: int = 201,
    **headers: Any,
) -> dict[str, Any]:
    """An email from `name <sender>`: a new interaction unless `in_reply_to` threads it."""
    raw = raw_email(sender=sender, subject=subject, **headers).replace(
        b"From: Carol <", f"From: {name} <".encode()
    )
    delivered: dict[str, Any] = post_email(client, acme, raw, status)
    return delivered


def contact_of(acme: Company, address: str) -> str:
    return str(contact_id_for(UUID(acme.id), address))


def get(client: TestClient, url: str, headers: dict[str, str], position: int = 0) -> Any:
    return ok(client.get(url, headers=headers, params={"min_position": position}))


def edit(client: TestClient, acme: Company, contact_id: str, status: int = 200, **body: Any) -> Any:
    return ok(
        client.patch(f"/v1/contacts/{contact_id}", headers=acme.token("A"), json=body), status
    )


def journey(client: TestClient, acme: Company, contact_id: str, **params: Any) -> list[str]:
    page = ok(
        client.get(f"/v1/contacts/{contact_id}/journey", headers=acme.token("A"), params=params)
    )
    return [item["interaction_id"] for item in page["items"]]


def test_inbound_mail_makes_a_contact_named_as_the_sender_signs(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    first_seen = clock.now
    mail(client, acme, "carol@customer.test", name="Carol Smith", message_id="<1@customer.test>")
    position = mail(client, acme, "Carol@Customer.test", name="Carol S.")["position"]

    page = get(client, "/v1/contacts", acme.token("B"), position)

    [carol] = page["items"]
    assert page["next_cursor"] is None
    assert carol["id"] == contact_of(acme, "carol@customer.test")
    assert (carol["name"], carol["name_edited"]) == ("Carol S.", False)
    assert (carol["primary_address"], carol["addresses"]) == (
        "carol@customer.test",
        ["carol@customer.test"],
    )
    assert carol["interaction_count"] == 2
    assert get(client, f"/v1/contacts/{carol['id']}", acme.token("A")) == {**carol, "position": 0}

    last_seen = clock.advance(hours=2)
    reply = mail(
        client,
        acme,
        "carol@customer.test",
        name="Carol Jones",
        status=200,
        in_reply_to="<1@customer.test>",
    )

    assert reply["outcome"] == "threaded"
    carol = get(client, f"/v1/contacts/{carol['id']}", acme.token("A"), reply["position"])
    assert (carol["name"], carol["interaction_count"]) == ("Carol Jones", 2)
    assert (carol["first_seen_at"], carol["last_seen_at"]) == (
        first_seen.isoformat().replace("+00:00", "Z"),
        last_seen.isoformat().replace("+00:00", "Z"),
    )


def test_an_agent_s_outbound_email_makes_a_contact_of_its_first_recipient(
    client: TestClient,
) -> None:
    acme = company(client)
    started = ok(
        client.post(
            f"/v1/companies/{acme.id}/outbound",
            headers=acme.token("A"),
            json={
                "mailbox_id": acme.mailbox_id,
                "queue_id": acme.queues["General"],
                "to": ["Dan <Dan@Supplier.test>", "eve@supplier.test"],
                "subject": "Your order",
                "body_text": "Hello Dan",
            },
        ),
        201,
    )

    dan = get(
        client,
        f"/v1/contacts/{contact_of(acme, 'dan@supplier.test')}",
        acme.token("A"),
        started["position"],
    )
    assert (dan["name"], dan["primary_address"], dan["interaction_count"]) == (
        "",
        "dan@supplier.test",
        1,
    )
    page = ok(client.get(f"/v1/contacts/{dan['id']}/journey", headers=acme.token("A")))
    assert [(i["interaction_id"], i["status"], i["subject"]) for i in page["items"]] == [
        (started["id"], "active", started["subject"])
    ]
    assert get(client, "/v1/contacts", acme.token("A"), 0)["items"] == [
        dan
    ]  # not eve: not the customer


def test_an_edit_renames_and_brings_an_address_with_its_interactions(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    first = mail(client, acme, "carol@customer.test", name="Carol")["interaction_id"]
    delivered = mail(client, acme, "carol@home.test", name="Carol at home")
    home = delivered["interaction_id"]
    get(client, "/v1/contacts", acme.token("A"), delivered["position"])
    carol, carol_home = contact_of(acme, "carol@customer.test"), contact_of(acme, "carol@home.test")

    edited = edit(client, acme, carol, name="Carol Smith", add_addresses=["Carol@Home.test"])

    assert (edited["name"], edited["name_edited"]) == ("Carol Smith", True)
    assert edited["addresses"] == ["carol@customer.test", "carol@home.test"]
    assert edited["interaction_count"] == 2
    assert set(journey(client, acme, carol)) == {first, home}
    gone = client.get(f"/v1/contacts/{carol_home}", headers=acme.token("A"))
    assert (gone.status_code, gone.json()["type"]) == (404, "/problems/contact-not-found")
    clock.advance(hours=1)
    later = mail(client, acme, "carol@home.test", name="C.")
    listed = get(client, "/v1/contacts", acme.token("A"), later["position"])["items"]
    assert [(c["id"], c["name"], c["interaction_count"]) for c in listed] == [
        (carol, "Carol Smith", 3)
    ]
    assert journey(client, acme, carol)[0] == later["interaction_id"]

    edited = edit(client, acme, carol, remove_addresses=["carol@home.test"])

    assert (edited["addresses"], edited["interaction_count"]) == (["carol@customer.test"], 1)
    back = get(client, f"/v1/contacts/{carol_home}", acme.token("A"))
    assert (back["name"], back["name_edited"], back["interaction_count"]) == ("C.", False, 2)
    assert set(journey(client, acme, carol_home)) == {home, later["interaction_id"]}


def test_an_address_of_another_contact_is_refused_with_409(client: TestClient) -> None:
    acme = company(client)
    mail(client, acme, "carol@customer.test")
    position = mail(client, acme, "dan@customer.test", name="Dan")["position"]
    carol, dan = contact_of(acme, "carol@customer.test"), contact_of(acme, "dan@customer.test")
    get(client, "/v1/contacts", acme.token("A"), position)
    edit(client, acme, dan, add_addresses=["dan@work.test"])

    for address in ("dan@work.test", "dan@customer.test"):
        refused = edit(client, acme, carol, 409, name="Carol Smith", add_addresses=[address])
        assert refused["type"] == "/problems/address-of-another-contact"
    refused = edit(client, acme, carol, 409, remove_addresses=["carol@customer.test"])
    assert refused["type"] == "/problems/primary-address-kept"
    assert edit(client, acme, carol, 422, add_addresses=["not an address"])["type"] == (
        "/problems/invalid-address"
    )
    assert edit(client, acme, carol, 422, name="x" * 201)["type"] == "/problems/validation-error"
    assert edit(client, acme, carol, 422, nickname="C")["type"] == "/problems/validation-error"
    unchanged = get(client, f"/v1/contacts/{carol}", acme.token("A"))
    assert (unchanged["name"], unchanged["addresses"]) == ("Carol", ["carol@customer.test"])


def test_another_company_never_sees_or_edits_a_contact(client: TestClient) -> None:
    acme, other = company(client, "Acme"), company(client, "Other", domain="other.test")
    position = mail(client, acme, "carol@customer.test")["position"]
    carol = contact_of(acme, "carol@customer.test")
    get(client, f"/v1/contacts/{carol}", acme.token("A"), position)

    for token in (other.admin, other.agents["A"][1]):
        for response in (
            client.get(f"/v1/contacts/{carol}", headers=bearer(token)),
            client.get(f"/v1/contacts/{carol}/journey", headers=bearer(token)),
            client.patch(f"/v1/contacts/{carol}", headers=bearer(token), json={"name": "X"}),
        ):
            assert response.status_code == 404, response.text
        assert ok(client.get("/v1/contacts", headers=bearer(token)))["items"] == []
    unknown = client.get(f"/v1/contacts/{contact_of(acme, 'x@y.test')}", headers=acme.token("A"))
    assert unknown.status_code == 404
    assert get(client, f"/v1/contacts/{carol}", acme.token("A"))["name"] == "Carol"


def test_contacts_are_found_by_part_of_a_name_or_an_address_page_by_page(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    for n in range(5):
        clock.advance(minutes=1)
        position = mail(client, acme, f"c{n}@customer{n % 2}.test", name=f"Person {n}")["position"]
    get(client, "/v1/contacts", acme.token("A"), position)
    edit(client, acme, contact_of(acme, "c0@customer0.test"), add_addresses=["zed_1%@x.test"])

    def found(**params: Any) -> list[str]:
        names, cursor = [], None
        while True:
            page = ok(
                client.get(
                    "/v1/contacts",
                    headers=acme.token("A"),
                    params={**params, "cursor": cursor} if cursor else params,
                )
            )
            names += [c["name"] for c in page["items"]]
            if (cursor := page["next_cursor"]) is None:
                return names

    assert found(limit=2) == [f"Person {n}" for n in (4, 3, 2, 1, 0)]
    assert found(q="CUSTOMER1", limit=1) == ["Person 3", "Person 1"]
    assert found(q="person 2") == ["Person 2"]
    assert found(q="ZED_1%") == ["Person 0"]
    assert found(q="_") == ["Person 0"]
    assert (
        client.get("/v1/contacts", headers=acme.token("A"), params={"cursor": "junk"}).status_code
        == 422
    )
    assert (
        client.get("/v1/contacts", headers=acme.token("A"), params={"limit": 201}).status_code
        == 422
    )


def test_the_journey_filters_by_creation_date_and_pages_newest_first(
    client: TestClient, clock: FixedClock
) -> None:
    acme = company(client)
    created = []
    for _ in range(5):
        delivered = mail(client, acme, "carol@customer.test")
        created.append((clock.now.isoformat(), delivered["interaction_id"]))
        clock.advance(days=1)
    get(client, "/v1/contacts", acme.token("A"), delivered["position"])
    carol = contact_of(acme, "carol@customer.test")
    newest_first = [iid for _, iid in reversed(created)]

    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = ok(
            client.get(f"/v1/contacts/{carol}/journey", headers=acme.token("A"), params=params)
        )
        seen += [i["interaction_id"] for i in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == newest_first
    assert (
        journey(client, acme, carol, **{"from": created[1][0], "to": created[3][0]})
        == newest_first[2:4]
    )
    assert journey(client, acme, carol, **{"from": created[4][0]}) == newest_first[:1]
    assert journey(client, acme, carol, to=created[0][0]) == []
    backwards = client.get(
        f"/v1/contacts/{carol}/journey",
        headers=acme.token("A"),
        params={"from": created[3][0], "to": created[1][0]},
    )
    assert backwards.status_code == 422


def test_the_journey_leaves_out_queues_hidden_from_the_caller(client: TestClient) -> None:
    acme = company(client)
    admin = bearer(acme.admin)
    rules = [
        {
            "queue_id": acme.queues["Billing"],
            "conditions": [{"field": "subject", "op": "contains", "value": "invoice"}],
        }
    ]
    ok(client.put(f"/v1/companies/{acme.id}/routing-rules", headers=admin, json={"rules": rules}))
    general = mail(client, acme, "carol@customer.test", subject="Hello")["interaction_id"]
    delivered = mail(client, acme, "carol@customer.test", subject="Invoice 7")
    billing = delivered["interaction_id"]
    get(client, "/v1/contacts", acme.token("A"), delivered["position"])
    services = client.app.state.services  # type: ignore[attr-defined]
    agent = services.app.agent(UUID(acme.agent_id("B")))
    agent.set_access_profile([UUID(acme.queues["General"])], actor="admin", at=services.clock())
    billing_queue = UUID(acme.queues["Billing"])
    if billing_queue in agent.queue_ids:  # a member of a queue sees it whatever the profile says
        agent.leave_queue(billing_queue, actor="admin", at=services.clock())
    services.app.save(agent)
    carol = contact_of(acme, "carol@customer.test")

    assert set(journey(client, acme, carol)) == {general, billing}
    page = ok(client.get(f"/v1/contacts/{carol}/journey", headers=acme.token("B")))
    assert [(i["interaction_id"], i["queue_id"]) for i in page["items"]] == [
        (general, acme.queues["General"])
    ]


def test_a_rebuild_of_the_contacts_view_equals_the_live_one(client: TestClient) -> None:
    acme = company(client)
    mail(client, acme, "carol@customer.test", name="Carol")
    mail(client, acme, "carol@home.test", name="Carol at home")
    position = mail(client, acme, "dan@customer.test", name="Dan")["position"]
    get(client, "/v1/contacts", acme.token("A"), position)
    carol = contact_of(acme, "carol@customer.test")
    edit(client, acme, carol, name="Carol Smith", add_addresses=["carol@home.test", "c@x.test"])
    edit(client, acme, carol, remove_addresses=["carol@home.test"])
    position = edit(
        client, acme, contact_of(acme, "dan@customer.test"), add_addresses=["carol@home.test"]
    )["position"]
    read = client.app.state.services.read  # type: ignore[attr-defined]
    assert read.wait(position)
    live = read.contacts.view.dump()

    read.rebuild("contacts")

    assert read.contacts.view.dump() == live
    assert len(live["contacts"]) == 2  # carol, and dan with carol@home.test
