"""The fake Bot API behaves like Telegram for the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from tests.fakes.botapi import FakeBotApi, Upload
from tests.fakes.tghtml import parse_telegram_html, utf16_len

TOKEN = "123456:TEST-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


def make_bot(fake: FakeBotApi) -> Bot:
    return Bot(TOKEN, base_url=f"{fake.root}/bot", base_file_url=f"{fake.root}/file/bot")


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    async with make_bot(fake) as client:
        yield client


@pytest.fixture(autouse=True)
def timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22.8 warns about int retry_after unless PTB_TIMEDELTA is set."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


def polling(fake: FakeBotApi) -> bool:
    return any(call.method == "getUpdates" and call.status is None for call in fake.calls)


# ----- the pure HTML checker ------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "plain", "entities"),
    [
        ("plain text", "plain text", 0),
        ("<b>Bold</b> and <i>it</i>", "Bold and it", 2),
        ('<a href="https://e.org/?a=1&amp;b=2">link</a>', "link", 1),
        ("AT&amp;T &lt;3 &quot;q&quot; &#39;s&#x27;", "AT&T <3 \"q\" 's'", 0),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", 1),
        ("<blockquote expandable>quote <b>bold</b></blockquote>", "quote bold", 2),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st", 2),
        ("<b><i><u>nested</u></i></b>", "nested", 3),
        ("<b></b>empty tag makes no entity", "empty tag makes no entity", 0),
        ("a > b", "a > b", 0),
        ("<B>upper</B>", "upper", 1),
    ],
)
def test_valid_html_gives_plain_text_and_entity_count(html: str, plain: str, entities: int) -> None:
    assert parse_telegram_html(html) == (plain, entities)


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("a < b", "Unsupported start tag"),
        ("<div>x</div>", 'Unsupported start tag "div"'),
        ("<b>x</i>", "Unmatched end tag"),
        ("<b>x", "Can't find end tag"),
        ("x</b>", "Unexpected end tag"),
        ("<b>x</b", "Unclosed"),
        ("AT&T", "not escaped"),
        ("&nbsp;", "Unsupported HTML entity"),
        ('<span class="red">x</span>', "tg-spoiler"),
        ("<a>no href</a>", "href"),
        ("<code><b>x</b></code>", "inside"),
        ('<a href="x"><a href="y">x</a></a>', "Nested links"),
        ("<blockquote><blockquote>x</blockquote></blockquote>", "Nested blockquotes"),
    ],
)
def test_invalid_html_is_rejected_with_a_reason(html: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_telegram_html(html)


@pytest.mark.parametrize(("text", "units"), [("abc", 3), ("жук", 3), ("😀", 2), ("a😀b", 4)])
def test_utf16_length_counts_astral_characters_twice(text: str, units: int) -> None:
    assert utf16_len(text) == units


# ----- methods --------------------------------------------------------------------------


async def test_get_me_reports_the_username_command_filters_need(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456, "fake_bot", True)


@pytest.mark.parametrize(
    ("chat_id", "chat_type"),
    [(42, "private"), (-42, "group"), (-1001234, "supergroup")],
)
async def test_sent_message_is_a_valid_message_in_the_right_chat(
    fake: FakeBotApi, bot: Bot, chat_id: int, chat_type: str
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="y")]])
    message = await bot.send_message(
        chat_id,
        "<b>Blocked</b> &amp; throttled",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        disable_notification=True,
    )
    assert message.text == "Blocked & throttled"
    assert message.chat.type == chat_type
    assert message.reply_markup == keyboard
    [sent] = fake.sent(chat_id)
    assert sent["text"] == "<b>Blocked</b> &amp; throttled"
    assert sent["disable_notification"] is True
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "y"
    assert sent["message_id"] == message.message_id


async def test_message_ids_increase(bot: Bot) -> None:
    first = await bot.send_message(42, "one")
    second = await bot.send_message(42, "two")
    assert second.message_id > first.message_id


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("<b>unclosed", ParseMode.HTML, "parse entities"),
        ("1 < 2", ParseMode.HTML, "parse entities"),
        ("x" * 4097, None, "is too long"),
        ("😀" * 2049, None, "is too long"),
        ("   ", None, "text is empty"),
    ],
)
async def test_bad_text_is_refused_as_telegram_does(
    fake: FakeBotApi, bot: Bot, text: str, parse_mode: str | None, error: str
) -> None:
    with pytest.raises(BadRequest, match=error):
        await bot.send_message(42, text, parse_mode=parse_mode)
    assert fake.sent(42) == []


async def test_length_is_counted_after_entity_parsing(fake: FakeBotApi, bot: Bot) -> None:
    text = "<b>" + "&amp;" * 4096 + "</b>"
    message = await bot.send_message(42, text, parse_mode=ParseMode.HTML)
    assert message.text == "&" * 4096


async def test_editing_with_the_same_text_is_not_modified(fake: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(42, "Progress: 1/10")
    with pytest.raises(BadRequest, match="is not modified"):
        await bot.edit_message_text("Progress: 1/10", chat_id=42, message_id=message.message_id)
    await bot.edit_message_text("Progress: 2/10", chat_id=42, message_id=message.message_id)
    assert [m["text"] for m in fake.chat_messages(42)] == ["Progress: 2/10"]


async def test_edit_and_delete_of_unknown_messages_fail(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="to edit not found"):
        await bot.edit_message_text("x", chat_id=42, message_id=999)
    with pytest.raises(BadRequest, match="to delete not found"):
        await bot.delete_message(42, 999)


async def test_buttons_can_be_replaced_and_messages_deleted(fake: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Next", callback_data="p2")]])
    message = await bot.send_message(42, "Results", reply_markup=keyboard)
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_reply_markup(42, message.message_id, reply_markup=keyboard)
    await bot.edit_message_reply_markup(42, message.message_id, reply_markup=None)
    assert "reply_markup" not in (fake.message(42, message.message_id) or {})
    assert await bot.delete_message(42, message.message_id)
    assert fake.chat_messages(42) == []


async def test_unknown_method_is_not_found(bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")


async def test_json_bodies_and_unknown_paths(fake: FakeBotApi) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{fake.root}/bot{TOKEN}/sendMessage"
        async with session.post(url, json={"chat_id": 7, "text": "hi"}) as response:
            assert (await response.json())["result"]["text"] == "hi"
        async with session.get(f"{fake.root}/elsewhere") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found",
            }
    assert fake.sent(7)[0]["text"] == "hi"


async def test_commands_are_kept_per_language(fake: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("latest", "Latest events")])
    await bot.set_my_commands([BotCommand("latest", "Последние события")], language_code="ru")
    ru = await bot.get_my_commands(language_code="ru")
    assert [c.description for c in ru] == ["Последние события"]
    assert fake.my_commands[("default", "")][0]["command"] == "latest"


async def test_chat_members_and_channels_by_username(fake: FakeBotApi, bot: Bot) -> None:
    fake.add_chat(-1005, "channel", title="Censorship news", username="cnews")
    fake.set_member(-1005, 42, "creator")
    fake.set_member(-1005, 123456, "administrator")
    chat = await bot.get_chat("@cnews")
    assert (chat.id, chat.type) == (-1005, "channel")
    assert (await bot.get_chat_member("@cnews", 42)).status == "creator"
    assert (await bot.get_chat_member(-1005, 7)).status == "member"
    admins = await bot.get_chat_administrators(-1005)
    assert sorted(a.user.id for a in admins) == [42, 123456]
    with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
        await bot.get_chat("@nobody")


async def test_uploaded_document_is_recorded_and_downloadable(fake: FakeBotApi, bot: Bot) -> None:
    opml = b'<?xml version="1.0"?><opml version="2.0"/>'
    message = await bot.send_document(
        42, document=opml, filename="feeds.opml", caption="<b>Your feeds</b>", parse_mode="HTML"
    )
    upload = fake.sent(42)[0]["document"]
    assert isinstance(upload, Upload)
    assert (upload.filename, upload.content) == ("feeds.opml", opml)
    assert message.document is not None and message.document.file_name == "feeds.opml"
    assert message.caption == "Your feeds"
    file = await bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == opml


async def test_registered_file_downloads_through_base_file_url(fake: FakeBotApi, bot: Bot) -> None:
    fake.add_file("opml-1", b"<opml/>", "documents/import.opml")
    file = await bot.get_file("opml-1")
    assert bytes(await file.download_as_bytearray()) == b"<opml/>"
    assert [c.params["file_path"] for c in fake.calls_to("downloadFile")] == [
        "documents/import.opml"
    ]
    with pytest.raises(BadRequest, match=r"[Ii]nvalid file_id"):
        await bot.get_file("missing")


# ----- updates --------------------------------------------------------------------------


async def test_long_poll_returns_an_update_injected_while_waiting(
    fake: FakeBotApi, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=20, allowed_updates=["message"]))
    await fake.wait_for(polling)
    fake.inject_message(42, "/start", language_code="ru", username="anna")
    [update] = await poll
    assert update.message is not None
    assert update.message.text == "/start"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.from_user is not None
    assert update.message.from_user.language_code == "ru"
    assert fake.allowed_updates == ["message"]
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == ()
    assert fake.pending_updates == 0


async def test_empty_poll_without_timeout_answers_at_once(fake: FakeBotApi, bot: Bot) -> None:
    assert await bot.get_updates(timeout=0) == ()


async def test_button_press_reaches_the_bot_and_can_be_answered(fake: FakeBotApi, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Confirm", callback_data="bc:1")]])
    sent = await bot.send_message(42, "Send to 1,000 chats?", reply_markup=keyboard)
    fake.inject_callback(42, 42, "bc:1", sent.message_id)
    [update] = await bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None and query.message is not None
    assert (query.data, query.message.message_id) == ("bc:1", sent.message_id)
    assert await query.answer("Started")
    with pytest.raises(BadRequest, match="query id is invalid"):
        await bot.answer_callback_query("forged")


async def test_membership_anonymous_admin_and_document_updates_parse(
    fake: FakeBotApi, bot: Bot
) -> None:
    fake.inject_my_chat_member(42, "private", "member", "kicked", 42)
    fake.inject_anonymous_admin_message(-100777, "/subscribe@fake_bot RU")
    fake.inject_document(42, 42, "doc-1", "feeds.opml", content=b"<opml/>")
    kicked, anonymous, document = await bot.get_updates(timeout=0)
    assert kicked.my_chat_member is not None
    assert kicked.my_chat_member.new_chat_member.status == "kicked"
    message = anonymous.message
    assert message is not None and message.from_user is not None
    assert message.from_user.username == "GroupAnonymousBot"
    assert message.sender_chat is not None and message.sender_chat.id == -100777
    assert message.entities[0].length == len("/subscribe@fake_bot")
    assert document.message is not None and document.message.document is not None
    file = await bot.get_file(document.message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == b"<opml/>"
    assert (await bot.get_chat_member(42, 123456)).status == "kicked"


async def test_raw_update_is_delivered_as_given(fake: FakeBotApi, bot: Bot) -> None:
    post = {"message_id": 5, "date": 1700000000, "chat": {"id": -1009, "type": "channel"}}
    update_id = fake.inject_raw({"channel_post": {**post, "text": "news"}})
    [update] = await bot.get_updates(timeout=0)
    assert update.update_id == update_id
    assert update.channel_post is not None and update.channel_post.text == "news"


async def test_webhook_gets_updates_with_the_secret_header(fake: FakeBotApi, bot: Bot) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def hook(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        port = runner.addresses[0][1]
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        update_id = fake.inject_message(42, "/help")
        await fake.wait_for(lambda f: f.webhook_deliveries)
        [(secret, body)] = received
        assert secret == "s3cret"
        assert Update.de_json(body, bot).update_id == update_id
        with pytest.raises(Conflict, match="webhook is active"):
            await bot.get_updates(timeout=0)
        assert await bot.delete_webhook()
    finally:
        await runner.cleanup()


# ----- limits and faults ----------------------------------------------------------------


async def test_flood_limits_answer_429_in_sliding_windows() -> None:
    now = [100.0]
    async with FakeBotApi(monotonic=lambda: now[0]) as fake, make_bot(fake) as bot:
        fake.enforce_limits(global_per_second=3, per_chat_per_second=1, per_group_per_minute=2)
        await bot.send_message(1, "a")
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(1, "b")  # same chat within a second
        assert caught.value.retry_after == dt.timedelta(seconds=1)
        await bot.send_message(2, "c")
        await bot.send_message(3, "d")
        with pytest.raises(RetryAfter):
            await bot.send_message(4, "e")  # fourth message in the same second overall
        now[0] += 1.0
        await bot.send_message(1, "b")  # the window slid
        await bot.send_message(-5, "g1")
        now[0] += 1.0
        await bot.send_message(-5, "g2")
        now[0] += 1.0
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(-5, "g3")  # third in a group within a minute
        assert caught.value.retry_after == dt.timedelta(seconds=58)
        assert fake.too_many == 3
        assert [s["text"] for s in fake.sent()] == ["a", "c", "d", "b", "g1", "g2"]


async def test_chat_burst_tolerance_is_configurable() -> None:
    async with FakeBotApi(monotonic=lambda: 0.0) as fake, make_bot(fake) as bot:
        fake.enforce_limits(chat_burst=2)
        for text in ("1", "2", "3"):
            await bot.send_message(42, text)
        with pytest.raises(RetryAfter):
            await bot.send_message(42, "4")


@pytest.mark.parametrize(
    ("kind", "error", "fragment"),
    [
        ("429", RetryAfter, "Flood control exceeded"),
        ("forbidden", Forbidden, "blocked by the user"),
        ("chat_not_found", BadRequest, r"[Cc]hat not found"),
        ("migrate", ChatMigrated, "migrated"),
        ("parse_error", BadRequest, "parse entities"),
        ("5xx", NetworkError, "Bad Gateway"),
        ("conflict", Conflict, "only one bot instance"),
    ],
)
async def test_each_fault_maps_to_its_ptb_exception(
    fake: FakeBotApi, bot: Bot, kind: str, error: type[TelegramError], fragment: str
) -> None:
    fake.fail_next("sendMessage", kind, chat_id=-42)
    await bot.send_message(-43, "other chat is fine")
    with pytest.raises(TelegramError, match=fragment) as caught:
        await bot.send_message(-42, "hello")
    assert type(caught.value) is error
    await bot.send_message(-42, "only the next call failed")
    assert [s["text"] for s in fake.sent(-42)] == ["only the next call failed"]


async def test_fault_details(fake: FakeBotApi, bot: Bot) -> None:
    fake.fail_next("sendMessage", "migrate", migrate_to=-100999)
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(-42, "x")
    assert migrated.value.new_chat_id == -100999
    fake.fail_next("sendMessage", "429", retry_after=7)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(-42, "x")
    assert flood.value.retry_after == dt.timedelta(seconds=7)
    fake.fail_next("getUpdates", "conflict")
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    fake.fail_next("*", "5xx", count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.get_me()
    assert (await bot.get_me()).username == "fake_bot"


async def test_timeout_holds_the_request_until_the_client_gives_up(
    fake: FakeBotApi, bot: Bot
) -> None:
    fake.fail_next("sendMessage", "timeout")
    with pytest.raises(TimedOut):
        await bot.send_message(42, "lost", read_timeout=0.3)
    fake.fail_next("sendMessage", "timeout_after_send")
    with pytest.raises(TimedOut):
        await bot.send_message(42, "delivered, answer lost", read_timeout=0.3)
    await bot.send_message(42, "after")
    assert [s["text"] for s in fake.sent(42)] == ["delivered, answer lost", "after"]


async def test_persistent_chat_faults(fake: FakeBotApi, bot: Bot) -> None:
    fake.block_chat(42)
    new_id = fake.migrate_chat(-42)
    fake.delete_chat(43)
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(42, "x")
    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(-42, "x")
    assert migrated.value.new_chat_id == new_id == -10042
    assert (await bot.send_message(new_id, "x")).chat.type == "supergroup"
    with pytest.raises(BadRequest, match=r"[Cc]hat not found"):
        await bot.get_chat(43)
    fake.unblock_chat(42)
    await bot.send_message(42, "back")


async def test_second_getupdates_consumer_gets_conflict(fake: FakeBotApi) -> None:
    fake.conflict_on_second_consumer = True
    async with make_bot(fake) as first, make_bot(fake) as second:
        poll = asyncio.create_task(first.get_updates(timeout=20))
        await fake.wait_for(polling)
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await second.get_updates(timeout=0)
        fake.inject_message(42, "/start")
        assert len(await poll) == 1
        assert await second.get_updates(timeout=0)  # no overlap any more: no conflict


async def test_wait_for_fails_with_a_dump_of_calls(fake: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(42, "only one")
    with pytest.raises(AssertionError, match="sendMessage 200"):
        await fake.wait_for(lambda f: len(f.sent()) >= 2, timeout=0.2)
    assert await fake.wait_for(lambda f: f.sent(42)) == fake.sent(42)
