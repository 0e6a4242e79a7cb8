"""Routing: which queue an arriving email joins, as a pure function of recorded inputs.

Rules are ordered; the first whose conditions and time window (in the company's time zone, at the
arrival time) hold wins, else the mailbox's default queue. Events store the JSON form (DESIGN §5).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from functools import partial
from typing import Any, Literal, TypeVar, cast, get_args

import re2

from domain.errors import InvalidRoutingRule

Field = Literal["from", "to", "cc", "subject", "mailbox"]
Op = Literal["equals", "contains", "starts_with", "ends_with", "domain", "regex"]

FIELDS: tuple[Field, ...] = get_args(Field)
OPS: tuple[Op, ...] = get_args(Op)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_RULES, MAX_CONDITIONS, MAX_VALUE_CHARS, MAX_SCANNED_CHARS = 200, 20, 256, 1000
_RULE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HH_MM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DOMAIN = re.compile(r"[^\s@.]+(\.[^\s@.]+)*")
_T = TypeVar("_T")


@dataclass(frozen=True)
class RoutingInput:
    """What routing may look at: bare addresses, subject, mailbox and the recorded arrival time."""

    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    mailbox: str
    arrived_at: datetime
    envelope_recipients: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.arrived_at.utcoffset() is None:
            raise ValueError("arrived_at must be timezone-aware")

    def values(self, field: Field) -> tuple[str, ...]:
        if field == "to":  # envelope recipients are where the mail was really delivered
            return self.to + self.envelope_recipients
        if field == "cc":
            return self.cc
        return ({"from": self.sender, "subject": self.subject, "mailbox": self.mailbox}[field],)


def _compile_regex(pattern: str) -> Any:
    """RE2: matching time is linear in the input, so no rule can hang routing."""
    options = re2.Options()
    options.case_sensitive, options.log_errors = False, False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise InvalidRoutingRule(f"invalid regex {pattern!r}: {exc}") from None


@dataclass(frozen=True)
class Condition:
    """One test on a message field, e.g. subject contains 'invoice'; case-insensitive."""

    field: Field
    op: Op
    value: str
    _needle: str = dataclasses.field(init=False, repr=False, compare=False)
    _pattern: Any = dataclasses.field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        if self.field not in FIELDS:
            raise InvalidRoutingRule(f"unknown field {self.field!r}; use {', '.join(FIELDS)}")
        if self.op not in OPS:
            raise InvalidRoutingRule(f"unknown op {self.op!r}; use {', '.join(OPS)}")
        if not 1 <= len(self.value) <= MAX_VALUE_CHARS:
            raise InvalidRoutingRule(f"value must have 1 to {MAX_VALUE_CHARS} characters")
        if self.op == "regex":
            object.__setattr__(self, "_pattern", _compile_regex(self.value))
        object.__setattr__(self, "_needle", self._compile())

    def _compile(self) -> str:
        if self.op != "domain":
            return self.value.casefold()
        if self.field == "subject":
            raise InvalidRoutingRule("op 'domain' applies to addresses, not to the subject")
        domain = self.value.removeprefix("@").casefold()
        if not _DOMAIN.fullmatch(domain):
            raise InvalidRoutingRule(f"{self.value!r} is not a domain")
        return domain

    def matches(self, message: RoutingInput) -> bool:
        return any(self._holds_for(text) for text in message.values(self.field))

    def _holds_for(self, text: str) -> bool:
        if self._pattern is not None:
            return self._pattern.search(text[:MAX_SCANNED_CHARS]) is not None
        needle = self._needle
        folded = text.casefold()
        if self.op == "equals":
            return folded == needle
        if self.op == "contains":
            return needle in folded
        if self.op == "starts_with":
            return folded.startswith(needle)
        if self.op == "ends_with":
            return folded.endswith(needle)
        domain = folded.rpartition("@")[2] if "@" in folded else ""
        return domain == needle or domain.endswith("." + needle)


@dataclass(frozen=True)
class TimeWindow:
    """Weekdays and a time of day [start, end); start > end runs past midnight into the next day."""

    days: tuple[str, ...]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.days or len(set(self.days)) != len(self.days) or set(self.days) - set(DAYS):
            raise InvalidRoutingRule(f"days must be distinct values among {', '.join(DAYS)}")
        if any(t.second or t.microsecond or t.tzinfo for t in (self.start, self.end)):
            raise InvalidRoutingRule("window times are whole minutes without a time zone")
        if self.start == self.end:
            raise InvalidRoutingRule(f"window from and to are both {self.start:%H:%M}")

    def contains(self, local: datetime) -> bool:
        """Whether a wall-clock time in the company's time zone falls inside the window."""
        day, at = DAYS[local.weekday()], local.time()
        if self.start < self.end:
            return day in self.days and self.start <= at < self.end
        started_yesterday = DAYS[local.weekday() - 1] in self.days and at < self.end
        return started_yesterday or (day in self.days and at >= self.start)


