"""The story store: one hash per story, written atomically, plus derived indexes.

A story record is created by one Lua call (create-if-absent with its TTL). The derived
structures (guid alias, time index, cluster set, story number) are written idempotently
right after; ``repair_indexes`` restores what a crash in between left unwritten, and
``sweep`` drops expired and vanished stories from every index.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from bot import keys
from bot.models import Event, Story
from bot.storage import Redis

log = logging.getLogger(__name__)

CLUSTER_SLACK = 2 * 86400

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[1], 'fp', ARGV[2], 'num', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def story_to_json(story: Story) -> str:
    # Story's fields are flat (strings, numbers, tuples of strings): no deep copy needed.
    record: dict[str, Any] = {f.name: getattr(story, f.name) for f in fields(story)}
    record["published"] = iso(story.published)
    record["fetched"] = iso(story.fetched)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def story_from_json(text: str) -> Story:
    record = json.loads(text)
    record["published"] = datetime.fromisoformat(record["published"])
    record["fetched"] = datetime.fromisoformat(record["fetched"])
    for name in ("apps", "countries", "actions"):
        record[name] = tuple(record.get(name, ()))
    return Story(**record)


def iso(moment: datetime) -> str:
    """``2026-11-28T09:30:00Z``: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_line(story: Story) -> str:
    """The public JSON line of ``poll --once --json`` (DESIGN.md's contract)."""
    record = {
        "id": story.id,
        "url": story.url,
        "title": story.title,
        "source": story.source,
        "published": iso(story.published),
        "lang": story.lang,
        "score": round(story.score, 3),
        "apps": list(story.apps),
        "countries": list(story.countries),
        "actions": list(story.actions),
        "cluster": story.cluster,
        "summary": story.summary,
        "feed": story.feed_url,
    }
    return json.dumps(record, ensure_ascii=False)


async def known_ids(redis: Redis, stories: Sequence[Story]) -> set[str]:
    """Ids of ``stories`` already stored, by id (canonical URL) or by their feed's guid."""
    if not stories:
        return set()
    async with redis.pipeline(transaction=False) as pipe:
        for story in stories:
            pipe.exists(keys.story(story.id))
            pipe.get(keys.story_guid(story.feed_url, story.guid or story.url))
        answers = await pipe.execute()
    known: set[str] = set()
    for index, story in enumerate(stories):
        if answers[2 * index] or answers[2 * index + 1]:
            known.add(story.id)
    return known


async def save_story(redis: Redis, story: Story, fingerprint: str, now: datetime, ttl: int) -> bool:
    """Store ``story`` unless present; True when it was new. Derived indexes follow."""
    (created,) = await save_stories(redis, [(story, fingerprint, ttl)], now)
    return created


async def save_stories(
    redis: Redis, batch: Sequence[tuple[Story, str, int]], now: datetime
) -> list[bool]:
    """``save_story`` for many (story, fingerprint, ttl) at once, in three round trips."""
    if not batch:
        return []
    last = int(await redis.incrby(keys.story_seq(), len(batch)))
    numbers = range(last - len(batch) + 1, last + 1)
    async with redis.pipeline(transaction=False) as pipe:
        for (story, fp, ttl), num in zip(batch, numbers, strict=True):
            pipe.eval(_CREATE, 1, keys.story(story.id), story_to_json(story), fp, num, ttl)
        created = [bool(x) for x in await pipe.execute()]
    new = [
        (story, num, ttl)
        for (story, _fp, ttl), num, ok in zip(batch, numbers, created, strict=True)
        if ok
    ]
    if new:
        async with redis.pipeline(transaction=False) as pipe:
            _queue_indexes(pipe, new, now)
            await pipe.execute()
    return created


