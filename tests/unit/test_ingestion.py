"""Ingestion commands on the in-memory store: a fetched chunk and its checkpoint, all or nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.actors import OPERATOR, Actor
from domain.application import ContactCenter
from domain.application.ingestion import FetchedEmail, Folder, Ingested
from domain.checkpoint import CheckpointBehind, MailboxCheckpoint
from domain.errors import InvalidInput, RuleViolated
from domain.ids import interaction_id_for, quarantine_id_for
from domain.interaction import Interaction
from domain.messages import InboundEmail
from domain.quota import CompanyQuota
from tests.fakes import T0

POPO = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
ADA = Actor("admin", uuid4())


def no_refs(_company: UUID, _token: str) -> UUID | None:
    return None


class Acme:
    """A company with one queue and one mailbox, and a folder of that mailbox."""

    def __init__(self, open_limit: int = 100, app: type[ContactCenter] = ContactCenter) -> None:
        self.app = app(env=POPO)
        self.id, self.queue, self.mailbox = uuid4(), uuid4(), uuid4()
        self.app.create_company(
            self.id, name="Acme", timezone="UTC", open_limit=open_limit, by=OPERATOR, at=T0
        )
        self.app.create_queue(self.queue, self.id, name="Support", priority=1, by=ADA, at=T0)
        self.app.add_mailbox(
            self.id, self.mailbox, address="support@acme.test", default_queue_id=self.queue,
            by=ADA, at=T0,
        )  # fmt: skip
        self.folder = Folder(self.id, self.mailbox, "INBOX", uidvalidity=7)

    def ingest(self, *fetched: FetchedEmail, folder: Folder | None = None) -> Ingested:
        """Records a chunk fetched after the folder's checkpoint, as the worker does."""
        folder = folder or self.folder
        checkpoint = self.app.checkpoint(folder)
        same = checkpoint is not None and checkpoint.uidvalidity == folder.uidvalidity
        return self.app.ingest(
            folder,
            fetched,
            after=checkpoint.last_uid if checkpoint is not None and same else 0,
            at=T0 + timedelta(days=1),
            find_by_ref=no_refs,
        )

    def interactions(self) -> list[Interaction]:
        found = []
        for notification in self.app.recorder.select_notifications(start=1, limit=100_000):
            if notification.topic.endswith("Interaction.Received"):
                found.append(self.app.interaction(notification.originator_id))
        return found


def mail(uid: int, message_id: str | None = None, **fields: object) -> FetchedEmail:
    email = InboundEmail(
        rfc_message_id=message_id or f"<{uid}@customer.test>",
        sender="carol@customer.test",
        to=("support@acme.test",),
        subject=f"mail {uid}",
        **fields,  # type: ignore[arg-type]
    )
    return FetchedEmail(uid, f"blob-{uid}", T0 + timedelta(minutes=uid), email)


def junk(uid: int, blob: str | None = None) -> FetchedEmail:
    return FetchedEmail(uid, blob or f"junk-{uid}", T0, None, "no sender")


def test_a_chunk_becomes_interactions_and_moves_the_checkpoint_in_one_transaction() -> None:
    acme = Acme()
    before = acme.app.recorder.max_notification_id() or 0

    done = acme.ingest(mail(3), mail(1), mail(2))

    assert (done.last_uid, done.covered, done.outcomes) == (3, (1, 2, 3), {"created": 3})
    checkpoint = acme.app.checkpoint(acme.folder)
    assert checkpoint is not None
    assert (checkpoint.uidvalidity, checkpoint.last_uid) == (7, 3)
    arrived = sorted(i.created_on for i in acme.interactions())
    assert arrived == [T0 + timedelta(minutes=n) for n in (1, 2, 3)]  # INTERNALDATE, not `at`
    saved = acme.app.recorder.select_notifications(start=before + 1, limit=100)
    assert saved[-1].id == done.position
    assert [n.topic.rsplit(".", 1)[-1] for n in saved].count("Recorded") == 3


def test_uids_at_or_below_the_checkpoint_are_skipped() -> None:
    acme = Acme()
    acme.ingest(mail(1), mail(2))

    again = acme.ingest(mail(1), mail(2), mail(3))

    assert again.covered == (3,)
    assert len(acme.interactions()) == 3


