"""Leases: one process at a time polls feeds or calls getUpdates, and a dead holder's
lease passes on.

The TTL itself is Redis's job. What we check is that our calls set it (PTTL) and what they
do once it has run out; "it ran out" is made to happen now with PEXPIREAT in the past,
which is exactly what Redis does when the time comes, so no test sleeps for a lease to
expire. The keeper tests wait for an observable event (a renewed TTL, a loss callback)
with a deadline, never for a fixed time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot import keys
from bot.leases import (
    DEFAULT_TTL,
    Lease,
    holder_of,
    keep,
    lease_lost,
    new_holder,
    renew_interval,
    wait_to_acquire,
)

KEY = keys.lease("poll")


async def expire_now(redis: aioredis.Redis) -> None:
    """What Redis does when the lease's TTL runs out, done now."""
    await redis.pexpireat(KEY, 1)


async def until(check: Callable[[], Awaitable[bool]], deadline: float = 5.0) -> None:
    """Wait until `check()` holds, looking every 20 ms; fail after `deadline` seconds."""
    async with asyncio.timeout(deadline):
        while not await check():  # noqa: ASYNC110 (Redis state has no event to await)
            await asyncio.sleep(0.02)


# ----- pure decisions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "interval"),
    [(30.0, 10.0), (0.3, 0.1), (90.0, 30.0)],
)
def test_a_holder_renews_three_times_per_ttl(ttl: float, interval: float) -> None:
    assert renew_interval(ttl) == pytest.approx(interval)


@pytest.mark.parametrize(
    ("confirmed", "now", "ttl", "lost"),
    [
        (100.0, 100.0, 30.0, False),  # just renewed
        (100.0, 129.9, 30.0, False),  # Redis down a while, the key still lives
        (100.0, 130.0, 30.0, True),  # the key may have expired: someone else may poll
        (100.0, 500.0, 30.0, True),
    ],
)
def test_a_holder_gives_up_once_a_ttl_passed_unconfirmed(
    confirmed: float, now: float, ttl: float, lost: bool
) -> None:
    assert lease_lost(confirmed, now, ttl) is lost


def test_holder_ids_differ_between_processes() -> None:
    assert new_holder() != new_holder()


# ----- acquire, renew, release --------------------------------------------------------------


async def test_first_comer_holds_the_lease_with_its_ttl(redis: aioredis.Redis) -> None:
    a = Lease(redis, "poll", "proc-a", ttl=30)
    b = Lease(redis, "poll", "proc-b", ttl=30)
    assert await holder_of(redis, "poll") is None
    assert await a.acquire() is True
    assert await b.acquire() is False
    assert await holder_of(redis, "poll") == "proc-a"
    assert 29_000 < await redis.pttl(KEY) <= 30_000


async def test_acquiring_a_lease_already_held_renews_it(redis: aioredis.Redis) -> None:
    a = Lease(redis, "poll", "proc-a", ttl=30)
    assert await a.acquire()
    await redis.pexpire(KEY, 500)
    assert await a.acquire() is True
    assert await redis.pttl(KEY) > 29_000


async def test_only_the_holder_renews(redis: aioredis.Redis) -> None:
    a = Lease(redis, "poll", "proc-a", ttl=30)
    b = Lease(redis, "poll", "proc-b", ttl=30)
    await a.acquire()
    await redis.pexpire(KEY, 500)
    assert await b.renew() is False
    assert await redis.pttl(KEY) <= 500
    assert await a.renew() is True
    assert await redis.pttl(KEY) > 29_000
    assert await holder_of(redis, "poll") == "proc-a"


async def test_release_by_a_non_holder_does_nothing(redis: aioredis.Redis) -> None:
    a = Lease(redis, "poll", "proc-a", ttl=30)
    b = Lease(redis, "poll", "proc-b", ttl=30)
    await a.acquire()
    await b.release()
    assert await holder_of(redis, "poll") == "proc-a"
    await a.release()
    assert await holder_of(redis, "poll") is None
    assert await b.acquire() is True


