"""The bot end to end: the real process, the fake Bot API over HTTP, real Redis, local feeds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bot import keys, subscriptions
from tests.botrun import ADMIN, TOKEN, BotRun, running_bot
from tests.fakes.feeds import FeedServer
from tests.fakes.tghtml import parse_telegram_html

USER = 42
RU_USER = 43
GROUP = -100500
MEMBER = 501
GROUP_ADMIN = 502


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Wait until ``check`` holds (the bot works in another process), or fail after 20 s."""
    deadline = asyncio.get_running_loop().time() + 20
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def bot(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis, feeds: FeedServer
) -> AsyncIterator[BotRun]:
    urls = [
        feeds.url("/rss"),
        feeds.url("/ru"),
        feeds.serve_file("/atom", "atom_en.xml"),
        feeds.serve_file("/broken", "broken.xml"),
    ]
    async with running_bot(tmp_path, redis_url, feeds=urls) as run:
        await eventually(lambda: redis.exists(keys.poll_last()))  # the first poll is done
        yield run


def text_of(message: dict[str, object]) -> str:
    return parse_telegram_html(str(message["text"]))[0]


def buttons(message: dict[str, object]) -> list[tuple[str, str]]:
    markup = message.get("reply_markup") or {}
    assert isinstance(markup, dict)
    return [
        (b["text"], b.get("callback_data", ""))
        for row in markup.get("inline_keyboard", [])
        for b in row
    ]


async def test_start_speaks_the_users_language_with_buttons(bot: BotRun) -> None:
    english = await bot.command(USER, "/start", language_code="en")
    assert "messenger blocking" in text_of(english)
    assert buttons(english) == [("✅ Subscribe to everything", "sub:all")]  # none that refuse
    russian = await bot.command(RU_USER, "/start", language_code="ru")
    assert "блокировками мессенджеров" in text_of(russian)
    assert buttons(russian) == [("✅ Подписаться на всё", "sub:all")]


async def test_help_lists_commands_and_admin_tools_only_for_admins(bot: BotRun) -> None:
    user_help = text_of(await bot.command(USER, "/help"))
    assert "/subscribe" in user_help and "/search" in user_help and "/stats" not in user_help
    admin_help = text_of(await bot.command(ADMIN, "/help"))
    assert "/stats" in admin_help and "/broadcast" in admin_help


async def test_command_menu_is_set_in_both_languages(bot: BotRun) -> None:
    await bot.fake.wait_for(lambda f: len(f.calls_to("setMyCommands")) >= 2)
    languages = {c.params.get("language_code") for c in bot.fake.calls_to("setMyCommands")}
    assert {None, "ru"} <= languages
    menu = str(bot.fake.calls_to("setMyCommands")[0].params.get("commands"))
    for command in ("subscribe", "latest", "search", "settings", "timezone", "status", "help"):
        assert f"'{command}'" in menu or f'"{command}"' in menu, command


async def test_subscribe_with_filters_is_stored_and_idempotent(
    bot: BotRun, redis: aioredis.Redis
) -> None:
    reply = text_of(await bot.command(USER, "/subscribe telegram whatsapp RU"))
    assert "Telegram, WhatsApp" in reply and "Russia" in reply and "Subscribed" in reply
    sub = await subscriptions.get(redis, USER)
    assert sub is not None and sub.apps == ("telegram", "whatsapp") and sub.countries == ("RU",)
    again = text_of(await bot.command(USER, "/subscribe lang:ru"))
    assert "Subscription updated" in again and "Telegram, WhatsApp" in again
    sub = await subscriptions.get(redis, USER)
    assert sub is not None and sub.apps == ("telegram", "whatsapp") and sub.langs == ("ru",)
    assert await redis.zscore(keys.digest_due(), str(USER)) is not None


async def test_subscribe_rejects_unknown_filters(bot: BotRun, redis: aioredis.Redis) -> None:
    reply = text_of(await bot.command(USER, "/subscribe telegarm XX"))
    assert "telegarm" in reply and await subscriptions.get(redis, USER) is None


