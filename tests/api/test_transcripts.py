"""Transcript export: one interaction's emails, notes and lifecycle as JSON, text, PDF and zip,
read like the interaction itself (another company's or a hidden queue's answers 404)."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from adapters.transcript_pdf import Fonts, Section, render_pdf
from api.routes.transcripts import safe_name, unique_name
from tests.api.scenario import Company, bearer, company, ok, post_email
from tests.fakes import FixedClock

ZOE_TEXT = "Grüße, Zoë — 東京. My invoice lists the wrong address."
FIRST_PDF, SECOND_PDF = b"%PDF-1.4 first invoice\n", b"%PDF-1.4 corrected invoice\n"
ADDRESS_FILE = "Zoë's new address in 東京\n".encode()
CREDIT_NOTE = b"credit note 42: -12.50 EUR\n"
NOTES = ("Called Zoë, she travels until Friday.", "Escalated to billing.")
FOR_A_ONLY = "Check the refund policy before you answer."
SECOND_TEXT = "Here is the corrected invoice and my address."
REPLY_TEXT = "We fixed the invoice; a credit note is attached."


def customer_mail(
    body: str, files: list[tuple[str, bytes, str]], message_id: str, in_reply_to: str = ""
) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Zoë Müller <zoe@customer.test>"
    mail["To"] = "support@acme.test"
    mail["Subject"] = "Grüße aus Tokio: invoice 42"
    mail["Message-ID"] = message_id
    mail["Date"] = "Mon, 02 Mar 2026 09:00:00 +0000"
    if in_reply_to:
        mail["In-Reply-To"] = mail["References"] = in_reply_to
    mail.set_content(body)
    for filename, content, media_type in files:
        maintype, subtype = media_type.split("/")
        mail.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return mail.as_bytes(policy=policy.SMTP)


@dataclass
class Story:
    acme: Company
    interaction_id: str
    short_ref: str
    position: int  # of the last command, for reading the timeline

    def export(self, client: TestClient, token: dict[str, str], fmt: str) -> Any:
        url = f"/v1/interactions/{self.interaction_id}/transcript"
        return client.get(url, params={"format": fmt}, headers=token)


def told_story(client: TestClient, clock: FixedClock) -> Story:
    """Two emails in, a reply out, notes (one for A only), a transfer to B, and B closes."""
    acme = company(client)
    a, b, sue = acme.token("A"), acme.token("B"), acme.token("supervisor")
    first = customer_mail(ZOE_TEXT, [("invoice.pdf", FIRST_PDF, "application/pdf")], "<z1@c.test>")
    iid = post_email(client, acme, first)["interaction_id"]

    def act(command: str, token: dict[str, str], **body: Any) -> Any:
        clock.advance(minutes=1)
        return ok(client.post(f"/v1/interactions/{iid}/{command}", headers=token, json=body))

    act("accept", a)
    act("notes", a, text=NOTES[0])
    clock.advance(minutes=1)
    second = customer_mail(
        SECOND_TEXT,
        [
            ("invoice.pdf", SECOND_PDF, "application/pdf"),
            ('new: "address"?.txt', ADDRESS_FILE, "text/plain"),
        ],
        "<z2@c.test>",
        in_reply_to="<z1@c.test>",
    )
    assert post_email(client, acme, second, status=200)["outcome"] == "threaded"
    credit = {
        "filename": "credit-note.txt",
        "content_type": "text/plain",
        "content_base64": base64.b64encode(CREDIT_NOTE).decode(),
    }
    act("reply", a, body_text=REPLY_TEXT, attachments=[credit])
    act("notes", sue, text=FOR_A_ONLY, for_agent_id=acme.agent_id("A"))
    act("notes", sue, text=NOTES[1])
    act("transfer", a, to_agent_id=acme.agent_id("B"))
    closed = act("close", b, disposition=[])
    return Story(acme, iid, closed["short_ref"], closed["position"])


def flat(text: str) -> str:
    return " ".join(text.split())


def in_order(haystack: str, needles: list[str]) -> bool:
    position = 0
    for needle in needles:
        found = haystack.find(needle, position)
        if found < 0:
            return False
        position = found + len(needle)
    return True


def test_the_json_transcript_has_the_header_and_every_email_note_and_step_in_order(
    client: TestClient, clock: FixedClock
) -> None:
    story = told_story(client, clock)
    response = story.export(client, story.acme.token("supervisor"), "json")

    assert response.headers["content-type"] == "application/json"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="transcript-{story.short_ref}.json"' in disposition
    transcript = json.loads(response.content)
    header = transcript["interaction"]
    assert (header["short_ref"], header["contact"], header["mailbox"]) == (
        story.short_ref,
        "zoe@customer.test",
        "support@acme.test",
    )
    assert (header["queue"]["name"], header["status"], header["disposition"]) == (
        "General",
        "closed",
        [],
    )
    assert header["handling_ms"] == 6 * 60_000  # accepted at 1 min, transferred at 7
    assert transcript["generated_at"] == "2026-03-02T09:08:00Z"
    entries = transcript["entries"]
    assert [(e["kind"], e.get("type") or e.get("direction")) for e in entries] == [
        ("email", "in"),
        ("event", "Routed"),
        ("event", "Accepted"),
        ("note", None),
        ("email", "in"),
        ("email", "out"),
        ("note", None),
        ("note", None),
        ("event", "Transferred"),
        ("event", "Closed"),
    ]
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    first, second, reply = (e for e in entries if e["kind"] == "email")
    assert ZOE_TEXT in first["body_text"]
    assert (first["from"], first["from_name"], first["date"]) == (
        "zoe@customer.test",
        "Zoë Müller",
        "2026-03-02T09:00:00Z",
    )
    assert [(f["filename"], f["size"]) for f in second["attachments"]] == [
        ("invoice.pdf", len(SECOND_PDF)),
        ('new: "address"?.txt', len(ADDRESS_FILE)),
    ]
    assert REPLY_TEXT in reply["body_text"]
    assert reply["to"] == ["zoe@customer.test"]
    notes = [e for e in entries if e["kind"] == "note"]
    assert [n["text"] for n in notes] == [NOTES[0], FOR_A_ONLY, NOTES[1]]
    assert [n["author_name"] for n in notes] == [
        "A (agent)",
        "Sue (supervisor)",
        "Sue (supervisor)",
    ]
    assert notes[1]["for_agent_name"] == "A"
    assert [e["summary"] for e in entries if e["kind"] == "event"] == [
        "routed to queue General",
        "accepted",
        "transferred to B",
        "closed",
    ]
    assert entries[-2]["actor_name"] == "A (agent)"


def test_a_note_for_one_agent_is_left_out_for_other_agents(
    client: TestClient, clock: FixedClock
) -> None:
    story = told_story(client, clock)
    for reader, sees_it in (("A", True), ("B", False), ("supervisor", True)):
        token = story.acme.token(reader)
        transcript = ok(story.export(client, token, "json"))
        texts = [e["text"] for e in transcript["entries"] if e["kind"] == "note"]
        assert (FOR_A_ONLY in texts) is sees_it, reader
        assert (FOR_A_ONLY in story.export(client, token, "text").text) is sees_it
        url = f"/v1/interactions/{story.interaction_id}"
        thread = ok(client.get(f"{url}/messages", headers=token))["items"]
        assert (FOR_A_ONLY in [i.get("text") for i in thread]) is sees_it
        timeline = client.get(
            f"{url}/timeline", params={"min_position": story.position}, headers=token
        )
        entries = ok(timeline)["entries"]
        noted = [e["details"]["text"] for e in entries if e["type"] == "note_added"]
        assert (FOR_A_ONLY in noted) is sees_it
        assert len(noted) == (3 if sees_it else 2)


def test_the_text_transcript_reads_every_body_and_note_in_order(
    client: TestClient, clock: FixedClock
) -> None:
    story = told_story(client, clock)
    response = story.export(client, bearer(story.acme.admin), "text")

    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert f"transcript-{story.short_ref}.txt" in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith(f"Transcript [#{story.short_ref}] Grüße aus Tokio: invoice 42\n")
    assert "Handling time: 0:06:00" in text
    assert f"Attachments: invoice.pdf ({len(FIRST_PDF)} bytes)" in text
    assert "For: A only" in text
    order = [ZOE_TEXT, NOTES[0], SECOND_TEXT, REPLY_TEXT, FOR_A_ONLY, NOTES[1], "transferred to B"]
    assert in_order(text, order)


def printable(text: str) -> str:
    """`text` as the installed fonts can draw it (see adapters.transcript_pdf)."""
    fonts = Fonts.installed()
    if fonts.regular is None:
        return text.encode("latin-1", "replace").decode("latin-1")
    return text if fonts.fallback is not None else text.replace("東京", "\ufffd\ufffd")


def test_the_pdf_transcript_holds_every_body_and_note_in_order(
    client: TestClient, clock: FixedClock
) -> None:
    story = told_story(client, clock)
    response = story.export(client, story.acme.token("supervisor"), "pdf")

    assert response.headers["content-type"] == "application/pdf"
    assert f"transcript-{story.short_ref}.pdf" in response.headers["content-disposition"]
    reader = PdfReader(io.BytesIO(response.content))
    text = flat("\n".join(page.extract_text() for page in reader.pages))
    order = [ZOE_TEXT, NOTES[0], SECOND_TEXT, REPLY_TEXT, FOR_A_ONLY, NOTES[1]]
    assert in_order(text, [flat(printable(part)) for part in order]), text
    assert in_order(text, [printable("Grüße aus Tokio"), "accepted - by A", "transferred to B"])


def test_a_long_transcript_wraps_and_takes_several_pages(
    client: TestClient, clock: FixedClock
) -> None:
    story = told_story(client, clock)
    long_note = " ".join(f"word{n}" for n in range(400)) + " " + "x" * 300
    for _ in range(6):
        clock.advance(seconds=1)
        url = f"/v1/interactions/{story.interaction_id}/notes"
        ok(client.post(url, headers=story.acme.token("supervisor"), json={"text": long_note}))
    response = story.export(client, story.acme.token("supervisor"), "pdf")

    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) > 3
    text = flat("\n".join(page.extract_text() for page in reader.pages))
    assert text.count("word0 word1 word2") == 6
    assert text.count("word398 word399") == 6


def test_the_zip_holds_the_pdf_and_every_attachment_byte_for_byte(
    client: TestClient, clock: FixedClock
) -> None:
    story = told_story(client, clock)
    url = f"/v1/interactions/{story.interaction_id}/transcript.zip"
    response = client.get(url, headers=story.acme.token("A"))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    name = f"transcript-{story.short_ref}"
    assert f'filename="{name}.zip"' in response.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == [
        f"{name}/{name}.pdf",
        f"{name}/attachments/invoice.pdf",
        f"{name}/attachments/invoice (2).pdf",
        f"{name}/attachments/new_ _address__.txt",
        f"{name}/attachments/credit-note.txt",
    ]
    files = [archive.read(n) for n in archive.namelist()]
    assert files[1:] == [FIRST_PDF, SECOND_PDF, ADDRESS_FILE, CREDIT_NOTE]
    pdf_text = flat("".join(p.extract_text() for p in PdfReader(io.BytesIO(files[0])).pages))
    assert flat(REPLY_TEXT) in pdf_text


EXPORTS = ("transcript", "transcript?format=text", "transcript?format=pdf", "transcript.zip")


def test_another_company_gets_404_and_a_hidden_queue_404_unless_the_reader_owns_it(
    client: TestClient, clock: FixedClock
) -> None:
    story = told_story(client, clock)
    other = company(client, "Other", domain="other.test")
    for path in EXPORTS:
        url = f"/v1/interactions/{story.interaction_id}/{path}"
        for token in (bearer(other.admin), other.token("supervisor"), other.token("A")):
            response = client.get(url, headers=token)
            assert response.status_code == 404
            assert response.headers["content-type"] == "application/problem+json"
            assert "Zoë" not in response.text

    mine = customer_mail("Another question", [], "<z3@c.test>")
    owned = post_email(client, story.acme, mine)["interaction_id"]
    ok(client.post(f"/v1/interactions/{owned}/accept", headers=story.acme.token("B")))
    services = client.app.state.services  # type: ignore[attr-defined]
    agent = services.app.agent(UUID(story.acme.agent_id("B")))
    agent.set_access_profile([UUID(story.acme.queues["Billing"])], actor="admin", at=clock.now)
    general = UUID(story.acme.queues["General"])
    if general in agent.queue_ids:  # a member of a queue sees it whatever the profile says
        agent.leave_queue(general, actor="admin", at=clock.now)
    services.app.save(agent)
    clock.advance(minutes=1)
    for path in EXPORTS:
        hidden = client.get(
            f"/v1/interactions/{story.interaction_id}/{path}", headers=story.acme.token("B")
        )
        assert hidden.status_code == 404
        assert hidden.json()["type"] == "/problems/interaction-not-found"
        shown = client.get(
            f"/v1/interactions/{story.interaction_id}/{path}", headers=story.acme.token("A")
        )
        assert shown.status_code == 200
        owned_export = client.get(f"/v1/interactions/{owned}/{path}", headers=story.acme.token("B"))
        assert owned_export.status_code == 200  # General is hidden from B, but B owns this one


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_without_dejavu_the_pdf_uses_latin_1_and_question_marks() -> None:
    sections = [Section("Grüße — 東京", (("From", "Zoë <zoe@c.test>"),), "Zoë\tsays — 東京")]
    text = pdf_text(render_pdf("Grüße", sections, fonts=Fonts(None)))

    assert "Grüße ? ??" in text
    assert "From: Zoë <zoe@c.test>" in text
    assert "Zoë    says ? ??" in text


@settings(max_examples=25, deadline=None)
@given(st.text(max_size=300), st.booleans())
def test_any_text_renders_in_either_font(text: str, unicode_font: bool) -> None:
    fonts = Fonts.installed() if unicode_font else Fonts(None)
    pdf = render_pdf(text, [Section(text, (("Label", text),), text)], fonts=fonts)
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 1


@given(st.lists(st.text(max_size=200), max_size=12))
def test_attachment_names_in_the_zip_are_safe_and_unique(names: list[str]) -> None:
    taken: set[str] = set()
    made = [unique_name(safe_name(name), taken) for name in names]

    assert len({m.casefold() for m in made}) == len(made)
    for name in made:
        assert name
        assert not any(c in name for c in '/\\:*?"<>|\x00')
        assert not name.startswith(".")
        assert name.isprintable()


def test_characters_the_main_font_lacks_come_from_the_fallback_font() -> None:
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    math = dejavu / "DejaVuMathTeXGyre.ttf"  # has bold math letters, DejaVu Sans has not
    if not math.is_file():
        pytest.skip("DejaVu fonts are not installed here")
    fonts = Fonts(dejavu / "DejaVuSans.ttf", None, math)
    bold_ab = "\U0001d400\U0001d401"  # MATHEMATICAL BOLD CAPITAL A, B
    text = pdf_text(render_pdf("t", [Section("Zoë", (), f"Zoë {bold_ab} 東京")], fonts=fonts))

    assert f"Zoë {bold_ab} \ufffd\ufffd" in text  # neither font has 東京
