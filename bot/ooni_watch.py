"""The OONI watch: counts cached in Redis, detection per app, alerts queued to subscribers.

One check (``watch_once``) does, for every watched country: load the closed days cached in
Redis → ask OONI for the rest (``refetch_range``; the last week is always asked again,
since probes upload late) → merge → cache the newly closed days → build the day series
→ ``detect`` per app with the episode stored in Redis → queue one message per matching
subscriber for each alert or resolved decision → store the new episode state and the
series (for ``/status``). A country that fails is reported and the others go on.

``ooni_loop`` checks at start, then every ``[ooni] interval``; after a failed check it retries
sooner with backoff, and tells admins once when OONI fails and once when it works again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from redis.exceptions import RedisError

from bot import keys, queue, subscriptions
from bot.admin import notify_admins
from bot.alerts_text import decision_text
from bot.detect import DayStat, Decision, EpisodeState, Figures, Verdict, build_series, detect
from bot.errors import OoniError
from bot.ooni import (
    MESSENGER_TESTS,
    CountryCounts,
    DayCount,
    NetworkDayCount,
    OoniClient,
    closed_days,
    merge_counts,
    parse_day_counts,
    parse_network_counts,
    refetch_range,
    window,
)
from bot.queue import Entry
from bot.schedule import backoff_delay
from bot.services import Services
from bot.storage import Redis
from bot.subscriptions import Subscription

log = logging.getLogger(__name__)

FAILING_AFTER = 3
"""Failed checks in a row before admins hear of it (with backoff: about 3 minutes)."""
BACKOFF_BASE = 60.0
BACKOFF_CAP_INTERVALS = 4
"""A failing OONI is asked again after 1, 2, 4 … minutes, at most every 4 intervals."""
EVENTS_KEPT = 100
ENQUEUE_BATCH = 500
APP_TAGS: Mapping[str, frozenset[str]] = {
    "telegram": frozenset({"telegram"}),
    "whatsapp": frozenset({"whatsapp"}),
    "signal": frozenset({"signal"}),
    "facebook_messenger": frozenset({"facebook_messenger", "messenger", "facebook"}),
}
"""OONI test → the app filters (``bot.countries`` tags) of subscribers who want to hear."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One alert or resolved decision and how many chats it was queued for."""

    test: str
    verdict: Verdict
    figures: Figures
    queued: int