async def test_unsubscribe_deletes_everything(bot: BotRun, redis: aioredis.Redis) -> None:
    await bot.command(USER, "/subscribe")
    await bot.command(USER, "/language")
    reply = text_of(await bot.command(USER, "/unsubscribe"))
    assert "deleted" in reply
    assert await subscriptions.get(redis, USER) is None
    assert not await redis.sismember(keys.subscribers(), USER)
    again = text_of(await bot.command(USER, "/unsubscribe"))
    assert "not subscribed" in again


async def test_settings_buttons_change_filters_and_delivery(
    bot: BotRun, redis: aioredis.Redis
) -> None:
    await bot.command(USER, "/subscribe")
    settings = await bot.command(USER, "/settings")
    assert ("📱 Apps", "s:apps") in buttons(settings)
    message_id = int(settings["message_id"])
    await bot.press(USER, USER, "s:apps", message_id)
    await bot.press(USER, USER, "s:app:signal", message_id)
    await bot.press(USER, USER, "s:m:both", message_id)
    await bot.press(USER, USER, "s:t:07:00", message_id)
    await bot.press(USER, USER, "s:z:Asia/Tehran", message_id)
    sub = await subscriptions.get(redis, USER)
    assert sub is not None
    assert (sub.apps, sub.mode.value, sub.digest_time, sub.tz) == (
        ("signal",),
        "both",
        "07:00",
        "Asia/Tehran",
    )
    # The message itself now shows the zone picker with the choice ticked.
    await bot.fake.wait_for(
        lambda f: "✓ Asia/Tehran" in str((f.message(USER, message_id) or {}).get("reply_markup"))
    )
    await bot.press(USER, USER, "s:time", message_id)  # the time picker says in which zone
    await bot.fake.wait_for(
        lambda f: "Times are in Asia/Tehran" in str((f.message(USER, message_id) or {}).get("text"))
    )
    await bot.press(USER, USER, "s:sl", message_id)  # story languages by name, not code
    await bot.fake.wait_for(
        lambda f: ("Українська", "s:l:uk") in buttons(f.message(USER, message_id) or {})
    )


async def test_forged_and_stale_buttons_change_nothing(bot: BotRun, redis: aioredis.Redis) -> None:
    await bot.command(USER, "/subscribe")
    settings = await bot.command(USER, "/settings")
    before = await subscriptions.get(redis, USER)
    for data in ("s:app:notanapp", "s:z:Mars/Olympus", "s:t:25:00", "zzz", "q:nope:5", "s:m:loud"):
        await bot.press(USER, USER, data, int(settings["message_id"]))
    assert await subscriptions.get(redis, USER) == before


async def test_latest_shows_stored_events_as_a_digest(bot: BotRun) -> None:
    reply = text_of(await bot.command(USER, "/latest 3"))
    # The three newest: entries without a usable date count as published when fetched.
    assert "3 events" in reply and "Ethiopia" in reply and "Court upholds fine" in reply
    assert "Roskomnadzor orders ISPs to block Telegram" not in reply  # older than those
    only_ru = text_of(await bot.command(USER, "/latest lang:ru"))
    assert "Роскомнадзор заблокировал мессенджер Viber" in only_ru
    assert "Roskomnadzor orders ISPs" not in only_ru


async def test_search_with_russian_morphology_and_paging(bot: BotRun) -> None:
    found = text_of(await bot.command(USER, "/search блокировки"))
    assert "Viber" in found
    english = text_of(await bot.command(USER, "/search blocking telegram"))
    assert "Roskomnadzor orders ISPs to block Telegram" in english
    nothing = text_of(await bot.command(USER, "/search quantum entanglement"))
    assert "Nothing found" in nothing


async def test_search_dates_are_in_the_readers_zone(bot: BotRun) -> None:
    # Published Thu, 26 Nov 2026 21:40 GMT: already the 27th in Moscow.
    english = text_of(await bot.command(USER, "/search iran shutdown", language_code="en"))
    assert "26 Nov 2026" in english
    russian = text_of(await bot.command(RU_USER, "/search iran shutdown", language_code="ru"))
    assert "27 нояб. 2026" in russian and "26 нояб. 2026" not in russian


