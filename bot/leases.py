"""Leases in Redis: one process at a time does a job (polling feeds, calling getUpdates).

A lease is one key (`keys.lease`) holding its holder's id, with a TTL. The holder renews it
every third of the TTL and only while it still holds it; when the holder dies the key
expires and a waiting process takes it within one TTL plus one retry interval (30 s + 10 s
with the defaults: under a minute). Renewal and release compare the holder first inside one
Lua call, so a process that lost its lease can never extend or delete its successor's.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import uuid
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from bot import keys
from bot.storage import Redis

log = logging.getLogger(__name__)

DEFAULT_TTL = 30.0

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


# ----- pure decisions -----------------------------------------------------------------------


def renew_interval(ttl: float) -> float:
    """How often a holder renews: three chances before the lease would expire."""
    return ttl / 3


def lease_lost(confirmed: float, now: float, ttl: float) -> bool:
    """Whether a holder must assume its lease gone: no renewal confirmed for a whole TTL.

    `confirmed` is when the last successful renewal was *sent* (the key expires no sooner
    than `confirmed + ttl`); `now` is on the same clock.
    """
    return now >= confirmed + ttl


def new_holder() -> str:
    """A holder id unique to this process run, readable in /healthz: host:pid:random."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# ----- the lease ----------------------------------------------------------------------------


class Lease:
    """A named lease taken by `holder` for `ttl` seconds at a time."""

    def __init__(self, redis: Redis, name: str, holder: str, ttl: float = DEFAULT_TTL) -> None:
        if ttl <= 0:
            raise ValueError("a lease's ttl must be positive")
        if not holder:
            raise ValueError("a lease needs a holder id")
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self._redis = redis
        self._key = keys.lease(name)
        self._millis = max(1, math.ceil(ttl * 1000))
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours, then renewed); True when held."""
        if await self._redis.set(self._key, self.holder, nx=True, px=self._millis):
            return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lease by a full TTL, only while we still hold it; True when held."""
        return bool(await self._renew(keys=[self._key], args=[self.holder, self._millis]))

    async def release(self) -> None:
        """Give the lease up now if we hold it; a lease someone else holds is left alone."""
        await self._release(keys=[self._key], args=[self.holder])


async def holder_of(redis: Redis, name: str) -> str | None:
    """Who holds a lease now, or None when it is free."""
    holder = await redis.get(keys.lease(name))
    return str(holder) if holder is not None else None


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for `stop`; True when it was set."""
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        return False
    return True


async def wait_to_acquire(lease: Lease, stop: asyncio.Event, retry: float | None = None) -> bool:
    """Try to take the lease every `retry` seconds (a third of its TTL) until it is ours.

    Returns True once held, False when `stop` was set first. Redis errors are logged and
    retried: a process without Redis cannot hold anything anyway.
    """
    interval = renew_interval(lease.ttl) if retry is None else retry
    while not stop.is_set():
        try:
            if await lease.acquire():
                log.info("lease %s taken by %s", lease.name, lease.holder)
                return True
        except RedisError as e:
            log.warning("could not try lease %s: %s", lease.name, e)
        if await _stopped_within(stop, interval):
            break
    return False


async def keep(lease: Lease, stop: asyncio.Event, on_lost: Callable[[], Awaitable[None]]) -> None:
    """Renew a held lease every third of its TTL until `stop` is set.

    When a renewal finds someone else holding it, or Redis could not confirm one for a whole
    TTL, `on_lost` is awaited and keeping ends: the caller stops the job the lease guarded.
    Releasing on a clean stop is the caller's choice (`lease.release()`).
    """
    loop = asyncio.get_running_loop()
    confirmed = loop.time()
    while not await _stopped_within(stop, renew_interval(lease.ttl)):
        sent = loop.time()
        try:
            held = await lease.renew()
        except RedisError as e:
            log.warning("could not renew lease %s: %s", lease.name, e)
            held = not lease_lost(confirmed, loop.time(), lease.ttl)
        else:
            if held:
                confirmed = sent
        if not held:
            log.warning("lease %s lost by %s", lease.name, lease.holder)
            await on_lost()
            return
