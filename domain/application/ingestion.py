"""IMAP ingestion: many fetched emails recorded at once with the mailbox checkpoint."""

from __future__ import annotations

from domain.application.inbound import Inbound


class Ingestion(Inbound):
    """Commands of the ingestion worker."""
