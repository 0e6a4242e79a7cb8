"""Automatic replies (RFC 3834): whether an arriving email gets one, and which one.

Pure decisions over recorded inputs: the email's header fields, the mailbox's configuration and
the arrival time in the company's time zone. The per-sender window lives in `AutoReplyLedger`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from typing import Literal

from domain.errors import InvalidInput
from domain.routing import DAYS, TimeWindow

Reason = Literal["acknowledgement", "out_of_hours"]

DEFAULT_ACKNOWLEDGEMENT = (
    "Thank you for your message. We have received it and will answer as soon as we can.\n"
    "Your reference: {ref}"
)
DEFAULT_OUT_OF_HOURS = (
    "Thank you for your message. Our team is out of the office right now; we will answer "
    "when we are back.\nYour reference: {ref}"
)
MAX_TEXT = 5000
MAX_WINDOWS = 14
DEFAULT_WINDOW_MINUTES = 24 * 60
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_AUTOMATIC_LOCAL_PARTS = frozenset(
    {
        "mailer-daemon",
        "postmaster",
        "listserv",
        "majordomo",
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "bounce",
        "bounces",
    }
)
_AUTO_HEADERS = ("x-autoreply", "x-autorespond", "x-autoreply-from", "x-mail-autoreply")
_LIST_HEADERS = ("list-id", "list-unsubscribe", "list-post")
_SUPPRESS_TOKENS = frozenset({"all", "autoreply", "oof"})


@dataclass(frozen=True)
class InboundFacts:
    """What the decision looks at: the sender and the header fields, by lower-case name."""

    sender: str
    headers: Mapping[str, Sequence[str]]

    def first(self, name: str) -> str:
        values = self.headers.get(name, ())
        return values[0].strip() if values else ""


@dataclass(frozen=True)
class Decision:
    """An automatic reply to send, with its text (`{ref}` becomes the interaction's token)."""

    reason: Reason
    text: str

    def body(self, short_ref: str) -> str:
        return self.text.replace("{ref}", f"[#{short_ref}]")


@dataclass(frozen=True)
class AutoReplyConfig:
    """A mailbox's `settings["auto_reply"]`."""

    acknowledge: bool = False
    out_of_hours: bool = False
    business_hours: tuple[TimeWindow, ...] = ()
    window: timedelta = timedelta(minutes=DEFAULT_WINDOW_MINUTES)
    acknowledgement_text: str = DEFAULT_ACKNOWLEDGEMENT
    out_of_hours_text: str = DEFAULT_OUT_OF_HOURS

    @classmethod
    def parse(cls, raw: object) -> AutoReplyConfig | None:
        """None when the mailbox has no automatic replies; `InvalidInput` when malformed."""
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise InvalidInput("auto_reply must be an object")
        known = {"acknowledge", "out_of_hours", "business_hours", "window_minutes"}
        known |= {"acknowledgement_text", "out_of_hours_text"}
        if unknown := sorted(set(raw) - known):
            raise InvalidInput(f"unknown auto_reply key(s): {', '.join(unknown)}")
        minutes = raw.get("window_minutes", DEFAULT_WINDOW_MINUTES)
        if not isinstance(minutes, int) or not 1 <= minutes <= 7 * 24 * 60:
            raise InvalidInput("auto_reply.window_minutes is a whole number from 1 to 10080")
        config = cls(
            acknowledge=_flag(raw, "acknowledge"),
            out_of_hours=_flag(raw, "out_of_hours"),
            business_hours=_windows(raw.get("business_hours", [])),
            window=timedelta(minutes=minutes),
            acknowledgement_text=_text(raw, "acknowledgement_text", DEFAULT_ACKNOWLEDGEMENT),
            out_of_hours_text=_text(raw, "out_of_hours_text", DEFAULT_OUT_OF_HOURS),
        )
        if config.out_of_hours and not config.business_hours:
            raise InvalidInput("auto_reply.out_of_hours needs business_hours")
        return config if config.acknowledge or config.out_of_hours else None

    def is_open(self, local_arrival: datetime) -> bool:
        return any(window.contains(local_arrival) for window in self.business_hours)


def suppression(facts: InboundFacts, own_addresses: Collection[str]) -> str | None:
    """Why this email must get no automatic reply (automatic, bulk, ours), or None."""
    auto = facts.first("auto-submitted").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = facts.first("precedence").lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    for name in (*_LIST_HEADERS, *_AUTO_HEADERS):
        if name in facts.headers:
            return f"{name} present"
    suppress = {t.strip().lower() for t in facts.first("x-auto-response-suppress").split(",")}
    if suppress & _SUPPRESS_TOKENS:
        return "the sender asked for no automatic responses"
    return _sender_suppression(facts, own_addresses)


def _sender_suppression(facts: InboundFacts, own_addresses: Collection[str]) -> str | None:
    if facts.first("return-path").replace(" ", "") in ("<>", "<<>>"):
        return "null return path"
    sender = facts.sender.casefold()
    local, at, _ = sender.rpartition("@")
    if not at or not local:
        return "no usable sender"
    if local in _AUTOMATIC_LOCAL_PARTS or local.startswith("owner-") or local.endswith("-request"):
        return f"automatic sender {sender}"
    if sender in {address.casefold() for address in own_addresses}:
        return "sent from one of our own addresses"
    return None


def decide(
    config: AutoReplyConfig,
    facts: InboundFacts,
    *,
    first: bool,
    arrived_at: datetime,
    tz: tzinfo,
    own_addresses: Collection[str],
) -> Decision | None:
    """Out of hours wins over the acknowledgement; a follow-up gets only the former."""
    if suppression(facts, own_addresses) is not None:
        return None
    if config.out_of_hours and not config.is_open(arrived_at.astimezone(tz)):
        return Decision("out_of_hours", config.out_of_hours_text)
    if config.acknowledge and first:
        return Decision("acknowledgement", config.acknowledgement_text)
    return None


def _flag(raw: Mapping[str, object], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"auto_reply.{key} must be true or false")
    return value


def _text(raw: Mapping[str, object], key: str, default: str) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_TEXT:
        raise InvalidInput(f"auto_reply.{key} is text of 1-{MAX_TEXT} characters")
    return value


def _windows(raw: object) -> tuple[TimeWindow, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_WINDOWS:
        raise InvalidInput(f"auto_reply.business_hours is a list of at most {MAX_WINDOWS}")
    return tuple(_window(item) for item in raw)


def _window(raw: object) -> TimeWindow:
    if not isinstance(raw, Mapping) or set(raw) != {"days", "from", "to"}:
        raise InvalidInput('a business-hours window is {"days": [...], "from": "HH:MM", "to"}')
    days = raw["days"]
    if not isinstance(days, list) or not all(isinstance(d, str) and d in DAYS for d in days):
        raise InvalidInput(f"business-hours days are among {', '.join(DAYS)}")
    return TimeWindow(tuple(days), _clock(raw["from"]), _clock(raw["to"]))


def _clock(raw: object) -> time:
    match = _HH_MM.fullmatch(raw) if isinstance(raw, str) else None
    if match is None:
        raise InvalidInput(f"business hours are HH:MM, not {raw!r}")
    return time(int(match[1]), int(match[2]))
