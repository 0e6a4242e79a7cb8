"""Wire shapes of mailboxes: address, default queue, IMAP and SMTP settings."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field, model_validator

from api.schemas.common import Body, Out

Tls = Literal["implicit", "starttls", "none"]


class ImapIn(Body):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=993, ge=1, le=65535)
    tls: Tls = "implicit"
    ca_file: str | None = Field(default=None, max_length=1024)
    username: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    folders: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1, max_length=20)
    poll_seconds: int = Field(default=30, ge=5, le=3600)


class SmtpIn(Body):
    host: str = Field(min_length=1, max_length=255)
    port: int = Field(default=587, ge=1, le=65535)
    tls: Tls = "starttls"
    ca_file: str | None = Field(default=None, max_length=1024)
    username: str | None = Field(default=None, max_length=320)
    password: str | None = Field(default=None, max_length=1024)
    from_name: str | None = Field(default=None, max_length=200)


class MailboxIn(Body):
    address: str = Field(min_length=3, max_length=320)
    default_queue_id: UUID
    imap: ImapIn | None = None
    smtp: SmtpIn | None = None
    auto_reply: dict[str, Any] | None = None
    allow_plaintext: bool = False

    @model_validator(mode="after")
    def plaintext_only_when_allowed(self) -> MailboxIn:
        for name, peer in (("imap", self.imap), ("smtp", self.smtp)):
            if peer is not None and peer.tls == "none" and not self.allow_plaintext:
                raise ValueError(f'{name}.tls "none" needs "allow_plaintext": true')
        return self


class MailboxOut(Out):
    id: UUID
    company_id: UUID
    address: str
    default_queue_id: UUID
    imap: dict[str, Any] | None
    smtp: dict[str, Any] | None
    auto_reply: dict[str, Any] | None = None
    allow_plaintext: bool
    status: dict[str, Any] | None = None
    position: int
