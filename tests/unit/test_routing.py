"""Routing: first match wins, windows in company time at arrival, strict rule parsing."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import routing
from domain.errors import InvalidRoutingRule
from domain.routing import (
    Condition,
    Field,
    Op,
    RoutingDecision,
    RoutingInput,
    Rule,
    TimeWindow,
    parse_rules,
    route,
    rules_to_payload,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # written out again, not imported
ALL_FIELDS: tuple[Field, ...] = ("from", "to", "cc", "subject", "mailbox")
ALL_OPS: tuple[Op, ...] = ("equals", "contains", "starts_with", "ends_with", "domain", "regex")

# Small pools so that generated conditions often hold and often do not.
ADDRESSES = (
    "ann@acme.test",
    "Bob@Sales.ACME.test",
    "carl@notacme.test",
    "dora@other.example",
    "eve@acme.test.evil.example",
    "no-at-sign",
)
SUBJECTS = ("Invoice 42", "RE: invoice overdue", "Hello", "Straße 7", "[#A1] order", "")
MAILBOXES = ("support@acme.test", "billing@acme.test")
VALUES = {
    "equals": (*ADDRESSES, *SUBJECTS[:-1], "ANN@ACME.TEST", "STRASSE 7", "hello", "x"),
    "contains": ("invoice", "ACME", "ss", "@", "order", "42", "sales."),
    "starts_with": ("re:", "ann", "BOB@", "inv", "[#"),
    "ends_with": ("acme.test", ".TEST", "example", "42", "order"),
    "domain": ("acme.test", "@acme.test", "ACME.TEST", "sales.acme.test", "test", "example"),
    "regex": (r"inv\w+", r"^re:", r"\d+", r"acme\.test$", r"^[a-c]", r"stra(ss|ß)e", r"^$"),
}
DST_CHANGES = (  # Berlin and New York, spring and autumn
    datetime(2024, 3, 31, 1, tzinfo=UTC),
    datetime(2024, 10, 27, 1, tzinfo=UTC),
    datetime(2024, 3, 10, 7, tzinfo=UTC),
    datetime(2024, 11, 3, 6, tzinfo=UTC),
)


# ---------------------------------------------------------------- strategies


@st.composite
def conditions(draw: st.DrawFn, ops: Sequence[Op] = ALL_OPS) -> Condition:
    op = draw(st.sampled_from(ops))
    fields = [f for f in ALL_FIELDS if not (op == "domain" and f == "subject")]
    return Condition(draw(st.sampled_from(fields)), op, draw(st.sampled_from(VALUES[op])))


minutes_of_day = st.builds(time, st.integers(0, 23), st.integers(0, 59))


@st.composite
def windows(draw: st.DrawFn) -> TimeWindow:
    days = draw(st.lists(st.sampled_from(WEEK), min_size=1, max_size=7, unique=True))
    start = draw(minutes_of_day)
    end = draw(minutes_of_day.filter(lambda t: t != start))
    return TimeWindow(tuple(days), start, end)


maybe_windows = st.none() | windows()
# indexed by "the rule has no window", which then needs a condition
pooled_conditions = [st.lists(conditions(), min_size=least, max_size=3) for least in (0, 1)]


@st.composite
def rule_lists(draw: st.DrawFn, max_size: int = 8) -> list[Rule]:
    """Rules with distinct ids r0, r1, ... so that a decision names exactly one of them."""
    size = draw(st.integers(0, max_size))
    rules = []
    for index in range(size):
        window = draw(maybe_windows)
        found = tuple(draw(pooled_conditions[window is None]))
        rules.append(Rule(f"r{index}", f"queue-{index % 3}", found, window))
    return rules


arrivals = st.one_of(
    st.datetimes(
        min_value=datetime(2020, 1, 1),
        max_value=datetime(2030, 12, 31),
        timezones=st.sampled_from([UTC, BERLIN, timezone(timedelta(hours=-7)), NEW_YORK]),
    ),
    st.builds(
        lambda change, offset: change + offset,
        st.sampled_from(DST_CHANGES),
        st.timedeltas(min_value=timedelta(hours=-26), max_value=timedelta(hours=26)),
    ),
)
company_zones = st.sampled_from(
    [BERLIN, UTC, NEW_YORK, ZoneInfo("Asia/Kathmandu"), ZoneInfo("Australia/Lord_Howe")]
)
address_lists = st.lists(st.sampled_from(ADDRESSES + MAILBOXES), max_size=3).map(tuple)
messages = st.builds(
    RoutingInput,
    sender=st.sampled_from(ADDRESSES),
    to=address_lists,
    cc=address_lists,
    subject=st.sampled_from(SUBJECTS),
    mailbox=st.sampled_from(MAILBOXES),
    arrived_at=arrivals,
    envelope_recipients=address_lists,
)


# ---------------------------------------------------------------- reference evaluation


def field_values(message: RoutingInput, field: str) -> list[str]:
    return {
        "from": [message.sender],
        "to": [*message.to, *message.envelope_recipients],
        "cc": list(message.cc),
        "subject": [message.subject],
        "mailbox": [message.mailbox],
    }[field]


def reference_condition(condition: Condition, message: RoutingInput) -> bool:
    """The rules as the design states them, written without looking at domain/routing.py."""
    for candidate in field_values(message, condition.field):
        text, value = candidate.casefold(), condition.value.casefold()
        if condition.op == "regex":
            hit = re.search(condition.value, candidate[:1000], re.IGNORECASE) is not None
        elif condition.op == "domain":
            wanted = value[1:] if value.startswith("@") else value
            host = text.split("@")[-1] if "@" in text else None
            hit = host is not None and (host == wanted or host.endswith("." + wanted))
        else:
            hit = {
                "equals": text == value,
                "contains": value in text,
                "starts_with": text[: len(value)] == value,
                "ends_with": len(value) <= len(text) and text[len(text) - len(value) :] == value,
            }[condition.op]
        if hit:
            return True
    return False


def reference_in_window(window: TimeWindow, local: datetime) -> bool:
    """Minutes since Monday 00:00; each listed day opens an interval that may run past midnight."""
    week = 7 * 24 * 60
    now = local.weekday() * 1440 + local.hour * 60 + local.minute
    start = window.start.hour * 60 + window.start.minute
    length = (window.end.hour * 60 + window.end.minute - start) % 1440
    return any((now - (WEEK.index(day) * 1440 + start)) % week < length for day in window.days)


def reference_route(rules: Sequence[Rule], message: RoutingInput, tz: tzinfo) -> Rule | None:
    local = message.arrived_at.astimezone(tz)
    for rule in rules:
        if all(reference_condition(c, message) for c in rule.conditions) and (
            rule.window is None or reference_in_window(rule.window, local)
        ):
            return rule
    return None


def decide(rules: Sequence[Rule], message: RoutingInput, tz: tzinfo = BERLIN) -> RoutingDecision:
    return route(rules, message, version=7, tz=tz, default_queue_id="default")


def message_at(arrived_at: datetime, **fields: object) -> RoutingInput:
    values: dict[str, object] = {
        "sender": "ann@acme.test",
        "to": ("support@acme.test",),
        "cc": (),
        "subject": "Hello",
        "mailbox": "support@acme.test",
    }
    return RoutingInput(**{**values, **fields}, arrived_at=arrived_at)  # type: ignore[arg-type]


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


# ---------------------------------------------------------------- first match wins


@given(rules=rule_lists(), message=messages, tz=company_zones)
def test_route_picks_the_first_rule_that_the_reference_evaluation_matches(
    rules: list[Rule], message: RoutingInput, tz: tzinfo
) -> None:
    expected = reference_route(rules, message, tz)

    decision = route(rules, message, version=3, tz=tz, default_queue_id="default")

    if expected is None:
        assert (decision.queue_id, decision.rule_id) == ("default", None)
        assert decision.reason == f"no rule matched; default queue of mailbox {message.mailbox}"
    else:
        assert (decision.queue_id, decision.rule_id) == (expected.queue_id, expected.id)
        assert decision.reason.startswith(f"rule {expected.id!r} matched: ")
    assert decision.rule_set_version == 3


@given(
    rules=rule_lists(),
    later=rule_lists(),
    message=messages,
    position=st.integers(0, 8),
    tz=company_zones,
)
def test_a_rule_after_a_matching_rule_is_never_chosen(
    rules: list[Rule], later: list[Rule], message: RoutingInput, position: int, tz: tzinfo
) -> None:
    catch_all = Rule(
        "catch-all", "catch-all-queue", (Condition("mailbox", "equals", message.mailbox),), None
    )
    position = min(position, len(rules))
    with_catch_all = [*rules[:position], catch_all, *rules[position:]]
    followers = [Rule(f"late-{r.id}", "late-queue", r.conditions, r.window) for r in later]

    decision = decide(with_catch_all + followers, message, tz)

    chosen = [r.id for r in with_catch_all].index(str(decision.rule_id))  # raises if a follower won
    assert chosen <= position
    assert decision == decide(with_catch_all[: chosen + 1], message, tz)


def test_the_first_of_two_matching_rules_wins_and_says_why() -> None:
    rules = parse_rules(
        [
            {
                "id": "billing",
                "queue_id": "billing-queue",
                "conditions": [{"field": "subject", "op": "contains", "value": "invoice"}],
            },
            {
                "id": "acme",
                "queue_id": "acme-queue",
                "conditions": [{"field": "from", "op": "domain", "value": "@acme.test"}],
            },
        ]
    )

    decision = decide(rules, message_at(berlin(2024, 5, 6, 10), subject="Your INVOICE 42"))

    assert decision == RoutingDecision(
        "billing-queue", "billing", 7, "rule 'billing' matched: subject contains 'invoice'"
    )
    assert decide(rules, message_at(berlin(2024, 5, 6, 10))).rule_id == "acme"
    assert decide(rules, message_at(berlin(2024, 5, 6, 10), sender="x@y.test")) == RoutingDecision(
        "default", None, 7, "no rule matched; default queue of mailbox support@acme.test"
    )


# ---------------------------------------------------------------- conditions


@pytest.mark.parametrize(
    ("address", "value", "expected"),
    [
        ("ann@acme.test", "acme.test", True),
        ("ann@sales.acme.test", "@acme.test", True),
        ("ANN@ACME.TEST", "Acme.Test", True),
        ("ann@notacme.test", "acme.test", False),
        ("ann@acme.test.evil.example", "acme.test", False),
        ("acme.test", "acme.test", False),
        ("ann@acme.test", "sales.acme.test", False),
    ],
)
def test_domain_holds_for_the_domain_and_its_subdomains(
    address: str, value: str, expected: bool
) -> None:
    condition = Condition("from", "domain", value)

    assert condition.matches(message_at(berlin(2024, 1, 1), sender=address)) is expected


@pytest.mark.parametrize(
    ("op", "value", "subject"),
    [
        ("equals", "hello world", "HELLO World"),
        ("contains", "STRASSE", "Neue Straße 7"),
        ("starts_with", "re:", "RE: invoice"),
        ("ends_with", "[#A1]", "order [#a1]"),
        ("regex", r"^inv\w+ \d+$", "INVOICE 42"),
    ],
)
def test_comparisons_ignore_case(op: str, value: str, subject: str) -> None:
    condition = Condition("subject", op, value)  # type: ignore[arg-type]

    assert condition.matches(message_at(berlin(2024, 1, 1), subject=subject))
    assert not condition.matches(message_at(berlin(2024, 1, 1), subject="unrelated"))


@pytest.mark.parametrize(
    ("op", "value", "subject"),
    [
        ("equals", "invoice", "invoice 42"),
        ("contains", "invoices", "RE: invoice"),
        ("starts_with", "invoice", "RE: invoice"),
        ("ends_with", "re:", "RE: invoice"),
        ("regex", r"^invoice$", "RE: invoice"),
    ],
)
def test_each_op_holds_only_where_it_says(op: str, value: str, subject: str) -> None:
    condition = Condition("subject", op, value)  # type: ignore[arg-type]

    assert not condition.matches(message_at(berlin(2024, 1, 1), subject=subject))


@st.composite
def conditions_about(draw: st.DrawFn, message: RoutingInput) -> Condition:
    """Often a value cut from the message itself (so that it holds), in any case; else the pool."""
    pooled = draw(conditions())
    texts = field_values(message, pooled.field)
    if not texts or draw(st.booleans()):
        return pooled
    text = draw(st.sampled_from(texts))
    i = draw(st.integers(0, len(text)))
    j = draw(st.integers(i, len(text)))
    labels = text.rpartition("@")[2].split(".")
    piece = {
        "equals": text,
        "contains": text[i:j],
        "starts_with": text[:j],
        "ends_with": text[i:],
        "regex": re.escape(text[i:j]),
        "domain": "@" * draw(st.integers(0, 1))
        + ".".join(labels[draw(st.integers(0, len(labels) - 1)) :]),
    }[pooled.op]
    if draw(st.booleans()):
        piece = piece.swapcase()
    try:
        return Condition(pooled.field, pooled.op, piece)
    except InvalidRoutingRule:  # an empty cut, or a domain taken from a text without one
        return pooled


@given(data=st.data(), message=messages)
def test_a_condition_holds_exactly_when_the_reference_says(
    data: st.DataObject, message: RoutingInput
) -> None:
    condition = data.draw(conditions_about(message))

    assert condition.matches(message) is reference_condition(condition, message)


def test_to_holds_when_any_recipient_or_envelope_recipient_matches() -> None:
    to_sales = Condition("to", "equals", "sales@acme.test")
    cc_sales = Condition("cc", "equals", "sales@acme.test")
    listed = message_at(berlin(2024, 1, 1), to=("a@x.test", "SALES@acme.test"))
    delivered = message_at(
        berlin(2024, 1, 1), to=("a@x.test",), envelope_recipients=("sales@acme.test",)
    )
    elsewhere = message_at(berlin(2024, 1, 1), to=("a@x.test",), cc=("b@x.test",))

    assert to_sales.matches(listed)
    assert to_sales.matches(delivered)
    assert not cc_sales.matches(delivered)
    assert not to_sales.matches(elsewhere)


def test_regex_sees_only_the_first_thousand_characters() -> None:
    regex = Condition("subject", "regex", "invoice")
    contains = Condition("subject", "contains", "invoice")
    late = message_at(berlin(2024, 1, 1), subject="x" * 994 + "invoice")
    just_in = message_at(berlin(2024, 1, 1), subject="x" * 993 + "invoice")

    assert not regex.matches(late)
    assert regex.matches(just_in)
    assert contains.matches(late)


def test_values_the_stored_form_cannot_hold_are_refused_on_construction() -> None:
    invoice = Condition("subject", "contains", "invoice")

    with pytest.raises(InvalidRoutingRule, match="whole minutes"):
        TimeWindow(("mon",), time(9, 0, 30), time(10))
    with pytest.raises(InvalidRoutingRule, match="whole minutes"):
        TimeWindow(("mon",), time(9, tzinfo=UTC), time(10))
    with pytest.raises(InvalidRoutingRule, match="at most 20 conditions"):
        Rule("r", "q", (invoice,) * 21, None)


def test_a_naive_arrival_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        message_at(datetime(2024, 1, 1, 9))


# ---------------------------------------------------------------- time windows


@given(
    window=windows(),
    local=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2024, 12, 31)),
)
def test_a_window_contains_what_the_minute_of_week_reference_says(
    window: TimeWindow, local: datetime
) -> None:
    assert window.contains(local) is reference_in_window(window, local)


OFFICE_HOURS = TimeWindow(("mon", "tue", "wed", "thu", "fri"), time(9), time(17, 30))


@pytest.mark.parametrize(
    ("arrived_at", "inside"),
    [
        (datetime(2024, 3, 25, 7, 30, tzinfo=UTC), False),  # Monday 08:30 CET
        (datetime(2024, 4, 1, 7, 30, tzinfo=UTC), True),  # Monday 09:30 CEST: same UTC time
        (datetime(2024, 10, 25, 15, 45, tzinfo=UTC), False),  # Friday 17:45 CEST
        (datetime(2024, 11, 1, 15, 45, tzinfo=UTC), True),  # Friday 16:45 CET
        (datetime(2024, 11, 1, 16, 30, tzinfo=UTC), False),  # Friday 17:30 CET: end excluded
        (datetime(2024, 11, 1, 8, 0, tzinfo=UTC), True),  # Friday 09:00 CET: start included
        (datetime(2024, 11, 2, 10, 0, tzinfo=UTC), False),  # Saturday
    ],
)
def test_office_hours_follow_berlin_wall_clock_across_dst(
    arrived_at: datetime, inside: bool
) -> None:
    rules = [Rule("office", "office-queue", (), OFFICE_HOURS)]

    assert (decide(rules, message_at(arrived_at)).rule_id == "office") is inside


def test_the_hour_skipped_in_spring_never_matches_and_the_repeated_one_matches_twice() -> None:
    skipped = [Rule("skipped", "q", (), TimeWindow(("sun",), time(2), time(3)))]
    spring_day = [datetime(2024, 3, 30, 22, tzinfo=UTC) + timedelta(minutes=m) for m in range(1440)]
    autumn = [datetime(2024, 10, 27, 0, 30, tzinfo=UTC), datetime(2024, 10, 27, 1, 30, tzinfo=UTC)]

    assert all(decide(skipped, message_at(at)).rule_id is None for at in spring_day)
    assert [decide(skipped, message_at(at)).rule_id for at in autumn] == ["skipped", "skipped"]
    assert decide(skipped, message_at(datetime(2024, 10, 27, 2, tzinfo=UTC))).rule_id is None


@pytest.mark.parametrize(
    ("local", "inside"),
    [
        ((2024, 5, 10, 21, 59), False),  # Friday, before
        ((2024, 5, 10, 22, 0), True),  # Friday night
        ((2024, 5, 11, 5, 59), True),  # Saturday morning belongs to Friday's window
        ((2024, 5, 11, 6, 0), False),
        ((2024, 5, 11, 22, 30), False),  # Saturday night: no window starts on Saturday
        ((2024, 5, 10, 3, 0), False),  # Friday morning belongs to Thursday
    ],
)
def test_an_overnight_window_belongs_to_the_day_it_starts(
    local: tuple[int, ...], inside: bool
) -> None:
    rules = [Rule("night", "night-queue", (), TimeWindow(("fri",), time(22), time(6)))]

    assert (decide(rules, message_at(berlin(*local))).rule_id == "night") is inside


def test_windows_wrap_from_sunday_into_monday_and_until_midnight() -> None:
    sunday_night = TimeWindow(("sun",), time(23), time(1))
    evening = TimeWindow(("mon",), time(18), time(0))

    assert sunday_night.contains(datetime(2024, 5, 13, 0, 30))  # Monday 00:30
    assert not sunday_night.contains(datetime(2024, 5, 12, 0, 30))  # Sunday 00:30
    assert evening.contains(datetime(2024, 5, 13, 23, 59))
    assert not evening.contains(datetime(2024, 5, 14, 0, 0))


def test_the_weekday_is_the_company_weekday_not_the_utc_one() -> None:
    rules = [Rule("monday-early", "q", (), TimeWindow(("mon",), time(0), time(6)))]

    sunday_utc = datetime(2024, 1, 7, 23, 30, tzinfo=UTC)  # Monday 00:30 in Berlin
    monday_utc = datetime(2024, 1, 8, 5, 30, tzinfo=UTC)  # Monday 06:30 in Berlin

    assert decide(rules, message_at(sunday_utc)).rule_id == "monday-early"
    assert decide(rules, message_at(monday_utc)).rule_id is None
    assert decide(rules, message_at(sunday_utc), tz=UTC).rule_id is None


def test_the_reason_names_the_local_arrival_and_the_window() -> None:
    rules = [
        Rule(
            "late",
            "q",
            (Condition("subject", "contains", "order"),),
            TimeWindow(("fri",), time(22), time(6)),
        )
    ]

    decision = decide(
        rules, message_at(datetime(2024, 5, 10, 23, 5, tzinfo=UTC), subject="order 1")
    )

    assert decision.reason == (
        "rule 'late' matched: subject contains 'order' and "
        "arrived sat 01:05 company time, within fri 22:00-06:00"
    )


# ---------------------------------------------------------------- evaluated later


@contextmanager
def wall_clock_at(instant: datetime) -> Iterator[None]:
    """Make the routing module's `datetime` report `instant` as now, should it ever ask."""

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> datetime:  # type: ignore[override]
            return instant.astimezone(tz) if tz else instant.astimezone(UTC).replace(tzinfo=None)

        @classmethod
        def utcnow(cls) -> datetime:  # type: ignore[override]
            return instant.astimezone(UTC).replace(tzinfo=None)

        @classmethod
        def today(cls) -> datetime:  # type: ignore[override]
            return cls.now()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(routing, "datetime", FrozenDatetime, raising=False)
        yield