@dataclass(frozen=True, slots=True)
class CountryReport:
    country: str
    notices: tuple[Notice, ...] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class Health:
    """The loop's health, kept in Redis so a restart remembers what admins were told."""

    errors: int = 0
    last_error: str = ""
    told_failing: bool = False
    last_ok: float = 0.0
    last_run: float = 0.0

    def to_redis(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_redis(cls, raw: Mapping[str, str]) -> Health:
        return cls(
            int(raw.get("errors", 0)),
            raw.get("last_error", ""),
            raw.get("told_failing") == "True",
            float(raw.get("last_ok", 0.0)),
            float(raw.get("last_run", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class StoredSeries:
    """What ``/status`` reads: a country's series as of ``today``, and its cache version."""

    country: str
    today: date
    days: int
    series: dict[str, list[DayStat]]
    version: str


# Pure decisions -------------------------------------------------------------------------


def wants(sub: Subscription, country: str, test: str) -> bool:
    """Whether a chat should get an OONI alert about ``test`` in ``country``."""
    if not sub.wants_alerts:
        return False
    if sub.countries and country.upper() not in {c.upper() for c in sub.countries}:
        return False
    tags = APP_TAGS.get(test, frozenset({test}))
    return not sub.apps or any(a.lower() in tags for a in sub.apps)


def message_key(country: str, test: str, verdict: Verdict, since: date, chat_id: int) -> str:
    """The queue key: one message per country, app, episode (its start), verdict and chat."""
    return f"ooni:{country}:{test}:{since.isoformat()}:{verdict.value}:{chat_id}"


def after_check(health: Health, error: str, now: float) -> tuple[Health, str | None]:
    """The health after a check (``error`` empty when it worked) and the admin notice due."""
    if error:
        errors = health.errors + 1
        tell = errors >= FAILING_AFTER and not health.told_failing
        told = health.told_failing or tell
        return Health(errors, error, told, health.last_ok, now), "ooni_failing" if tell else None
    notice = "ooni_recovered" if health.told_failing else None
    return Health(0, "", False, now, now), notice


def next_delay(health: Health, interval: float) -> float:
    """Seconds until the next check: the interval, or a backoff while OONI fails."""
    if health.errors <= 0:
        return interval
    base = min(BACKOFF_BASE, interval)
    return backoff_delay(health.errors, base, max(interval * BACKOFF_CAP_INTERVALS, base))


def series_json(
    country: str, today: date, days: int, series: Mapping[str, Sequence[DayStat]]
) -> str:
    rows = {
        test: [
            [s.day.isoformat(), s.rate, s.usable, s.networks, s.anomalous_networks] for s in stats
        ]
        for test, stats in series.items()
    }
    return json.dumps(
        {"country": country, "today": today.isoformat(), "days": days, "series": rows},
        sort_keys=True,
    )


def parse_series(text: str) -> StoredSeries:
    """Inverse of :func:`series_json`; ``ValueError``/``KeyError`` when damaged."""
    raw = json.loads(text)
    series = {
        str(test): [
            DayStat(date.fromisoformat(d), float(rate), int(usable), int(nets), int(anom))
            for d, rate, usable, nets, anom in stats
        ]
        for test, stats in raw["series"].items()
    }
    today = date.fromisoformat(raw["today"])
    return StoredSeries(str(raw["country"]), today, int(raw["days"]), series, keys.digest(text))


# Redis ----------------------------------------------------------------------------------


async def load_series(redis: Redis, country: str) -> StoredSeries | None:
    """The series of the last successful check of ``country``; None before the first."""
    text = await redis.get(keys.ooni_series(country))
    if not text:
        return None
    try:
        return parse_series(str(text))
    except (ValueError, KeyError, TypeError) as e:
        log.warning("OONI series of %s is damaged, ignored until the next check: %s", country, e)
        return None


async def load_episodes(redis: Redis, country: str) -> dict[str, EpisodeState]:
    """Open episodes by test; a damaged record is dropped (and logged)."""
    found: dict[str, EpisodeState] = {}
    for test, text in (await redis.hgetall(keys.ooni_episodes(country))).items():
        try:
            found[str(test)] = EpisodeState.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as e:
            log.warning("OONI episode %s/%s is damaged, dropped: %s", country, test, e)
    return found


Cached = dict[date, tuple[list[DayCount], list[NetworkDayCount]]]


async def _load_cached(redis: Redis, country: str) -> tuple[Cached, list[str]]:
    """Closed days from the cache, and the fields that are damaged or unreadable."""
    cached: Cached = {}
    bad: list[str] = []
    for field, text in (await redis.hgetall(keys.ooni_days(country))).items():
        try:
            raw = json.loads(text)
            day = date.fromisoformat(str(field))
            daily = parse_day_counts({"result": raw["daily"]})
            networks = parse_network_counts({"result": raw["networks"]}, "")
        except (ValueError, KeyError, TypeError, OoniError):
            bad.append(str(field))
            continue
        cached[day] = (daily, networks)
    return cached, bad


async def _store_counts(
    redis: Redis, country: str, closed: set[date], fresh: CountryCounts, drop: Sequence[str]
) -> None:
    """Cache each newly closed day (empty ones too) and drop fields outside the window."""
    fields = {}
    for day in closed:
        daily = [c.as_row() for c in fresh.daily if c.day == day]
        networks = [c.as_row() for c in fresh.networks if c.day == day]
        fields[day.isoformat()] = json.dumps({"daily": daily, "networks": networks})
    async with redis.pipeline(transaction=True) as pipe:
        if drop:
            pipe.hdel(keys.ooni_days(country), *drop)
        if fields:
            pipe.hset(keys.ooni_days(country), mapping=cast(Mapping[Any, Any], fields))
        await pipe.execute()


async def _alert_subscribers(redis: Redis) -> list[Subscription]:
    subs = []
    for raw in sorted(await redis.smembers(keys.alert_chats())):
        sub = await subscriptions.get(redis, int(raw))
        if sub is not None and sub.wants_alerts:
            subs.append(sub)
    return subs


async def _announce(
    redis: Redis,
    country: str,
    test: str,
    decision: Decision,
    subs: Sequence[Subscription],
    today: date,
) -> int:
    """Queue one entry per matching chat, in its language, and keep the decision in the
    country's capped event list; returns how many entries were newly queued."""
    assert decision.figures is not None
    record = {"test": test, "verdict": decision.verdict.value, "decided": today}
    record.update(dataclasses.asdict(decision.figures))
    async with redis.pipeline(transaction=True) as pipe:
        pipe.lpush(keys.ooni_events(country), json.dumps(record, default=str))
        pipe.ltrim(keys.ooni_events(country), 0, EVENTS_KEPT - 1)
        await pipe.execute()
    since = decision.figures.since
    texts = {lang: decision_text(decision, country, test, lang) for lang in ("en", "ru")}
    entries = []
    for sub in subs:
        text = texts["ru" if sub.lang == "ru" else "en"]
        if text is not None and wants(sub, country, test):
            key = message_key(country, test, decision.verdict, since, sub.chat_id)
            entries.append(Entry(key=key, chat=sub.chat_id, kind="alert", parts=(text,)))
    queued = 0
    for start in range(0, len(entries), ENQUEUE_BATCH):
        queued += await queue.enqueue(redis, entries[start : start + ENQUEUE_BATCH])
    return queued


# The check ------------------------------------------------------------------------------


async def watch_country(
    svc: Services, client: OoniClient, country: str, today: date, subs: Sequence[Subscription]
) -> tuple[Notice, ...]:
    """One country's check; :class:`OoniError` when OONI fails (nothing is stored then)."""
    settings = svc.settings.ooni
    redis = svc.redis
    since, _ = window(today, settings.days)
    cached, bad = await _load_cached(redis, country)
    fetch_since, fetch_until = refetch_range(set(cached), today, settings.days)
    counts = await client.fetch_country(country, fetch_since, fetch_until)
    old = [cached[d] for d in sorted(cached)]
    daily = merge_counts([c for d, _ in old for c in d], counts.daily, fetch_since, since)
    networks = merge_counts([c for _, n in old for c in n], counts.networks, fetch_since, since)
    drop = bad + [d.isoformat() for d in cached if d < since]
    closed = closed_days(fetch_since, fetch_until, today)
    await _store_counts(redis, country, closed, counts, drop)

    series = build_series(daily, networks, min_rate=settings.min_rate)
    episodes = await load_episodes(redis, country)
    notices = []
    for test in MESSENGER_TESTS:
        decision = detect(series.get(test, []), settings, episodes.get(test), today)
        if decision.verdict is not Verdict.NONE and decision.figures is not None:
            queued = await _announce(redis, country, test, decision, subs, today)
            notices.append(Notice(test, decision.verdict, decision.figures, queued))
            log.info(
                "OONI %s %s: %s since %s, queued for %d chats",
                country, test, decision.verdict.value, decision.figures.since, queued,
            )  # fmt: skip
        if decision.state is None:
            await redis.hdel(keys.ooni_episodes(country), test)
        else:
            await redis.hset(
                keys.ooni_episodes(country), test, json.dumps(decision.state.as_dict())
            )
    await redis.set(keys.ooni_series(country), series_json(country, today, settings.days, series))
    return tuple(notices)


async def watch_once(svc: Services, client: OoniClient, today: date) -> list[CountryReport]:
    """Check every watched country once; a failing country is reported, the rest go on."""
    subs = await _alert_subscribers(svc.redis)
    reports = []
    for country in svc.settings.ooni.countries:
        try:
            notices = await watch_country(svc, client, country, today, subs)
        except OoniError as e:
            log.warning("OONI check of %s failed: %s", country, e)
            reports.append(CountryReport(country, error=str(e)))
            continue
        reports.append(CountryReport(country, notices))
    return reports


async def load_health(redis: Redis) -> Health:
    raw = await redis.hgetall(keys.ooni_health())
    try:
        return Health.from_redis({str(k): str(v) for k, v in raw.items()})
    except ValueError:
        return Health()


async def check_once(
    svc: Services, client: OoniClient, today: date
) -> tuple[list[CountryReport], Health]:
    """``watch_once``, then the health recorded and the admins told of a change."""
    reports = await watch_once(svc, client, today)
    error = "; ".join(r.error for r in reports if r.error)
    health, notice = after_check(await load_health(svc.redis), error, svc.clock().timestamp())
    await svc.redis.hset(keys.ooni_health(), mapping=cast(Mapping[Any, Any], health.to_redis()))
    if notice == "ooni_failing":
        await notify_admins(svc, notice, errors=health.errors, reason=error[:600])
    elif notice is not None:
        await notify_admins(svc, notice)
    return reports, health


async def ooni_loop(svc: Services, ended: asyncio.Event) -> None:
    """Check at once, then every interval (sooner, with backoff, while OONI fails).

    A check in flight is cancelled when ``ended`` is set (stop, or the lease lost), so a
    hanging OONI never holds up shutdown; what it queued stays queued once (queue keys).
    """
    settings = svc.settings.ooni
    client = OoniClient(svc.session, settings)
    while not ended.is_set():
        check = asyncio.create_task(check_once(svc, client, svc.clock().date()))
        stopped = asyncio.create_task(ended.wait())
        await asyncio.wait((check, stopped), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not check.done():
            check.cancel()
            await asyncio.gather(check, return_exceptions=True)
            return
        try:
            reports, health = check.result()
            delay = next_delay(health, settings.interval)
            log.info(
                "OONI check done: %d countries, %d alerts or resolved, %d failed; next in %.0fs",
                len(reports), sum(len(r.notices) for r in reports),
                sum(1 for r in reports if r.error), delay,
            )  # fmt: skip
        except RedisError as e:
            log.error("OONI check interrupted by Redis, retrying soon: %s", e)
            delay = min(BACKOFF_BASE, settings.interval)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), delay)
