"""The OONI watch against the fake OONI server and real Redis: alerts queued, cache, health."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from telegram import Bot

from bot import keys, subscriptions
from bot.config import Settings, TelegramSettings
from bot.detect import DayStat, Verdict
from bot.fetch import Fetcher
from bot.metrics import Metrics
from bot.ooni import OoniClient, OoniSettings
from bot.ooni_watch import (
    FAILING_AFTER,
    Health,
    after_check,
    check_once,
    load_series,
    message_key,
    next_delay,
    parse_series,
    series_json,
    wants,
    watch_once,
)
from bot.ops import Watchdog
from bot.pipeline import Poller
from bot.queue import Entry
from bot.send import Sender
from bot.services import Services
from bot.subscriptions import Mode, Subscription
from tests.fakes.botapi import FakeBotApi
from tests.fakes.ooni import FakeOoni
from tests.fakes.tghtml import parse_telegram_html

TOKEN = "123456:TEST-token"
ADMIN = 777
TODAY = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
D = date.fromisoformat

EVERYTHING_EN = 101  # alerts, no filters, English
WHATSAPP_RU = 102  # digest and alerts, WhatsApp in RU, Russian
IRAN_ONLY = 103  # alerts, IR only
TELEGRAM_ONLY = 104  # alerts, Telegram only
DIGEST_ONLY = 105  # digest only, no filters
MESSENGER_RU = 106  # alerts, Facebook Messenger only, Russian
SUBSCRIBERS = (
    Subscription(EVERYTHING_EN, mode=Mode.ALERTS),
    Subscription(WHATSAPP_RU, lang="ru", apps=("whatsapp",), countries=("RU",), mode=Mode.BOTH),
    Subscription(IRAN_ONLY, countries=("IR",), mode=Mode.ALERTS),
    Subscription(TELEGRAM_ONLY, apps=("telegram",), mode=Mode.ALERTS),
    Subscription(DIGEST_ONLY, mode=Mode.DIGEST),
    Subscription(MESSENGER_RU, lang="ru", apps=("facebook_messenger",), mode=Mode.ALERTS),
)


@dataclass
class World:
    svc: Services
    ooni: FakeOoni
    fixtures: dict[str, str]
    api: FakeBotApi
    client: OoniClient

    async def queued(self) -> list[Entry]:
        rows: Any = await self.svc.redis.xrange(keys.queue())
        return [Entry.loads(fields["e"]) for _, fields in rows]

    def admin_texts(self) -> list[str]:
        return [parse_telegram_html(str(m["text"]))[0] for m in self.api.sent(ADMIN)]


async def make_world(
    redis: aioredis.Redis,
    session: aiohttp.ClientSession,
    api: FakeBotApi,
    bot: Bot,
    ooni: FakeOoni,
    fixtures: dict[str, str],
    answer_within: float = 10.0,
) -> World:
    settings = Settings(
        telegram=TelegramSettings(admins=(ADMIN,)),
        ooni=OoniSettings(
            enabled=True, base_url=ooni.url, countries=tuple(fixtures), timeout=answer_within
        ),
    )
    metrics = Metrics()
    sender = Sender(bot, redis, metrics, clock=lambda: NOW, max_retries=0)
    poller = Poller(settings, redis, Fetcher(session, settings.polling), None, clock=lambda: NOW)

    async def notify(key: str, **values: object) -> None:
        raise AssertionError(f"the watchdog has nothing to say here: {key}")

    svc = Services(settings, redis, session, sender, metrics, poller, lambda: NOW, Watchdog(notify))
    return World(svc, ooni, fixtures, api, OoniClient(session, settings.ooni))


@pytest.fixture
async def parts() -> AsyncIterator[tuple[aiohttp.ClientSession, FakeBotApi, Bot]]:
    async with (
        aiohttp.ClientSession() as session,
        FakeBotApi() as api,
        Bot(TOKEN, base_url=f"{api.root}/bot", base_file_url=f"{api.root}/file/bot") as bot,
    ):
        yield session, api, bot


@asynccontextmanager
async def world_for(
    redis: aioredis.Redis,
    parts: tuple[aiohttp.ClientSession, FakeBotApi, Bot],
    fixtures: dict[str, str],
    answer_within: float = 10.0,
) -> AsyncIterator[World]:
    session, api, bot = parts
    async with FakeOoni(fixtures) as ooni:
        yield await make_world(redis, session, api, bot, ooni, fixtures, answer_within)


@pytest.fixture
async def ru(
    redis: aioredis.Redis, parts: tuple[aiohttp.ClientSession, FakeBotApi, Bot]
) -> AsyncIterator[World]:
    """RU serves the sudden block; every subscriber of the table is saved."""
    for sub in SUBSCRIBERS:
        await subscriptions.save(redis, sub, NOW)
    async with world_for(redis, parts, {"RU": "sudden_block"}) as world:
        yield world


def text_of(entry: Entry) -> str:
    return parse_telegram_html(entry.parts[0])[0]


# End to end through the fake OONI ------------------------------------------------------


async def test_sudden_block_queues_one_alert_per_matching_subscriber(ru: World) -> None:
    reports = await watch_once(ru.svc, ru.client, TODAY)
    assert [r.country for r in reports] == ["RU"] and not reports[0].error
    [notice] = reports[0].notices
    assert (notice.test, notice.verdict, notice.figures.since) == (
        "whatsapp",
        Verdict.ALERT,
        D("2026-11-20"),
    )
    assert notice.figures.networks == 6 and notice.figures.anomalous_networks == 5
    entries = {e.chat: e for e in await ru.queued()}
    assert sorted(entries) == [EVERYTHING_EN, WHATSAPP_RU] and notice.queued == 2
    english, russian = entries[EVERYTHING_EN], entries[WHATSAPP_RU]
    assert english.kind == "alert" and len(english.parts) == 1
    assert english.key == message_key("RU", "whatsapp", Verdict.ALERT, D("2026-11-20"), 101)
    shown = text_of(english)
    assert shown.startswith("⚠️ RU · WhatsApp: ")
    assert "OONI tests anomalous on 2026-11-28" in shown and "5 of 6 networks" in shown
    assert "since 2026-11-20" in shown and "Data: OONI (CC BY-NC-SA 4.0)" in shown
    assert (
        "https://explorer.ooni.org/chart/mat?probe_cc=RU&amp;test_name=whatsapp"
        in (english.parts[0])
    )
    assert f"{round(notice.figures.rate * 100)}% of {notice.figures.usable} OONI" in shown
    russian_text = text_of(russian)
    assert russian_text.startswith("⚠️ RU · WhatsApp: аномальны ")
    assert "Данные: OONI (CC BY-NC-SA 4.0)" in russian_text and "с 2026-11-20" in russian_text


async def test_a_second_check_queues_nothing_new(ru: World) -> None:
    await watch_once(ru.svc, ru.client, TODAY)
    first = await ru.queued()
    again = await watch_once(ru.svc, ru.client, TODAY)
    assert again[0].notices == () and await ru.queued() == first
    # Even if the episode state were lost after queueing (a crash in between), the queue
    # keys keep every message to one copy: the same alert is decided but nothing is added.
    await ru.svc.redis.delete(keys.ooni_episodes("RU"))
    replay = await watch_once(ru.svc, ru.client, TODAY)
    assert [n.queued for n in replay[0].notices] == [0] and await ru.queued() == first


async def test_an_episode_alerts_then_resolves_to_the_same_chats(ru: World) -> None:
    """Telegram was blocked 5-12 Nov: alert on the 8th, resolved on the 14th."""
    during = await watch_once(ru.svc, ru.client, D("2026-11-08"))
    assert [(n.test, n.verdict.value) for n in during[0].notices] == [("telegram", "alert")]
    after = await watch_once(ru.svc, ru.client, D("2026-11-14"))
    [resolved] = after[0].notices
    assert resolved.verdict is Verdict.RESOLVED and resolved.figures.since == D("2026-11-05")
    assert resolved.figures.clear_since == D("2026-11-13")
    entries = await ru.queued()
    assert [(e.chat, e.key.split(":")[4]) for e in entries] == [
        (EVERYTHING_EN, "alert"),
        (TELEGRAM_ONLY, "alert"),
        (EVERYTHING_EN, "resolved"),
        (TELEGRAM_ONLY, "resolved"),
    ]
    shown = text_of(entries[2])
    assert shown.startswith("✅ RU · Telegram: back to normal")
    assert "anomalies since 2026-11-05" in shown and "OONI (CC BY-NC-SA 4.0)" in shown
    assert await ru.svc.redis.hgetall(keys.ooni_episodes("RU")) == {}
    events = await ru.svc.redis.lrange(keys.ooni_events("RU"), 0, -1)
    assert ['"verdict": "resolved"' in e for e in events] == [True, False]


async def test_closed_days_come_from_the_cache(ru: World) -> None:
    await watch_once(ru.svc, ru.client, TODAY)
    first = await load_series(ru.svc.redis, "RU")
    assert len(ru.ooni.requests) == 5  # the four tests together, then each test by network
    assert {q["since"] for q in ru.ooni.requests} == {"2026-10-30"}
    cached = await ru.svc.redis.hkeys(keys.ooni_days("RU"))
    assert min(cached) == "2026-10-30" and max(cached) == "2026-11-21" and len(cached) == 23

    await watch_once(ru.svc, ru.client, TODAY)
    again = ru.ooni.requests[5:]
    assert len(again) == 5 and {q["since"] for q in again} == {"2026-11-22"}
    second = await load_series(ru.svc.redis, "RU")
    assert first is not None and second is not None and second.series == first.series
    assert second.version == first.version  # the /status chart cache stays valid

    await watch_once(ru.svc, ru.client, D("2026-11-29"))  # a day later: 22 Nov closes
    assert {q["since"] for q in ru.ooni.requests[10:]} == {"2026-11-22"}
    cached = await ru.svc.redis.hkeys(keys.ooni_days("RU"))
    assert max(cached) == "2026-11-22" and "2026-10-30" not in cached  # left the window


async def test_late_data_alerts_once_it_arrives(
    redis: aioredis.Redis, parts: tuple[aiohttp.ClientSession, FakeBotApi, Bot]
) -> None:
    await subscriptions.save(redis, Subscription(EVERYTHING_EN, mode=Mode.ALERTS), NOW)
    async with world_for(redis, parts, {"IR": "late_data"}) as world:
        first = await watch_once(world.svc, world.client, TODAY)
        assert first[0].notices == ()  # chronic Telegram/Messenger blocks never alert
        world.ooni.publish_late_data()
        later = await watch_once(world.svc, world.client, TODAY)
        assert [(n.test, n.figures.since) for n in later[0].notices] == [
            ("signal", D("2026-11-26"))
        ]
        assert [e.chat for e in await world.queued()] == [EVERYTHING_EN]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("quiet_month", []),
        ("noisy_network", []),
        ("gradual_throttle", [("telegram", "2026-11-22")]),
        ("missing_days", [("facebook_messenger", "2026-11-22")]),
    ],
)
async def test_what_each_scenario_flags_today(
    redis: aioredis.Redis,
    parts: tuple[aiohttp.ClientSession, FakeBotApi, Bot],
    fixture: str,
    expected: list[tuple[str, str]],
) -> None:
    await subscriptions.save(redis, SUBSCRIBERS[-1], NOW)  # Messenger only, in Russian
    country = {"quiet_month": "BY", "noisy_network": "KZ", "gradual_throttle": "TR"}
    cc = country.get(fixture, "MM")
    async with world_for(redis, parts, {cc: fixture}) as world:
        [report] = await watch_once(world.svc, world.client, TODAY)
        flagged = [(n.test, n.figures.since.isoformat()) for n in report.notices]
        assert flagged == expected
        chats = [e.chat for e in await world.queued()]
        assert chats == ([MESSENGER_RU] if fixture == "missing_days" else [])
        stored = await load_series(world.svc.redis, cc)
        assert stored is not None and stored.today == TODAY and len(stored.series) == 4


# Failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("error_500", "HTTP 500, the OONI API is failing"),
        ("error_400", "HTTP 400, OONI rejected the query: Choose time_grain"),
        ("malformed", "answer is not valid JSON"),
        ("wrong_shape", "result is not a list"),
        ("error_in_200", "answer has no result: Axis X and Y cannot be the same"),
    ],
)
async def test_a_failing_api_is_recorded_and_admins_hear_once(
    redis: aioredis.Redis,
    parts: tuple[aiohttp.ClientSession, FakeBotApi, Bot],
    fixture: str,
    reason: str,
) -> None:
    await subscriptions.save(redis, Subscription(EVERYTHING_EN, mode=Mode.ALERTS), NOW)
    async with world_for(redis, parts, {"RU": fixture, "TR": "gradual_throttle"}) as world:
        for run in range(1, FAILING_AFTER + 2):
            reports, health = await check_once(world.svc, world.client, TODAY)
            assert reports[0].error.startswith("OONI RU ") and reason in reports[0].error
            assert not reports[1].error  # the other country goes on
            assert health.errors == run and reason in health.last_error
            assert len(world.admin_texts()) == (1 if run >= FAILING_AFTER else 0)
        stored = await redis.hgetall(keys.ooni_health())
        assert stored["errors"] == str(FAILING_AFTER + 1) and reason in stored["last_error"]
        [told] = world.admin_texts()
        assert told.startswith(f"⚠️ OONI checks failing ({FAILING_AFTER} in a row)")
        assert reason in told
        assert await load_series(redis, "RU") is None
        assert [e.chat for e in await world.queued()] == [EVERYTHING_EN]  # TR's alert only

        world.fixtures["RU"] = "sudden_block"  # OONI answers again
        reports, health = await check_once(world.svc, world.client, TODAY)
        assert health.errors == 0 and [len(r.notices) for r in reports] == [1, 0]
        await check_once(world.svc, world.client, TODAY)
        assert world.admin_texts()[1:] == [
            "✅ OONI checks work again; alerts and /status are up to date."
        ]


async def test_an_api_that_never_answers_is_a_timeout(
    redis: aioredis.Redis, parts: tuple[aiohttp.ClientSession, FakeBotApi, Bot]
) -> None:
    async with world_for(redis, parts, {"RU": "hang"}, answer_within=0.3) as world:
        reports, health = await check_once(world.svc, world.client, TODAY)
        assert "no answer within 0.3 s" in reports[0].error and health.errors == 1


# Pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub", "country", "test", "expected"),
    [
        (Subscription(1, mode=Mode.ALERTS), "RU", "signal", True),
        (Subscription(1, mode=Mode.DIGEST), "RU", "signal", False),
        (Subscription(1, mode=Mode.BOTH, countries=("RU",)), "RU", "telegram", True),
        (Subscription(1, mode=Mode.ALERTS, countries=("IR", "TR")), "RU", "telegram", False),
        (Subscription(1, mode=Mode.ALERTS, apps=("viber",)), "RU", "telegram", False),
        (Subscription(1, mode=Mode.ALERTS, apps=("telegram", "viber")), "RU", "telegram", True),
        (Subscription(1, mode=Mode.ALERTS, apps=("messenger",)), "RU", "facebook_messenger", True),
        (Subscription(1, mode=Mode.ALERTS, apps=("facebook",)), "RU", "facebook_messenger", True),
        (Subscription(1, mode=Mode.ALERTS, apps=("facebook",)), "RU", "whatsapp", False),
    ],
)
def test_who_wants_an_alert(sub: Subscription, country: str, test: str, expected: bool) -> None:
    assert wants(sub, country, test) is expected


def test_health_tells_admins_once_per_change() -> None:
    health = Health()
    notices = []
    for error in ["", "boom", "boom", "boom", "boom", "", "", "boom"]:
        health, notice = after_check(health, error, 100.0)
        notices.append(notice)
    assert notices == [None, None, None, "ooni_failing", None, "ooni_recovered", None, None]
    assert health.errors == 1 and not health.told_failing
    assert Health.from_redis(replace(health, told_failing=True).to_redis()).told_failing


@pytest.mark.parametrize(
    ("errors", "interval", "expected"),
    [(0, 3600.0, 3600.0), (1, 3600.0, 60.0), (3, 3600.0, 240.0), (12, 3600.0, 14400.0),
     (2, 30.0, 60.0), (9, 30.0, 120.0)],
)  # fmt: skip
def test_backoff_while_failing(errors: int, interval: float, expected: float) -> None:
    assert next_delay(Health(errors=errors), interval) == expected


def test_stored_series_round_trips() -> None:
    series = {"telegram": [DayStat(D("2026-11-27"), 0.25, 40, 3, 1)], "signal": []}
    stored = parse_series(series_json("RU", TODAY, 30, series))
    assert (stored.country, stored.today, stored.days, stored.series) == ("RU", TODAY, 30, series)