def test_a_repeated_message_id_in_one_chunk_or_a_later_one_is_one_interaction() -> None:
    acme = Acme()
    first = acme.ingest(mail(1, "<same@x>"), mail(2, "<same@x>"))
    other_folder = Folder(acme.id, acme.mailbox, "Support", uidvalidity=1)
    later = acme.ingest(mail(9, "<same@x>"), folder=other_folder)

    assert first.outcomes == {"created": 1, "duplicate": 1}
    assert later.outcomes == {"duplicate": 1}
    assert len(acme.interactions()) == 1


def test_a_reply_in_the_same_chunk_joins_the_conversation() -> None:
    acme = Acme()

    done = acme.ingest(mail(1, "<a@x>"), mail(2, "<b@x>", in_reply_to=("<a@x>",)))

    assert done.outcomes == {"created": 1, "threaded": 1}
    assert acme.app.interaction(interaction_id_for(acme.id, "<a@x>")).message_ids == [
        "<a@x>",
        "<b@x>",
    ]


def test_at_the_open_limit_the_chunk_stops_and_the_checkpoint_covers_what_was_recorded() -> None:
    acme = Acme(open_limit=2)

    done = acme.ingest(mail(1), mail(2), mail(3), mail(4, in_reply_to=("<1@customer.test>",)))

    assert (done.last_uid, done.covered, done.limit_reached) == (2, (1, 2), True)
    assert acme.app.quota(acme.id).open_count == 2
    assert len(acme.interactions()) == 2


def test_unparseable_input_is_quarantined_once_per_content_and_the_folder_moves_on() -> None:
    acme = Acme()

    done = acme.ingest(junk(1, "bad"), mail(2), junk(3, "bad"))

    assert done.outcomes == {"quarantined": 1, "duplicate": 1, "created": 1}
    assert done.last_uid == 3
    record = acme.app.quarantined(quarantine_id_for(acme.id, "bad"), acme.id)
    assert (record.reason, record.source) == ("no sender", f"imap:{acme.mailbox}:INBOX")


class RefusingOne(ContactCenter):
    """Refuses one Message-ID the way a model rule would, after touching the batch."""

    def deliver(self, batch, company_id, email, **kwargs):  # type: ignore[no-untyped-def]
        outcome = super().deliver(batch, company_id, email, **kwargs)
        if email.rfc_message_id == "<refused@x>":
            raise InvalidInput("this one cannot become an interaction")
        return outcome


def test_a_message_the_model_refuses_is_quarantined_and_leaves_nothing_else_behind() -> None:
    fresh = Acme(app=RefusingOne)

    done = fresh.ingest(mail(1), mail(2, "<refused@x>"), mail(3))

    assert done.outcomes == {"created": 2, "quarantined": 1}
    assert len(fresh.interactions()) == 2
    assert fresh.app.quota(fresh.id).open_count == 2
    record = fresh.app.quarantined(quarantine_id_for(fresh.id, "blob-2"), fresh.id)
    assert record.reason.startswith("invalid-input:")


def test_a_new_uidvalidity_restarts_the_checkpoint_and_identity_prevents_repeats() -> None:
    acme = Acme()
    acme.ingest(*(mail(uid) for uid in range(1, 6)))
    recreated = Folder(acme.id, acme.mailbox, "INBOX", uidvalidity=8)

    done = acme.ingest(*(mail(uid) for uid in range(1, 8)), folder=recreated)

    assert done.outcomes == {"duplicate": 5, "created": 2}
    checkpoint = acme.app.checkpoint(recreated)
    assert checkpoint is not None
    assert (checkpoint.uidvalidity, checkpoint.last_uid) == (8, 7)
    assert len(acme.interactions()) == 7


def test_a_checkpoint_never_goes_back() -> None:
    checkpoint = MailboxCheckpoint(
        company_id=uuid4(), mailbox_id=uuid4(), folder="INBOX", uidvalidity=1, timestamp=T0
    )
    checkpoint.advance(5, 5, at=T0)
    checkpoint.advance(5, 0, at=T0)

    with pytest.raises(RuleViolated):
        checkpoint.advance(4, 1, at=T0)
    assert [type(e).__name__ for e in checkpoint.collect_events()] == ["Created", "Advanced"]


