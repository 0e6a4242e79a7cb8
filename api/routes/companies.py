"""Company configuration: the operator creates companies, admins configure them.

Users and their tokens are in `api/routes/users.py`.
"""

from __future__ import annotations

from uuid import UUID, uuid4

from fastapi import APIRouter, status

from api.deps import CurrentUser, ServicesDep, await_position
from api.presenters import company_out, queue_out
from api.problems import ApiProblem
from api.schemas.companies import (
    CompanyIn,
    CompanyOut,
    DispositionsIn,
    LimitsOut,
    OpenLimitIn,
    QueueIn,
    QueueOut,
    RulesIn,
    SubstatusesIn,
)

router = APIRouter(prefix="/v1/companies", tags=["companies"])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_company(body: CompanyIn, user: CurrentUser, services: ServicesDep) -> CompanyOut:
    """Create a company (platform operator only)."""
    if not user.is_operator:
        raise ApiProblem(403, "operator-only", "only the platform operator creates companies")
    saved = services.app.create_company(
        uuid4(),
        name=body.name,
        timezone=body.timezone,
        open_limit=body.open_limit,
        by=user.actor,
        at=services.clock(),
    )
    return company_out(saved.aggregate, saved.position)


@router.get("/{company_id}")
def get_company(company_id: UUID, user: CurrentUser, services: ServicesDep) -> CompanyOut:
    """A company's configuration."""
    scope = company_id if user.is_operator else user.scope(company_id)
    company = services.app.company(scope)
    return company_out(company, 0)


@router.post("/{company_id}/queues", status_code=status.HTTP_201_CREATED)
def create_queue(
    company_id: UUID, body: QueueIn, user: CurrentUser, services: ServicesDep
) -> QueueOut:
    """Create a queue."""
    saved = services.app.create_queue(
        uuid4(),
        user.scope(company_id, "admin"),
        name=body.name,
        priority=body.priority,
        by=user.actor,
        at=services.clock(),
    )
    return queue_out(saved.aggregate, saved.position)


@router.put("/{company_id}/routing-rules")
def replace_routing_rules(
    company_id: UUID, body: RulesIn, user: CurrentUser, services: ServicesDep
) -> CompanyOut:
    """Replace the ordered routing rules; the rule set's version goes up by one."""
    saved = services.app.replace_routing_rules(
        user.scope(company_id, "admin"), body.rules, by=user.actor, at=services.clock()
    )
    return company_out(saved.aggregate, saved.position)


@router.put("/{company_id}/open-limit")
def set_open_limit(
    company_id: UUID, body: OpenLimitIn, user: CurrentUser, services: ServicesDep
) -> CompanyOut:
    """Set how many emails may be in progress at once."""
    saved = services.app.set_open_limit(
        user.scope(company_id, "admin"), body.open_limit, by=user.actor, at=services.clock()
    )
    return company_out(saved.aggregate, saved.position)


@router.put("/{company_id}/dispositions")
def define_dispositions(
    company_id: UUID, body: DispositionsIn, user: CurrentUser, services: ServicesDep
) -> CompanyOut:
    """Define the disposition tree (up to three levels), whether it is mandatory, a default."""
    scope = user.scope(company_id, "admin")
    tree = [node.model_dump() for node in body.tree]
    saved = services.app.define_dispositions(
        scope,
        tree,
        mandatory=body.mandatory,
        default=body.default,
        timeout_seconds=body.timeout_seconds,
        by=user.actor,
        at=services.clock(),
    )
    return company_out(saved.aggregate, saved.position)


@router.put("/{company_id}/substatuses")
def define_substatuses(
    company_id: UUID, body: SubstatusesIn, user: CurrentUser, services: ServicesDep
) -> CompanyOut:
    """Define the company's sub-statuses (Pending is built in)."""
    saved = services.app.define_substatuses(
        user.scope(company_id, "admin"), body.substatuses, by=user.actor, at=services.clock()
    )
    return company_out(saved.aggregate, saved.position)


@router.get("/{company_id}/limits")
def limits(
    company_id: UUID, user: CurrentUser, services: ServicesDep, min_position: int = 0
) -> LimitsOut:
    """Emails in progress against the limit, and whether ingestion is paused."""
    scope = user.scope(company_id, "admin", "supervisor")
    await_position(services, min_position)
    row = services.read.company_limits.get(scope)
    if row is None:
        company = services.app.company(scope)
        return LimitsOut(
            company_id=scope, open_count=0, open_limit=company.open_limit, paused=False
        )
    return LimitsOut(
        company_id=scope,
        open_count=row["open_count"],
        open_limit=row["open_limit"],
        paused=bool(row["paused"]),
    )