@given(
    rules=rule_lists(),
    message=messages,
    tz=company_zones,
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
)
def test_routing_hours_later_decides_as_on_arrival(
    rules: list[Rule], message: RoutingInput, tz: tzinfo, delay: timedelta
) -> None:
    with wall_clock_at(message.arrived_at):
        on_time = decide(rules, message, tz)
    with wall_clock_at(message.arrived_at + delay):
        later = decide(rules, message, tz)

    assert later == on_time
    assert later.rule_id == getattr(reference_route(rules, message, tz), "id", None)


def test_a_friday_backlog_processed_on_monday_routes_by_friday_hours() -> None:
    rules = [Rule("office", "office-queue", (), OFFICE_HOURS)]
    in_hours, after_hours = berlin(2024, 5, 10, 17, 20), berlin(2024, 5, 10, 17, 40)
    monday = berlin(2024, 5, 13, 10, 0)

    with wall_clock_at(monday):
        assert decide(rules, message_at(in_hours)).rule_id == "office"
        assert decide(rules, message_at(after_hours)).rule_id is None


# ---------------------------------------------------------------- payload


ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
texts = st.text(min_size=1, max_size=256)


@st.composite
def any_condition(draw: st.DrawFn) -> Condition:
    op = draw(st.sampled_from(ALL_OPS))
    if op in ("domain", "regex"):
        return draw(conditions(ops=[op]))
    return Condition(draw(st.sampled_from(ALL_FIELDS)), op, draw(texts))