async def test_too_long_query_and_unknown_input_get_clear_answers(bot: BotRun) -> None:
    long_query = text_of(await bot.command(USER, "/search " + "a" * 300))
    assert "256" in long_query
    no_code = text_of(await bot.command(RU_USER, "/search country:Russia", language_code="ru"))
    assert "двухбуквенный код, например country:RU" in no_code
    assert "don't know that command" in text_of(await bot.command(USER, "/frobnicate"))
    assert "/help" in text_of(await bot.command(USER, "hello there"))
    hostile = text_of(await bot.command(USER, "/search <script>alert(1)</script>"))
    assert "<script>" in hostile  # shown escaped, as text


async def test_a_failing_source_is_explained_in_the_readers_language(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis, feeds: FeedServer
) -> None:
    gone = feeds.serve("/gone", status=404)
    async with running_bot(tmp_path, redis_url, feeds=[feeds.url("/rss"), gone]) as bot:
        await eventually(lambda: redis.exists(keys.poll_last()))
        russian = text_of(await bot.command(RU_USER, "/sources", language_code="ru"))
        english = text_of(await bot.command(USER, "/sources", language_code="en"))
    assert "работают 1, с ошибками 1" in russian
    assert "ошибки (1 подряд): HTTP 404" in russian and "следующая попытка" in russian
    assert "failing (1 in a row): HTTP 404" in english and "next try" in english


async def test_sources_lists_feeds_and_health(bot: BotRun) -> None:
    reply = text_of(await bot.command(USER, "/sources"))
    assert "Feed 0" in reply and "Feed 3" in reply and "4 working" in reply


async def test_language_switch_is_remembered(bot: BotRun) -> None:
    menu = await bot.command(USER, "/language")
    await bot.press(USER, USER, "s:lang:ru", int(menu["message_id"]))
    assert "Команды" in text_of(await bot.command(USER, "/help"))


async def test_group_only_admins_may_subscribe(bot: BotRun, redis: aioredis.Redis) -> None:
    bot.fake.set_member(GROUP, GROUP_ADMIN, "administrator")
    bot.fake.set_member(GROUP, MEMBER, "member")
    refused = await bot.command(GROUP, "/subscribe", user_id=MEMBER)
    assert "Only this group's admins" in text_of(refused)
    assert await subscriptions.get(redis, GROUP) is None
    await bot.command(GROUP, "/subscribe telegram", user_id=GROUP_ADMIN)
    sub = await subscriptions.get(redis, GROUP)
    assert sub is not None and sub.kind == "supergroup"


async def test_anonymous_group_admin_may_subscribe(bot: BotRun, redis: aioredis.Redis) -> None:
    before = len(bot.fake.sent(GROUP))
    bot.fake.inject_anonymous_admin_message(GROUP, "/subscribe RU")
    await bot.wait_sent(GROUP, before + 1)
    sub = await subscriptions.get(redis, GROUP)
    assert sub is not None and sub.countries == ("RU",)


async def test_channel_is_subscribed_by_an_admin_of_it(bot: BotRun, redis: aioredis.Redis) -> None:
    channel = -100777
    bot.fake.add_chat(channel, "channel", title="Censorship Watch", username="cwatch")
    bot.fake.set_member(channel, USER, "member")
    refused = text_of(await bot.command(USER, "/subscribe @cwatch"))
    assert "need to be an admin" in refused
    bot.fake.set_member(channel, USER, "administrator")
    bot_refused = text_of(await bot.command(USER, "/subscribe @cwatch"))
    assert "Add me to @cwatch" in bot_refused
    bot.fake.set_member(channel, bot.fake.bot_id, "administrator")
    done = text_of(await bot.command(USER, "/subscribe @cwatch whatsapp"))
    assert "@cwatch is subscribed" in done
    sub = await subscriptions.get(redis, channel)
    assert sub is not None and sub.kind == "channel" and sub.apps == ("whatsapp",)


