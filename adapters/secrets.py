"""Mailbox credentials at rest: sealed with Fernet under a key from configuration."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

PREFIX = "fernet:"


class SecretBox:
    """Seals and opens short secrets; the key is any string, stretched to a Fernet key."""

    def __init__(self, key: str) -> None:
        digest = hashlib.sha256(key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, secret: str) -> str:
        return PREFIX + self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(PREFIX):
            raise ValueError("not a sealed secret")
        try:
            return self._fernet.decrypt(sealed[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            raise ValueError("the secret was sealed with another key") from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"


def secret_box(key: str | None, data_dir: Path) -> SecretBox:
    """The configured key, or on the embedded default one generated once under `data_dir`."""
    if key:
        return SecretBox(key)
    path = data_dir / "secret-key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(Fernet.generate_key().decode())
        path.chmod(0o600)
    return SecretBox(path.read_text().strip())
