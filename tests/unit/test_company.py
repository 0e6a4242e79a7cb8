"""Company and its quota: limits, mailboxes, routing rules, dispositions and sub-statuses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.domain import Aggregate

from domain.company import Company
from domain.errors import (
    DispositionRequired,
    DomainError,
    DuplicateMailbox,
    InvalidInput,
    InvalidRoutingRule,
    InvalidTimezone,
    MailboxNotFound,
    OpenLimitReached,
    UnknownDisposition,
    UnknownSubstatus,
)
from domain.quota import CompanyQuota
from tests.fakes import T0

Q1, Q2 = uuid4(), uuid4()
SUPPORT, SALES = uuid4(), uuid4()  # mailbox ids
ADMIN = f"admin:{uuid4()}"
TREE: list[dict[str, Any]] = [
    {"name": "Resolved", "children": [{"name": "Refund"}, {"name": "Advice"}]},
    {"name": "Spam"},
]
FOUR_LEVELS = [
    {
        "name": "a",
        "children": [{"name": "b", "children": [{"name": "c", "children": [{"name": "d"}]}]}],
    }
]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def recorded(aggregate: Aggregate) -> list[str]:
    """Names of the events recorded since the last call."""
    return [type(e).__name__ for e in aggregate.collect_events()]


@contextmanager
def refused(aggregate: Aggregate, error: type[DomainError]) -> Iterator[None]:
    """Then the command raises `error`, records nothing and changes nothing."""
    before = deepcopy(aggregate.__dict__)
    with pytest.raises(error):
        yield
    assert recorded(aggregate) == []
    assert aggregate.__dict__ == before


@pytest.fixture
def new_company() -> Company:
    company = Company.create(uuid4(), "Acme", "Europe/Berlin", 50, actor="operator", at=at(0))
    company.collect_events()
    return company


@pytest.fixture
def company_with_a_mailbox(new_company: Company) -> Company:
    new_company.add_mailbox(SUPPORT, "Support@Acme.test", Q1, actor=ADMIN, at=at(1))
    new_company.collect_events()
    return new_company


@pytest.fixture
def company_with_mandatory_dispositions(new_company: Company) -> Company:
    new_company.define_dispositions(
        TREE, mandatory=True, default=None, timeout_seconds=None, actor=ADMIN, at=at(1)
    )
    new_company.collect_events()
    return new_company


# --- creation and the open limit -----------------------------------------------------------


def test_a_new_company_has_the_built_in_pending_substatus_and_no_mailbox() -> None:
    company = Company.create(uuid4(), " Acme ", "Europe/Berlin", 50, actor="operator", at=at(0))

    assert recorded(company) == ["Created"]
    assert (company.name, company.timezone, company.open_limit) == ("Acme", "Europe/Berlin", 50)
    assert (company.substatuses, company.mailboxes) == (["Pending"], {})
    assert (company.routing_version, company.disposition_mandatory) == (0, False)


@pytest.mark.parametrize(
    ("name", "timezone", "limit", "error"),
    [
        ("Acme", "Mars/Olympus", 50, InvalidTimezone),
        ("Acme", "Europe/Berlin", 0, InvalidInput),
        ("Acme", "Europe/Berlin", 1_000_001, InvalidInput),
        ("   ", "Europe/Berlin", 50, InvalidInput),
    ],
)
def test_a_company_is_not_created_from_invalid_values(
    name: str, timezone: str, limit: int, error: type[DomainError]
) -> None:
    with pytest.raises(error):
        Company.create(uuid4(), name, timezone, limit, actor="operator", at=at(0))


def test_an_admin_changes_the_open_limit(new_company: Company) -> None:
    new_company.set_open_limit(7, actor=ADMIN, at=at(1))

    assert recorded(new_company) == ["OpenLimitSet"]
    assert new_company.open_limit == 7
    with refused(new_company, InvalidInput):
        new_company.set_open_limit(0, actor=ADMIN, at=at(2))


# --- mailboxes -----------------------------------------------------------------------------


def test_a_mailbox_is_found_by_its_address_in_any_case(new_company: Company) -> None:
    new_company.add_mailbox(SUPPORT, "Support@Acme.test", Q1, actor=ADMIN, at=at(1))

    assert recorded(new_company) == ["MailboxAdded"]
    expected = {
        "id": str(SUPPORT),
        "address": "support@acme.test",
        "default_queue_id": str(Q1),
        "settings": {},
    }
    assert new_company.mailboxes == {str(SUPPORT): expected}
    assert new_company.mailbox_by_address("SUPPORT@ACME.TEST") == expected
    assert new_company.mailbox_by_address("sales@acme.test") is None


def test_two_mailboxes_cannot_share_an_address(company_with_a_mailbox: Company) -> None:
    with refused(company_with_a_mailbox, DuplicateMailbox):
        company_with_a_mailbox.add_mailbox(SALES, "SUPPORT@acme.test", Q2, actor=ADMIN, at=at(2))


def test_changing_a_mailbox_may_keep_its_own_address(company_with_a_mailbox: Company) -> None:
    company_with_a_mailbox.change_mailbox(SUPPORT, "support@acme.test", Q2, actor=ADMIN, at=at(2))

    assert recorded(company_with_a_mailbox) == ["MailboxChanged"]
    assert company_with_a_mailbox.mailboxes[str(SUPPORT)]["default_queue_id"] == str(Q2)


def test_a_change_without_settings_keeps_the_mailbox_settings(new_company: Company) -> None:
    settings = {"imap": {"host": "imap.acme.test", "folders": ["INBOX"]}}
    new_company.add_mailbox(
        SUPPORT, "support@acme.test", Q1, settings=settings, actor=ADMIN, at=at(1)
    )
    new_company.change_mailbox(SUPPORT, "help@acme.test", Q1, actor=ADMIN, at=at(2))
    assert new_company.mailboxes[str(SUPPORT)]["settings"] == settings

    new_company.change_mailbox(SUPPORT, "help@acme.test", Q1, settings={}, actor=ADMIN, at=at(3))

    assert recorded(new_company) == ["MailboxAdded", "MailboxChanged", "MailboxChanged"]
    assert new_company.mailboxes[str(SUPPORT)]["settings"] == {}


def test_a_mailbox_cannot_take_the_address_of_another(company_with_a_mailbox: Company) -> None:
    company_with_a_mailbox.add_mailbox(SALES, "sales@acme.test", Q2, actor=ADMIN, at=at(2))
    company_with_a_mailbox.collect_events()

    with refused(company_with_a_mailbox, DuplicateMailbox):
        company_with_a_mailbox.change_mailbox(SALES, "support@acme.test", Q2, actor=ADMIN, at=at(3))


def test_removing_a_mailbox_forgets_its_address(company_with_a_mailbox: Company) -> None:
    company_with_a_mailbox.remove_mailbox(SUPPORT, actor=ADMIN, at=at(2))

    assert recorded(company_with_a_mailbox) == ["MailboxRemoved"]
    assert company_with_a_mailbox.mailbox_by_address("support@acme.test") is None


def test_an_unknown_mailbox_cannot_be_changed_or_removed(company_with_a_mailbox: Company) -> None:
    with refused(company_with_a_mailbox, MailboxNotFound):
        company_with_a_mailbox.change_mailbox(SALES, "sales@acme.test", Q2, actor=ADMIN, at=at(2))
    with refused(company_with_a_mailbox, MailboxNotFound):
        company_with_a_mailbox.remove_mailbox(SALES, actor=ADMIN, at=at(2))


# --- routing rules -------------------------------------------------------------------------


def test_each_rule_set_gets_the_next_version(new_company: Company) -> None:
    rules = [
        {
            "queue_id": str(Q2),
            "conditions": [{"field": "subject", "op": "contains", "value": "invoice"}],
        }
    ]
    new_company.replace_routing_rules(rules, actor=ADMIN, at=at(1))
    new_company.replace_routing_rules([], actor=ADMIN, at=at(2))

    first, second = new_company.collect_events()
    assert isinstance(first, Company.RoutingRulesReplaced)
    assert isinstance(second, Company.RoutingRulesReplaced)
    assert (first.version, second.version) == (1, 2)
    assert first.rules[0]["queue_id"] == str(Q2)
    assert (new_company.routing_rules, new_company.routing_version) == ([], 2)


def test_an_invalid_rule_set_is_refused(new_company: Company) -> None:
    with refused(new_company, InvalidRoutingRule):
        new_company.replace_routing_rules([{"conditions": []}], actor=ADMIN, at=at(1))


# --- dispositions --------------------------------------------------------------------------


def test_defining_dispositions_with_a_default_and_a_timeout(new_company: Company) -> None:
    new_company.define_dispositions(
        TREE, mandatory=True, default=["Spam"], timeout_seconds=600, actor=ADMIN, at=at(1)
    )

    assert recorded(new_company) == ["DispositionsDefined"]
    assert (new_company.disposition_tree, new_company.disposition_mandatory) == (TREE, True)
    assert (new_company.default_disposition, new_company.disposition_timeout_seconds) == (
        ["Spam"],
        600,
    )


@pytest.mark.parametrize(
    ("tree", "default", "timeout", "error"),
    [
        (FOUR_LEVELS, None, None, InvalidInput),
        ([{"name": "Spam"}, {"name": "Spam"}], None, None, InvalidInput),
        ([{"name": ""}], None, None, InvalidInput),
        (TREE, ["Resolved"], None, UnknownDisposition),  # not a leaf
        (TREE, ["Lost"], None, UnknownDisposition),
        (TREE, None, 600, InvalidInput),  # a timeout needs a default
        (TREE, ["Spam"], 0, InvalidInput),
    ],
)
def test_invalid_disposition_definitions_are_refused(
    tree: list[dict[str, Any]],
    default: list[str] | None,
    timeout: int | None,
    error: type[DomainError],
    new_company: Company,
) -> None:
    with refused(new_company, error):
        new_company.define_dispositions(
            tree, mandatory=True, default=default, timeout_seconds=timeout, actor=ADMIN, at=at(1)
        )


@pytest.mark.parametrize("path", [["Resolved", "Refund"], ["Spam"]])
def test_a_path_down_to_a_leaf_is_a_disposition(
    path: list[str], company_with_mandatory_dispositions: Company
) -> None:
    assert company_with_mandatory_dispositions.check_disposition(path) == path


@pytest.mark.parametrize(
    "path", [["Resolved"], ["Refund"], ["Spam", "Refund"], ["Resolved", "Refund", "More"]]
)
def test_a_path_that_does_not_end_on_a_leaf_of_the_tree_is_unknown(
    path: list[str], company_with_mandatory_dispositions: Company
) -> None:
    with pytest.raises(UnknownDisposition):
        company_with_mandatory_dispositions.check_disposition(path)


def test_a_mandatory_disposition_is_required(company_with_mandatory_dispositions: Company) -> None:
    with pytest.raises(DispositionRequired):
        company_with_mandatory_dispositions.check_disposition([])


def test_without_mandatory_dispositions_closing_needs_none(new_company: Company) -> None:
    assert new_company.check_disposition([]) == []


# --- sub-statuses --------------------------------------------------------------------------


def test_defined_substatuses_follow_the_built_in_pending(new_company: Company) -> None:
    new_company.define_substatuses([" Waiting for supplier ", "Pending"], actor=ADMIN, at=at(1))

    assert recorded(new_company) == ["SubstatusesDefined"]
    assert new_company.substatuses == ["Pending", "Waiting for supplier"]
    assert new_company.check_substatus("Waiting for supplier") == "Waiting for supplier"


@pytest.mark.parametrize("names", [["A", " A"], [""], ["x" * 61]])
def test_substatuses_are_distinct_names_of_one_to_sixty_characters(
    names: list[str], new_company: Company
) -> None:
    with refused(new_company, InvalidInput):
        new_company.define_substatuses(names, actor=ADMIN, at=at(1))


def test_an_undefined_substatus_is_unknown(new_company: Company) -> None:
    assert new_company.check_substatus("Pending") == "Pending"
    with pytest.raises(UnknownSubstatus):
        new_company.check_substatus("pending")


# --- the quota of emails in progress -------------------------------------------------------


@pytest.fixture
def quota_at_its_limit() -> CompanyQuota:
    """Two of two places taken."""
    quota = CompanyQuota(company_id=uuid4(), timestamp=at(0))
    quota.reserve(uuid4(), limit=2, at=at(1))
    quota.reserve(uuid4(), limit=2, at=at(2))
    quota.collect_events()
    return quota


def test_the_quota_id_derives_from_the_company() -> None:
    company_id = uuid4()

    assert CompanyQuota(company_id=company_id, timestamp=at(0)).id == CompanyQuota.create_id(
        company_id
    )


def test_a_new_email_at_the_limit_is_refused(quota_at_its_limit: CompanyQuota) -> None:
    with refused(quota_at_its_limit, OpenLimitReached):
        quota_at_its_limit.reserve(uuid4(), limit=2, at=at(3))


def test_agents_own_actions_count_but_are_never_refused(quota_at_its_limit: CompanyQuota) -> None:
    quota_at_its_limit.reserve(uuid4(), limit=None, at=at(3))

    [reserved] = quota_at_its_limit.collect_events()
    assert isinstance(reserved, CompanyQuota.Reserved)
    assert reserved.open_count == quota_at_its_limit.open_count == 3


def test_closing_frees_a_place(quota_at_its_limit: CompanyQuota) -> None:
    quota_at_its_limit.release(uuid4(), at=at(3))
    quota_at_its_limit.reserve(uuid4(), limit=2, at=at(4))

    assert recorded(quota_at_its_limit) == ["Released", "Reserved"]
    assert quota_at_its_limit.open_count == 2


def test_the_count_never_goes_below_zero() -> None:
    quota = CompanyQuota(company_id=uuid4(), timestamp=at(0))
    quota.release(uuid4(), at=at(1))

    assert recorded(quota) == ["Created", "Released"]
    assert quota.open_count == 0
