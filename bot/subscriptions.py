"""Subscriptions: one record per chat in one Redis key, plus derived indexes for delivery.

The record (filters, delivery mode, digest time, zone, labels' language, chat kind) is one
hash written in one command, so a chat is never half-subscribed. The indexes (the set of
subscribed chats, the due-time sorted set, the alert set) are written right after and
repaired by ``repair_indexes``, which the periodic sweep runs.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import keys
from bot.schedule import next_digest_at, parse_clock
from bot.storage import Redis

DEFAULT_ZONES = {
    "ru": "Europe/Moscow",
    "uk": "Europe/Kyiv",
    "be": "Europe/Minsk",
    "fa": "Asia/Tehran",
}
SENT_TTL = 100 * 86400


class Mode(StrEnum):
    DIGEST = "digest"
    ALERTS = "alerts"
    BOTH = "both"


@dataclass(frozen=True, slots=True)
class Subscription:
    chat_id: int
    kind: str = "private"
    lang: str = "en"
    apps: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    mode: Mode = Mode.DIGEST
    digest_time: str = "09:00"
    tz: str = "UTC"
    title: str = ""
    created: float = 0.0
    last_digest: float = 0.0

    @property
    def wants_digest(self) -> bool:
        return self.mode in (Mode.DIGEST, Mode.BOTH)

    @property
    def wants_alerts(self) -> bool:
        return self.mode in (Mode.ALERTS, Mode.BOTH)

    @property
    def zone(self) -> ZoneInfo:
        return zone_or_utc(self.tz)

    def next_due(self, now: datetime) -> datetime:
        return next_digest_at(now, parse_clock(self.digest_time), self.zone)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Subscription:
        record = json.loads(text)
        for name in ("apps", "countries", "langs"):
            record[name] = tuple(record.get(name, ()))
        record["mode"] = Mode(record.get("mode", Mode.DIGEST))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


def zone_or_utc(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def default_zone(lang: str) -> str:
    return DEFAULT_ZONES.get(lang, "UTC")


def reader_zone(sub: Subscription | None, lang: str) -> ZoneInfo:
    """Where to show times: the subscription's zone, else a guess from the reader's language."""
    return sub.zone if sub else zone_or_utc(default_zone(lang))


_DIGEST_DONE = """
local data = redis.call('HGET', KEYS[1], 'data')
if not data then return 0 end
local record = cjson.decode(data)
record['last_digest'] = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'data', cjson.encode(record))
return 1
"""


async def exists(redis: Redis, chat_id: int) -> bool:
    return bool(await redis.exists(keys.subscription(chat_id)))


async def digest_done(redis: Redis, sub: Subscription, now: datetime) -> None:
    """Record that a digest was handled at ``now`` and schedule the next one, touching
    nothing else of the record and nothing at all when the chat unsubscribed meanwhile."""
    if await redis.eval(_DIGEST_DONE, 1, keys.subscription(sub.chat_id), now.timestamp()):
        current = await get(redis, sub.chat_id)
        if current is not None and current.wants_digest:
            later = now + timedelta(minutes=1)
            await redis.zadd(
                keys.digest_due(), {str(sub.chat_id): current.next_due(later).timestamp()}
            )
    else:
        await redis.zrem(keys.digest_due(), str(sub.chat_id))


async def repair_indexes(redis: Redis, now: datetime, batch: int = 500) -> int:
    """Make the indexes agree with the records after a crash between the two writes:
    ids without a record are dropped, records missing from the index are put back.
    A few round trips per page of ``batch`` chats."""
    repaired = 0
    for index in (keys.subscribers(), keys.alert_chats(), keys.digest_due()):
        cursor = 0
        while True:
            if index == keys.digest_due():
                cursor, scored = await redis.zscan(index, cursor, count=batch)
                members = [str(pair[0]) for pair in scored]
            else:
                cursor, found = await redis.sscan(index, cursor, count=batch)
                members = [str(m) for m in found]
            repaired += await _drop_orphans(redis, index, members)
            if cursor == 0:
                break
    keys_found: list[str] = []
    async for key in redis.scan_iter(match=keys.subscription_pattern(), count=batch):
        keys_found.append(str(key))
        if len(keys_found) >= batch:
            repaired += await _reindex(redis, keys_found, now)
            keys_found = []
    repaired += await _reindex(redis, keys_found, now)
    return repaired


async def _drop_orphans(redis: Redis, index: str, members: list[str]) -> int:
    if not members:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for member in members:
            pipe.exists(keys.subscription(int(member)))
        alive = await pipe.execute()
    gone = [m for m, ok in zip(members, alive, strict=True) if not ok]
    if not gone:
        return 0
    if index == keys.digest_due():
        return int(await redis.zrem(index, *gone))
    return int(await redis.srem(index, *gone))


async def _reindex(redis: Redis, record_keys: list[str], now: datetime) -> int:
    if not record_keys:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for key in record_keys:
            pipe.hget(key, "data")
        records = [Subscription.from_json(str(d)) for d in await pipe.execute() if d]
    if not records:
        return 0
    listed = await redis.smismember(keys.subscribers(), [str(r.chat_id) for r in records])
    missing = [r for r, ok in zip(records, listed, strict=True) if not ok]
    for sub in missing:
        await write_indexes(redis, sub, now)
    return len(missing)


async def get(redis: Redis, chat_id: int) -> Subscription | None:
    data = await redis.hget(keys.subscription(chat_id), "data")
    return Subscription.from_json(str(data)) if data else None


async def save(redis: Redis, sub: Subscription, now: datetime) -> None:
    """Write the record, then its index entries (idempotent)."""
    await redis.hset(keys.subscription(sub.chat_id), "data", sub.to_json())
    await write_indexes(redis, sub, now)


async def write_indexes(redis: Redis, sub: Subscription, now: datetime) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        pipe.sadd(keys.subscribers(), sub.chat_id)
        if sub.wants_digest:
            pipe.zadd(keys.digest_due(), {str(sub.chat_id): sub.next_due(now).timestamp()})
        else:
            pipe.zrem(keys.digest_due(), str(sub.chat_id))
        if sub.wants_alerts:
            pipe.sadd(keys.alert_chats(), sub.chat_id)
        else:
            pipe.srem(keys.alert_chats(), sub.chat_id)
        await pipe.execute()


async def delete(redis: Redis, chat_id: int) -> bool:
    """Remove the chat's subscription and everything kept for it; True if there was one."""
    removed = int(await redis.delete(keys.subscription(chat_id)))
    async with redis.pipeline(transaction=False) as pipe:
        pipe.srem(keys.subscribers(), chat_id)
        pipe.zrem(keys.digest_due(), str(chat_id))
        pipe.srem(keys.alert_chats(), chat_id)
        pipe.delete(keys.sent_clusters(chat_id))
        pipe.delete(keys.chat_settings(chat_id))
        await pipe.execute()
    return removed > 0


