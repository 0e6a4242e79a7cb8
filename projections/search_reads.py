"""The read side of `projections.search.Search`: pages of lists, advanced search, lookups."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, tzinfo
from typing import Any, ClassVar
from uuid import UUID

from projections.base import Row, View
from projections.search_fields import Condition, compile_conditions
from projections.search_query import OUT, Page, SearchQuery, with_tags

# Free text first looks among this many newest rows that pass the other filters (PostgreSQL):
# common words fill a page there at once; rarer ones fall back to the text index.
TEXT_WINDOW = 400


class SearchReads:
    """Queries over the search view; mixed into the projection that keeps it."""

    view: View
    application_name: ClassVar[str]

    def search(
        self,
        company_id: UUID,
        *,
        queue_id: UUID | None = None,
        agent_id: UUID | None = None,
        tag: str | None = None,
        **filters: Any,
    ) -> tuple[list[Row], str | None]:
        """A page of `SearchQuery(company_id, **filters)`; `queue_id`, `agent_id` and `tag`
        are the one-value forms of `queue_ids`, `owner` and `tags`. The limit is capped at 200.
        """
        if queue_id is not None:
            filters["queue_ids"] = (*filters.get("queue_ids", ()), queue_id)
        if tag is not None:
            filters["tags"] = (*filters.get("tags", ()), tag)
        filters.setdefault("owner", agent_id)
        return self._page(company_id, **filters)

    def find(
        self,
        company_id: UUID,
        conditions: Sequence[Condition],
        *,
        match: str = "all",
        tz: tzinfo = UTC,
        **page: Any,
    ) -> tuple[list[Row], str | None]:
        """A page of an advanced search: `page` takes `limit`, `cursor`, `visible_queue_ids`."""
        return self._page(company_id, condition=compile_conditions(conditions, match, tz), **page)

    def _page(self, company_id: UUID, **filters: Any) -> tuple[list[Row], str | None]:
        if filters.get("cursor") is None:  # the first page fixes what later pages may show
            filters["horizon"] = self._position()
        query = SearchQuery(company_id, dialect=self.view.dialect, **filters)
        if query.matches_nothing:
            return [], None
        with self.view.transaction(commit=False) as tx:
            rows = None
            if windowed := query.window_statement(OUT, TEXT_WINDOW):
                rows = tx.execute(windowed[0], *windowed[1]).all()
                if len(rows) <= query.limit:
                    rows = None  # not a full page: the matches may lie further back
            if rows is None:
                text, params = query.statement(OUT)
                rows = tx.execute(text, *params).all()
            page = Page(rows, query.limit, query.horizon)
            return with_tags(tx, page.rows), page.next_cursor

    def _position(self) -> int | None:
        return self.view.max_tracking_id(self.application_name)

    def get(self, interaction_id: UUID) -> Row | None:
        with self.view.transaction(commit=False) as tx:
            rows = tx.execute(
                f"SELECT {OUT} FROM {{interactions}} WHERE interaction_id = ?", interaction_id
            ).all()
            return with_tags(tx, rows)[0] if rows else None

    def find_by_short_ref(self, company_id: UUID, ref: str) -> UUID | None:
        """The interaction a `[#REF]` subject token names, within one company."""
        rows = self.view.select(
            "SELECT interaction_id FROM {interactions} WHERE company_id = ? AND short_ref = ? "
            "ORDER BY created_at DESC, interaction_id LIMIT 1",
            company_id,
            ref.strip().upper(),
        )
        return UUID(rows[0]["interaction_id"]) if rows else None
