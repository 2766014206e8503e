"""The effective feed list (config baseline plus admin changes in Redis) and feed state I/O."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from bot import keys
from bot.config import FeedConfig
from bot.feedstate import FeedState, changed_fields
from bot.storage import Redis

_STATE_AS_JSON = "return cjson.encode(redis.call('HGETALL', KEYS[1]))"
"""One string per feed: redis-py parses a 22-item map reply several times slower."""


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
    """The state of each feed, in one round trip; a feed never polled gets a fresh state."""
    async with redis.pipeline(transaction=False) as pipe:
        for url in urls:
            pipe.eval(_STATE_AS_JSON, 1, keys.feed_state(url))
        answers = await pipe.execute()
    return {
        url: FeedState.from_redis(url, _fields(raw)) for url, raw in zip(urls, answers, strict=True)
    }


def _fields(raw: str) -> dict[str, str]:
    flat = json.loads(raw)
    return dict(zip(flat[::2], flat[1::2], strict=True)) if flat else {}


async def save_state(redis: Redis, state: FeedState) -> None:
    await redis.hset(keys.feed_state(state.url), mapping=cast(Mapping[Any, Any], state.to_redis()))


async def save_changes(
    redis: Redis, changes: Sequence[tuple[FeedState | None, FeedState]]
) -> list[Exception | None]:
    """Write many (old, new) feed states in one round trip: each HSET has only what changed.

    ``old`` must be what Redis holds (as ``load_states`` read it): a field left unwritten
    reads back the same from the stored hash, or as its default when the hash lacks it.
    With ``old`` None the whole state is written. Returns, for each change, the error Redis
    gave for its write, or None.
    """
    written: list[int] = []  # index in ``changes`` of each queued command
    async with redis.pipeline(transaction=False) as pipe:
        for index, (old, new) in enumerate(changes):
            changed = new.to_redis() if old is None else changed_fields(old, new)
            if changed:
                pipe.hset(keys.feed_state(new.url), mapping=cast(Mapping[Any, Any], changed))
                written.append(index)
        answers = await pipe.execute(raise_on_error=False) if written else []
    errors: list[Exception | None] = [None] * len(changes)
    for index, answer in zip(written, answers, strict=True):
        if isinstance(answer, Exception):
            errors[index] = answer
    return errors


class StateWriter:
    """Saves feed states for many concurrent feeds (one poll), sharing round trips.

    ``save`` returns once its state is in Redis (or raises what writing it raised), like
    ``save_state``; states that arrive while a write is under way go out together next.
    """

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queued: list[tuple[tuple[FeedState | None, FeedState], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._seen: set[str] = set()

    async def save(self, old: FeedState, new: FeedState) -> None:
        """Store ``new`` over ``old``, the state Redis held for the feed when it was read."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # A feed saved twice (listed twice): ``old`` may be stale, so write all of it.
        base = None if new.url in self._seen else old
        self._seen.add(new.url)
        self._queued.append(((base, new), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_queued())
        await done

    async def _write_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            try:
                errors = await save_changes(self._redis, [change for change, _ in batch])
            except asyncio.CancelledError:
                for _, done in [*batch, *self._queued]:
                    done.cancel()
                self._queued = []
                raise
            except Exception as e:  # the connection failed: every caller hears it, none waits
                errors = [e] * len(batch)
            for (_, done), error in zip(batch, errors, strict=True):
                if done.done():  # its caller was cancelled
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)
