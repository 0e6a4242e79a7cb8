"""Distribution: offers to one agent at a time, their expiry, and the timers that act alone."""

from __future__ import annotations

from domain.application.base import Repositories


class Dispatch(Repositories):
    """Commands of the dispatch worker."""
