"""Admin commands (/stats, /feeds, OPML) and admin notifications. Others get a polite no."""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime

from telegram import Update
from telegram.ext import ContextTypes

from bot import feeds as feed_store
from bot import keys, stories, subscriptions
from bot.config import FeedConfig
from bot.errors import FeedError
from bot.feeds import Feed
from bot.feedstate import FeedState, FeedStatus, describe
from bot.fetch import Fetcher
from bot.handlers import _chunks, gate, reply
from bot.i18n import t
from bot.opml import export_opml, parse_opml
from bot.parse import parse_feed
from bot.services import Services, services

log = logging.getLogger(__name__)


async def admin_lang(update: Update, context: ContextTypes.DEFAULT_TYPE) -> str | None:
    """The reply language for an admin; None (after a polite refusal) for anyone else."""
    lang = await gate(update, context)
    if lang is None:
        return None
    user = update.effective_user
    if user is None or not services(context).is_admin(user.id):
        await reply(update, context, t(lang, "admin_only"))
        return None
    return lang


async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats: subscribers by kind and language, stories, feed health, last poll."""
    if (lang := await admin_lang(update, context)) is None:
        return
    svc = services(context)
    kinds, langs = await subscriptions.count_by(svc.redis)
    feeds = await feed_store.effective_feeds(svc.redis, svc.settings.feeds)
    states = await feed_store.load_states(svc.redis, [f.url for f in feeds])
    paused = sum(1 for f in feeds if f.paused)
    failing = sum(1 for f in feeds if not f.paused and states[f.url].status is not FeedStatus.OK)
    last = await svc.redis.hget(keys.poll_last(), "finished")
    last_poll = (
        datetime.fromtimestamp(float(last), UTC).strftime("%Y-%m-%d %H:%M UTC")
        if last
        else t(lang, "never")
    )
    await reply(
        update,
        context,
        t(
            lang,
            "stats",
            subs=sum(kinds.values()),
            kinds=", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) or "-",
            langs=", ".join(f"{k} {v}" for k, v in sorted(langs.items())) or "-",
            stories=await stories.count_stories(svc.redis),
            ok=len(feeds) - failing - paused,
            failing=failing,
            paused=paused,
            last_poll=last_poll,
        ),
    )


async def feeds_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/feeds [add URL | remove N | pause N | resume N | export]."""
    if (lang := await admin_lang(update, context)) is None:
        return
    svc = services(context)
    args = list(context.args or [])
    feeds = await feed_store.effective_feeds(svc.redis, svc.settings.feeds)
    if not args:
        await _list(update, context, svc, feeds, lang)
        return
    action, rest = args[0].lower(), args[1:]
    if action == "export":
        chat = update.effective_chat
        assert chat is not None
        await svc.sender.send_document(
            chat.id, export_opml([f.config for f in feeds]), "censorwire-feeds.opml"
        )
        return
    if action == "add" and rest:
        await _add(update, context, svc, rest[0], lang)
        return
    if action in ("remove", "pause", "resume") and rest:
        feed = _find(feeds, rest[0])
        if feed is None:
            await reply(update, context, t(lang, "feed_unknown", which=rest[0]))
            return
        if action == "remove":
            await feed_store.remove_feed(svc.redis, feed.url)
        else:
            await feed_store.set_paused(svc.redis, feed.url, action == "pause")
        key = {"remove": "feed_removed", "pause": "feed_paused", "resume": "feed_resumed"}[action]
        await reply(update, context, t(lang, key, url=feed.url))
        return
    await reply(update, context, t(lang, "feeds_usage"))


def _find(feeds: list[Feed], which: str) -> Feed | None:
    if which.isascii() and which.isdigit() and 1 <= int(which) <= len(feeds):
        return feeds[int(which) - 1]
    return next((f for f in feeds if f.url == which), None)


async def _list(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, feeds: list[Feed], lang: str
) -> None:
    states = await feed_store.load_states(svc.redis, [f.url for f in feeds])
    now = svc.clock()
    lines = [t(lang, "feeds_head", count=len(feeds))]
    for number, feed in enumerate(feeds, 1):
        health = "paused" if feed.paused else describe(states[feed.url], now)
        lines.append(
            f"{number}. {html.escape(feed.config.title)} — <code>{html.escape(feed.url)}</code> "
            f"[{html.escape(health[:100])}]"
        )
    for chunk in _chunks(lines):
        await reply(update, context, chunk)


async def _add(
    update: Update, context: ContextTypes.DEFAULT_TYPE, svc: Services, url: str, lang: str
) -> None:
    """Add a feed only after one successful fetch and parse."""
    try:
        result = await Fetcher(svc.session, svc.settings.polling).fetch(url)
        parsed = parse_feed(url, result.body, result.headers)
    except FeedError as e:
        await reply(update, context, t(lang, "feed_add_failed", url=url, reason=e.reason))
        return
    await feed_store.add_feed(
        svc.redis, FeedConfig(url=url, name=parsed.title[:100], lang=parsed.lang)
    )
    await reply(update, context, t(lang, "feed_added", url=url, entries=len(parsed.entries)))


async def opml_upload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An .opml file sent by an admin: import its feeds (known ones are skipped)."""
    message = update.effective_message
    if message is None or message.document is None:
        return
    if (lang := await admin_lang(update, context)) is None:
        return
    svc = services(context)
    try:
        file = await message.document.get_file()
        body = bytes(await file.download_as_bytearray())
        found = parse_opml(body)
    except ValueError as e:
        await reply(update, context, t(lang, "opml_bad", reason=str(e)))
        return
    known = {f.url for f in await feed_store.effective_feeds(svc.redis, svc.settings.feeds)}
    added = 0
    for feed in found:
        if feed.url not in known:
            await feed_store.add_feed(svc.redis, feed)
            added += 1
    await reply(update, context, t(lang, "opml_imported", added=added, skipped=len(found) - added))


async def notify_admins(svc: Services, key: str, **values: object) -> None:
    """Tell every admin (in their private chat) about an event, in their language."""
    for admin in svc.settings.telegram.admins:
        lang = await subscriptions.chat_lang(svc.redis, admin) or "en"
        await svc.sender.send(admin, t(lang, key, **values), kind="admin")


async def on_feed_health(svc: Services, feed: Feed, old: FeedState, new: FeedState) -> None:
    """The poller's hook: admins hear once when a feed starts or stops failing."""
    values = {"name": feed.config.title, "url": feed.url}
    if new.status is FeedStatus.FAILING:
        await notify_admins(svc, "feed_failing", reason=new.last_error, **values)
    elif new.status is FeedStatus.DISABLED:
        await notify_admins(svc, "feed_disabled", **values)
    elif old.status is not FeedStatus.OK and new.status is FeedStatus.OK:
        await notify_admins(svc, "feed_recovered", **values)