@dataclass(frozen=True)
class Rule:
    """An ordered routing rule: when every condition and the window hold, route to queue_id."""

    id: str
    queue_id: str
    conditions: tuple[Condition, ...]
    window: TimeWindow | None

    def __post_init__(self) -> None:
        if not _RULE_ID.fullmatch(self.id):
            raise InvalidRoutingRule(f"id {self.id!r} must be 1 to 64 of A-Z a-z 0-9 _ -")
        if not self.queue_id:
            raise InvalidRoutingRule("queue_id must not be empty")
        if len(self.conditions) > MAX_CONDITIONS:
            raise InvalidRoutingRule(f"at most {MAX_CONDITIONS} conditions per rule")
        if not self.conditions and self.window is None:
            raise InvalidRoutingRule("a rule needs at least one condition or a window")

    def matches(self, message: RoutingInput, local_arrival: datetime) -> bool:
        in_window = self.window is None or self.window.contains(local_arrival)
        return in_window and all(c.matches(message) for c in self.conditions)

    def explain(self, local_arrival: datetime) -> str:
        reasons = [f"{c.field} {c.op.replace('_', ' ')} {c.value!r}" for c in self.conditions]
        if (w := self.window) is not None:
            arrival = f"{DAYS[local_arrival.weekday()]} {local_arrival:%H:%M}"
            window = f"{','.join(w.days)} {w.start:%H:%M}-{w.end:%H:%M}"
            reasons.append(f"arrived {arrival} company time, within {window}")
        return f"rule {self.id!r} matched: {' and '.join(reasons)}"


@dataclass(frozen=True)
class RoutingDecision:
    """Where a message goes and why: the inputs recorded with the `routed` event."""

    queue_id: str
    rule_id: str | None
    rule_set_version: int
    reason: str


def route(
    rules: Sequence[Rule],
    message: RoutingInput,
    *,
    version: int,
    tz: tzinfo,
    default_queue_id: str,
) -> RoutingDecision:
    """First matching rule wins, judged at the arrival time in `tz`; else the default queue."""
    local_arrival = message.arrived_at.astimezone(tz)
    for rule in rules:
        if rule.matches(message, local_arrival):
            return RoutingDecision(rule.queue_id, rule.id, version, rule.explain(local_arrival))
    reason = f"no rule matched; default queue of mailbox {message.mailbox}"
    return RoutingDecision(default_queue_id, None, version, reason)


def parse_rules(raw: Sequence[Mapping[str, object]]) -> tuple[Rule, ...]:
    """Validate the routing-rules payload of DESIGN §5 (plus optional ids) into rules, in order."""
    rules: dict[str, Rule] = {}  # by id, in order
    for number, item in enumerate(_list(raw, "rules", MAX_RULES), start=1):
        rule = _prefixed(f"rule {number}", partial(_parse_rule, default_id=f"rule-{number}"), item)
        if rule.id in rules:
            raise InvalidRoutingRule(f"rule {number}: id {rule.id!r} is used by an earlier rule")
        rules[rule.id] = rule
    return tuple(rules.values())


