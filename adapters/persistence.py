"""Persistence settings: SQLite files by default, PostgreSQL when a URL is configured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore

from adapters.group_commit import TOPIC as GROUP_COMMIT


@dataclass(frozen=True)
class PostgresTarget:
    dbname: str
    host: str
    port: int
    user: str
    password: str
    schema: str = "public"

    @classmethod
    def from_url(cls, url: str, schema: str = "public") -> PostgresTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise ValueError("the database URL must start with postgresql://")
        return cls(
            dbname=unquote(parts.path.lstrip("/")) or "postgres",
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            schema=schema,
        )

    def conninfo(self) -> str:
        return (
            f"dbname={self.dbname} host={self.host} port={self.port} user={self.user} "
            f"password={self.password} options=-csearch_path={self.schema}"
        )


@dataclass(frozen=True)
class Persistence:
    """Where events and read models live; one of `postgres` or `data_dir` decides."""

    data_dir: Path
    postgres: PostgresTarget | None = None
    pool_size: int = 4
    create_tables: bool = True

    @property
    def is_postgres(self) -> bool:
        return self.postgres is not None

    def application_env(self) -> dict[str, str]:
        """The eventsourcing environment of the write-side application.

        On PostgreSQL concurrent saves share transactions (`adapters.group_commit`).
        The aggregate cache keeps recently used aggregates in memory, so a hot agent or quota
        is not replayed from scratch. The ContactCenter's commands trust it without a query per
        load (`domain.application.optimistic.TrustingRepository`).
        """
        cache = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
        if self.postgres is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            return cache | {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.data_dir / "contactcenter.db"),
                "SQLITE_LOCK_TIMEOUT": "10",
                "CREATE_TABLE": "y" if self.create_tables else "n",
            }
        pg = self.postgres
        return cache | {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": pg.dbname,
            "POSTGRES_HOST": pg.host,
            "POSTGRES_PORT": str(pg.port),
            "POSTGRES_USER": pg.user,
            "POSTGRES_PASSWORD": pg.password,
            "POSTGRES_SCHEMA": pg.schema,
            "POSTGRES_POOL_SIZE": str(self.pool_size),
            "POSTGRES_MAX_OVERFLOW": str(self.pool_size * 2),
            "POSTGRES_LOCK_TIMEOUT": "5",
            "POSTGRES_CONNECT_TIMEOUT": "10",
            "APPLICATION_RECORDER_TOPIC": GROUP_COMMIT,
            "CREATE_TABLE": "y" if self.create_tables else "n",
        }

    def view_datastore(self, name: str) -> SQLiteDatastore | PostgresDatastore:
        """A datastore for one read model: its own SQLite file, or the shared PG database."""
        if self.postgres is None:
            directory = self.data_dir / "projections"
            directory.mkdir(parents=True, exist_ok=True)
            return SQLiteDatastore(str(directory / f"{name}.db"), lock_timeout=10)
        pg = self.postgres
        return PostgresDatastore(
            dbname=pg.dbname,
            host=pg.host,
            port=pg.port,
            user=pg.user,
            password=pg.password,
            schema=pg.schema,
            pool_size=1,
            max_overflow=4,
            lock_timeout=5,
        )