async def test_a_dead_holders_lease_passes_on_and_it_cannot_take_it_back(
    redis: aioredis.Redis,
) -> None:
    dead = Lease(redis, "poll", "proc-dead", ttl=30)
    heir = Lease(redis, "poll", "proc-heir", ttl=30)
    await dead.acquire()
    await expire_now(redis)  # the holder stopped renewing and its TTL ran out
    assert await heir.acquire() is True
    assert await dead.renew() is False  # a holder waking up late finds it gone
    await dead.release()
    assert await holder_of(redis, "poll") == "proc-heir"


async def test_leases_with_different_names_are_independent(redis: aioredis.Redis) -> None:
    assert await Lease(redis, "poll", "proc-a").acquire()
    assert await Lease(redis, "updates", "proc-b").acquire()
    assert await holder_of(redis, "poll") == "proc-a"
    assert await holder_of(redis, "updates") == "proc-b"


@pytest.mark.parametrize(("holder", "ttl"), [("", 30.0), ("proc-a", 0.0), ("proc-a", -1.0)])
def test_a_lease_needs_a_holder_and_a_positive_ttl(
    redis: aioredis.Redis, holder: str, ttl: float
) -> None:
    with pytest.raises(ValueError):
        Lease(redis, "poll", holder, ttl)


# ----- keeping and waiting ------------------------------------------------------------------


async def test_a_kept_lease_is_renewed_until_stopped(redis: aioredis.Redis) -> None:
    lease = Lease(redis, "poll", "proc-a", ttl=0.3)
    assert await lease.acquire()
    stop = asyncio.Event()
    lost: list[str] = []

    async def on_lost() -> None:
        lost.append("lost")

    keeper = asyncio.create_task(keep(lease, stop, on_lost))
    await redis.pexpire(KEY, 600_000)  # a renewal brings the TTL back to 300 ms

    async def renewed() -> bool:
        return 0 < await redis.pttl(KEY) <= 300

    await until(renewed)
    stop.set()
    await asyncio.wait_for(keeper, 5)
    assert lost == []
    assert await holder_of(redis, "poll") == "proc-a"


async def test_a_keeper_reports_a_lease_taken_by_another(redis: aioredis.Redis) -> None:
    lease = Lease(redis, "poll", "proc-a", ttl=0.3)
    assert await lease.acquire()
    lost = asyncio.Event()

    async def on_lost() -> None:
        lost.set()

    keeper = asyncio.create_task(keep(lease, asyncio.Event(), on_lost))
    await expire_now(redis)
    assert await Lease(redis, "poll", "proc-b", ttl=30).acquire()
    await asyncio.wait_for(lost.wait(), 5)
    await asyncio.wait_for(keeper, 5)  # keeping ended with the loss
    assert await holder_of(redis, "poll") == "proc-b"


async def test_a_keeper_without_redis_gives_up_after_a_ttl() -> None:
    unreachable = aioredis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    lease = Lease(unreachable, "poll", "proc-a", ttl=0.3)
    lost = asyncio.Event()

    async def on_lost() -> None:
        lost.set()

    try:
        await asyncio.wait_for(keep(lease, asyncio.Event(), on_lost), 10)
    finally:
        await unreachable.aclose()
    assert lost.is_set()


async def test_a_waiting_process_takes_over_when_the_lease_frees(redis: aioredis.Redis) -> None:
    holder = Lease(redis, "updates", "proc-a", ttl=30)
    waiter = Lease(redis, "updates", "proc-b", ttl=30)
    await holder.acquire()
    waiting = asyncio.create_task(wait_to_acquire(waiter, asyncio.Event(), retry=0.02))
    await asyncio.sleep(0)
    assert not waiting.done()
    await holder.release()
    assert await asyncio.wait_for(waiting, 5) is True
    assert await holder_of(redis, "updates") == "proc-b"


async def test_waiting_ends_without_the_lease_when_stopped(redis: aioredis.Redis) -> None:
    await Lease(redis, "updates", "proc-a", ttl=30).acquire()
    stop = asyncio.Event()
    waiting = asyncio.create_task(wait_to_acquire(Lease(redis, "updates", "proc-b"), stop))
    stop.set()
    assert await asyncio.wait_for(waiting, 5) is False
    assert await holder_of(redis, "updates") == "proc-a"


def test_a_dead_pollers_lease_passes_on_within_a_minute_by_default() -> None:
    """Worst case: the key lives one TTL, then a waiter's next try comes one interval later."""
    assert DEFAULT_TTL + renew_interval(DEFAULT_TTL) < 60