def _queue_indexes(pipe: Any, new: Sequence[tuple[Story, int, int]], now: datetime) -> None:
    """The derived entries of stories just created; the shared indexes get one command each."""
    for story, _num, ttl in new:
        cluster_key = keys.cluster(story.cluster or story.id)
        pipe.set(keys.story_guid(story.feed_url, story.guid or story.url), story.id, ex=ttl)
        pipe.zadd(cluster_key, {story.id: story.published.timestamp()})
        # Members are published within 48 hours of each other: the cluster outlives them all.
        pipe.expire(cluster_key, ttl + CLUSTER_SLACK)
    times = {story.id: story.published.timestamp() for story, _, _ in new}
    pipe.zadd(keys.stories_by_time(), times)
    pipe.hset(keys.story_nums(), mapping={str(num): story.id for story, num, _ in new})
    clusters = {story.cluster or story.id: now.timestamp() for story, _, _ in new}
    pipe.zadd(keys.clusters_by_time(), clusters, gt=True)


async def repair_indexes(redis: Redis, now: datetime, batch: int = 500) -> int:
    """Write again the derived entries of stored stories missing from the time index (a
    crash between creating a record and indexing it); returns how many were repaired."""
    repaired = 0
    page: list[str] = []
    async for key in redis.scan_iter(match=keys.story_pattern(), count=batch):
        page.append(str(key))
        if len(page) >= batch:
            repaired += await _repair_page(redis, page, now)
            page = []
    return repaired + await _repair_page(redis, page, now)


async def _repair_page(redis: Redis, record_keys: list[str], now: datetime) -> int:
    if not record_keys:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for key in record_keys:
            pipe.hmget(key, ["data", "num"])
            pipe.ttl(key)
        answers = await pipe.execute()
    found = []
    for (data, num), ttl in zip(answers[::2], answers[1::2], strict=True):
        if data and num and int(ttl) > 0:
            found.append((story_from_json(data), int(num), int(ttl)))
    if not found:
        return 0
    scores = await redis.zmscore(keys.stories_by_time(), [s.id for s, _, _ in found])
    missing = [item for item, score in zip(found, scores, strict=True) if score is None]
    if missing:
        async with redis.pipeline(transaction=False) as pipe:
            _queue_indexes(pipe, missing, now)
            await pipe.execute()
    return len(missing)


async def load_stories(redis: Redis, ids: Iterable[str]) -> list[Story]:
    """The stories still stored among ``ids``, in the same order; gone ones are skipped."""
    id_list = list(ids)
    if not id_list:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for story_id in id_list:
            pipe.hget(keys.story(story_id), "data")
        answers = await pipe.execute()
    return [story_from_json(data) for data in answers if data]


async def load_fingerprints(redis: Redis, ids: Sequence[str]) -> dict[str, tuple[Story, str]]:
    """Story and stored cluster fingerprint for each id still stored."""
    async with redis.pipeline(transaction=False) as pipe:
        for story_id in ids:
            pipe.hmget(keys.story(story_id), ["data", "fp"])
        answers = await pipe.execute()
    found: dict[str, tuple[Story, str]] = {}
    for story_id, (data, fp) in zip(ids, answers, strict=True):
        if data:
            found[story_id] = (story_from_json(data), fp or "")
    return found


async def ids_between(redis: Redis, since: datetime, until: datetime) -> list[str]:
    """Story ids published in [since, until], newest first."""
    ids = await redis.zrevrangebyscore(keys.stories_by_time(), until.timestamp(), since.timestamp())
    return [str(i) for i in ids]


async def events_between(
    redis: Redis, since: datetime, until: datetime, limit: int | None = None
) -> list[Event]:
    """Events (clusters) with a story published in [since, until], newest first.

    Every story of a cluster is included; the lead (whose summary the digest shows) is
    the cluster's first story when it has a summary, else the best-scored one that has.
    """
    stories = await load_stories(redis, await ids_between(redis, since, until))
    order: list[str] = []
    by_cluster: dict[str, list[Story]] = {}
    for story in stories:
        cluster_id = story.cluster or story.id
        if cluster_id not in by_cluster:
            order.append(cluster_id)
            by_cluster[cluster_id] = []
        by_cluster[cluster_id].append(story)
    if limit is not None:
        order = order[:limit]
    return [_event(cluster_id, by_cluster[cluster_id]) for cluster_id in order]