async def test_bot_removed_from_group_unsubscribes_it(bot: BotRun, redis: aioredis.Redis) -> None:
    bot.fake.set_member(GROUP, GROUP_ADMIN, "administrator")
    await bot.command(GROUP, "/subscribe", user_id=GROUP_ADMIN)
    bot.fake.inject_my_chat_member(GROUP, "supergroup", "member", "kicked", GROUP_ADMIN)
    await eventually(lambda: _gone(redis, GROUP))


async def test_user_blocking_the_bot_unsubscribes_them(bot: BotRun, redis: aioredis.Redis) -> None:
    await bot.command(USER, "/subscribe")
    bot.fake.inject_my_chat_member(USER, "private", "member", "kicked", USER)
    await eventually(lambda: _gone(redis, USER))


async def _gone(redis: aioredis.Redis, chat_id: int) -> bool:
    return await subscriptions.get(redis, chat_id) is None


async def test_admin_tools_are_refused_to_others(bot: BotRun) -> None:
    for command in ("/stats", "/feeds", "/feeds add http://x.example/feed"):
        assert "for the bot's administrators" in text_of(await bot.command(USER, command))


async def test_admin_stats_and_feed_management(bot: BotRun, feeds: FeedServer) -> None:
    stats = text_of(await bot.command(ADMIN, "/stats"))
    assert "Stories stored:" in stats and "Feeds: 4 ok" in stats
    listing = text_of(await bot.command(ADMIN, "/feeds"))
    assert "1. Feed 0" in listing
    url = feeds.serve_file("/atom2", "atom_en.xml")
    added = text_of(await bot.command(ADMIN, f"/feeds add {url}"))
    assert "Added" in added and "2 entries" in added
    bad = text_of(await bot.command(ADMIN, f"/feeds add {feeds.url('/missing')}"))
    assert "couldn't read" in bad and "404" in bad
    paused = text_of(await bot.command(ADMIN, "/feeds pause 1"))
    assert "Paused" in paused
    assert "paused" in text_of(await bot.command(ADMIN, "/feeds"))


async def test_admin_tools_answer_in_russian(bot: BotRun) -> None:
    expected = {
        "/stats": "Новостей в базе",
        "/feeds": "Ленты",
        "/feeds pause 1": "На паузе",
        "/feeds resume 1": "Снова читается",
        "/feeds remove 99": "Нет ленты 99",
        "/broadcast": "Напишите объявление",
        "/broadcast_cancel": "Сейчас рассылок нет",
    }
    for command, text in expected.items():
        answer = text_of(await bot.command(ADMIN, command, language_code="ru"))
        assert text in answer, (command, answer)
    before = len(bot.fake.sent(ADMIN))
    bot.fake.inject_message(ADMIN, "/broadcast <b>Важно</b>", language_code="ru")
    preview = await bot.wait_sent(ADMIN, before + 2)
    assert "Предпросмотр" in text_of(preview[before + 1])
    refused = text_of(await bot.command(RU_USER, "/stats", language_code="ru"))
    assert "только для администраторов" in refused


async def test_opml_export_and_import(bot: BotRun) -> None:
    before = len(bot.fake.sent(ADMIN))
    bot.fake.inject_message(ADMIN, "/feeds export")
    sent = await bot.wait_sent(ADMIN, before + 1)
    document = sent[before]["document"]
    assert b"<opml" in document.content and b"Feed 0" in document.content
    opml = (
        b'<?xml version="1.0"?><opml version="2.0"><head/><body>'
        b'<outline text="New" xmlUrl="https://new.example/feed"/></body></opml>'
    )
    before = len(bot.fake.sent(ADMIN))
    bot.fake.inject_document(ADMIN, ADMIN, "file-1", "feeds.opml", content=opml)
    reply = (await bot.wait_sent(ADMIN, before + 1))[before]
    assert "Imported 1 feeds" in text_of(reply)


async def test_the_token_never_reaches_the_log(bot: BotRun) -> None:
    await bot.command(USER, "/start")
    secret = TOKEN.split(":")[1]
    assert secret not in bot.log.read_text(errors="replace")


