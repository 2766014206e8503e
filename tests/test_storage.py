"""The story store against real Redis: atomic records, indexes, expiry sweep."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from bot import keys, stories
from bot.models import Story

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def make_story(n: int, **changes: object) -> Story:
    base = Story(
        id=f"s{n}",
        url=f"https://news.example/{n}",
        title=f"Roskomnadzor blocks messenger number {n}",
        text="Regulator ordered ISPs to block the app.",
        source="Example News",
        feed_url="https://news.example/feed",
        published=NOW - timedelta(hours=n),
        fetched=NOW,
        lang="en",
        guid=f"guid-{n}",
        score=0.9,
        apps=("telegram",),
        countries=("RU",),
        actions=("blocked",),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_story_round_trips_and_is_stored_once(redis: aioredis.Redis) -> None:
    story = make_story(1)
    assert await stories.save_story(redis, story, "fp", NOW, 3600)
    assert not await stories.save_story(
        redis, dataclasses.replace(story, title="edited"), "", NOW, 3600
    )
    (loaded,) = await stories.load_stories(redis, [story.id])
    assert loaded == story
    assert await stories.known_ids(redis, [story]) == {story.id}


async def test_entry_edited_under_a_new_url_is_known_by_its_guid(redis: aioredis.Redis) -> None:
    story = make_story(1)
    await stories.save_story(redis, story, "", NOW, 3600)
    moved = make_story(1, id="other", url="https://news.example/moved")
    assert await stories.known_ids(redis, [moved]) == {"other"}


async def test_events_group_clusters_newest_first(redis: aioredis.Redis) -> None:
    a = make_story(1)
    b = make_story(2, cluster="s1", source="Wire B")
    c = make_story(3)
    for story in (a, b, c):
        await stories.save_story(redis, story, "", NOW, 3600)
    events = await stories.events_between(redis, NOW - timedelta(days=1), NOW)
    assert [e.cluster for e in events] == ["s1", "s3"]
    assert events[0].sources == ("Example News", "Wire B")


async def test_sweep_drops_expired_and_vanished_stories(redis: aioredis.Redis) -> None:
    old = make_story(1, published=NOW - timedelta(days=100))
    gone = make_story(2)
    kept = make_story(3)
    for story in (old, gone, kept):
        await stories.save_story(redis, story, "", NOW, 3600)
    await redis.delete(keys.story(gone.id))  # as if its TTL ran out
    dropped = await stories.sweep(redis, NOW, retention=90 * 86400)
    assert dropped == 2
    assert await stories.ids_between(redis, NOW - timedelta(days=365), NOW) == [kept.id]
    assert set((await redis.hgetall(keys.story_nums())).values()) <= {old.id, kept.id}


async def test_latest_events_stop_early_and_keep_whole_clusters(redis: aioredis.Redis) -> None:
    founder = make_story(5)
    reprint = make_story(1, cluster="s5", source="Wire B")  # newer story, older cluster
    others = [make_story(n, apps=("whatsapp",)) for n in (2, 3, 4)]
    for story in (founder, reprint, *others):
        await stories.save_story(redis, story, "", NOW, 3600)
    telegram_only = await stories.latest_events(
        redis,
        NOW - timedelta(days=1),
        NOW,
        count=1,
        wanted=lambda e: "telegram" in e.lead.apps,
        page=1,
    )
    assert [e.cluster for e in telegram_only] == ["s5"]
    assert {s.id for s in telegram_only[0].stories} == {"s5", "s1"}  # the whole cluster
    newest_two = await stories.latest_events(
        redis, NOW - timedelta(days=1), NOW, count=2, wanted=lambda e: True
    )
    assert [e.cluster for e in newest_two] == ["s5", "s2"]


async def test_repair_restores_indexes_a_crash_left_unwritten(redis: aioredis.Redis) -> None:
    story = make_story(1)
    await stories.save_story(redis, story, "", NOW, 3600)
    await redis.zrem(keys.stories_by_time(), story.id)  # as if the process died right
    await redis.delete(keys.story_guid(story.feed_url, story.guid))  # after the record
    assert await stories.ids_between(redis, NOW - timedelta(days=1), NOW) == []
    assert await stories.repair_indexes(redis, NOW, batch=1) == 1
    assert await stories.ids_between(redis, NOW - timedelta(days=1), NOW) == [story.id]
    assert await stories.known_ids(redis, [dataclasses.replace(story, id="moved")]) == {"moved"}
    assert await stories.repair_indexes(redis, NOW) == 0
