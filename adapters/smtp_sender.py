"""Delivering composed email over SMTP with aiosmtplib.

TLS is verified by default (the mailbox's CA file, else the system's trust store); plaintext
only where the mailbox allows it. Envelope addresses are validated here, because aiosmtplib
silently rewrites a malformed one. Every failure comes out as a verdict: `TemporaryFailure`
(4xx, connection, TLS or login trouble: retry later) or `PermanentFailure` (5xx for this message).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiosmtplib
from aiosmtplib import (
    SMTPException,
    SMTPRecipientRefused,
    SMTPResponseException,
)

from adapters.mime import parse_address
from domain.errors import InvalidInput

Tls = Literal["implicit", "starttls", "none"]


class DeliveryError(Exception):
    """Why an email was not accepted; `temporary` says whether trying again may help."""

    temporary = True


class TemporaryFailure(DeliveryError):
    temporary = True


class PermanentFailure(DeliveryError):
    temporary = False


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how one mailbox sends; the password is plaintext here and never shown."""

    host: str
    port: int
    tls: Tls = "starttls"
    ca_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    allow_plaintext: bool = False
    timeout: float = 60.0

    @classmethod
    def of_mailbox(
        cls, settings: Mapping[str, Any], open_secret: Callable[[str], str]
    ) -> SmtpSettings | None:
        """From a mailbox's stored settings (password sealed); None when it has no SMTP."""
        smtp = settings.get("smtp")
        if not smtp:
            return None
        sealed = smtp.get("password")
        return cls(
            host=smtp["host"],
            port=int(smtp["port"]),
            tls=smtp.get("tls", "starttls"),
            ca_file=smtp.get("ca_file") or None,
            username=smtp.get("username") or None,
            password=open_secret(sealed) if sealed else None,
            allow_plaintext=bool(settings.get("allow_plaintext")),
        )


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifying context: only the given CA when there is one, else the system's."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def envelope_address(value: str) -> str:
    """A bare, valid addr-spec for MAIL FROM or RCPT TO; anything else is refused."""
    try:
        parsed = parse_address(value)
    except InvalidInput as error:
        raise PermanentFailure(f"invalid envelope address {value!r}: {error}") from None
    if parsed.name or parsed.address != value.strip().lower():
        raise PermanentFailure(f"not a bare address: {value!r}")
    return parsed.address


def verdict(error: SMTPResponseException) -> DeliveryError:
    text = f"{error.code} {error.message}"
    if 500 <= error.code < 600:
        return PermanentFailure(text)
    return TemporaryFailure(text)


class SmtpSession:
    """One connected, authenticated session that sends several emails in turn."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.broken = False
        self._smtp: aiosmtplib.SMTP | None = None

    async def open(self) -> SmtpSession:
        """Connection, TLS and login trouble is the mailbox's, never the email's: temporary."""
        s = self.settings
        if s.tls == "none" and not s.allow_plaintext:
            raise TemporaryFailure(f"plaintext SMTP to {s.host} is not allowed for this mailbox")
        smtp = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            use_tls=s.tls == "implicit",
            start_tls=s.tls == "starttls",
            tls_context=None if s.tls == "none" else tls_context(s.ca_file),
            timeout=s.timeout,
        )
        try:
            await smtp.connect()
            if s.username:
                await smtp.login(s.username, s.password or "")
        except (SMTPException, OSError, ssl.SSLError, TimeoutError) as error:
            smtp.close()
            where = f"{s.host}:{s.port}"
            raise TemporaryFailure(f"cannot connect to {where}: {_describe(error)}") from None
        self._smtp = smtp
        return self

    async def send(self, sender: str, recipients: Sequence[str], data: bytes) -> str:
        """Sends one email; returns the server's acceptance, e.g. `250 2.0.0 Ok: queued`.

        An empty `sender` is the null return path (`MAIL FROM:<>`), for automatic replies.
        """
        envelope_from = envelope_address(sender) if sender else ""
        rcpts = list(dict.fromkeys(envelope_address(r) for r in recipients))
        if not rcpts:
            raise PermanentFailure("no recipients")
        smtp = self._connected()
        try:
            await smtp.mail(envelope_from)
            refused = await self._recipients(smtp, rcpts)
            if len(refused) == len(rcpts):
                await self._reset()
                temporary = any(e.code < 500 for e in refused)
                failure = TemporaryFailure if temporary else PermanentFailure
                raise failure("; ".join(f"{e.recipient}: {e.code} {e.message}" for e in refused))
            response = await smtp.data(data)
        except SMTPResponseException as error:
            await self._reset()
            raise verdict(error) from None
        except (SMTPException, OSError, TimeoutError) as error:
            self.broken = True
            raise TemporaryFailure(_describe(error)) from None
        accepted = f"{response.code} {response.message}"
        if refused:
            accepted += "; refused: " + ", ".join(f"{e.recipient} {e.code}" for e in refused)
        return accepted

    async def _recipients(
        self, smtp: aiosmtplib.SMTP, rcpts: list[str]
    ) -> list[SMTPRecipientRefused]:
        refused = []
        for rcpt in rcpts:
            try:
                await smtp.rcpt(rcpt)
            except SMTPRecipientRefused as error:
                refused.append(error)
        return refused

    def _connected(self) -> aiosmtplib.SMTP:
        if self._smtp is None or self.broken or not self._smtp.is_connected:
            raise TemporaryFailure("the SMTP session is closed")
        return self._smtp

    async def _reset(self) -> None:
        try:
            await self._connected().rset()
        except (SMTPException, OSError, TimeoutError):
            self.broken = True

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            await smtp.quit()
        except (SMTPException, OSError, TimeoutError):
            smtp.close()


def _describe(error: BaseException) -> str:
    cause = error.__cause__ or error.__context__
    text = str(error) or type(error).__name__
    if isinstance(cause, ssl.SSLError) and str(cause) not in text:
        text += f" ({cause})"
    return text[:500]
