"""Delivery status notifications (RFC 3464): which of our emails a bounce reports on."""

from __future__ import annotations

import re
from email import policy
from email.parser import BytesHeaderParser

from adapters.mime import ParsedMessage

REPORT = "message/delivery-status"
RETURNED = frozenset(
    {"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"}
)
_MSG_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")
_HEADER_BYTES = 64 * 1024


def bounced_message_ids(parsed: ParsedMessage) -> tuple[str, ...]:
    """The Message-IDs of the returned message (or its headers) in a DSN; () for other mail."""
    if not any(a.content_type == REPORT for a in parsed.attachments):
        return ()
    found: list[str] = []
    for attachment in parsed.attachments:
        if attachment.content_type in RETURNED:
            head = BytesHeaderParser(policy=policy.compat32).parsebytes(
                attachment.content[:_HEADER_BYTES]
            )
            for value in head.get_all("message-id", []):
                found += _MSG_ID.findall(str(value))
    found += parsed.in_reply_to  # some servers also thread the report
    return tuple(dict.fromkeys(i for i in found if len(i) <= 998))
