"""Delivery: digests when they are due, instant alerts, and the workers that send the queue.

Deciding is pure (``due_digest``, ``alert_worthy``, ``alert_html``); the loops around them
do I/O. Every process runs workers on the shared queue; the scheduler runs in whichever
process holds the ``schedule`` lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

from redis.exceptions import RedisError

from bot import keys, queue, subscriptions
from bot import stories as story_store
from bot.broadcast import deliver_broadcast, tend_jobs
from bot.countries import day_time, zone_name
from bot.digest import (
    DigestOptions,
    Filters,
    apply_filters,
    compose_html,
    linkable,
    matches,
    shorten,
)
from bot.errors import StorageError
from bot.leases import Lease
from bot.models import Event, Story
from bot.queue import Entry
from bot.send import Outcome
from bot.services import Services
from bot.subscriptions import Subscription

log = logging.getLogger(__name__)

ALERT_ACTIONS = frozenset({"blocked", "throttled", "unblocked", "shutdown"})
DUE_BATCH = 200
DIGEST_WINDOW = timedelta(days=7)
ALERT_WINDOW = timedelta(hours=6)
"""How recent a story must be to be sent as an instant alert."""


def filters_of(sub: Subscription) -> Filters:
    return Filters(frozenset(sub.apps), frozenset(sub.countries), frozenset(sub.langs))


def alert_worthy(story: Story, now: datetime) -> bool:
    """A block, throttle, unblock or shutdown of a messenger, service or network, published
    within ``ALERT_WINDOW``: older news (a new feed, a first poll, a feed catching up) waits
    for the digest instead of arriving as a burst of stale alerts."""
    return (
        bool(ALERT_ACTIONS.intersection(story.actions))
        and bool(story.apps or "shutdown" in story.actions)
        and story.published >= now - ALERT_WINDOW
    )


def due_digest(
    sub: Subscription, events: Sequence[Event], unsent: set[str], now: datetime, limit: int
) -> tuple[list[str], list[str]]:
    """The digest messages for ``sub`` and the clusters they hold; ([], []) when empty."""
    matching = apply_filters(events, filters_of(sub), prefer_lang=sub.lang)
    chosen = [e for e in matching if e.cluster in unsent]
    if not chosen:
        return [], []
    since = (
        datetime.fromtimestamp(sub.last_digest, now.tzinfo)
        if sub.last_digest
        else now - timedelta(days=1)
    )
    options = DigestOptions(
        labels_lang="ru" if sub.lang == "ru" else "en",
        window_start=min(since, min(e.lead.published for e in chosen)),
        window_end=now,
        limit=limit,
        tz=sub.zone,
    )
    shown = chosen[:limit]
    return compose_html(chosen, options), [e.cluster for e in shown]


def alert_html(event: Event, lang: str, zone: tzinfo = UTC) -> str:
    """One event as an instant alert, its time in the reader's zone."""
    lead = event.lead
    title = html.escape(shorten(lead.title, 300))
    if linkable(lead.url):
        title = f'<a href="{html.escape(lead.url, quote=True)}">{title}</a>'
    head = "⚡ Срочно" if lang == "ru" else "⚡ Alert"
    local = lead.published.astimezone(zone)
    stamp = f"{day_time(local, lang)} {zone_name(local, lang)}"
    source = shorten(lead.source, 80)
    meta = f"{source} · {stamp}" if source else stamp
    lines = [f"<b>{head}:</b> <b>{title}</b>", html.escape(meta)]
    if lead.summary:
        lines.append(html.escape(shorten(lead.summary, 600)))
    return "\n".join(lines)


# Scheduling ------------------------------------------------------------------------------


async def schedule_due(svc: Services, events: Sequence[Event]) -> int:
    """Queue the digests due now (a batch of chats); returns how many chats were handled."""
    now = svc.clock()
    due: list[str] = await svc.redis.zrangebyscore(  # type: ignore[assignment]
        keys.digest_due(), "-inf", now.timestamp(), start=0, num=DUE_BATCH
    )
    for raw_chat in due:
        chat_id = int(raw_chat)
        sub = await subscriptions.get(svc.redis, chat_id)
        if sub is None or not sub.wants_digest:
            await svc.redis.zrem(keys.digest_due(), raw_chat)
            continue
        slot = int(await svc.redis.zscore(keys.digest_due(), raw_chat) or now.timestamp())
        since = sub.last_digest or (now - timedelta(days=1)).timestamp()
        recent = [e for e in events if max(s.fetched for s in e.stories).timestamp() > since - 60]
        unsent = set(await subscriptions.unsent(svc.redis, chat_id, [e.cluster for e in recent]))
        parts, clusters = due_digest(sub, recent, unsent, now, svc.settings.delivery.digest_limit)
        if parts:
            entry = Entry(
                key=f"digest:{chat_id}:{slot}",
                chat=chat_id,
                kind="digest",
                parts=tuple(parts),
                clusters=tuple(clusters),
            )
            await queue.enqueue(svc.redis, [entry])
            await subscriptions.mark_sent(svc.redis, chat_id, clusters)
        # Only the digest fields change, and only if the chat is still subscribed: a
        # settings change or /unsubscribe made meanwhile is not overwritten.
        await subscriptions.digest_done(svc.redis, sub, now)
    return len(due)


