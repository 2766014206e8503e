"""Handlers of the subscriber commands. Thin: parse, call the stores, reply from the catalog."""

from __future__ import annotations

import dataclasses
import html
import logging
from datetime import UTC, datetime, timedelta

from telegram import (
    Chat,
    ChatMember,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import stories as story_store
from bot import subscriptions
from bot.commands import clamp_count, describe_filters, parse_filters
from bot.countries import day_time
from bot.digest import DigestOptions, Filters, apply_filters, compose_html, matches, shorten
from bot.feeds import effective_feeds, load_states
from bot.feedstate import FeedState, FeedStatus
from bot.i18n import t
from bot.services import chat_lang, may_change_chat, over_command_limit, services
from bot.subscriptions import Subscription

log = logging.getLogger(__name__)


def menu_markup(lang: str, subscribed: bool) -> InlineKeyboardMarkup:
    """The settings buttons; before a subscription exists, only the button that makes one."""
    if not subscribed:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(t(lang, "btn_subscribe"), callback_data="sub:all")]]
        )
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(lang, "btn_apps"), callback_data="s:apps"),
                InlineKeyboardButton(t(lang, "btn_countries"), callback_data="s:cc"),
            ],
            [
                InlineKeyboardButton(t(lang, "btn_langs"), callback_data="s:sl"),
                InlineKeyboardButton(t(lang, "btn_mode"), callback_data="s:mode"),
            ],
            [
                InlineKeyboardButton(t(lang, "btn_time"), callback_data="s:time"),
                InlineKeyboardButton(t(lang, "btn_tz"), callback_data="s:tz"),
                InlineKeyboardButton(t(lang, "btn_lang"), callback_data="s:lang"),
            ],
        ]
    )


async def reply(
    update: Update, context: ContextTypes.DEFAULT_TYPE, text: str, **kwargs: object
) -> None:
    chat = update.effective_chat
    if chat is not None:
        await services(context).sender.send(chat.id, text, **kwargs)  # type: ignore[arg-type]


def command_argument(message: Message) -> str:
    """Everything after the command itself (spaces and line breaks kept inside)."""
    text = message.text or ""
    entities = message.entities or ()
    if entities and entities[0].type == MessageEntity.BOT_COMMAND and entities[0].offset == 0:
        return text[entities[0].length :].strip()
    return text.partition(" ")[2].strip()


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """The reply language, or None when the user is over the command limit (told once)."""
    svc = services(context)
    lang = await chat_lang(svc, update)
    user = update.effective_user
    if user is not None and not svc.is_admin(user.id):
        over, first = await over_command_limit(svc, user.id)
        if over:
            if first:
                await reply(update, context, t(lang, "slow_down"))
            return None
    return lang


async def button_gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """``gate`` for button presses: over the limit, the press is answered and ignored."""
    svc = services(context)
    lang = await chat_lang(svc, update)
    user = update.effective_user
    query = update.callback_query
    if user is not None and query is not None and not svc.is_admin(user.id):
        over, _first = await over_command_limit(svc, user.id)
        if over:
            await query.answer(t(lang, "slow_down"))
            return None
    return lang


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: what the bot does, with buttons to subscribe."""
    if (lang := await gate(update, context)) is None:
        return
    chat = update.effective_chat
    assert chat is not None
    sub = await subscriptions.get(services(context).redis, chat.id)
    await reply(update, context, t(lang, "welcome"), markup=menu_markup(lang, sub is not None))


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: every command with an example."""
    if (lang := await gate(update, context)) is None:
        return
    text = t(lang, "help")
    user = update.effective_user
    if user is not None and services(context).is_admin(user.id):
        text += t(lang, "help_admin")
    await reply(update, context, text)


def user_language_code(update: Update) -> str:
    user = update.effective_user
    code = (user.language_code or "") if user else ""
    return code.split("-")[0].lower()


def filters_text(sub: Subscription, lang: str) -> str:
    described = describe_filters(sub.apps, sub.countries, sub.langs, lang)
    return t(lang, "filters_some", filters=described) if described else t(lang, "filters_all")


