"""Delivery end to end: digests, alerts, broadcasts, restarts and two processes at once."""

from __future__ import annotations

import re
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis.asyncio as aioredis

from bot import keys, subscriptions
from bot.delivery import alert_html, alert_worthy
from bot.models import Event, Story
from bot.subscriptions import Mode, Subscription
from tests.botrun import ADMIN, BotRun, running_bot
from tests.fakes.botapi import FakeBotApi
from tests.fakes.feeds import FIXTURES, FeedServer
from tests.fakes.tghtml import parse_telegram_html
from tests.test_bot import eventually
from tests.test_llm import FakeLlm, answer_with, fake_llm  # noqa: F401 - the fixture

FAST = (
    '[delivery]\nschedule_every = "1s"\nclaim_after = "2s"\nin_flight = 4\n'
    'slot_hold = "3s"\nlease_ttl = "3s"\n'
)
"""Delivery settings that make a dead process's work move on within seconds."""


async def subscribe_many(redis: aioredis.Redis, chats: range, **fields: object) -> None:
    now = datetime.now(UTC)
    for chat in chats:
        sub = Subscription(chat_id=chat, **fields)  # type: ignore[arg-type]
        await subscriptions.save(redis, sub, now)


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fresh(body: bytes) -> bytes:
    """The feed with every item published half an hour ago: news recent enough to alert."""
    recent = format_datetime(datetime.now(UTC) - timedelta(minutes=30)).encode()
    return re.sub(rb"<pubDate>[^<]*</pubDate>", b"<pubDate>" + recent + b"</pubDate>", body)


def texts(fake: FakeBotApi, chat: int) -> list[str]:
    return [parse_telegram_html(str(m["text"]))[0] for m in fake.sent(chat) if "text" in m]


async def make_due(redis: aioredis.Redis, chat: int) -> None:
    """As if the chat's digest time had come: its due time moves to the past."""
    await redis.zadd(keys.digest_due(), {str(chat): time.time() - 1})


async def test_due_digest_arrives_once_and_holds_only_matching_events(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis, feeds: FeedServer
) -> None:
    async with running_bot(
        tmp_path, redis_url, feeds=[feeds.url("/rss"), feeds.url("/ru")], extra_config=FAST
    ) as bot:
        await eventually(lambda: redis.exists(keys.poll_last()))
        await bot.command(1001, "/subscribe telegram", language_code="en")
        await bot.command(1002, "/subscribe lang:ru", language_code="ru")
        await make_due(redis, 1001)
        await make_due(redis, 1002)
        await bot.wait_sent(1001, 2)
        await bot.wait_sent(1002, 2)
        english = texts(bot.fake, 1001)[1]
        assert (
            "CensorWire digest" in english
            and "Roskomnadzor orders ISPs to block Telegram" in english
        )
        assert "Viber" not in english  # filtered out: not Telegram
        russian = texts(bot.fake, 1002)[1]
        assert "Дайджест CensorWire" in russian and "Viber" in russian
        sub = await subscriptions.get(redis, 1001)
        assert sub is not None
        next_due = await redis.zscore(keys.digest_due(), "1001")
        assert next_due is not None and next_due > time.time()
        local = datetime.fromtimestamp(next_due, sub.zone)
        assert (local.hour, local.minute) == (9, 0)
        await make_due(redis, 1001)  # due again, but nothing new happened since
        await bot.command(1001, "/help")  # a round trip so the scheduler had its turn
        await eventually(lambda: _due_in_future(redis, 1001))
        assert await redis.xlen(keys.queue()) == 0  # and nothing waiting to be sent
    assert len(bot.fake.sent(1001)) == 3  # /subscribe reply, the digest, /help: no empty digest


async def _due_in_future(redis: aioredis.Redis, chat: int) -> bool:
    return (await redis.zscore(keys.digest_due(), str(chat)) or 0) > time.time()