def test_an_admin_retry_records_the_quarantined_message_at_its_arrival_time() -> None:
    acme = Acme()
    arrived = T0 + timedelta(hours=3)
    acme.ingest(FetchedEmail(1, "bad", arrived, None, "boom"))
    quarantine_id = quarantine_id_for(acme.id, "bad")
    email = mail(1).email
    assert email is not None

    delivery = acme.app.retry_quarantined(
        quarantine_id, acme.id, email, by=ADA, at=T0 + timedelta(days=2), find_by_ref=no_refs
    )

    assert delivery.outcome == "created"
    assert acme.app.interaction(delivery.interaction_id).created_on == arrived
    assert acme.app.quarantined(quarantine_id, acme.id).released
    with pytest.raises(RuleViolated):
        acme.app.retry_quarantined(
            quarantine_id, acme.id, email, by=ADA, at=T0, find_by_ref=no_refs
        )


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.booleans(), st.integers(1, 8)), min_size=1, max_size=25
    ),
    st.integers(1, 6),
)
def test_any_chunking_records_each_identity_once_and_never_beyond_the_limit(
    messages: list[tuple[int, bool, int]], limit: int
) -> None:
    """Message-IDs repeat, some input is junk, chunks are arbitrary: the folder ends with one
    interaction per Message-ID that fitted under the limit and one quarantine per content."""
    acme = Acme(open_limit=limit)
    fetched = [
        junk(uid, f"junk-{n}") if bad else mail(uid, f"<{n}@x>")
        for uid, (n, bad, _) in enumerate(messages, start=1)
    ]
    position, chunks = 0, [size for *_, size in messages]
    while position < len(fetched):
        chunk = fetched[position : position + chunks[position]]
        done = acme.ingest(*chunk)
        if done.limit_reached:
            break
        position += len(chunk)
    ids = Counter(i.message_ids[0] for i in acme.interactions())
    assert all(count == 1 for count in ids.values())
    assert len(ids) <= limit
    assert acme.app.quota(acme.id).open_count == len(ids)
    quota = acme.app.repository.get(CompanyQuota.create_id(acme.id))
    assert quota.open_count <= limit


def test_a_chunk_that_follows_uids_the_checkpoint_does_not_cover_is_refused() -> None:
    acme = Acme(open_limit=2)
    acme.ingest(mail(1), mail(2), mail(3))  # the limit stops it after UID 2
    position = acme.app.recorder.max_notification_id()

    with pytest.raises(CheckpointBehind):
        acme.app.ingest(acme.folder, [mail(4)], after=3, at=T0, find_by_ref=no_refs)

    assert acme.app.recorder.max_notification_id() == position


def test_a_stale_hint_that_a_record_is_absent_costs_a_retry_not_a_duplicate() -> None:
    acme = Acme()
    acme.ingest(mail(1, "<x@customer.test>"))
    stale = acme.app.lookups(acme.folder, [mail(2, "<x@customer.test>")])

    done = acme.app.ingest(
        acme.folder,
        [mail(2, "<x@customer.test>"), mail(3)],
        after=1,
        at=T0,
        find_by_ref=no_refs,
        absent=stale,
    )

    assert done.outcomes == {"duplicate": 1, "created": 1}
    assert len(acme.interactions()) == 2


def test_the_same_message_id_at_two_companies_is_one_interaction_each() -> None:
    acme = Acme()
    other = Folder(uuid4(), uuid4(), "INBOX", uidvalidity=1)
    acme.app.create_company(
        other.company_id, name="Other", timezone="UTC", open_limit=5, by=OPERATOR, at=T0
    )
    queue = uuid4()
    acme.app.create_queue(queue, other.company_id, name="Q", priority=1, by=ADA, at=T0)
    acme.app.add_mailbox(
        other.company_id, other.mailbox_id, address="help@other.test", default_queue_id=queue,
        by=ADA, at=T0,
    )  # fmt: skip

    acme.ingest(mail(1, "<shared@x>"))
    done = acme.ingest(mail(1, "<shared@x>"), folder=other)

    assert done.outcomes == {"created": 1}
    assert len(acme.interactions()) == 2