def subscribed_text(sub: Subscription, lang: str, updated: bool = False) -> str:
    """What the subscription now is; ``updated`` when it existed before this command."""
    return t(
        lang,
        "subscription_updated" if updated else "subscribed",
        what=filters_text(sub, lang),
        mode=t(lang, f"mode_{sub.mode.value}"),
        time=sub.digest_time,
        tz=sub.tz,
    )


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/subscribe [@channel] [filters]: idempotent; changes only the kinds of filter given."""
    if (lang := await gate(update, context)) is None:
        return
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    parsed = parse_filters(list(context.args or []))
    if parsed.unknown:
        await reply(update, context, t(lang, "bad_filters", bad=", ".join(parsed.unknown)))
        return
    target_id, kind, title = chat.id, chat.type, chat.title or ""
    if parsed.channel:
        found = await _channel_target(update, context, parsed.channel, lang)
        if found is None:
            return
        target_id, title = found
        kind = Chat.CHANNEL
    elif not await may_change_chat(update, context):
        await reply(update, context, t(lang, "group_admin_only"))
        return
    now = svc.clock()
    existing = await subscriptions.get(svc.redis, target_id)
    sub = existing or Subscription(
        chat_id=target_id,
        kind=kind,
        lang=lang,
        digest_time=svc.settings.delivery.digest_time,
        tz=subscriptions.default_zone(user_language_code(update) or lang),
        title=title,
        created=now.timestamp(),
    )
    changes = {name: getattr(parsed, name) for name in parsed.given}
    sub = dataclasses.replace(sub, **changes)
    await subscriptions.save(svc.redis, sub, now)
    if parsed.channel:
        await reply(
            update,
            context,
            t(lang, "channel_subscribed", channel=parsed.channel, what=filters_text(sub, lang)),
        )
        return
    text = subscribed_text(sub, lang, updated=existing is not None)
    if not parsed.given and existing is None:
        text += "\n\n" + t(lang, "subscribed_narrow")
        await reply(update, context, text, markup=menu_markup(lang, True))
    else:
        await reply(update, context, text)


async def _channel_target(
    update: Update, context: ContextTypes.DEFAULT_TYPE, channel: str, lang: str
) -> tuple[int, str] | None:
    """The channel's id and title when both the user and the bot are its admins."""
    chat = update.effective_chat
    user = update.effective_user
    assert chat is not None
    if chat.type != Chat.PRIVATE or user is None:
        await reply(update, context, t(lang, "channel_usage"))
        return None
    try:
        target = await context.bot.get_chat(channel)
        member = await context.bot.get_chat_member(target.id, user.id)
        me = await context.bot.get_chat_member(target.id, context.bot.id)
    except TelegramError as e:
        log.info("channel %s not usable: %s", channel, e)
        await reply(update, context, t(lang, "channel_unknown", channel=channel))
        return None
    if member.status not in (ChatMember.ADMINISTRATOR, ChatMember.OWNER):
        await reply(update, context, t(lang, "channel_not_admin", channel=channel))
        return None
    if me.status != ChatMember.ADMINISTRATOR:
        await reply(update, context, t(lang, "channel_bot_not_admin", channel=channel))
        return None
    return target.id, target.title or channel


async def unsubscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/unsubscribe [@channel]: stop everything for this chat (or channel), delete its data."""
    if (lang := await gate(update, context)) is None:
        return
    chat = update.effective_chat
    assert chat is not None
    parsed = parse_filters(list(context.args or []))
    if parsed.channel and not parsed.given and not parsed.unknown:
        found = await _channel_target(update, context, parsed.channel, lang)
        if found is None:
            return
        had = await subscriptions.delete(services(context).redis, found[0])
        key = "channel_unsubscribed" if had else "not_subscribed"
        await reply(update, context, t(lang, key, channel=parsed.channel))
        return
    if context.args:
        await reply(update, context, t(lang, "unsubscribe_usage"))
        return
    if not await may_change_chat(update, context):
        await reply(update, context, t(lang, "group_admin_only"))
        return
    had = await subscriptions.delete(services(context).redis, chat.id)
    await reply(update, context, t(lang, "unsubscribed" if had else "not_subscribed"))


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/latest [n] [filters]: the newest events as a digest."""
    if (lang := await gate(update, context)) is None:
        return
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    parsed = parse_filters(list(context.args or []), allow_number=True)
    if parsed.unknown:
        await reply(update, context, t(lang, "bad_filters", bad=", ".join(parsed.unknown)))
        return
    delivery = svc.settings.delivery
    count = clamp_count(parsed.number, delivery.latest_default, delivery.latest_max)
    sub = await subscriptions.get(svc.redis, chat.id)
    if parsed.given or sub is None:
        filters = Filters(
            frozenset(parsed.apps), frozenset(parsed.countries), frozenset(parsed.langs)
        )
    else:
        filters = Filters(frozenset(sub.apps), frozenset(sub.countries), frozenset(sub.langs))
    now = svc.clock()
    since = now - timedelta(seconds=svc.settings.polling.retention)
    found = await story_store.latest_events(
        svc.redis, since, now, count, lambda event: matches(event, filters)
    )
    events = apply_filters(found, filters, prefer_lang=lang)
    if not events:
        await reply(update, context, t(lang, "latest_empty"))
        return
    zone = subscriptions.reader_zone(sub, lang)
    start = min(e.lead.published for e in events)
    options = DigestOptions(
        labels_lang="ru" if lang == "ru" else "en", window_start=start, window_end=now, tz=zone
    )
    for text in compose_html(events, options):
        await reply(update, context, text)


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sources: the feeds and their health."""
    if (lang := await gate(update, context)) is None:
        return
    svc = services(context)
    feeds = await effective_feeds(svc.redis, svc.settings.feeds)
    states = await load_states(svc.redis, [f.url for f in feeds])
    now = svc.clock()
    lines = []
    failing = 0
    for feed in feeds:
        state = states[feed.url]
        ok = state.errors == 0 and state.status is not FeedStatus.DISABLED and not feed.paused
        failing += 0 if ok or feed.paused else 1
        mark = "⏸" if feed.paused else ("✅" if ok else "⚠️")
        name = html.escape(feed.config.title)
        detail = "" if ok or feed.paused else f" — <i>{_health(state, now, lang)}</i>"
        lines.append(f'{mark} <a href="{html.escape(feed.url, quote=True)}">{name}</a>{detail}')
    head = t(lang, "sources_head", count=len(feeds), ok=len(feeds) - failing, failing=failing)
    for chunk in _chunks([head, *lines]):
        await reply(update, context, chunk)


def _health(state: FeedState, now: datetime, lang: str) -> str:
    """What is wrong with a feed, in the reader's language (the reason itself is technical)."""
    reason = shorten(state.last_error, 100)
    if state.status is FeedStatus.DISABLED:
        return t(lang, "health_disabled", reason=reason)
    retry = datetime.fromtimestamp(state.next_at, UTC)
    when = f"{day_time(retry, lang)} UTC"
    key = "health_waiting" if retry > now else "health_retrying"
    return t(lang, key, errors=state.errors, reason=reason, when=when)


