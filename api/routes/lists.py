"""Lists of interactions: filters and free text, and the advanced search.

Both answer pages of the caller's company within the queues the caller may see, by last
activity, newest first. `next_cursor` continues a list: the first page fixes which
interactions the following pages may show, so email arriving while a client pages neither
repeats a row nor makes one go missing (new interactions appear when page 1 is read again).
An interaction whose own activity changes meanwhile moves to the top of the list: a later
page does not show it again, or, when it had not been reached yet, does not show it at all;
a client refreshes page 1 to see it.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Annotated, Literal
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query

from api.bootstrap import Services
from api.deps import CurrentUser, ServicesDep, await_position
from api.routes.queries import company_of
from api.schemas.search import AdvancedSearchIn, InteractionPageOut, StatusFilter
from projections.search_fields import FIELDS, Condition, moment
from projections.search_text import InvalidSearch

router = APIRouter(prefix="/v1", tags=["queries"])
Tag = Annotated[str, Query(min_length=1, max_length=50)]
Address = Annotated[str, Query(min_length=3, max_length=254)]
Moment = Annotated[str | None, Query(min_length=10, max_length=40, examples=["2026-03-02"])]
DAY = len("2026-03-02")


class CompanyZone:
    """The company's time zone, read only when a plain date needs it."""

    def __init__(self, services: Services, company_id: UUID) -> None:
        self.services, self.company_id = services, company_id
        self._zone: tzinfo | None = None

    def __call__(self) -> tzinfo:
        if self._zone is None:
            company = self.services.app.company(self.company_id)
            self._zone = ZoneInfo(company.timezone)
        return self._zone

    def bounds(self, value: str) -> tuple[datetime, datetime]:
        """The half-open interval a filter value names: a whole day, or one instant."""
        return moment(value, self()) if len(value) == DAY else moment(value)


@router.get("/interactions")
def list_interactions(
    user: CurrentUser,
    services: ServicesDep,
    status: StatusFilter | None = None,
    substatus: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
    queue: Annotated[list[UUID] | None, Query(max_length=50)] = None,
    mailbox: Annotated[list[Address] | None, Query(max_length=20)] = None,
    assignee: Literal["me", "unassigned", "all"] | UUID = "all",
    agent: UUID | None = None,
    first_agent: UUID | None = None,
    tag: Annotated[list[Tag] | None, Query(max_length=20)] = None,
    unread: bool | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    created_from: Moment = None,
    created_to: Moment = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    min_position: int = 0,
) -> InteractionPageOut:
    """Interactions of the caller's company, filtered, newest activity first, by cursor.

    `status` is a state or a group: `open`, `open_with_substatus`, `closed`,
    `closed_unmanaged` (closed before any agent accepted it). `assignee` is `me`,
    `unassigned`, `all` or an agent id (`agent` is the older spelling of an id); every `tag`
    must be present; `queue` and `mailbox` take several values. `created_from`/`created_to`
    are inclusive; a plain date is a whole day in the company's time zone. `q` finds the
    id, the `[#REF]`, the contact's address, or words of the subject, the contact and the
    messages.

    Pages: pass `next_cursor` back as `cursor`. The first page fixes which interactions the
    following pages may show, so new mail arriving meanwhile never repeats or pushes out a
    row; it shows when page 1 is read again. An interaction whose own activity changes while
    a client pages moves to the top, above the cursor: later pages do not show it (again), so
    a client refreshes page 1 to see it where it now belongs.
    """
    company_id = company_of(user)
    if agent is not None and assignee != "all":
        raise InvalidSearch("agent is the older spelling of assignee=<id>: give one of them")
    owner = user.user_id if assignee == "me" else assignee if isinstance(assignee, UUID) else agent
    zone = CompanyZone(services, company_id)
    created_from_at = None if created_from is None else zone.bounds(created_from)[0]
    created_before = None if created_to is None else zone.bounds(created_to)[1]
    if created_from_at and created_before and created_from_at >= created_before:
        raise InvalidSearch("created_from is after created_to")
    await_position(services, min_position)
    rows, next_cursor = services.read.search.search(
        company_id,
        status=status,
        substatus=substatus,
        queue_ids=queue or (),
        mailboxes=mailbox or (),
        owner=owner,
        unassigned=assignee == "unassigned",
        first_agent=first_agent,
        tags=tag or (),
        unread=unread,
        text=q,
        since=since,
        created_from=created_from_at,
        created_before=created_before,
        limit=limit,
        cursor=cursor,
        visible_queue_ids=user.visible_queue_ids,
        visible_owner=user.actor.user_id if user.visible_queue_ids is not None else None,
    )
    return InteractionPageOut.model_validate({"items": rows, "next_cursor": next_cursor})


@router.post("/interactions/search")
def search_interactions(
    body: AdvancedSearchIn, user: CurrentUser, services: ServicesDep, min_position: int = 0
) -> InteractionPageOut:
    """Advanced search: conditions on fields, all or any of which must hold.

    Fields: subject, contact_email, contact_name, text (the messages), mailbox, disposition
    (the path joined with " / ") take `equals`, `contains`, `starts_with` (case-insensitive);
    created_at and last_activity_at take `equals`, `before`, `after` with a date (a day in the
    company's time zone) or a date and time; queue_id, owner, first_agent, status (a state or
    a group, as in the list), substatus and tag take `equals`. Pages as the list does.
    """
    company_id = company_of(user)
    conditions = [Condition(c.field, c.op, c.value) for c in body.conditions]
    on_dates = any(FIELDS[c.field].kind == "date" for c in conditions)
    await_position(services, min_position)
    rows, next_cursor = services.read.search.find(
        company_id,
        conditions,
        match=body.match,
        tz=CompanyZone(services, company_id)() if on_dates else UTC,
        limit=body.limit,
        cursor=body.cursor,
        visible_queue_ids=user.visible_queue_ids,
        visible_owner=user.actor.user_id if user.visible_queue_ids is not None else None,
    )
    return InteractionPageOut.model_validate({"items": rows, "next_cursor": next_cursor})