async def alert_new_stories(svc: Services, new: Sequence[Story]) -> int:
    """The pipeline's hand-on point: queue instant alerts for opted-in chats, once per event."""
    worthy = [s for s in new if alert_worthy(s, svc.clock())]
    if not worthy:
        return 0
    chats = [int(c) for c in await svc.redis.smembers(keys.alert_chats())]
    queued = 0
    by_cluster: dict[str, Story] = {}
    for story in worthy:
        by_cluster.setdefault(story.cluster or story.id, story)
    for chat_id in chats:
        sub = await subscriptions.get(svc.redis, chat_id)
        if sub is None or not sub.wants_alerts:
            continue
        wanted = [s for s in by_cluster.values() if matches(s, filters_of(sub))]
        fresh = set(
            await subscriptions.unsent(svc.redis, chat_id, [s.cluster or s.id for s in wanted])
        )
        entries = [
            Entry(
                key=f"alert:{chat_id}:{s.cluster or s.id}",
                chat=chat_id,
                kind="alert",
                parts=(alert_html(Event(s.cluster or s.id, (s,)), sub.lang, sub.zone),),
                clusters=(s.cluster or s.id,),
            )
            for s in wanted
            if (s.cluster or s.id) in fresh
        ]
        if entries:
            queued += await queue.enqueue(svc.redis, entries)
            await subscriptions.mark_sent(
                svc.redis, chat_id, [c for e in entries for c in e.clusters]
            )
    return queued


async def schedule_loop(svc: Services, stop: asyncio.Event) -> None:
    """While holding the schedule lease: queue due digests and tend broadcasts."""
    lease = Lease(svc.redis, "schedule", svc.process_id, svc.settings.delivery.lease_ttl)
    every = svc.settings.delivery.schedule_every
    while not stop.is_set():
        try:
            if await lease.acquire():
                await _schedule_tick(svc, stop)
        except (RedisError, StorageError) as e:
            log.warning("scheduling failed (Redis): %s", e)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
    with contextlib.suppress(RedisError):
        await lease.release()


async def _schedule_tick(svc: Services, stop: asyncio.Event) -> None:
    now = svc.clock()
    if await svc.redis.zcount(keys.digest_due(), "-inf", now.timestamp()):
        events = await story_store.events_between(svc.redis, now - DIGEST_WINDOW, now)
        while await schedule_due(svc, events) >= DUE_BATCH and not stop.is_set():
            pass
    await tend_jobs(svc)
    svc.metrics.queue_depth.set(await queue.depth(svc.redis))


# Sending ---------------------------------------------------------------------------------


class Worker:
    """Consumes the queue in this process with at most ``in_flight`` entries at once.

    It only reads as many entries as it has free slots, and keeps the ones it works on
    claimed (a heartbeat resets their idle time), so another process takes over an entry
    only when this one died.
    """

    def __init__(self, svc: Services, consumer: str) -> None:
        self._svc = svc
        self._consumer = consumer
        self._in_flight = svc.settings.delivery.in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._working: set[str] = set()
        self._room = asyncio.Event()
        self._room.set()
        self.delivered = 0

    async def run(self, stop: asyncio.Event) -> None:
        svc = self._svc
        await queue.ensure_group(svc.redis)
        heartbeat = asyncio.create_task(self._heartbeat(stop))
        claim_ms = int(svc.settings.delivery.claim_after * 1000)
        while not stop.is_set():
            free = self._in_flight - len(self._working)
            if free <= 0:
                self._room.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._room.wait(), 1.0)
                continue
            try:
                stale = await queue.claim_stale(svc.redis, self._consumer, claim_ms, free)
                batch = [(i, e) for i, e in stale if i not in self._working]
                if len(batch) < free:
                    batch += await queue.read(svc.redis, self._consumer, free - len(batch), 1000)
                await svc.watchdog.redis_ok()
            except (RedisError, StorageError) as e:
                await svc.watchdog.redis_trouble(e)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
                continue
            for entry_id, entry in batch:
                self._working.add(entry_id)
                task = asyncio.create_task(self._deliver(entry_id, entry))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        heartbeat.cancel()
        log.info("delivery worker %s stopped after %s messages", self._consumer, self.delivered)

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        every = self._svc.settings.delivery.claim_after / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            try:
                await queue.touch(self._svc.redis, self._consumer, list(self._working))
            except RedisError as e:
                log.warning("could not keep queue entries claimed: %s", e)

    async def _deliver(self, entry_id: str, entry: Entry) -> None:
        svc = self._svc
        try:
            if entry.kind == "broadcast":
                self.delivered += await deliver_broadcast(svc, entry_id, entry)
                return
            if not await subscriptions.exists(svc.redis, entry.chat):
                await queue.ack(svc.redis, entry_id)  # unsubscribed since it was queued
                return
            done = await queue.parts_sent(svc.redis, entry_id)
            outcome = Outcome.SENT
            for index, part in enumerate(entry.parts[done:], start=done):
                result = await svc.sender.send(
                    entry.chat, part, kind=entry.kind, quiet=entry.kind == "digest"
                )
                outcome = result.outcome
                if outcome is not Outcome.SENT:
                    break
                await queue.part_done(svc.redis, entry_id, index + 1)
            await svc.watchdog.delivery_outcome(outcome)
            await queue.ack(svc.redis, entry_id)
            self.delivered += outcome is Outcome.SENT
        except (RedisError, StorageError) as e:
            await svc.watchdog.redis_trouble(e)
            log.warning("delivery of %s interrupted by Redis: %s; it will be retried", entry.key, e)
        finally:
            self._working.discard(entry_id)
            self._room.set()
