"""Content-addressed blob storage: bytes stored once under their SHA-256 digest."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

_DIGEST = re.compile(r"[0-9a-f]{64}")


class BlobNotFound(KeyError):
    """No blob is stored under this digest, or the digest is malformed."""


class BlobStore(Protocol):
    """Stores bytes under their SHA-256 hex digest."""

    def put(self, data: bytes) -> str: ...

    def get(self, digest: str) -> bytes: ...

    def exists(self, digest: str) -> bool: ...


def digest_of(data: bytes) -> str:
    """The SHA-256 hex digest a blob store files `data` under."""
    return hashlib.sha256(data).hexdigest()


class MemoryBlobStore:
    """Blob store held in a dict, for tests and embedded runs."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        self._blobs.setdefault(digest, bytes(data))
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self._blobs[digest]
        except KeyError:
            raise BlobNotFound(digest) from None

    def exists(self, digest: str) -> bool:
        return digest in self._blobs


class FileBlobStore:
    """Blob store on a file system: `root/ab/cd/<digest>`, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        path = self._path(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_directory(path.parent)
        return digest

    def get(self, digest: str) -> bytes:
        if not _DIGEST.fullmatch(digest):
            raise BlobNotFound(digest)
        try:
            return self._path(digest).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(digest) from None

    def exists(self, digest: str) -> bool:
        return bool(_DIGEST.fullmatch(digest)) and self._path(digest).is_file()

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
