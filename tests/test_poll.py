"""A whole poll against a local feed server and real Redis: stories in, faults survived."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from bot import stories as story_store
from bot.config import FeedConfig, Settings, parse_settings
from bot.feeds import Feed, effective_feeds, load_states
from bot.feedstate import FeedState, FeedStatus
from bot.fetch import Fetcher
from bot.models import Story
from bot.pipeline import HealthHandler, Outcome, Poller, PollReport, StoryHandler
from tests.fakes.feeds import FIXTURES, FeedServer, Route

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def settings_for(feeds: list[dict[str, Any]], **polling: Any) -> Settings:
    raw: dict[str, Any] = {"feeds": feeds, "polling": {"timeout": "2s", **polling}}
    return parse_settings(raw, {}, Path())


async def poll(
    redis: aioredis.Redis,
    settings: Settings,
    clock: Clock | None = None,
    on_health: HealthHandler | None = None,
    handlers: Sequence[StoryHandler] = (),
    executor: Executor | None = None,
) -> PollReport:
    async with aiohttp.ClientSession() as session:
        poller = Poller(
            settings,
            redis,
            Fetcher(session, settings.polling),
            executor,
            clock=clock or Clock(NOW),
            on_health=on_health,
            handlers=handlers,
        )
        feeds = await effective_feeds(redis, settings.feeds)
        return await poller.poll(feeds)


def by_title(report: PollReport) -> dict[str, Story]:
    return {s.title: s for s in report.new_stories}


async def test_rss_feed_gives_clean_on_topic_stories(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    url = server.serve_file("/rss", "rss_en.xml")
    report = await poll(redis, settings_for([{"url": url, "name": "Northwind"}]))
    stories = by_title(report)
    telegram = stories["Roskomnadzor orders ISPs to block Telegram after court ruling"]
    assert telegram.url == "https://wire.example/news/rkn-blocks-telegram?id=17"
    assert telegram.published == datetime(2026, 11, 27, 5, 15, tzinfo=UTC)
    assert "trackPageView" not in telegram.text and "<p>" not in telegram.text
    assert "decryption keys" in telegram.text
    assert telegram.source == "Northwind" and telegram.lang == "en"
    assert "telegram" in telegram.apps and "RU" in telegram.countries
    assert "blocked" in telegram.actions
    assert telegram.summary.startswith("Russia's media regulator Roskomnadzor on Friday ordered")
    iran = stories["Iran cuts mobile internet as protests spread; WhatsApp and Instagram blocked"]
    assert iran.url == "https://wire.example/world/iran-shutdown"
    assert "WhatsApp & Instagram" in iran.text and "IR" in iran.countries
    # off topic: stickers and the storm signal
    assert not any("stickers" in t or "storm signal" in t for t in stories)
    # duplicate guid stored once
    assert sum(1 for s in report.new_stories if "Iran cuts" in s.title) == 1


async def test_plain_rss_read_by_the_fast_path_gives_the_same_clean_stories(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    url = server.serve_file("/plain", "rss_plain_ru.xml")
    report = await poll(redis, settings_for([{"url": url, "name": "Vestnik"}]))
    stories = by_title(report)
    assert len(stories) == 3  # the bridge is off topic
    throttled = stories["Роскомнадзор начал замедлять Telegram в Москве"]
    assert throttled.url == "https://vestnik.example/news/rkn-telegram?id=501"
    assert throttled.published == datetime(2026, 11, 27, 8, 20, tzinfo=UTC)
    assert throttled.lang == "ru" and throttled.source == "Vestnik"
    assert "telegram" in throttled.apps and "throttled" in throttled.actions
    assert throttled.summary.startswith("Роскомнадзор начал замедлять")  # no dateline
    assert "track()" not in throttled.text and "Читайте также" not in throttled.summary
    fined = stories["Суд оштрафовал WhatsApp на 4 миллиона рублей"]
    assert fined.url == "https://vestnik.example/news/whatsapp-fine"  # from the guid
    assert "россиян в России — это" in fined.text and "whatsapp" in fined.apps
    shutdown = next(s for s in report.new_stories if s.title.startswith("В Дагестане"))
    assert shutdown.published == datetime(2026, 11, 26, 7, 30, tzinfo=UTC)
    assert shutdown.url == "https://vestnik.example/news/dagestan-shutdown"


async def test_a_failing_consumer_of_new_stories_stops_neither_the_others_nor_the_poll(
    redis: aioredis.Redis, server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = server.serve_file("/rss", "rss_en.xml")
    settings = settings_for([{"url": url, "name": "Northwind"}])
    received: list[Story] = []

    async def broken(new: Sequence[Story]) -> None:
        raise KeyError("a consumer's bug")

    async def recording(new: Sequence[Story]) -> None:
        received.extend(new)

    report = await poll(redis, settings, handlers=[broken, recording])
    assert report.feeds[0].outcome is Outcome.NEW
    assert received == report.new_stories and received
    stored = await story_store.load_stories(redis, [s.id for s in received])
    assert len(stored) == len(received)
    assert "a consumer of new stories failed" in caplog.text and "a consumer's bug" in caplog.text


async def test_entries_without_link_title_or_date_are_kept_sensibly(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    url = server.serve_file("/rss", "rss_en.xml")
    report = await poll(redis, settings_for([{"url": url}]))
    stories = by_title(report)
    no_link = stories[
        "Court upholds fine against WhatsApp for refusing to store Russian users' data locally"
    ]
    assert no_link.url == "" and no_link.published == NOW  # unparseable date: fetch time
    untitled = next(s for s in report.new_stories if "pakistan-x" in s.url)
    assert untitled.title.startswith("Pakistan's telecom regulator suspended access")
    future = next(s for s in report.new_stories if "turkey-throttling" in s.url)
    assert future.published == NOW  # a date in 2039 is not believed


@pytest.mark.parametrize(
    "name",
    [
        "rss_cp1251_declared.xml",
        "rss_cp1251_undeclared.xml",
        "rss_koi8r_declared.xml",
        "rss_koi8r_undeclared.xml",
    ],
)
async def test_russian_legacy_encodings_decode(
    redis: aioredis.Redis, server: FeedServer, name: str
) -> None:
    url = server.serve_file("/ru", name, headers={"Content-Type": "text/xml"})
    report = await poll(redis, settings_for([{"url": url, "lang": "ru"}]))
    titles = set(by_title(report))
    assert "Роскомнадзор заблокировал мессенджер Viber за отказ хранить данные в России" in titles
    assert "Ёлочный базар откроется на Тверской" not in titles


async def test_wrong_declared_charset_still_decodes(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    url = server.serve_file(
        "/ru", "rss_cp1251_undeclared.xml", headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    report = await poll(redis, settings_for([{"url": url}]))
    assert any(s.title.startswith("Роскомнадзор заблокировал") for s in report.new_stories)
    assert all(s.lang == "ru" for s in report.new_stories)


async def test_atom_rdf_and_broken_markup_feeds(redis: aioredis.Redis, server: FeedServer) -> None:
    feeds = [
        {"url": server.serve_file("/atom", "atom_en.xml")},
        {"url": server.serve_file("/rdf", "rdf_ru.xml")},
        {"url": server.serve_file("/broken", "broken.xml")},
    ]
    report = await poll(redis, settings_for(feeds))
    titles = set(by_title(report))
    assert "Signal messenger blocked in Russia, OONI measurements confirm" in titles
    assert "РКН замедлил YouTube ещё на 70 процентов" in titles
    assert "India orders internet shutdown in Manipur for five more days" in titles
    assert "В центре Москвы ограничат движение из-за ремонта дорог" not in titles
    assert "Quarterly funding round for a messaging startup" not in titles
    assert all(r.outcome is Outcome.NEW for r in report.feeds)


async def test_second_poll_is_a_304_and_nothing_is_new_again(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    url = server.serve_file("/rss", "rss_en.xml")
    settings = settings_for([{"url": url}])
    first = await poll(redis, settings)
    second = await poll(redis, settings)
    assert first.new_stories and not second.new_stories
    assert second.feeds[0].outcome is Outcome.UNCHANGED
    assert server.seen_headers["/rss"]["If-None-Match"]


async def test_edited_entry_is_not_new_again(redis: aioredis.Redis, server: FeedServer) -> None:
    body = fixture("rss_en.xml")
    url = server.serve("/rss", body=body)
    settings = settings_for([{"url": url}])
    await poll(redis, settings)
    edited = body.replace(b"after court ruling", b"after court ruling (updated)")
    server.serve("/rss", body=edited)
    again = await poll(redis, settings)
    assert again.feeds[0].outcome is Outcome.NOTHING_NEW and again.new_stories == []


async def test_stories_survive_in_store_between_polls(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    url = server.serve_file("/rss", "rss_en.xml")
    report = await poll(redis, settings_for([{"url": url}]))
    ids = {s.id for s in report.new_stories}
    stored = await story_store.ids_between(redis, NOW - timedelta(days=30), NOW)
    assert ids == set(stored)


FAULTS = [
    (
        "malformed",
        Route(body=b'<?xml version="1.0"?><rss><channel><<<>>> &', status=200),
        "not a valid",
    ),
    ("html page", Route(body=b"<!DOCTYPE html><html><body>hi</body></html>"), "HTML page"),
    ("empty body", Route(body=b""), "empty body"),
    ("404", Route(status=404), "404"),
    ("500", Route(status=500), "HTTP 500"),
    ("connection refused", None, "cannot connect"),
]


@pytest.mark.parametrize(("label", "route", "reason"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_a_broken_feed_is_recorded_and_others_still_polled(
    redis: aioredis.Redis, server: FeedServer, label: str, route: Route | None, reason: str
) -> None:
    good = server.serve_file("/good", "atom_en.xml")
    bad = server.serve("/bad", route) if route else "http://127.0.0.1:9/closed"
    report = await poll(redis, settings_for([{"url": bad}, {"url": good}]))
    bad_report, good_report = report.feeds
    assert bad_report.outcome is Outcome.ERROR and reason in bad_report.message
    assert good_report.outcome is Outcome.NEW
    state = (await load_states(redis, [bad]))[bad]
    assert state.errors == 1 and reason in state.last_error


async def test_body_over_the_cap_and_gzip_bomb_are_cut_off(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    huge = server.serve("/huge", body=b"<rss>" + b" " * 200_000 + b"</rss>")
    bomb = server.serve("/bomb", raw_gzip=gzip.compress(b"<rss>" + b"\0" * 50_000_000))
    report = await poll(redis, settings_for([{"url": huge}, {"url": bomb}], max_body_bytes=100_000))
    assert [r.outcome for r in report.feeds] == [Outcome.ERROR, Outcome.ERROR]
    assert "cap" in report.feeds[0].message and "inflates" in report.feeds[1].message


async def test_gzip_feed_is_read(redis: aioredis.Redis, server: FeedServer) -> None:
    body = fixture("atom_en.xml")
    url = server.serve("/gz", body=body, gzip=True)
    report = await poll(redis, settings_for([{"url": url}]))
    assert report.feeds[0].outcome is Outcome.NEW


async def test_slow_server_times_out_without_blocking_others(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    slow = server.serve("/slow", body=b"<rss>" + b"x" * 100, stall=True)
    good = server.serve_file("/good", "atom_en.xml")
    report = await poll(redis, settings_for([{"url": slow}, {"url": good}], timeout="1s"))
    assert report.feeds[0].outcome is Outcome.ERROR and "timeout" in report.feeds[0].message
    assert report.feeds[1].outcome is Outcome.NEW


async def test_redirect_loop_is_reported(redis: aioredis.Redis, server: FeedServer) -> None:
    a = server.serve("/a", status=302, headers={"Location": "/b"})
    server.serve("/b", status=302, headers={"Location": "/a"})
    report = await poll(redis, settings_for([{"url": a}]))
    assert "redirect loop" in report.feeds[0].message


async def test_permanent_redirect_moves_the_fetch_url_in_redis(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    old = server.serve("/old", status=301, headers={"Location": "/new"})
    server.serve_file("/new", "atom_en.xml")
    settings = settings_for([{"url": old}])
    await poll(redis, settings)
    state = (await load_states(redis, [old]))[old]
    assert state.fetch_url == server.url("/new")
    await poll(redis, settings)
    assert server.hits["/old"] == 1 and server.hits["/new"] == 2


async def test_retry_after_is_honoured(redis: aioredis.Redis, server: FeedServer) -> None:
    url = server.serve("/busy", status=429, headers={"Retry-After": "3600"})
    settings = settings_for([{"url": url}])
    clock = Clock(NOW)
    first = await poll(redis, settings, clock)
    assert "Retry-After 3600s" in first.feeds[0].message
    clock.now = NOW + timedelta(minutes=30)
    second = await poll(redis, settings, clock)
    assert second.feeds[0].outcome is Outcome.DEFERRED and server.hits["/busy"] == 1
    clock.now = NOW + timedelta(minutes=61)
    await poll(redis, settings, clock)
    assert server.hits["/busy"] == 2


async def test_503_retry_after_then_failing_after_repeated_errors(
    redis: aioredis.Redis, server: FeedServer
) -> None:
    url = server.serve("/down", status=503, headers={"Retry-After": "5"})
    settings = settings_for([{"url": url}], failing_after=3)
    clock = Clock(NOW)
    changes: list[tuple[FeedStatus, FeedStatus]] = []

    async def on_health(feed: Feed, old: FeedState, new: FeedState) -> None:
        changes.append((old.status, new.status))

    for step in range(3):
        clock.now = NOW + timedelta(days=step)
        await poll(redis, settings, clock, on_health)
    state = (await load_states(redis, [url]))[url]
    assert state.status is FeedStatus.FAILING and state.errors == 3
    assert "503" in state.last_error
    assert changes == [(FeedStatus.OK, FeedStatus.FAILING)]  # told once, not every time
    server.serve_file("/down", "atom_en.xml")
    clock.now = NOW + timedelta(days=4)
    await poll(redis, settings, clock, on_health)
    assert changes[-1] == (FeedStatus.FAILING, FeedStatus.OK)


async def test_410_disables_the_feed(redis: aioredis.Redis, server: FeedServer) -> None:
    url = server.serve("/gone", status=410)
    settings = settings_for([{"url": url}])
    await poll(redis, settings, Clock(NOW))
    later = await poll(redis, settings, Clock(NOW + timedelta(days=10)))
    assert later.feeds[0].outcome is Outcome.DISABLED and server.hits["/gone"] == 1


async def test_ten_thousand_short_entries(redis: aioredis.Redis, server: FeedServer) -> None:
    items = "".join(
        f"<item><title>Roskomnadzor blocks messenger app number {i} in Russia</title>"
        f"<link>https://many.example/{i}</link>"
        "<pubDate>Fri, 27 Nov 2026 08:00:00 GMT</pubDate></item>"
        for i in range(10_000)
    )
    body = f'<rss version="2.0"><channel><title>Many</title>{items}</channel></rss>'
    url = server.serve("/many", body=body.encode())
    report = await poll(redis, settings_for([{"url": url}]))
    assert report.feeds[0].entries == 10_000
    assert len(report.new_stories) == 10_000


async def test_admin_feed_changes_apply_on_top_of_the_config(redis: aioredis.Redis) -> None:
    from bot.feeds import add_feed, remove_feed, set_paused

    baseline = (FeedConfig("https://a.example/feed"), FeedConfig("https://b.example/feed"))
    await remove_feed(redis, "https://a.example/feed")
    await add_feed(redis, FeedConfig("https://c.example/feed", name="C"))
    await set_paused(redis, "https://b.example/feed", True)
    feeds = await effective_feeds(redis, baseline)
    assert [(f.url, f.paused) for f in feeds] == [
        ("https://b.example/feed", True),
        ("https://c.example/feed", False),
    ]
    assert isinstance(feeds[0], Feed)
