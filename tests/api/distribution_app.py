"""An API process with distribution, for `uvicorn --factory tests.api.distribution_app:create`.

Configured by the environment like `inboxflow serve`; `INBOXFLOW_TEST_PRESENCE_TTL` and
`INBOXFLOW_TEST_HEARTBEAT` shorten presence so that a dropped connection shows within a test.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from api.bootstrap import build
from api.settings import Settings
from tests.api.distribution_env import distributed_app


def create() -> FastAPI:
    services = build(Settings.from_env())
    app, distribution = distributed_app(services)
    distribution.presence.ttl = float(os.environ.get("INBOXFLOW_TEST_PRESENCE_TTL", "30"))
    distribution.heartbeat = float(os.environ.get("INBOXFLOW_TEST_HEARTBEAT", "10"))
    return app