async def test_nothing_is_sent_twice_across_a_restart(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis, feeds: FeedServer
) -> None:
    fake = FakeBotApi()
    await fake.start()
    config = dict(feeds=[feeds.url("/rss")], extra_config=FAST, fake=fake)
    async with running_bot(tmp_path, redis_url, **config) as bot:  # type: ignore[arg-type]
        await eventually(lambda: redis.exists(keys.poll_last()))
        await bot.command(2001, "/subscribe")
        await make_due(redis, 2001)
        await bot.wait_sent(2001, 2)
    await redis.delete(keys.poll_last())
    async with running_bot(tmp_path, redis_url, **config) as bot:  # type: ignore[arg-type]
        await eventually(lambda: redis.exists(keys.poll_last()))
        await make_due(redis, 2001)
        await eventually(lambda: _due_in_future(redis, 2001))
        await bot.command(2001, "/help")
    digests = [t for t in texts(fake, 2001) if "CensorWire digest" in t]
    assert len(digests) == 1
    await fake.stop()


async def test_instant_alert_goes_once_to_opted_in_chats(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis, feeds: FeedServer
) -> None:
    await subscribe_many(redis, range(3001, 3002), mode=Mode.ALERTS, apps=("telegram",))
    await subscribe_many(redis, range(3002, 3003), mode=Mode.DIGEST)
    await subscribe_many(redis, range(3003, 3004), mode=Mode.BOTH, apps=("viber",))
    mirror = feeds.serve("/mirror", status=404)  # another outlet, reprinting later
    wire = feeds.serve("/fresh", body=fresh(fixture_bytes("rss_en.xml")))
    async with running_bot(
        tmp_path,
        redis_url,
        feeds=[wire, mirror],
        extra_config=FAST,
        polling={"interval": '"1s"', "max_backoff": '"1s"'},
    ) as bot:
        await bot.wait_sent(3001, 1)
        assert "Alert" in texts(bot.fake, 3001)[0] and "Telegram" in texts(bot.fake, 3001)[0]
        reprint = fresh(fixture_bytes("rss_en.xml")).replace(b"wire.example", b"mirror.example")
        feeds.serve("/mirror", body=reprint)
        await eventually(lambda: _stored_from(redis, "mirror.example"))
        await eventually(lambda: _queue_empty(redis))
    assert len(bot.fake.sent(3001)) == 1  # once per event, though a second outlet joined it
    assert bot.fake.sent(3002) == [] and bot.fake.sent(3003) == []


async def test_with_the_llm_on_an_alert_carries_the_models_summary(
    tmp_path: Path,
    redis_url: str,
    redis: aioredis.Redis,
    feeds: FeedServer,
    fake_llm: FakeLlm,  # noqa: F811 - the fixture
) -> None:
    summary = "A court let the regulator block Telegram; providers must comply within a day."
    fake_llm.handler = answer_with(summary)
    await subscribe_many(redis, range(3101, 3102), mode=Mode.ALERTS, apps=("telegram",))
    llm = (
        f'[summarizer]\nllm_enabled = true\nllm_url = "{fake_llm.url}"\n'
        'llm_model = "tiny"\nllm_api_key = "sk-local-test"\nllm_timeout = "5s"\n'
    )
    wire = feeds.serve("/fresh", body=fresh(fixture_bytes("rss_en.xml")))
    async with running_bot(tmp_path, redis_url, feeds=[wire], extra_config=FAST + llm) as bot:
        await bot.wait_sent(3101, 1)
    alert = texts(bot.fake, 3101)[0]
    assert "Alert" in alert and summary in alert


async def _stored_from(redis: aioredis.Redis, host: str) -> bool:
    ids = await redis.zrange(keys.stories_by_time(), 0, -1)
    for story_id in ids:
        data = await redis.hget(keys.story(story_id), "data")
        if data and host in data:
            return True
    return False


async def _queue_empty(redis: aioredis.Redis) -> bool:
    return await redis.xlen(keys.queue()) == 0


