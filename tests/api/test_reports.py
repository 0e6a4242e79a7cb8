"""Reports over HTTP: JSON and CSV, who may read them, access profiles, refused ranges."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from domain.actors import OPERATOR
from tests.api.scenario import (
    Company,
    bearer,
    company,
    ok,
    post_email,
    raw_email,
    received_interaction,
)
from tests.fakes import FixedClock

REFUND = 'Refund, "partial"'  # a comma and quotes, for the CSV quoting
ZERO = {
    "offers": 0,
    "rejections": 0,
    "expiries": 0,
    "accepted": 0,
    "queue_wait_ms": 0,
    "avg_queue_wait_ms": None,
    "first_responses": 0,
    "first_response_ms": 0,
    "avg_first_response_ms": None,
    "handling_ms": 0,
    "avg_handling_ms": None,
    "transfers": 0,
    "closed": 0,
    "reopened": 0,
    "reopen_rate": None,
    "closed_by_disposition": {},
}


class Day:
    """Monday 2026-03-02 at Acme: three emails, worked by agents A and B."""

    def __init__(self, client: TestClient, clock: FixedClock) -> None:
        self.client, self.clock = client, clock
        self.acme = company(client)
        self.general, self.billing = self.acme.queues["General"], self.acme.queues["Billing"]
        tree = [{"name": "Resolved", "children": [{"name": REFUND}]}, {"name": "Spam"}]
        self.admin_put("dispositions", {"tree": tree})

        self.at(9, 0)
        first = received_interaction(client, self.acme)
        self.at(9, 10)
        self.act(first, "accept", "A")
        self.at(9, 25)
        self.act(first, "reply", "A", {"body_text": "Fixed."})
        self.at(9, 40)
        self.act(first, "close", "A", {"disposition": ["Resolved", REFUND]})

        self.at(12, 0)
        third = received_interaction(client, self.acme, subject="Upgrade")
        self.at(12, 5)
        self.act(third, "transfer", None, {"to_queue_id": self.billing})
        self.at(12, 20)
        self.act(third, "accept", "B")
        self.at(12, 30)
        self.act(third, "park", "B")

        self.at(23, 30)  # 00:30 on Tuesday in Berlin
        second = received_interaction(client, self.acme, subject="Late")
        self.position = self.act(second, "transfer", None, {"to_queue_id": self.billing})

    def at(self, hour: int, minute: int) -> None:
        self.clock.now = datetime(2026, 3, 2, hour, minute, tzinfo=UTC)

    def admin_put(self, what: str, body: dict[str, Any]) -> None:
        ok(self.client.put(f"/v1/companies/{self.acme.id}/{what}", headers=self.admin, json=body))

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.acme.admin)

    def act(self, iid: str, command: str, agent: str | None, body: Any = None) -> int:
        headers = self.admin if agent is None else self.acme.token(agent)
        url = f"/v1/interactions/{iid}/{command}"
        return int(ok(self.client.post(url, headers=headers, json=body))["position"])

    def get(self, report: str, token: str | None = None, status: int = 200, **query: Any) -> Any:
        response = self.client.get(
            f"/v1/companies/{self.acme.id}/reports/{report}",
            headers=bearer(token or self.acme.admin),
            params={"min_position": self.position, **query},
        )
        assert response.status_code == status, response.text
        return response


@pytest.fixture
def day(client: TestClient, clock: FixedClock) -> Day:
    return Day(client, clock)


def test_the_queue_report_adds_up_the_day_per_queue(day: Day) -> None:
    report = day.get("queues", **{"from": "2026-03-02", "to": "2026-03-02"}).json()
    assert (report["from"], report["to"], report["tz"]) == ("2026-03-02", "2026-03-02", "UTC")
    by_queue = {row.pop("queue_id"): row for row in report["rows"]}
    assert by_queue == {
        day.general: {
            **ZERO,
            "day": "2026-03-02",
            "received": 3,
            "accepted": 1,
            "queue_wait_ms": 10 * 60_000,
            "avg_queue_wait_ms": 10 * 60_000,
            "first_responses": 1,
            "first_response_ms": 25 * 60_000,
            "avg_first_response_ms": 25 * 60_000,
            "handling_ms": 30 * 60_000,
            "avg_handling_ms": 30 * 60_000,
            "transfers": 2,
            "closed": 1,
            "reopen_rate": 0.0,
            "closed_by_disposition": {f"Resolved / {REFUND}": 1},
        },
        day.billing: {  # the third email, transferred here, then accepted and parked by B
            **ZERO,
            "day": "2026-03-02",
            "received": 0,
            "accepted": 1,
            "queue_wait_ms": 15 * 60_000,
            "avg_queue_wait_ms": 15 * 60_000,
            "handling_ms": 10 * 60_000,
        },
    }


def test_days_follow_the_time_zone_asked_for(day: Day) -> None:
    utc = day.get("queues", queue=day.general, **{"from": "2026-03-03", "to": "2026-03-03"})
    assert utc.json()["rows"] == []
    berlin = day.get(
        "queues",
        queue=day.general,
        tz="Europe/Berlin",
        **{"from": "2026-03-02", "to": "2026-03-03"},
    ).json()
    assert [(r["day"], r["received"], r["transfers"]) for r in berlin["rows"]] == [
        ("2026-03-02", 2, 1),
        ("2026-03-03", 1, 1),
    ]


def test_the_agent_report_names_each_agent_s_work(day: Day) -> None:
    rows = day.get("agents", **{"from": "2026-03-02", "to": "2026-03-02"}).json()["rows"]
    by_agent = {row.pop("agent_id"): row for row in rows}
    assert by_agent[day.acme.agent_id("A")] == {
        **ZERO,
        "day": "2026-03-02",
        "accepted": 1,
        "queue_wait_ms": 10 * 60_000,
        "avg_queue_wait_ms": 10 * 60_000,
        "first_responses": 1,
        "first_response_ms": 25 * 60_000,
        "avg_first_response_ms": 25 * 60_000,
        "handling_ms": 30 * 60_000,
        "avg_handling_ms": 30 * 60_000,
        "closed": 1,
        "reopen_rate": 0.0,
        "closed_by_disposition": {f"Resolved / {REFUND}": 1},
    }
    assert by_agent[day.acme.agent_id("B")]["handling_ms"] == 10 * 60_000
    assert set(by_agent) == {day.acme.agent_id("A"), day.acme.agent_id("B")}
    one = day.get("agents", agent=day.acme.agent_id("B"), **{"from": "2026-03-02"})
    assert [r["agent_id"] for r in one.json()["rows"]] == [day.acme.agent_id("B")]


def test_csv_is_rfc_4180_with_a_column_per_disposition(day: Day) -> None:
    response = day.get("queues", format="csv", **{"from": "2026-03-02", "to": "2026-03-02"})
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="queues-2026-03-02-2026-03-02.csv"'
    )
    text = response.text
    assert text.endswith("\r\n")
    assert f'"closed: Resolved / {REFUND.replace(chr(34), chr(34) * 2)}"' in text.splitlines()[0]
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert header[:4] == ["queue_id", "day", "received", "offers"]
    assert header[-1] == f"closed: Resolved / {REFUND}"
    general = dict(zip(header, next(r for r in rows if r[0] == day.general), strict=True))
    assert (general["received"], general["avg_queue_wait_ms"], general["reopen_rate"]) == (
        "3",
        "600000.0",
        "0.0",
    )
    billing = dict(zip(header, next(r for r in rows if r[0] == day.billing), strict=True))
    assert (billing["avg_handling_ms"], billing[f"closed: Resolved / {REFUND}"]) == ("", "")

    agents = day.get("agents", format="csv", **{"from": "2026-03-02"}).text.splitlines()
    assert agents[0].startswith("agent_id,day,offers,")
    backlog = day.get("backlog", format="csv", now="2026-03-03T02:30:00Z").text.splitlines()
    assert backlog[0] == (
        "queue_id,waiting,under_1h,from_1h_to_4h,from_4h_to_24h,from_1d_to_3d,over_3d,"
        "oldest_arrived_at"
    )
    assert backlog[1] == f"{day.billing},1,0,1,0,0,0,2026-03-02T23:30:00Z"


def test_the_backlog_buckets_waiting_email_by_age_at_now(day: Day) -> None:
    def buckets(now: str) -> list[tuple[Any, ...]]:
        rows = day.get("backlog", now=now).json()["rows"]
        return [tuple(r.values()) for r in rows]

    assert buckets("2026-03-02T23:30:00Z") == [
        (day.billing, 1, 1, 0, 0, 0, 0, "2026-03-02T23:30:00Z")
    ]
    assert buckets("2026-03-03T23:30:00Z")[0][2:7] == (0, 0, 0, 1, 0)
    assert buckets("2026-03-06T23:30:00Z")[0][2:7] == (0, 0, 0, 0, 1)
    assert day.get("backlog").json()["now"] == "2026-03-02T23:30:00Z"  # the clock


def test_only_supervisors_and_admins_of_the_company_read_reports(
    client: TestClient, day: Day
) -> None:
    other = company(client, "Other", domain="other.test")
    for report in ("queues", "agents", "backlog", "limit-history"):
        refused = day.get(report, day.acme.agents["A"][1], 403)
        assert refused.json()["type"] == "/problems/forbidden"
        assert refused.headers["content-type"] == "application/problem+json"
        day.get(report, day.acme.agents["supervisor"][1])
        for token in (other.admin, other.agents["supervisor"][1]):
            day.get(report, token, 404)


def test_an_access_profile_limits_a_supervisor_to_its_queues(
    client: TestClient, clock: FixedClock, day: Day
) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    supervisor_id, token = day.acme.agents["supervisor"]
    supervisor = services.app.agent(UUID(supervisor_id))
    supervisor.set_access_profile([UUID(day.billing)], actor=str(OPERATOR), at=clock())
    day.position = services.app.save(supervisor)[-1].notification.id
    span = {"from": "2026-03-02", "to": "2026-03-02"}

    queues = day.get("queues", token, **span).json()["rows"]
    assert [r["queue_id"] for r in queues] == [day.billing]
    day.get("queues", token, 404, queue=day.general, **span)
    agents = day.get("agents", token, **span).json()["rows"]
    assert [(r["agent_id"], r["accepted"]) for r in agents] == [(day.acme.agent_id("B"), 1)]
    assert [r["queue_id"] for r in day.get("backlog", token).json()["rows"]] == [day.billing]
    assert len(day.get("queues", **span).json()["rows"]) == 2  # the admin sees every queue


@pytest.mark.parametrize(
    "query",
    [
        {"from": "2026-03-05", "to": "2026-03-04"},
        {"from": "2025-03-01", "to": "2026-03-02"},  # 367 days
        {"from": "2026-02-30"},
        {"tz": "Mars/Olympus_Mons"},
        {"tz": "Asia/Kolkata"},  # +05:30: days do not begin on whole UTC hours
        {"format": "xml"},
        {"queue": "not-a-uuid"},
    ],
)
def test_bad_ranges_zones_and_formats_are_refused(day: Day, query: dict[str, str]) -> None:
    response = day.get("queues", None, 422, **query)
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] in (
        "/problems/invalid-report-range",
        "/problems/validation-error",
    )


def test_a_year_of_days_is_the_longest_range(day: Day) -> None:
    report = day.get("queues", **{"from": "2025-03-03", "to": "2026-03-03"}).json()
    assert len({r["queue_id"] for r in report["rows"]}) == 2


def test_the_limit_history_says_when_ingestion_paused_and_for_how_long(
    client: TestClient, clock: FixedClock
) -> None:
    acme: Company = company(client, open_limit=1)
    first = post_email(client, acme, raw_email())["interaction_id"]  # at the limit: paused
    clock.advance(minutes=90)
    ok(client.post(f"/v1/interactions/{first}/accept", headers=acme.token("A")))
    ok(client.post(f"/v1/interactions/{first}/close", headers=acme.token("A"), json={}))
    clock.advance(hours=2)
    position = post_email(client, acme, raw_email())["position"]  # paused again, until now
    clock.advance(minutes=30)

    def pauses(first_day: str, last_day: str) -> list[tuple[Any, ...]]:
        query = {"from": first_day, "to": last_day, "min_position": position}
        url = f"/v1/companies/{acme.id}/reports/limit-history"
        found = ok(client.get(url, headers=bearer(acme.admin), params=query))["pauses"]
        return [tuple(p.values()) for p in found]

    assert pauses("2026-03-02", "2026-03-02") == [
        ("2026-03-02T09:00:00Z", "2026-03-02T10:30:00Z", 90 * 60_000, 1, 1),
        ("2026-03-02T12:30:00Z", None, 30 * 60_000, 1, 1),
    ]
    assert pauses("2026-03-03", "2026-03-09") == [  # the running pause overlaps every day after
        ("2026-03-02T12:30:00Z", None, 30 * 60_000, 1, 1)
    ]
    assert pauses("2026-02-01", "2026-03-01") == []
    url = f"/v1/companies/{acme.id}/reports/limit-history"
    exported = client.get(url, headers=bearer(acme.admin), params={"format": "csv"}).text
    assert exported.splitlines() == [
        "paused_at,resumed_at,duration_ms,open_count,open_limit",
        "2026-03-02T09:00:00Z,2026-03-02T10:30:00Z,5400000,1,1",
        "2026-03-02T12:30:00Z,,1800000,1,1",
    ]


@pytest.mark.parametrize("text", ["=HYPERLINK(1)", "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_text_a_spreadsheet_would_run_stays_text(text: str) -> None:
    from api.routes.reports import _cell

    assert _cell(text) == "'" + text
    assert (_cell("closed: Resolved"), _cell(-5), _cell(None)) == ("closed: Resolved", -5, "")