def rules_to_payload(rules: Sequence[Rule]) -> list[dict[str, object]]:
    """The JSON-native form of `rules`, as stored in events; `parse_rules` reads it back."""
    payload: list[dict[str, object]] = []
    for r in rules:
        conditions = [{"field": c.field, "op": c.op, "value": c.value} for c in r.conditions]
        item: dict[str, object] = {"id": r.id, "queue_id": r.queue_id, "conditions": conditions}
        if (w := r.window) is not None:
            days, start, end = list(w.days), f"{w.start:%H:%M}", f"{w.end:%H:%M}"
            item["window"] = {"days": days, "from": start, "to": end}
        payload.append(item)
    return payload


def _parse_rule(raw: object, default_id: str) -> Rule:
    body = _object(raw, "rule", required=("queue_id",), optional=("id", "conditions", "window"))
    raw_conditions = _list(body.get("conditions", []), "conditions", MAX_CONDITIONS)
    window = body.get("window")
    return Rule(
        id=_text(body.get("id", default_id), "id"),
        queue_id=_text(body["queue_id"], "queue_id"),
        conditions=tuple(
            _prefixed(f"condition {number}", _parse_condition, item)
            for number, item in enumerate(raw_conditions, start=1)
        ),
        window=None if window is None else _prefixed("window", _parse_window, window),
    )


def _parse_condition(raw: object) -> Condition:
    body = _object(raw, "condition", required=("field", "op", "value"))
    field, op, value = (_text(body[key], key) for key in ("field", "op", "value"))
    return Condition(cast(Field, field), cast(Op, op), value)


def _parse_window(raw: object) -> TimeWindow:
    body = _object(raw, "window", required=("days", "from", "to"))
    days = tuple(_text(day, "day") for day in _list(body["days"], "days", len(DAYS)))
    return TimeWindow(days, _clock(body["from"], "from"), _clock(body["to"], "to"))


def _prefixed(context: str, parse: Callable[[object], _T], raw: object) -> _T:
    """Run `parse`, naming where in the payload a refusal happened."""
    try:
        return parse(raw)
    except InvalidRoutingRule as exc:
        raise InvalidRoutingRule(f"{context}: {exc}") from None


def _object(
    raw: object, what: str, *, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> Mapping[str, object]:
    if not isinstance(raw, Mapping):
        raise InvalidRoutingRule(f"{what} must be an object, not {type(raw).__name__}")
    unknown = [key for key in raw if key not in required + optional]
    if unknown:
        raise InvalidRoutingRule(f"unknown {what} key(s): {', '.join(map(repr, unknown))}")
    missing = [key for key in required if key not in raw]
    if missing:
        raise InvalidRoutingRule(f"{what} lacks {', '.join(missing)}")
    return raw


def _list(raw: object, what: str, limit: int) -> Sequence[object]:
    if isinstance(raw, str | bytes) or not isinstance(raw, Sequence):
        raise InvalidRoutingRule(f"{what} must be a list, not {type(raw).__name__}")
    if len(raw) > limit:
        raise InvalidRoutingRule(f"at most {limit} {what}, got {len(raw)}")
    return raw


def _text(raw: object, what: str) -> str:
    if not isinstance(raw, str):
        raise InvalidRoutingRule(f"{what} must be a string, not {type(raw).__name__}")
    return raw


def _clock(raw: object, what: str) -> time:
    match = _HH_MM.fullmatch(_text(raw, what))
    if match is None:
        raise InvalidRoutingRule(f"{what} must be HH:MM between 00:00 and 23:59, got {raw!r}")
    return time(int(match[1]), int(match[2]))
