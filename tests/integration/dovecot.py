"""A real Dovecot for the tests: started in the foreground on free loopback ports, with a test CA.

The recipe is `../shared/notes/test-peers.md`, with one static password instead of a passwd
file: maildir under a directory owned by `nobody`, `auth_failure_delay = 0`, readiness by
reading the IMAP greeting. Every user name is a mailbox of its own, created at its first login.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from contextlib import suppress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from imapclient import IMAPClient

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_failure_delay = 0
mail_fsync = never
protocol imap {{
  mail_max_userip_connections = 200
}}
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


def is_installed() -> bool:
    return Path(DOVECOT).exists() and Path(DOVEADM).exists()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey]
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer[0]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o644)  # read by Dovecot's master only, inside a throwaway directory


def make_certificates(root: Path, *, self_signed: bool = False) -> Path:
    """The server's cert.pem/key.pem for 127.0.0.1 and localhost; returns the file to trust.

    By default a test CA signs the server certificate (trust `ca.pem`); `self_signed` makes a
    certificate that is its own issuer (trust `cert.pem` itself).
    """
    server_key = ec.generate_private_key(ec.SECP256R1())
    san = x509.SubjectAlternativeName(
        [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    )
    if self_signed:
        issuer = ("localhost", server_key)
        trust = root / "cert.pem"
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = (
            _certificate("inboxflow test CA", ca_key, ("inboxflow test CA", ca_key))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        (root / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        issuer = ("inboxflow test CA", ca_key)
        trust = root / "ca.pem"
    server = (
        _certificate("localhost", server_key, issuer)
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=self_signed, path_length=None), critical=True)
        .sign(issuer[1], hashes.SHA256())
    )
    (root / "cert.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    _write_key(root / "key.pem", server_key)
    return trust


class Dovecot:
    """One Dovecot master process in the foreground, its files under a fresh directory."""

    def __init__(self, *, self_signed: bool = False) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="inboxflow-dovecot-"))
        self.root.chmod(0o755)
        for name in ("run", "state", "mail"):
            (self.root / name).mkdir()
        os.chown(self.root / "mail", *_nobody())
        self.ca_file = make_certificates(self.root, self_signed=self_signed)
        self.imap_port, self.imaps_port = free_port(), free_port()
        # every user name logs in with this one password (a passwd file is re-read at most once
        # a second, so users added within a second would be unknown)
        self.password = secrets.token_hex(8)
        self.config = self.root / "dovecot.conf"
        uid, gid = _nobody()
        self.config.write_text(
            CONFIG.format(
                root=self.root,
                password=self.password,
                uid=uid,
                gid=gid,
                imap_port=self.imap_port,
                imaps_port=self.imaps_port,
            )
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        self.process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: `stop` ends the sessions too
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.log()}")
            if self._greets():
                return
            time.sleep(0.02)
        raise RuntimeError(f"dovecot did not greet within {timeout} s: {self.log()}")

    def _greets(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.imap_port), timeout=1) as sock:
                greeting = sock.recv(200)
                sock.sendall(b"a LOGOUT\r\n")
                with suppress(OSError):
                    sock.recv(200)
                return greeting.startswith(b"* OK")
        except OSError:
            return False

    def stop(self) -> None:
        """Stops the server and every session it serves, as a machine going down would."""
        if self.process is not None and self.process.poll() is None:
            group = os.getpgid(self.process.pid)
            os.killpg(group, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                self.process.wait()
            with suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)  # sessions that outlived their master
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    # --- a second client, as a person or another program would be ---------------------------

    def client(self, username: str) -> IMAPClient:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        client = IMAPClient("127.0.0.1", self.imaps_port, ssl=True, ssl_context=context, timeout=30)
        client.login(username, self.password)
        return client

    def append(
        self,
        username: str,
        messages: Iterable[bytes],
        folder: str = "INBOX",
        *,
        flags: Sequence[bytes] = (),
        msg_time: dt.datetime | None = None,
    ) -> None:
        """APPENDs each message (one round trip each), creating the folder if needed."""
        client = self.client(username)
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            for raw in messages:
                client.append(folder, raw, flags=flags, msg_time=msg_time)
        finally:
            client.logout()

    def deliver(self, username: str, messages: Iterable[tuple[bytes, float]]) -> int:
        """Writes messages straight into the INBOX maildir (`new/`), each with its arrival time
        as the file's mtime (Dovecot's INTERNALDATE); the fast way to load thousands."""
        new = self.root / "mail" / username / "Maildir" / "new"
        for sub in ("new", "cur", "tmp"):
            (new.parent / sub).mkdir(parents=True, exist_ok=True)
        uid, gid = _nobody()
        for path in (self.root / "mail" / username, *new.parent.parent.rglob("*")):
            if path.is_dir():
                os.chown(path, uid, gid)
        count = 0
        stamp = time.time_ns()
        for count, (raw, arrived) in enumerate(messages, start=1):
            path = new / f"{stamp}.M{count}P{os.getpid()}.inboxflow-test"
            path.write_bytes(raw)
            os.utime(path, (arrived, arrived))
        return count

    def doveadm(self, *args: str, stdin: bytes | None = None) -> str:
        result = subprocess.run(
            [DOVEADM, "-c", str(self.config), *args],
            input=stdin,
            capture_output=True,
            check=True,
            timeout=60,
        )
        return result.stdout.decode(errors="replace")


def _nobody() -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid
