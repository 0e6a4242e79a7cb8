"""Configuration from the environment (DESIGN §6); the defaults give the embedded mode."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.persistence import Persistence, PostgresTarget


class Settings(BaseModel):
    """Everything a process needs to know about where it runs."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path = Path("var")
    database_url: str | None = None
    database_schema: str = "public"
    redis_url: str | None = None
    admin_token: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str | None = None
    max_message_bytes: int = Field(default=25 * 1024 * 1024, ge=1024)
    max_json_bytes: int = Field(default=1024 * 1024, ge=256)
    rate_per_token: int = Field(default=600, ge=1)  # requests per minute (see api/limits.py)
    rate_per_company: int = Field(default=3000, ge=1)
    rate_key_prefix: str = "inboxflow:rate:"  # Redis keys, for deployments sharing a Redis
    run_workers: bool = True
    log_format: Literal["text", "json"] = "text"  # json: one object per line (api/logs.py)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    ready_max_lag: int = Field(default=1000, ge=0)  # log positions a projection may lag (/readyz)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)  # a worker's own /metrics

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in cls.model_fields:
            raw = env.get(f"INBOXFLOW_{field.upper()}")
            if raw not in (None, ""):
                values[field] = raw
        return cls.model_validate(values)

    def persistence(self, *, migrating: bool = False) -> Persistence:
        """On PostgreSQL only `inboxflow migrate` creates tables; SQLite files create their own."""
        if not self.database_url:
            return Persistence(data_dir=self.data_dir)
        postgres = PostgresTarget.from_url(self.database_url, schema=self.database_schema)
        return Persistence(data_dir=self.data_dir, postgres=postgres, create_tables=migrating)