any_conditions = [st.lists(any_condition(), min_size=least, max_size=4) for least in (0, 1)]


@st.composite
def any_rules(draw: st.DrawFn, max_size: int = 6) -> tuple[Rule, ...]:
    rule_ids = draw(st.lists(ids, max_size=max_size, unique=True))
    rules = []
    for rule_id in rule_ids:
        window = draw(maybe_windows)
        found = draw(any_conditions[window is None])
        rules.append(Rule(rule_id, draw(texts), tuple(found), window))
    return tuple(rules)


@given(rules=any_rules())
def test_rules_survive_the_json_payload_round_trip(rules: tuple[Rule, ...]) -> None:
    payload = rules_to_payload(rules)
    stored = json.loads(json.dumps(payload))

    assert stored == payload
    assert parse_rules(stored) == rules
    assert rules_to_payload(parse_rules(stored)) == payload


def test_the_payload_is_the_design_shape_with_ids() -> None:
    raw: list[dict[str, object]] = [
        {"queue_id": "q1", "conditions": [{"field": "subject", "op": "regex", "value": "^re:"}]},
        {"queue_id": "q2", "window": {"days": ["sat", "sun"], "from": "22:00", "to": "06:00"}},
    ]

    assert rules_to_payload(parse_rules(raw)) == [
        {"id": "rule-1", "queue_id": "q1", "conditions": raw[0]["conditions"]},
        {"id": "rule-2", "queue_id": "q2", "conditions": [], "window": raw[1]["window"]},
    ]


