"""Resource limits at the HTTP edge: how large a request body and how many requests a minute.

Bodies. A body above its cap is answered 413 (`payload-too-large`) before a route reads it: on
its Content-Length when it declares one; otherwise (chunked) this middleware reads it up to the
cap and hands the chunks on to the app, so never more than the cap is held. The caps:
`max_message_bytes` for message/rfc822 bodies, that many bytes in base64 plus `max_json_bytes`
for the routes that compose email (their attachments travel in the JSON), and `max_json_bytes`
for every other body.

Rates. Each request with a known user token counts once against its token and once against the
token's company; over either limit → 429 (`rate-limited`) with `Retry-After`. The check runs here,
before authentication, and needs no principal: the token is identified by its hash, as the token
store does, and the hash names the `AccessToken` record, which says the company (a token never
changes company, so a bounded LRU keeps the answer). Tokens the store does not know, and expired
or revoked ones seen for the first time, are not counted: the route answers them 401, and
counting them would let anyone fill the limiter with made-up keys. A token revoked after it was
first seen keeps counting, within its own per-token limit. The operator token and /healthz,
/readyz, /metrics are exempt. Neither the token nor its hash is ever logged.

Counting uses fixed one-minute windows, a counter per key and window: on Redis (when
`redis_url` is set, shared by every process) INCR and EXPIRE in one MULTI/EXEC round trip, no
script needed; otherwise a dict in the process. The price of fixed windows over a token bucket is
a possible burst of twice the rate across a window boundary, which is fine for abuse protection;
`Retry-After` is the seconds left in the window. The window comes from `services.clock`.
"""

from __future__ import annotations

import hmac
import logging
import math
import re
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import Protocol
from uuid import UUID

import redis
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.bootstrap import Services, hash_token
from api.problems import problem
from api.settings import Settings
from domain.ids import token_id

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
EMAIL_ROUTES = re.compile(  # their attachments travel in the JSON body
    r"/v1/(interactions/[^/]+/(reply|forward|draft)|companies/[^/]+/outbound)"
)
RFC822 = "message/rfc822"
KNOWN_TOKENS = 10_000


def window_of(now: datetime) -> tuple[int, int]:
    """The number of the window `now` falls in, and the whole seconds until it ends (>= 1)."""
    seconds = now.timestamp()
    window = math.floor(seconds / WINDOW_SECONDS)
    return window, max(1, math.ceil((window + 1) * WINDOW_SECONDS - seconds))


class RateLimiter(Protocol):
    def count(self, key: str, window: int) -> int:
        """Counts one more request for `key` in `window`; returns the count so far."""

    def close(self) -> None: ...


class MemoryRateLimiter:
    """The counts of the current window, in this process; older windows are dropped."""

    def __init__(self) -> None:
        self._lock = Lock()
        self._window: int | None = None
        self._counts: dict[str, int] = {}

    def count(self, key: str, window: int) -> int:
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            self._counts[key] = count = self._counts.get(key, 0) + 1
        return count

    def close(self) -> None:
        """Nothing to release."""


class RedisRateLimiter:
    """Counts shared by every process: one key per limit and window, expiring after it."""

    def __init__(self, url: str, prefix: str) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.prefix = prefix

    def count(self, key: str, window: int) -> int:
        name = f"{self.prefix}{key}:{window}"
        with self._client.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, 2 * WINDOW_SECONDS)
            count, _ = pipe.execute()
        return int(count)

    def close(self) -> None:
        self._client.close()


def rate_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, settings.rate_key_prefix)
    return MemoryRateLimiter()


@dataclass(frozen=True)
class Refusal:
    per: str  # "token" or "company"
    limit: int
    retry_after: int


class RateLimits:
    """Counts a request against its token and its company."""

    def __init__(self, services: Services, limiter: RateLimiter) -> None:
        self.services, self.limiter = services, limiter
        self._companies: OrderedDict[str, UUID] = OrderedDict()  # token hash → company
        self._lock = Lock()

    def check(self, authorization: str | None) -> Refusal | None:
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        operator = self.services.settings.admin_token
        if operator and hmac.compare_digest(token.encode(), operator.encode()):
            return None
        token_hash = hash_token(token)
        company_id = self._company_of(token_hash)
        if company_id is None:
            return None
        settings = self.services.settings
        window, retry_after = window_of(self.services.clock())
        for per, key, limit in (
            ("token", f"token:{token_hash}", settings.rate_per_token),
            ("company", f"company:{company_id}", settings.rate_per_company),
        ):
            try:
                count = self.limiter.count(key, window)
            except redis.RedisError as error:
                log.warning("rate limits unavailable, the request goes through: %s", error)
                return None
            if count > limit:
                return Refusal(per, limit, retry_after)
        return None

    def _company_of(self, token_hash: str) -> UUID | None:
        with self._lock:
            company_id = self._companies.get(token_hash)
            if company_id is not None:
                self._companies.move_to_end(token_hash)
                return company_id
        stored = self.services.app.token(token_id(token_hash))
        if stored is None or not stored.is_valid_at(self.services.clock()):
            return None
        with self._lock:
            self._companies[token_hash] = stored.company_id
            if len(self._companies) > KNOWN_TOKENS:
                self._companies.popitem(last=False)
        return stored.company_id


class ResourceLimits:
    """ASGI middleware: body caps and rate limits, before any route runs."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app, self.services = app, services
        self.rates = RateLimits(services, rate_limiter(services.settings))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            try:
                await self.app(scope, receive, send)
            finally:
                self.rates.limiter.close()
            return
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        cap = self.body_cap(scope["path"], headers.get("content-type"))
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > cap:
            await too_large(cap)(scope, receive, send)
            return
        refusal = await run_in_threadpool(self.rates.check, headers.get("authorization"))
        if refusal is not None:
            await rate_limited(refusal)(scope, receive, send)
            return
        if declared is None and (
            "transfer-encoding" in headers or scope["method"] in ("POST", "PUT", "PATCH")
        ):
            chunks = await read_at_most(receive, cap)
            if chunks is None:
                await too_large(cap)(scope, receive, send)
                return
            receive = replaying(chunks, receive)
        await self.app(scope, receive, send)

    def body_cap(self, path: str, content_type: str | None) -> int:
        settings = self.services.settings
        if (content_type or "").split(";")[0].strip().lower() == RFC822:
            return settings.max_message_bytes
        if EMAIL_ROUTES.fullmatch(path):
            return math.ceil(settings.max_message_bytes / 3) * 4 + settings.max_json_bytes
        return settings.max_json_bytes


async def read_at_most(receive: Receive, cap: int) -> list[Message] | None:
    """The body's messages, or None as soon as they add up to more than `cap` bytes."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages  # the client went away; the app will see it too
        size += len(message.get("body", b""))
        if size > cap:
            return None
        if not message.get("more_body", False):
            return messages


def replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def too_large(cap: int) -> ASGIApp:
    return problem(413, "payload-too-large", f"the request body is above {cap} bytes", limit=cap)


def rate_limited(refusal: Refusal) -> ASGIApp:
    return problem(
        429,
        "rate-limited",
        f"more than {refusal.limit} requests a minute for this {refusal.per}",
        {"Retry-After": str(refusal.retry_after)},
        limit=refusal.limit,
        per=refusal.per,
    )


def install(app: FastAPI, services: Services) -> None:
    app.add_middleware(ResourceLimits, services=services)
