"""A real SMTP server for the tests: aiosmtpd with STARTTLS (or implicit TLS), AUTH, a test CA,
and a script of answers (`451` once, `550` always, a refused recipient)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USERNAME, PASSWORD = "support@acme.test", "s3cret-smtp"
ACCEPTED = "250 2.0.0 Ok: queued"


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(directory: Path) -> Certificates:
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "inboxflow test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(ca_key, hashes.SHA256())
    )
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    found = Certificates(directory / "ca.pem", directory / "server.pem", directory / "key.pem")
    found.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    found.cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    found.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return found


@dataclass(frozen=True)
class Delivered:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed: EmailMessage = BytesParser(policy=policy.default).parsebytes(self.data)
        return parsed

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def header_names(self) -> list[str]:
        head = self.data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ")
        return [line.split(b":", 1)[0].decode().lower() for line in head.split(b"\r\n") if line]


@dataclass
class Script:
    """What the server answers; empty means accept."""

    data_answers: deque[str] = field(default_factory=deque)  # next DATA commands, in turn
    always: str | None = None  # every DATA command, after the queue is used up
    refused_recipients: dict[str, str] = field(default_factory=dict)
    data_delay: float = 0.0  # seconds before answering DATA, to widen a crash window


class _Handler:
    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_RCPT(  # noqa: N802 (aiosmtpd hook names)
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        refusal = self.peer.script.refused_recipients.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.peer.script.data_delay:
            await asyncio.sleep(self.peer.script.data_delay)
        with self.peer.lock:
            script = self.peer.script
            answer = script.data_answers.popleft() if script.data_answers else script.always
            self.peer.attempts += 1
            if answer is not None:
                return answer
            content = envelope.original_content or envelope.content
            self.peer.delivered.append(
                Delivered(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(content))
            )
        return ACCEPTED


def _authenticate(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USERNAME.encode(),
        PASSWORD.encode(),
    )
    # handled=False: aiosmtpd then answers 535 itself (else the client hangs)
    return AuthResult(success=good, handled=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpPeer:
    """aiosmtpd in a thread on a free loopback port; `delivered` lists what it accepted."""

    def __init__(self, certificates: Certificates, *, implicit_tls: bool = False) -> None:
        self.certificates, self.implicit_tls = certificates, implicit_tls
        self.host, self.port = "127.0.0.1", free_port()
        self.lock = threading.Lock()
        self.delivered: list[Delivered] = []
        self.attempts = 0
        self.script = Script()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certificates.cert_file, certificates.key_file)
        tls = {"ssl_context": context} if implicit_tls else {"tls_context": context}
        self._controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            require_starttls=not implicit_tls,
            authenticator=_authenticate,
            auth_require_tls=not implicit_tls,  # aiosmtpd cannot tell implicit TLS is on
            data_size_limit=40 * 1024 * 1024,
            **tls,  # type: ignore[arg-type]
        )

    def start(self) -> SmtpPeer:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def reset(self) -> None:
        with self.lock:
            self.delivered.clear()
            self.attempts = 0
            self.script = Script()

    def mailbox_settings(self, *, ca: bool = True, password: str = PASSWORD) -> dict[str, Any]:
        """The `smtp` block of a mailbox pointing here (the password still to be sealed)."""
        return {
            "host": self.host,
            "port": self.port,
            "tls": "implicit" if self.implicit_tls else "starttls",
            "ca_file": str(self.certificates.ca_file) if ca else None,
            "username": USERNAME,
            "password": password,
            "from_name": "Acme Support",
        }

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Delivered]:
        deadline = time.monotonic() + timeout
        while len(self.delivered) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.delivered)