# ---------------------------------------------------------------- malformed payloads

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def not_a(kind: type) -> st.SearchStrategy[object]:
    return junk.filter(lambda v: not isinstance(v, kind))


VALID_CONDITION = {"field": "subject", "op": "contains", "value": "invoice"}
VALID_WINDOW = {"days": ["mon"], "from": "09:00", "to": "17:00"}
ARABIC_0900 = "\u0660\u0669:\u0660\u0660"  # int() would accept these digits
BAD_TIMES = ("9:00", "24:00", "12:60", "12:00:00", "1200", " 09:00", "09:00\n", ARABIC_0900, "")
# RE2 syntax: no look-around or back-references; repetition counts above 1000 are refused.
BAD_REGEXES = ("(", "[z-a]", "a**", "(?P<x", "\\", "a{1001}", "(?<=a+)b", "(a)\\1", "x" * 257)


Draw = Callable[[st.SearchStrategy[Any]], Any]
Mutation = Callable[[Draw, dict[str, object]], None]


def _set(key: str, values: st.SearchStrategy[object]) -> Mutation:
    return lambda draw, rule: rule.__setitem__(key, draw(values))


def _condition(key: str, values: st.SearchStrategy[object]) -> Mutation:
    return lambda draw, rule: rule.__setitem__(
        "conditions", [{**VALID_CONDITION, key: draw(values)}]
    )