async def test_admins_hear_once_when_a_feed_starts_failing(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis, feeds: FeedServer
) -> None:
    broken = feeds.serve("/broken", status=500)
    async with running_bot(
        tmp_path,
        redis_url,
        feeds=[broken],
        polling={"failing_after": "1", "interval": '"1s"', "max_backoff": '"1s"'},
    ) as run:
        told = await run.wait_sent(ADMIN, 1)
        assert "Feed failing" in text_of(told[0]) and "HTTP 500" in text_of(told[0])
        assert broken in text_of(told[0])
        await eventually(lambda: _polled_again(redis, feeds, "/broken"))
        assert len(run.fake.sent(ADMIN)) == 1  # told once, not at every failed poll
        assert run.fake.sent(USER) == []  # nobody else hears of it


async def _polled_again(redis: aioredis.Redis, feeds: FeedServer, path: str) -> bool:
    return feeds.hits[path] >= 2 and await redis.hget(keys.poll_last(), "errors") == "1"


async def test_search_results_page_with_buttons(bot: BotRun) -> None:
    first = await bot.command(USER, "/search lang:en")
    more = [data for label, data in buttons(first) if label.startswith("More")]
    assert more, "expected a More button on the first page"
    before = text_of(first)
    await bot.press(USER, USER, more[0], int(first["message_id"]))
    await bot.fake.wait_for(
        lambda f: "results 6–" in str((f.message(USER, int(first["message_id"])) or {}).get("text"))
    )
    after = str((bot.fake.message(USER, int(first["message_id"])) or {}).get("text"))
    assert after != before


async def test_every_command_answers_in_russian(bot: BotRun) -> None:
    expected = {
        "/help": "Команды",
        "/subscribe": "Подписка оформлена",
        "/settings": "Настройки",
        "/latest": "Дайджест CensorWire",
        "/search блокировка": "результаты",
        "/sources": "Источники",
        "/timezone Europe/Samara": "Часовой пояс",
        "/status": "",
        "/unsubscribe": "Подписка отменена",
        "/nonsense": "Не знаю такой команды",
    }
    for command, text in expected.items():
        answer = text_of(await bot.command(RU_USER, command, language_code="ru"))
        assert text in answer, (command, answer)
        assert not answer.isascii(), (command, answer)


async def test_timezone_is_validated_and_moves_the_digest(
    bot: BotRun, redis: aioredis.Redis
) -> None:
    assert "subscribe" in text_of(await bot.command(USER, "/timezone Asia/Tehran")).lower()
    await bot.command(USER, "/subscribe")
    assert "don't know the time zone" in text_of(await bot.command(USER, "/timezone Mars/Base"))
    reply = text_of(await bot.command(USER, "/timezone Asia/Tehran"))
    assert "Asia/Tehran" in reply
    sub = await subscriptions.get(redis, USER)
    assert sub is not None and sub.tz == "Asia/Tehran"


async def test_subscribe_button_and_odd_numbers(bot: BotRun, redis: aioredis.Redis) -> None:
    welcome = await bot.command(USER, "/start")
    await bot.press(USER, USER, "sub:all", int(welcome["message_id"]))
    assert await subscriptions.get(redis, USER) is not None
    await bot.fake.wait_for(  # the welcome now offers to narrow the subscription down
        lambda f: (
            ("📱 Apps", "s:apps") in buttons(f.message(USER, int(welcome["message_id"])) or {})
        )
    )
    odd = text_of(await bot.command(USER, "/latest ²"))  # a digit, but not an ASCII one
    assert "²" in odd  # refused as an unknown filter, not a crash


async def test_channel_admin_unsubscribes_the_channel_not_their_chat(
    bot: BotRun, redis: aioredis.Redis
) -> None:
    channel = -100778
    bot.fake.add_chat(channel, "channel", title="Watch", username="watch2")
    bot.fake.set_member(channel, USER, "administrator")
    bot.fake.set_member(channel, bot.fake.bot_id, "administrator")
    await bot.command(USER, "/subscribe")
    await bot.command(USER, "/subscribe @watch2")
    reply = text_of(await bot.command(USER, "/unsubscribe @watch2"))
    assert "@watch2 is unsubscribed" in reply
    assert await subscriptions.get(redis, channel) is None
    assert await subscriptions.get(redis, USER) is not None