async def migrate(redis: Redis, old_chat_id: int, new_chat_id: int, now: datetime) -> None:
    """A group became a supergroup: the subscription follows it to the new id."""
    sub = await get(redis, old_chat_id)
    if sub is None:
        return
    sent = await redis.smembers(keys.sent_clusters(old_chat_id))
    await save(redis, dataclasses.replace(sub, chat_id=new_chat_id, kind="supergroup"), now)
    if sent:
        await redis.sadd(keys.sent_clusters(new_chat_id), *sent)
        await redis.expire(keys.sent_clusters(new_chat_id), SENT_TTL)
    await delete(redis, old_chat_id)


async def all_chat_ids(redis: Redis) -> list[int]:
    return sorted(int(c) for c in await redis.smembers(keys.subscribers()))


async def count_by(redis: Redis) -> tuple[dict[str, int], dict[str, int]]:
    """Subscribers by chat kind and by language (for /stats)."""
    kinds: dict[str, int] = {}
    langs: dict[str, int] = {}
    ids = await all_chat_ids(redis)
    for start in range(0, len(ids), 500):
        async with redis.pipeline(transaction=False) as pipe:
            for chat_id in ids[start : start + 500]:
                pipe.hget(keys.subscription(chat_id), "data")
            for data in await pipe.execute():
                if data:
                    sub = Subscription.from_json(data)
                    kinds[sub.kind] = kinds.get(sub.kind, 0) + 1
                    langs[sub.lang] = langs.get(sub.lang, 0) + 1
    return kinds, langs


async def mark_sent(redis: Redis, chat_id: int, clusters: Iterable[str]) -> None:
    items = list(clusters)
    if items:
        async with redis.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.sent_clusters(chat_id), *items)
            pipe.expire(keys.sent_clusters(chat_id), SENT_TTL)
            await pipe.execute()


async def unsent(redis: Redis, chat_id: int, clusters: list[str]) -> list[str]:
    """The clusters of ``clusters`` never sent to this chat, in the same order."""
    if not clusters:
        return []
    flags = await redis.smismember(keys.sent_clusters(chat_id), clusters)
    return [c for c, sent in zip(clusters, flags, strict=True) if not sent]


async def chat_lang(redis: Redis, chat_id: int) -> str | None:
    value = await redis.hget(keys.chat_settings(chat_id), "lang")
    return str(value) if value else None


async def set_chat_lang(redis: Redis, chat_id: int, lang: str) -> None:
    await redis.hset(keys.chat_settings(chat_id), "lang", lang)
    sub = await get(redis, chat_id)
    if sub is not None and sub.lang != lang:
        await redis.hset(
            keys.subscription(chat_id), "data", dataclasses.replace(sub, lang=lang).to_json()
        )
