"""Inbound bytes to what the model decides on: stored, parsed within bounds, files stored.

Both inbound paths (`POST .../inbound` and IMAP ingestion) go through `prepare`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.blobs import BlobStore
from adapters.bounces import bounced_message_ids
from adapters.compose import find_ref_tokens
from adapters.mime import ParsedMessage, ParseLimits, parse_message, text_excerpt
from domain.errors import UnparseableMessage
from domain.messages import AttachmentInfo, InboundEmail


def to_inbound(parsed: ParsedMessage, blob: str, attachments: list[AttachmentInfo]) -> InboundEmail:
    return InboundEmail(
        rfc_message_id=parsed.message_id,
        sender=parsed.sender.address,
        sender_name=parsed.sender.name,
        to=tuple(a.address for a in parsed.to),
        cc=tuple(a.address for a in parsed.cc),
        envelope_recipients=parsed.envelope_recipients,
        subject=parsed.subject,
        snippet=parsed.snippet(),
        text=text_excerpt(parsed.text),
        blob=blob,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        ref_tokens=tuple(find_ref_tokens(parsed.subject)),
        attachments=tuple(attachments),
        bounce_of=bounced_message_ids(parsed),
    )


@dataclass(frozen=True)
class Prepared:
    """Raw bytes stored under `blob`; `email` is None when they cannot be parsed (`problem`)."""

    blob: str
    email: InboundEmail | None
    problem: str = ""


def prepare(raw: bytes, blobs: BlobStore, limits: ParseLimits) -> Prepared:
    """Stores the raw bytes first (a quarantined message keeps them), then parses."""
    blob = blobs.put(raw)
    parsed = _parsed(raw, limits)
    if isinstance(parsed, UnparseableMessage):
        return Prepared(blob, None, str(parsed))
    return _prepared(blob, parsed, [blobs.put(a.content) for a in parsed.attachments])


def prepare_many(raws: Sequence[bytes], blobs: BlobStore, limits: ParseLimits) -> list[Prepared]:
    """`prepare` for a fetched chunk: every blob (raw and attachment) made durable at once."""
    parsed = [_parsed(raw, limits) for raw in raws]
    files = [a.content for p in parsed if isinstance(p, ParsedMessage) for a in p.attachments]
    digests = blobs.put_many([*raws, *files])
    blob_of_raw, blob_of_file = iter(digests[: len(raws)]), iter(digests[len(raws) :])
    prepared = []
    for each in parsed:
        blob = next(blob_of_raw)
        if isinstance(each, UnparseableMessage):
            prepared.append(Prepared(blob, None, str(each)))
        else:
            prepared.append(_prepared(blob, each, [next(blob_of_file) for _ in each.attachments]))
    return prepared


def _parsed(raw: bytes, limits: ParseLimits) -> ParsedMessage | UnparseableMessage:
    try:
        return parse_message(raw, limits)
    except UnparseableMessage as error:
        return error


def _prepared(blob: str, parsed: ParsedMessage, attachment_blobs: list[str]) -> Prepared:
    attachments = [
        AttachmentInfo(
            filename=a.filename, content_type=a.content_type, size=a.size, blob=attachment_blob
        )
        for a, attachment_blob in zip(parsed.attachments, attachment_blobs, strict=True)
    ]
    return Prepared(blob, to_inbound(parsed, blob, attachments))