def _window(key: str, values: st.SearchStrategy[object]) -> Mutation:
    return lambda draw, rule: rule.__setitem__("window", {**VALID_WINDOW, key: draw(values)})


def _drop(container: str | None, key: str) -> Mutation:
    def mutate(draw: Draw, rule: dict[str, object]) -> None:
        if container is None:
            del rule[key]
        else:
            body = dict(VALID_CONDITION if container == "conditions" else VALID_WINDOW)
            del body[key]
            rule[container] = [body] if container == "conditions" else body

    return mutate


def _only(condition: dict[str, str]) -> Mutation:
    return lambda draw, rule: rule.__setitem__("conditions", [condition])


def _bare(draw: Draw, rule: dict[str, object]) -> None:
    rule["conditions"] = []
    rule.pop("window", None)


RULE_MUTATIONS: dict[str, Mutation] = {
    "unknown rule key": _set("priority", junk),
    "queue_id type": _set("queue_id", not_a(str)),
    "queue_id empty": _set("queue_id", st.just("")),
    "id type": _set("id", not_a(str)),
    "id shape": _set("id", st.sampled_from(["", "has space", "x" * 65, "é", "a/b", "a\n"])),
    "conditions type": _set("conditions", not_a(list)),
    "too many conditions": _set("conditions", st.just([VALID_CONDITION] * 21)),
    "condition type": _set("conditions", st.lists(not_a(dict), min_size=1, max_size=1)),
    "unknown condition key": _condition("negate", junk),
    "field unknown": _condition("field", st.text().filter(lambda s: s not in ALL_FIELDS)),
    "op unknown": _condition("op", st.text().filter(lambda s: s not in ALL_OPS)),
    "field type": _condition("field", not_a(str)),
    "value type": _condition("value", not_a(str)),
    "value length": _condition("value", st.sampled_from(["", "v" * 257])),
    "domain on subject": _only({"field": "subject", "op": "domain", "value": "acme.test"}),
    "bad domain": _only({"field": "from", "op": "domain", "value": "@"}),
    "bad domain shape": _only({"field": "to", "op": "domain", "value": "a b@c"}),
    "bad regex": lambda draw, rule: rule.__setitem__(
        "conditions",
        [{"field": "subject", "op": "regex", "value": draw(st.sampled_from(BAD_REGEXES))}],
    ),
    "window type": _set("window", not_a(dict).filter(lambda v: v is not None)),
    "unknown window key": _window("tz", junk),
    "days type": _window("days", not_a(list)),
    "no days": _window("days", st.just([])),
    "unknown day": _window(
        "days", st.lists(st.text().filter(lambda s: s not in WEEK), min_size=1, max_size=2)
    ),
    "repeated day": _window("days", st.just(["mon", "tue", "mon"])),
    "day type": _window("days", st.lists(not_a(str), min_size=1, max_size=2)),
    "from format": _window("from", st.sampled_from(BAD_TIMES)),
    "to format": _window("to", st.sampled_from(BAD_TIMES) | not_a(str)),
    "empty window": _window("to", st.just("09:00")),
    "no condition and no window": _bare,
    "missing queue_id": _drop(None, "queue_id"),
    "missing field": _drop("conditions", "field"),
    "missing value": _drop("conditions", "value"),
    "missing days": _drop("window", "days"),
    "missing to": _drop("window", "to"),
}


