"""Content-addressed blob storage: bytes stored once under their SHA-256 digest."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

_DIGEST = re.compile(r"[0-9a-f]{64}")


class BlobNotFound(KeyError):
    """No blob is stored under this digest, or the digest is malformed."""


class BlobStore(Protocol):
    """Stores bytes under their SHA-256 hex digest."""

    def put(self, data: bytes) -> str: ...

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """`put` for each item, made durable together (one sync instead of one per item)."""
        ...

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

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        return [self.put(data) for data in items]

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
        if not path.exists():
            self._write(path, data, sync=True)
            _fsync_directory(path.parent)
        return digest

    def put_many(self, items: Sequence[bytes]) -> list[str]:
        """Writes every new item, then syncs the file system once (Linux `syncfs`), or each
        file and directory where that call is missing."""
        digests, written = [], set()
        for data in items:
            digest = digest_of(data)
            digests.append(digest)
            path = self._path(digest)
            if path not in written and not path.exists():
                self._write(path, data, sync=False)
                written.add(path)
        if written and not _syncfs(self.root):
            for path in written:
                _fsync_file(path)
            for directory in {path.parent for path in written}:
                _fsync_directory(directory)
        return digests

    def _write(self, path: Path, data: bytes, *, sync: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                if sync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

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
    _fsync_file(directory)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(root: Path) -> bool:
    """Flushes the whole file system holding `root`; False where there is no `syncfs`."""
    syncfs = _libc_syncfs()
    if syncfs is None:
        return False
    fd = os.open(root, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs failed", str(root))
    finally:
        os.close(fd)
    return True


@functools.cache
def _libc_syncfs() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if sys.platform != "linux" or name is None:
        return None
    function: Callable[[int], int] | None = getattr(
        ctypes.CDLL(name, use_errno=True), "syncfs", None
    )
    return function