async def test_broadcast_preview_confirm_progress_and_report(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    await subscribe_many(redis, range(5000, 5030))
    async with running_bot(tmp_path, redis_url, extra_config=FAST) as bot:
        bad = await bot.command(ADMIN, "/broadcast <b>unclosed")
        assert "never closed" in parse_telegram_html(str(bad["text"]))[0]
        await bot.command(ADMIN, "/broadcast <b>Hello</b> &amp; welcome")
        sent = await bot.wait_sent(ADMIN, 3)
        preview, confirm = sent[1], sent[2]
        assert parse_telegram_html(str(preview["text"]))[0] == "Hello & welcome"
        assert "every subscribed chat (30)" in parse_telegram_html(str(confirm["text"]))[0]
        data = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        await bot.press(ADMIN, ADMIN, data, int(confirm["message_id"]))
        await bot.fake.wait_for(
            lambda f: (
                "finished" in str((f.message(ADMIN, int(confirm["message_id"])) or {}).get("text"))
            ),
            30,
        )
        report = parse_telegram_html(
            str(bot.fake.message(ADMIN, int(confirm["message_id"]))["text"])
        )[0]  # type: ignore[index]
        assert "sent 30" in report
        for chat in range(5000, 5030):
            assert texts(bot.fake, chat) == ["Hello & welcome"]
        await bot.press(ADMIN, ADMIN, data, int(confirm["message_id"]))  # a second confirm is stale
    assert all(len(bot.fake.sent(c)) == 1 for c in range(5000, 5030))


async def test_non_admin_cannot_broadcast(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    async with running_bot(tmp_path, redis_url) as bot:
        reply = await bot.command(12, "/broadcast hi")
        assert "administrators" in parse_telegram_html(str(reply["text"]))[0]


async def test_blocked_and_migrated_chats_during_a_broadcast(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    await subscribe_many(redis, range(6000, 6010))
    await subscribe_many(redis, range(-6010, -6009), kind="group")
    fake = FakeBotApi()
    await fake.start()
    fake.block_chat(6003)
    new_group = fake.migrate_chat(-6010)
    fake.fail_next("sendMessage", "5xx", count=2, chat_id=6005)
    async with running_bot(tmp_path, redis_url, extra_config=FAST, fake=fake) as bot:
        await _broadcast(bot, "Announcement")
        await _wait_report(bot)
        assert await subscriptions.get(redis, 6003) is None  # blocked: unsubscribed
        assert await subscriptions.get(redis, new_group) is not None  # migrated: followed
        assert texts(fake, new_group) == ["Announcement"]
        assert texts(fake, 6005) == ["Announcement"]  # retried after two 502s
        report = _report_text(bot)
        assert "sent 10" in report and "blocked 1" in report
    await fake.stop()


async def _broadcast(bot: BotRun, text: str) -> int:
    before = len(bot.fake.sent(ADMIN))
    bot.fake.inject_message(ADMIN, f"/broadcast {text}")
    sent = await bot.wait_sent(ADMIN, before + 2)
    confirm = sent[before + 1]
    data = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await bot.press(ADMIN, ADMIN, data, int(confirm["message_id"]))
    bot.progress_id = int(confirm["message_id"])  # type: ignore[attr-defined]
    return int(confirm["message_id"])


def _report_text(bot: BotRun) -> str:
    message = bot.fake.message(ADMIN, bot.progress_id) or {}  # type: ignore[attr-defined]
    return parse_telegram_html(str(message.get("text", "")))[0]


async def _wait_report(bot: BotRun) -> None:
    await bot.fake.wait_for(lambda f: "finished" in _report_text(bot), 60)


async def test_broadcast_resumes_after_kill_9_without_loss(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    chats = range(7000, 7120)
    await subscribe_many(redis, chats)
    fake = FakeBotApi()
    await fake.start()
    fake.enforce_limits(global_per_second=40, per_chat_per_second=1, per_group_per_minute=20)
    extra = FAST + "per_second = 30\n"
    async with running_bot(tmp_path, redis_url, extra_config=extra, fake=fake, killed=True) as bot:
        await _broadcast(bot, "Resumable")
        await fake.wait_for(lambda f: len([c for c in chats if f.sent(c)]) >= 30, 30)
        bot.process.send_signal(signal.SIGKILL)
        await bot.process.wait()
    async with running_bot(tmp_path, redis_url, extra_config=extra, fake=fake) as bot:
        bot.progress_id = int(await redis.hget(keys.broadcast(await _job(redis)), "progress_msg"))  # type: ignore[attr-defined]
        await _wait_report(bot)
    copies = Counter({c: len(texts(fake, c)) for c in chats})
    assert min(copies.values()) == 1  # nobody lost
    assert sum(copies.values()) - len(chats) <= 4  # duplicates only for sends in flight
    assert fake.too_many == 0
    await fake.stop()


async def _job(redis: aioredis.Redis) -> str:
    jobs = await redis.smembers(keys.broadcasts_active())
    assert len(jobs) == 1
    return str(next(iter(jobs)))


async def test_two_processes_share_updates_polling_and_delivery(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    chats = range(8000, 8060)
    await subscribe_many(redis, chats)
    fake = FakeBotApi()
    await fake.start()
    fake.conflict_on_second_consumer = True
    fake.enforce_limits(global_per_second=40, per_chat_per_second=1, per_group_per_minute=20)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        running_bot(tmp_path / "a", redis_url, extra_config=FAST, fake=fake) as first,
        running_bot(
            tmp_path / "b", redis_url, extra_config=FAST, fake=fake, wait_updates=False
        ) as second,
    ):
        await _broadcast(first, "Both")
        await _wait_report(first)
    for run in (first, second):  # both processes took part in delivering
        delivered = re.search(r"stopped after (\d+) messages", run.log.read_text())
        assert delivered is not None and int(delivered.group(1)) > 0
    assert all(texts(fake, c) == ["Both"] for c in chats)
    assert fake.too_many == 0
    assert not [c for c in fake.calls_to("getUpdates") if c.status == 409]
    await fake.stop()


NOON = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def alert_story(hours_old: float, **fields: object) -> Story:
    values: dict[str, object] = {
        "id": "s1",
        "url": "https://wire.example/a",
        "title": "Roskomnadzor throttles Telegram",
        "text": "",
        "source": "Northwind Wire",
        "feed_url": "https://wire.example/rss",
        "published": NOON - timedelta(hours=hours_old),
        "fetched": NOON,
        "lang": "en",
        "apps": ("telegram",),
        "actions": ("throttled",),
        **fields,
    }
    return Story(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("story", "alert"),
    [
        (alert_story(0.5), True),
        (alert_story(5.9), True),
        (alert_story(6.1), False),  # old news waits for the digest
        (alert_story(48), False),  # a first poll or a new feed sends no burst of stale alerts
        (alert_story(0.5, actions=("fined",)), False),
        (alert_story(0.5, apps=(), actions=("shutdown",)), True),
        (alert_story(0.5, apps=(), actions=("blocked",)), False),
    ],
)
def test_only_fresh_blocks_throttles_and_shutdowns_alert(story: Story, alert: bool) -> None:
    assert alert_worthy(story, NOON) is alert


def test_an_alert_says_when_in_the_readers_time_zone() -> None:
    event = Event("s1", (alert_story(1),))
    moscow = parse_telegram_html(alert_html(event, "ru", ZoneInfo("Europe/Moscow")))[0]
    assert "Northwind Wire · 28 нояб. 14:00 МСК" in moscow and moscow.startswith("⚡ Срочно")
    assert "Northwind Wire · 28 Nov 11:00 UTC" in parse_telegram_html(alert_html(event, "en"))[0]
