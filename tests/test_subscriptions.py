"""Subscription records and their indexes against real Redis."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import redis.asyncio as aioredis

from bot import keys, subscriptions
from bot.subscriptions import Mode, Subscription

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


async def test_repair_drops_orphans_and_restores_missing_entries(redis: aioredis.Redis) -> None:
    kept = Subscription(chat_id=1, mode=Mode.BOTH)
    lost = Subscription(chat_id=2)
    await subscriptions.save(redis, kept, NOW)
    # A crash between the record and its indexes, both ways round:
    await redis.hset(keys.subscription(lost.chat_id), "data", lost.to_json())
    await redis.sadd(keys.subscribers(), 3)
    await redis.sadd(keys.alert_chats(), 3)
    await redis.zadd(keys.digest_due(), {"3": NOW.timestamp()})
    repaired = await subscriptions.repair_indexes(redis, NOW, batch=1)
    assert repaired == 4
    assert await subscriptions.all_chat_ids(redis) == [1, 2]
    assert await redis.smembers(keys.alert_chats()) == {"1"}
    assert set(await redis.zrange(keys.digest_due(), 0, -1)) == {"1", "2"}
    assert await subscriptions.repair_indexes(redis, NOW) == 0


async def test_digest_done_never_revives_or_overwrites(redis: aioredis.Redis) -> None:
    sub = Subscription(chat_id=7, digest_time="09:00", tz="Europe/Moscow")
    await subscriptions.save(redis, sub, NOW)
    changed = dataclasses.replace(sub, apps=("signal",), tz="Asia/Tehran")
    await subscriptions.save(redis, changed, NOW)  # a settings change during scheduling
    await subscriptions.digest_done(redis, sub, NOW)  # the scheduler held the old record
    stored = await subscriptions.get(redis, 7)
    assert stored is not None and stored.apps == ("signal",) and stored.tz == "Asia/Tehran"
    assert stored.last_digest == NOW.timestamp()
    due = await redis.zscore(keys.digest_due(), "7")
    assert due is not None
    assert datetime.fromtimestamp(due, stored.zone).strftime("%H:%M") == "09:00"
    await subscriptions.delete(redis, 7)
    await subscriptions.digest_done(redis, sub, NOW)  # /unsubscribe won the race
    assert await subscriptions.get(redis, 7) is None
    assert await redis.zscore(keys.digest_due(), "7") is None