@pytest.mark.parametrize("mutation", sorted(RULE_MUTATIONS))
@settings(max_examples=25)
@given(rules=any_rules().filter(bool), data=st.data())
def test_every_malformed_rule_is_refused_with_its_position(
    mutation: str, rules: tuple[Rule, ...], data: st.DataObject
) -> None:
    payload = rules_to_payload(rules)
    index = data.draw(st.integers(0, len(payload) - 1))
    RULE_MUTATIONS[mutation](data.draw, payload[index])

    with pytest.raises(InvalidRoutingRule, match=f"^rule {index + 1}: "):
        parse_rules(payload)


@pytest.mark.parametrize("pattern", BAD_REGEXES)
def test_an_invalid_or_oversized_regex_is_refused(pattern: str) -> None:
    condition = {"field": "subject", "op": "regex", "value": pattern}
    valid = {"queue_id": "q", "conditions": [VALID_CONDITION]}

    with pytest.raises(InvalidRoutingRule, match=r"^rule 2: condition 1: "):
        parse_rules([valid, {"queue_id": "q", "conditions": [condition]}])


@pytest.mark.parametrize("text", BAD_TIMES)
@pytest.mark.parametrize("end", ["from", "to"])
def test_a_time_that_is_not_hh_mm_is_refused(end: str, text: str) -> None:
    window = {**VALID_WINDOW, end: text}

    with pytest.raises(InvalidRoutingRule, match=f"^rule 1: window: {end} must be HH:MM"):
        parse_rules([{"queue_id": "q", "window": window}])


