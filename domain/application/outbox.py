"""The outbox: what the sender delivered, or could not."""

from __future__ import annotations

from domain.application.base import Repositories


class Outbox(Repositories):
    """Commands of the SMTP sender worker."""
