"""Deterministic identities: the same input always names the same aggregate."""

from __future__ import annotations

from base64 import b32encode
from uuid import UUID, uuid5

NAMESPACE = UUID("6f0c1c1e-6a4b-4f43-9f3e-2b1f3f9c0a11")


def interaction_id_for(company_id: UUID, rfc_message_id: str) -> UUID:
    """The interaction a first inbound message opens: the same mail posted twice → one id."""
    return uuid5(NAMESPACE, f"interaction/{company_id}/{rfc_message_id}")


def message_record_id(company_id: UUID, rfc_message_id: str) -> UUID:
    """The record of one email (in or out) of a company, keyed by its Message-ID."""
    return uuid5(NAMESPACE, f"message/{company_id}/{rfc_message_id}")


def quota_id(company_id: UUID) -> UUID:
    return uuid5(NAMESPACE, f"quota/{company_id}")


def token_id(token_hash: str) -> UUID:
    return uuid5(NAMESPACE, f"token/{token_hash}")


def short_ref(interaction_id: UUID) -> str:
    """Ten base32 characters (50 bits) for the `[#REF]` subject token."""
    return b32encode(interaction_id.bytes[:7]).decode()[:10]


def quarantine_id_for(company_id: UUID, blob: str) -> UUID:
    """Input that could not become an interaction, by company and content: the same bytes
    fetched again (another folder, a recreated folder) name the same record."""
    return uuid5(NAMESPACE, f"quarantine/{company_id}/{blob}")


def contact_id_for(company_id: UUID, address: str) -> UUID:
    """The contact a customer address names until someone adds it to another contact."""
    return uuid5(NAMESPACE, f"contact/{company_id}/{address.strip().casefold()}")


def address_claim_id(company_id: UUID, address: str) -> UUID:
    """The record that one address of a company belongs to exactly one edited contact."""
    return uuid5(NAMESPACE, f"contact-address/{company_id}/{address.strip().casefold()}")