@given(rules=any_rules().filter(lambda r: len(r) >= 2), data=st.data())
def test_a_repeated_id_is_refused_at_the_later_rule(
    rules: tuple[Rule, ...], data: st.DataObject
) -> None:
    payload = rules_to_payload(rules)
    first = data.draw(st.integers(0, len(payload) - 2))
    later = data.draw(st.integers(first + 1, len(payload) - 1))
    payload[later]["id"] = payload[first]["id"]

    with pytest.raises(InvalidRoutingRule, match=f"^rule {later + 1}: id .* earlier rule"):
        parse_rules(payload)


def test_more_than_two_hundred_rules_are_refused() -> None:
    rule = {"queue_id": "q", "conditions": [VALID_CONDITION]}

    assert len(parse_rules([rule] * 200)) == 200
    with pytest.raises(InvalidRoutingRule, match="at most 200 rules"):
        parse_rules([rule] * 201)


@given(raw=not_a(list))
def test_rules_that_are_not_a_list_are_refused(raw: object) -> None:
    with pytest.raises(InvalidRoutingRule):
        parse_rules(raw)  # type: ignore[arg-type]


def mostly(valid: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Valid three times in four, so that parsing gets past the first rule often enough."""
    return st.integers(0, 3).flatmap(lambda n: junk if n == 3 else valid)


near_conditions = st.fixed_dictionaries(
    {
        "field": mostly(st.sampled_from(ALL_FIELDS)),
        "op": mostly(st.sampled_from(ALL_OPS)),
        "value": mostly(st.sampled_from(["acme.test", "@acme.test", "(", "in.*", "x" * 300, ""])),
    }
)
near_times = mostly(st.sampled_from(["09:00", "23:59", "00:00", "24:00", "9:00"]))
near_windows = st.fixed_dictionaries(
    {
        "days": mostly(st.lists(st.sampled_from([*WEEK, "Mon"]), max_size=8)),
        "from": near_times,
        "to": near_times,
    }
)
near_rules = st.fixed_dictionaries(
    {"queue_id": mostly(st.just("q"))},
    optional={
        "id": mostly(st.sampled_from(["a", "rule-1", "rule-2", "bad id"])),
        "conditions": mostly(st.lists(near_conditions, max_size=3)),
        "window": mostly(near_windows | st.none()),
    },
)


@given(raw=st.lists(mostly(near_rules), max_size=4))
def test_parsing_anything_either_succeeds_or_raises_invalid_routing_rule(raw: list[object]) -> None:
    try:
        rules = parse_rules(raw)  # type: ignore[arg-type]
    except InvalidRoutingRule:
        return
    assert parse_rules(rules_to_payload(rules)) == rules


@given(pattern=st.text(min_size=1, max_size=256))
def test_any_regex_is_compiled_or_refused_as_an_invalid_rule(pattern: str) -> None:
    try:
        condition = Condition("subject", "regex", pattern)
    except InvalidRoutingRule:
        return
    assert condition.value == pattern


def test_a_backtracking_pattern_cannot_hang_routing() -> None:
    """With a backtracking engine `(a+)+$` on this subject takes longer than the universe."""
    rules = parse_rules(
        [{"queue_id": "q", "conditions": [{"field": "subject", "op": "regex", "value": "(a+)+$"}]}]
    )
    message = RoutingInput(
        sender="c@x.test",
        to=(),
        cc=(),
        subject="a" * 999 + "b",
        mailbox="s@acme.test",
        arrived_at=datetime(2026, 3, 2, tzinfo=UTC),
    )
    decision = route(rules, message, version=1, tz=UTC, default_queue_id="default")
    assert decision.queue_id == "default"
