"""One poll: fetch every due feed, analyze it off the loop, store what is new, hand it on.

``Poller.poll`` is the one place where newly stored stories are handed on: every
``StoryHandler`` given to the poller (search index, alerts, …) receives each feed's new
stories right after they are stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import BrokenExecutor, Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from redis.exceptions import RedisError

from bot import feeds as feed_store
from bot import stories as story_store
from bot.analyze import Analyzed, FeedJob, analyze
from bot.cluster import Fingerprint, fingerprint
from bot.clusterindex import ClusterIndex
from bot.config import Settings
from bot.errors import FetchError, StorageError
from bot.feeds import Feed
from bot.feedstate import FeedState, FeedStatus, after_failure, after_success, is_due
from bot.fetch import Fetcher
from bot.models import Story
from bot.storage import Redis

log = logging.getLogger(__name__)

StoryHandler = Callable[[Sequence[Story]], Awaitable[None]]
HealthHandler = Callable[[Feed, FeedState, FeedState], Awaitable[None]]
ProgressHandler = Callable[["FeedReport"], None]
CLUSTER_WINDOW = timedelta(hours=48)


class Outcome(StrEnum):
    NEW = "new"
    UNCHANGED = "unchanged"
    NOTHING_NEW = "nothing new"
    ERROR = "error"
    DEFERRED = "deferred"
    PAUSED = "paused"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class FeedReport:
    feed: Feed
    outcome: Outcome
    new: int = 0
    entries: int = 0
    off_topic: int = 0
    message: str = ""


@dataclass(slots=True)
class PollReport:
    started: datetime
    finished: datetime | None = None
    feeds: list[FeedReport] = field(default_factory=list)
    new_stories: list[Story] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.feeds if r.outcome is outcome)


class Poller:
    """Polls feeds into the story store; one instance per process, reused across polls."""

    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        fetcher: Fetcher,
        executor: Executor | None,
        *,
        clock: Callable[[], datetime],
        handlers: Sequence[StoryHandler] = (),
        on_health: HealthHandler | None = None,
    ) -> None:
        self._settings = settings
        self._redis = redis
        self._fetcher = fetcher
        self._executor = executor
        self._clock = clock
        self._handlers = list(handlers)
        self._on_health = on_health
        self._store_lock = asyncio.Lock()
        self._index = ClusterIndex()
        self._states = feed_store.StateWriter(redis)  # a new one for each poll
        self._recent_due: datetime | None = None
        """The poll's start while its cluster candidates are not loaded yet."""

    def add_handler(self, handler: StoryHandler) -> None:
        """Another consumer of newly stored stories (search index, alerts)."""
        self._handlers.append(handler)

    def set_health_handler(self, handler: HealthHandler) -> None:
        """Who hears when a feed starts or stops failing (admins)."""
        self._on_health = handler

    async def poll(
        self, feeds: Sequence[Feed], progress: ProgressHandler | None = None
    ) -> PollReport:
        """Poll every feed once (respecting backoff and Retry-After) and store new stories."""
        now = self._clock()
        report = PollReport(started=now)
        self._recent_due = now  # loaded by the first store: a poll of 304s never needs them
        self._states = feed_store.StateWriter(self._redis)
        states = await feed_store.load_states(self._redis, [f.url for f in feeds])

        async def one(feed: Feed) -> None:
            result = await self._poll_feed(feed, states[feed.url], report)
            report.feeds.append(result)
            if progress is not None:
                progress(result)

        await asyncio.gather(*(one(feed) for feed in feeds))
        order: dict[str, int] = {}
        for position, feed in enumerate(feeds):
            order.setdefault(feed.url, position)
        report.feeds.sort(key=lambda r: order[r.feed.url])
        report.finished = self._clock()
        return report

    async def _poll_feed(self, feed: Feed, state: FeedState, report: PollReport) -> FeedReport:
        now = self._clock()
        if feed.paused:
            return FeedReport(feed, Outcome.PAUSED, message="paused by an admin")
        if state.status is FeedStatus.DISABLED:
            return FeedReport(feed, Outcome.DISABLED, message=state.last_error)
        if not is_due(state, now):
            wait = state.next_at - now.timestamp()
            return FeedReport(
                feed, Outcome.DEFERRED, message=f"waiting {wait:.0f}s: {state.last_error}"
            )
        try:
            result = await self._fetcher.fetch(state.target, state.etag, state.last_modified)
        except FetchError as e:
            await self._failed(feed, state, e.reason, e.status, e.retry_after)
            return FeedReport(feed, Outcome.ERROR, message=e.reason)
        if result.not_modified:
            await self._succeeded(
                feed, state, result.etag, result.last_modified, result.moved_to, 0
            )
            return FeedReport(feed, Outcome.UNCHANGED, message="304 not modified")
        analyzed = await self._analyze(feed, result.body, result.headers)
        if analyzed.error:
            await self._failed(feed, state, analyzed.error, 0, None)
            return FeedReport(feed, Outcome.ERROR, message=analyzed.error)
        new = await self._store(analyzed)
        report.new_stories.extend(new)
        await self._succeeded(
            feed, state, result.etag, result.last_modified, result.moved_to, len(new)
        )
        for handler in self._handlers if new else ():
            await self._hand_on(handler, feed, new)
        notes = [f"moved to {result.moved_to}"] if result.moved_to else []
        if analyzed.warning:
            notes.append(f"broken markup tolerated: {analyzed.warning}")
        return FeedReport(
            feed,
            Outcome.NEW if new else Outcome.NOTHING_NEW,
            new=len(new),
            entries=analyzed.entries,
            off_topic=analyzed.off_topic,
            message="; ".join(notes),
        )

    async def _hand_on(self, handler: StoryHandler, feed: Feed, new: Sequence[Story]) -> None:
        """Give ``new`` to one consumer; its bug is logged and the others still get the stories.
        Redis being down is not a bug of theirs: it ends the poll, which is retried."""
        try:
            await handler(new)
        except (RedisError, StorageError):
            raise
        except Exception:  # the batch boundary: one consumer's bug must not stop the poll
            log.exception("a consumer of new stories failed on %d from %s", len(new), feed.url)

    async def _analyze(self, feed: Feed, body: bytes, headers: dict[str, str] | object) -> Analyzed:
        settings = self._settings
        job = FeedJob(
            feed_url=feed.url,
            source=feed.config.title,
            lang=feed.config.lang,
            topical=feed.config.topical,
            body=body,
            headers=dict(headers) if isinstance(headers, dict) else {},
            fetched=self._clock(),
            retention=settings.polling.retention,
            summary_sentences=settings.summarizer.sentences,
            summary_chars=settings.summarizer.max_chars,
        )
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, analyze, job)
        except BrokenExecutor:  # it died on this feed, twice (bot.workers retries once)
            return Analyzed(error="the worker process reading this feed died (out of memory?)")

    async def _store(self, analyzed: Analyzed) -> list[Story]:
        """Store the feed's unseen stories, each joined to its cluster; returns the new ones."""
        candidates = [story for story, _fp in analyzed.stories]
        if not candidates:
            return []
        async with self._store_lock:
            if self._recent_due is not None:
                await self._load_recent(self._recent_due)
                self._recent_due = None
            known = await story_store.known_ids(self._redis, candidates)
            now = self._clock()
            retention = self._settings.polling.retention
            batch: list[tuple[Story, str, int]] = []
            for story, fp_text in analyzed.stories:
                if story.id in known:
                    continue
                fp = Fingerprint.loads(fp_text)
                story = dataclasses.replace(
                    story, cluster=self._index.cluster_for(story, fp) or story.id
                )
                ttl = max(60, int(story.published.timestamp() + retention - now.timestamp()))
                batch.append((story, fp_text, ttl))
                self._index.add(story, fp)
            created = await story_store.save_stories(self._redis, batch, now)
            return [story for (story, _fp, _ttl), new in zip(batch, created, strict=True) if new]

    async def _load_recent(self, now: datetime) -> None:
        """Stories of the last 48 hours, the cluster candidates for this poll."""
        since = now - CLUSTER_WINDOW
        ids = await story_store.ids_between(self._redis, since, now + timedelta(days=1))
        found = await story_store.load_fingerprints(self._redis, ids)
        self._index.reset((story, _fingerprint_of(story, text)) for story, text in found.values())

    async def _succeeded(
        self,
        feed: Feed,
        state: FeedState,
        etag: str,
        last_modified: str,
        moved_to: str,
        new: int,
    ) -> None:
        now = self._clock()
        updated = after_success(
            state, now, etag=etag, last_modified=last_modified, moved_to=moved_to, new_stories=new
        )
        if moved_to:
            log.info("feed %s moved permanently to %s", feed.url, moved_to)
        await self._save(feed, state, updated)

    async def _failed(
        self, feed: Feed, state: FeedState, reason: str, status: int, retry_after: float | None
    ) -> None:
        polling = self._settings.polling
        updated = after_failure(
            state,
            self._clock(),
            reason=reason,
            status=status,
            retry_after=retry_after,
            failing_after=polling.failing_after,
            max_backoff=polling.max_backoff,
        )
        log.warning("feed %s failed (%s in a row): %s", feed.url, updated.errors, reason)
        await self._save(feed, state, updated)

    async def _save(self, feed: Feed, old: FeedState, new: FeedState) -> None:
        await self._states.save(old, new)
        if self._on_health is not None and old.status is not new.status:
            await self._on_health(feed, old, new)


def _fingerprint_of(story: Story, text: str) -> Fingerprint:
    """The stored fingerprint, or a fresh one when it is missing or of another version."""
    try:
        return Fingerprint.loads(text)
    except ValueError:
        return fingerprint(story)
