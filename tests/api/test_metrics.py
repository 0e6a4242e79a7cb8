"""/metrics over HTTP on both backends: a day's work, then every family has moved, and the text
is valid exposition format (HELP and TYPE, escaped labels, cumulative buckets)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import uuid4

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from api.metrics import Family, Metrics, serve_metrics_if_configured
from api.settings import Settings
from projections.registry import PROJECTION_NAMES
from tests.api.distribution_env import Env, free_port, open_env
from tests.api.scenario import Company, bearer, company, ok, post_email, raw_email
from tests.fakes import FixedClock
from tests.integration.dovecot import Dovecot
from tests.integration.imap_stack import ImapUser

pytest_plugins = ["tests.integration.conftest_imap"]

Labels = frozenset[tuple[str, str]]
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(rf"^({NAME})(?:\{{(.*)\}})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


@dataclass
class Scrape:
    """A parsed exposition: per family its help and type, and every sample's value."""

    help: dict[str, str] = field(default_factory=dict)
    type: dict[str, str] = field(default_factory=dict)
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def series(self, name: str) -> dict[Labels, float]:
        return {labels: v for (n, labels), v in self.samples.items() if n == name}


def family_of(sample: str, types: dict[str, str]) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample.removesuffix(suffix)
        if base != sample and types.get(base) == "histogram":
            return base
    return sample


def parse(text: str) -> Scrape:
    """The text format 0.0.4, strictly: fails on anything a Prometheus server would refuse."""
    assert text.endswith("\n")
    found, done, current = Scrape(), set(), None
    for line in text.split("\n")[:-1]:  # lines end at \n only: a label may hold a \r
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            _, kind, name, rest = line.split(" ", 3)
            assert re.fullmatch(NAME, name), line
            table = found.help if kind == "HELP" else found.type
            assert name not in table, f"second {kind} for {name}"
            assert name not in done, f"{kind} of {name} after its samples"
            table[name] = unescape(rest) if kind == "HELP" else rest
            assert kind == "HELP" or rest in TYPES, line
            continue
        assert not line.startswith("#"), f"an unknown comment: {line!r}"
        assert line.strip(), "an empty line"
        match = SAMPLE.match(line)
        assert match, f"not a sample: {line!r}"
        name, label_text, value = match.groups()
        family = family_of(name, found.type)
        assert family in found.type, f"{name} without TYPE"
        assert family in found.help, f"{name} without HELP"
        if family != current:
            assert family not in done, f"the samples of {family} are not together"
            if current is not None:
                done.add(current)
            current = family
        labels: list[tuple[str, str]] = []
        rest = label_text or ""
        while rest:
            pair = LABEL.match(rest)
            assert pair, f"bad labels in {line!r}"
            labels.append((pair.group(1), unescape(pair.group(2))))
            rest = rest[pair.end() :]
        key = (name, frozenset(labels))
        assert key not in found.samples, f"duplicate sample {line!r}"
        found.samples[key] = float(value)
    check_histograms(found)
    return found


def check_histograms(found: Scrape) -> None:
    for name in (n for n, kind in found.type.items() if kind == "histogram"):
        for labels, count in found.series(f"{name}_count").items():
            buckets = sorted(
                (float(dict(k)["le"]), v)
                for k, v in found.series(f"{name}_bucket").items()
                if k - {("le", dict(k)["le"])} == labels
            )
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), f"{name} buckets are not cumulative"
            assert buckets[-1] == (float("inf"), count)
            assert (f"{name}_sum", labels) in found.samples


def scrape(client: TestClient) -> Scrape:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


def eventually(check: Callable[[], Scrape | None], timeout: float = 30.0) -> Scrape:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "the metrics did not show it in time"
        time.sleep(0.1)


@pytest.fixture
def env(settings: Settings, clock: FixedClock) -> Iterator[Env]:
    yield from open_env(settings, clock)


def add_imap_mailbox(env: Env, acme: Company, dovecot: Dovecot, user: ImapUser) -> str:
    imap = {
        "host": "127.0.0.1",
        "port": dovecot.imaps_port,
        "ca_file": str(dovecot.ca_file),
        "username": user.username,
        "password": dovecot.password,
        "poll_seconds": 5,
    }
    body = {"address": "imap@acme.test", "default_queue_id": acme.queues["General"], "imap": imap}
    created = env.client.post(
        f"/v1/companies/{acme.id}/mailboxes", headers=bearer(acme.admin), json=body
    )
    return str(ok(created, 201)["id"])


def send_through_a_closed_port(env: Env, acme: Company) -> None:
    body = {
        "address": "support@acme.test",
        "default_queue_id": acme.queues["General"],
        "smtp": {"host": "127.0.0.1", "port": free_port(), "tls": "starttls"},
    }
    url = f"/v1/companies/{acme.id}/mailboxes/{acme.mailbox_id}"
    ok(env.client.put(url, headers=bearer(acme.admin), json=body))