def _chunks(lines: list[str], limit: int = 3500, per: int = 60) -> list[str]:
    """Lines joined into messages under Telegram's size and entity limits."""
    out: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and (size + len(line) > limit or len(current) >= per):
            out.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        out.append("\n".join(current))
    return out


async def language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/language: buttons to choose English or Russian."""
    if (lang := await gate(update, context)) is None:
        return
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("English", callback_data="s:lang:en"),
                InlineKeyboardButton("Русский", callback_data="s:lang:ru"),
            ]
        ]
    )
    await reply(update, context, t(lang, "pick_lang"), markup=markup)


async def timezone(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/timezone <IANA name>: the zone of the digest time."""
    if (lang := await gate(update, context)) is None:
        return
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    args = list(context.args or [])
    if not args:
        await reply(update, context, t(lang, "timezone_usage"))
        return
    name = args[0][:64]
    if not subscriptions.valid_zone(name):
        await reply(update, context, t(lang, "timezone_bad", tz=name))
        return
    if not await may_change_chat(update, context):
        await reply(update, context, t(lang, "group_admin_only"))
        return
    sub = await subscriptions.get(svc.redis, chat.id)
    if sub is None:
        await reply(update, context, t(lang, "subscribe_first"))
        return
    sub = dataclasses.replace(sub, tz=name)
    now = svc.clock()
    await subscriptions.save(svc.redis, sub, now)
    when = sub.next_due(now).astimezone(sub.zone).strftime("%Y-%m-%d %H:%M")
    await reply(update, context, t(lang, "timezone_set", tz=name, when=when))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other command: a hint (in groups only when addressed to this bot)."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None or message.text is None:
        return
    if (
        chat.type != Chat.PRIVATE
        and f"@{context.bot.username}".lower() not in message.text.split()[0].lower()
    ):
        return
    if (lang := await gate(update, context)) is None:
        return
    await reply(update, context, t(lang, "unknown_command"))


async def plain_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plain text in a private chat: a hint."""
    if (lang := await gate(update, context)) is None:
        return
    await reply(update, context, t(lang, "plain_text"))


async def chat_member(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The bot was blocked, kicked or added: keep subscriptions true."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None:
        return
    svc = services(context)
    status = change.new_chat_member.status
    chat = change.chat
    if status in (ChatMember.BANNED, ChatMember.LEFT):
        if await subscriptions.delete(svc.redis, chat.id):
            log.info("chat %s removed the bot; unsubscribed", chat.id)
        return
    was = change.old_chat_member.status
    if chat.type in (Chat.GROUP, Chat.SUPERGROUP) and was in (ChatMember.LEFT, ChatMember.BANNED):
        lang = await chat_lang(svc, update)
        await svc.sender.send(chat.id, t(lang, "group_added"))
