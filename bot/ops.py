"""Operations: telling admins about bulk delivery failures and Redis outages, and the
optional HTTP port with ``/healthz`` and ``/metrics``."""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from redis.exceptions import RedisError

from bot import keys
from bot.leases import holder_of
from bot.metrics import Metrics
from bot.send import Outcome
from bot.storage import Redis

log = logging.getLogger(__name__)

WINDOW = 50
BULK_SHARE = 0.5
NOTICE_EVERY = 3600.0

Notify = Callable[..., Awaitable[None]]


def bulk_failing(outcomes: deque[bool], window: int = WINDOW, share: float = BULK_SHARE) -> bool:
    """True when at least ``share`` of the last ``window`` sends failed (pure)."""
    return len(outcomes) >= window and outcomes.count(False) >= share * window


@dataclass
class Watchdog:
    """Remembers recent outcomes and outages; tells admins once per change."""

    notify: Notify
    clock: Callable[[], float] = time.time
    _outcomes: deque[bool] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _failing_told: float = 0.0
    _redis_down_since: float = 0.0

    async def delivery_outcome(self, outcome: Outcome) -> None:
        if outcome is Outcome.BLOCKED:
            return  # a chat that blocked the bot is not a delivery failure
        self._outcomes.append(outcome is Outcome.SENT)
        now = self.clock()
        if bulk_failing(self._outcomes) and now - self._failing_told > NOTICE_EVERY:
            self._failing_told = now
            failed = self._outcomes.count(False)
            await self.notify("delivery_failing", failed=failed, total=len(self._outcomes))

    async def redis_trouble(self, error: Exception) -> None:
        if not self._redis_down_since:
            self._redis_down_since = self.clock()
            log.error("Redis unreachable: %s", error)

    async def redis_ok(self) -> None:
        if self._redis_down_since:
            down = self.clock() - self._redis_down_since
            self._redis_down_since = 0.0
            log.warning("Redis is back after %.0fs", down)
            await self.notify("redis_back", seconds=f"{down:.0f}")


async def start_http(
    redis: Redis, metrics: Metrics, host: str, port: int, clock: Callable[[], float] = time.time
) -> web.AppRunner:
    """Serve ``/healthz`` (JSON; 503 when Redis does not answer) and ``/metrics``."""

    async def healthz(_request: web.Request) -> web.Response:
        body: dict[str, object] = {"redis": "ok"}
        status = 200
        try:
            await redis.ping()
            finished = await redis.hget(keys.poll_last(), "finished")
            body["last_poll_age_s"] = round(clock() - float(finished), 1) if finished else None
            body["update_lease"] = await holder_of(redis, "updates")
            body["poll_lease"] = await holder_of(redis, "poll")
        except RedisError as e:
            body["redis"] = f"unreachable: {type(e).__name__}"
            status = 503
        return web.Response(text=json.dumps(body), status=status, content_type="application/json")

    async def prometheus(_request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", prometheus)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("health and metrics on http://%s:%s", host, port)
    return runner