async def latest_events(
    redis: Redis,
    since: datetime,
    until: datetime,
    count: int,
    wanted: Callable[[Event], bool],
    page: int = 200,
) -> list[Event]:
    """The newest ``count`` events that ``wanted`` accepts, reading stories page by page
    (newest first) and stopping as soon as there are enough; each event holds every
    stored story of its cluster."""
    chosen: list[Event] = []
    seen: set[str] = set()
    offset = 0
    while len(chosen) < count:
        ids = await redis.zrevrangebyscore(
            keys.stories_by_time(), until.timestamp(), since.timestamp(), start=offset, num=page
        )
        if not ids:
            break
        offset += len(ids)
        for story in await load_stories(redis, [str(i) for i in ids]):
            cluster_id = story.cluster or story.id
            if cluster_id in seen:
                continue
            seen.add(cluster_id)
            members = await redis.zrange(keys.cluster(cluster_id), 0, -1)
            event = _event(
                cluster_id, await load_stories(redis, [str(m) for m in members]) or [story]
            )
            if wanted(event):
                chosen.append(event)
                if len(chosen) == count:
                    break
    return chosen


def _event(cluster_id: str, members: list[Story]) -> Event:
    members.sort(key=lambda s: (not s.summary, s.id != cluster_id, -s.score, s.published))
    return Event(cluster=cluster_id, stories=tuple(members))


async def count_stories(redis: Redis) -> int:
    return int(await redis.zcard(keys.stories_by_time()))


async def sweep(redis: Redis, now: datetime, retention: float, batch: int = 500) -> int:
    """Drop expired and vanished stories from the indexes; returns how many were dropped."""
    cutoff = now.timestamp() - retention
    dropped = int(await redis.zremrangebyscore(keys.stories_by_time(), "-inf", cutoff))
    await redis.zremrangebyscore(keys.clusters_by_time(), "-inf", cutoff)
    cursor = 0
    while True:
        cursor, entries = await redis.zscan(keys.stories_by_time(), cursor, count=batch)
        ids = [str(story_id) for story_id, _score in entries]
        if ids:
            async with redis.pipeline(transaction=False) as pipe:
                for story_id in ids:
                    pipe.exists(keys.story(story_id))
                alive = await pipe.execute()
            gone = [i for i, ok in zip(ids, alive, strict=True) if not ok]
            if gone:
                dropped += int(await redis.zrem(keys.stories_by_time(), *gone))
        if cursor == 0:
            break
    await _sweep_numbers(redis, batch)
    if dropped:
        log.info("sweep dropped %s expired stories from the indexes", dropped)
    return dropped


async def _sweep_numbers(redis: Redis, batch: int) -> None:
    cursor = 0
    while True:
        cursor, entries = await redis.hscan(keys.story_nums(), cursor, count=batch)
        if entries:
            items = [(str(n), str(i)) for n, i in entries.items()]  # type: ignore[union-attr]
            async with redis.pipeline(transaction=False) as pipe:
                for _num, story_id in items:
                    pipe.exists(keys.story(story_id))
                alive = await pipe.execute()
            gone = [num for (num, _id), ok in zip(items, alive, strict=True) if not ok]
            if gone:
                await redis.hdel(keys.story_nums(), *gone)
        if cursor == 0:
            break


_REPLACE_SUMMARY = """
local data = redis.call('HGET', KEYS[1], 'data')
if not data then return 0 end
local record = cjson.decode(data)
record['summary'] = ARGV[1]
redis.call('HSET', KEYS[1], 'data', cjson.encode(record))
return 1
"""


async def replace_summary(redis: Redis, story_id: str, summary: str) -> bool:
    """Put a better summary into a stored story (one atomic call); False if it is gone."""
    return bool(await redis.eval(_REPLACE_SUMMARY, 1, keys.story(story_id), summary))