def test_a_days_work_moves_every_family(env: Env, dovecot: Dovecot, imap_user: ImapUser) -> None:
    client = env.client
    before = scrape(client)
    acme = company(client, open_limit=2)
    send_through_a_closed_port(env, acme)
    env.log_in(acme, "A")
    first = str(post_email(client, acme, raw_email())["interaction_id"])
    env.dispatch()  # offered to A
    env.clock.advance(seconds=61)
    env.connected(acme, "A")
    env.dispatch()  # the offer expired
    ok(client.post(f"/v1/interactions/{first}/accept", headers=acme.token("A")))
    taken = client.post(f"/v1/interactions/{first}/accept", headers=acme.token("B"))
    assert taken.status_code == 409
    unknown = client.post(f"/v1/interactions/{uuid4()}/accept", headers=acme.token("B"))
    assert unknown.status_code == 404
    reply = {"body_text": "We are on it."}
    ok(client.post(f"/v1/interactions/{first}/reply", headers=acme.token("A"), json=reply))
    post_email(client, acme, b"Subject: no sender at all\r\n\r\nhello\r\n", status=422)
    mailbox = add_imap_mailbox(env, acme, dovecot, imap_user)
    arrived = datetime(2026, 3, 2, 9, 30, tzinfo=UTC).timestamp()
    junk = b"Subject: no sender either\r\n\r\nhello\r\n"
    dovecot.deliver(imap_user.username, [(junk, arrived)])

    def quarantined() -> Scrape | None:
        now = scrape(client)
        found = now.value("inboxflow_ingest_messages_total", mailbox=mailbox, outcome="quarantined")
        return now if found else None

    eventually(quarantined)  # then the email that takes the company's last place
    dovecot.deliver(imap_user.username, [(raw_email(to="imap@acme.test"), arrived)])

    def settled() -> Scrape | None:
        now = scrape(client)
        done = (
            now.value("inboxflow_ingest_paused", mailbox=mailbox) == 1
            and now.value("inboxflow_send_failures_total", reason="temporary")
            > before.value("inboxflow_send_failures_total", reason="temporary")
            and now.value("inboxflow_outbox_depth") >= 1
        )
        return now if done else None

    after = eventually(settled)

    def grew(name: str, **labels: str) -> bool:
        return after.value(name, **labels) > before.value(name, **labels)

    for command, outcome in [
        ("receive_email", "ok"),
        ("quarantine", "ok"),
        ("offer", "ok"),
        ("expire_offer", "ok"),
        ("accept", "ok"),
        ("accept", "conflict"),
        ("accept", "refused"),
        ("send_reply", "ok"),
        ("ingest", "ok"),
    ]:
        assert grew("inboxflow_commands_total", command=command, outcome=outcome), command
    assert grew("inboxflow_events_appended_total", type="Interaction.Accepted")
    assert grew("inboxflow_events_appended_total", type="QuarantinedMessage.Quarantined")
    accept_route = {"method": "POST", "route": "/v1/interactions/{interaction_id}/accept"}
    assert grew("inboxflow_http_request_seconds_count", **accept_route)
    assert grew("inboxflow_http_requests_total", **accept_route, status="409")
    for outcome in ("created", "quarantined"):
        assert after.value("inboxflow_ingest_messages_total", mailbox=mailbox, outcome=outcome) == 1
    assert grew("inboxflow_dispatch_offers_total")
    assert grew("inboxflow_dispatch_expiries_total")
    lags = {dict(k)["projection"] for k in after.series("inboxflow_projection_lag")}
    assert lags == {*PROJECTION_NAMES, "outbox"}
    assert after.value("inboxflow_log_position") > 0
    http_labels = {
        value
        for name in ("inboxflow_http_requests_total", "inboxflow_http_request_seconds_count")
        for labels in after.series(name)
        for _, value in labels
    }
    assert not [v for v in http_labels if UUID_TEXT.search(v)], "raw paths as labels"


def test_every_family_is_described_before_anything_happened() -> None:
    found = parse(Metrics().render())
    names = set(found.type)
    assert {
        "inboxflow_commands_total",
        "inboxflow_events_appended_total",
        "inboxflow_http_request_seconds",
        "inboxflow_projection_lag",
        "inboxflow_ingest_messages_total",
        "inboxflow_ingest_paused",
        "inboxflow_outbox_depth",
        "inboxflow_send_failures_total",
        "inboxflow_dispatch_offers_total",
        "inboxflow_dispatch_expiries_total",
    } <= names
    assert all(name.startswith("inboxflow_") for name in names)
    assert found.value("inboxflow_dispatch_offers_total") == 0  # plain counters start at 0


TRICKY = Family("t_total", "counter", 'help with \\ a backslash,\na newline and "quotes"', ("v",))


@given(st.lists(st.text(max_size=20), min_size=1, max_size=5, unique=True))
def test_any_label_value_survives_the_text_format(values: list[str]) -> None:
    registry = Metrics([TRICKY])
    for n, value in enumerate(values, start=1):
        registry.inc("t_total", n, v=value)
    found = parse(registry.render())
    assert found.help["t_total"] == TRICKY.help
    assert found.series("t_total") == {
        frozenset({("v", value)}): n for n, value in enumerate(values, start=1)
    }


def test_undeclared_families_and_labels_are_refused() -> None:
    registry = Metrics([TRICKY])
    with pytest.raises(KeyError):
        registry.inc("t_other")
    with pytest.raises(KeyError):
        registry.set_gauge("t_total", 1, v="x")  # a counter, not a gauge
    with pytest.raises(ValueError, match="takes the labels"):
        registry.inc("t_total", path="/v1/raw/path")


def test_a_worker_serves_its_own_metrics_on_the_configured_port() -> None:
    assert serve_metrics_if_configured(Settings()) is None
    port = free_port()
    server = serve_metrics_if_configured(Settings(metrics_port=port))
    assert server is not None
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "inboxflow_dispatch_offers_total" in parse(answer.text).type
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
