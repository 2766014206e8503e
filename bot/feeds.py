"""The effective feed list (config baseline plus admin changes in Redis) and feed state I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from bot import keys
from bot.config import FeedConfig
from bot.feedstate import FeedState
from bot.storage import Redis


@dataclass(frozen=True, slots=True)
class Feed:
    """A feed as every command sees it: its config and whether an admin paused it."""

    config: FeedConfig
    paused: bool = False

    @property
    def url(self) -> str:
        return self.config.url


async def effective_feeds(redis: Redis, baseline: Sequence[FeedConfig]) -> list[Feed]:
    """Config feeds minus the ones admins removed, plus the ones they added; paused marked."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.smembers(keys.feeds_removed())
        pipe.hgetall(keys.feeds_added())
        pipe.smembers(keys.feeds_paused())
        removed, added, paused = await pipe.execute()
    feeds = [f for f in baseline if f.url not in removed]
    known = {f.url for f in feeds}
    for url in sorted(added):
        if url in known:
            continue
        record = json.loads(added[url])
        feeds.append(
            FeedConfig(
                url=url,
                name=record.get("name", ""),
                lang=record.get("lang", ""),
                topical=bool(record.get("topical", False)),
            )
        )
    return [Feed(config=f, paused=f.url in paused) for f in feeds]


async def add_feed(redis: Redis, feed: FeedConfig) -> None:
    record = {"name": feed.name, "lang": feed.lang, "topical": feed.topical}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.feeds_added(), feed.url, json.dumps(record, ensure_ascii=False))
        pipe.srem(keys.feeds_removed(), feed.url)
        await pipe.execute()


async def remove_feed(redis: Redis, url: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hdel(keys.feeds_added(), url)
        pipe.sadd(keys.feeds_removed(), url)
        pipe.srem(keys.feeds_paused(), url)
        await pipe.execute()


async def set_paused(redis: Redis, url: str, paused: bool) -> None:
    if paused:
        await redis.sadd(keys.feeds_paused(), url)
    else:
        await redis.srem(keys.feeds_paused(), url)


async def load_states(redis: Redis, urls: Sequence[str]) -> dict[str, FeedState]:
    async with redis.pipeline(transaction=False) as pipe:
        for url in urls:
            pipe.hgetall(keys.feed_state(url))
        answers = await pipe.execute()
    return {url: FeedState.from_redis(url, raw) for url, raw in zip(urls, answers, strict=True)}


async def save_state(redis: Redis, state: FeedState) -> None:
    await redis.hset(keys.feed_state(state.url), mapping=cast(Mapping[Any, Any], state.to_redis()))
