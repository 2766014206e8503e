"""``run``: the bot's lifecycle. Opens Redis and HTTP, starts updates, polling and delivery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from telegram import BotCommand, BotCommandScopeDefault, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot import admin, handlers, keys, search_ui, settings_ui
from bot import stories as story_store
from bot.cli import extra_handlers, http_session, make_executor
from bot.config import Settings
from bot.errors import ConfigError
from bot.feeds import Feed, effective_feeds
from bot.fetch import Fetcher
from bot.i18n import COMMANDS
from bot.leases import Lease
from bot.metrics import Metrics
from bot.pipeline import Outcome, Poller
from bot.ratelimit import RedisRateLimiter
from bot.search import sweep as sweep_search
from bot.send import Sender
from bot.services import Services
from bot.storage import Redis, open_redis

log = logging.getLogger(__name__)

TELEGRAM_API = "https://api.telegram.org"
POLL_LEASE_TTL = 30.0
NO_TOKEN = (
    "telegram.token: no bot token. Get one from @BotFather (https://t.me/BotFather) and set "
    "TELEGRAM_TOKEN; `censorwire digest` and `censorwire poll --once` work without it"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def run_bot(settings: Settings) -> int:
    """Run until SIGTERM or SIGINT; 2 without a token."""
    if not settings.telegram.token:
        raise ConfigError(NO_TOKEN)
    asyncio.run(serve(settings))
    return 0


def build_application(settings: Settings, redis: Redis) -> Application:  # type: ignore[type-arg]
    root = (settings.telegram.api_base_url or TELEGRAM_API).rstrip("/")
    delivery = settings.delivery
    limiter = RedisRateLimiter(
        redis,
        per_second=delivery.per_second,
        per_chat_per_second=delivery.per_chat_per_second,
        per_group_per_minute=delivery.per_group_per_minute,
    )
    return (
        Application.builder()
        .token(settings.telegram.token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .rate_limiter(limiter)
        .get_updates_read_timeout(40)
        .build()
    )


def register(app: Application) -> None:  # type: ignore[type-arg]
    """Every handler, in the order they are tried."""
    commands: dict[
        str, Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]
    ] = {
        "start": handlers.start,
        "help": handlers.help_command,
        "subscribe": handlers.subscribe,
        "unsubscribe": handlers.unsubscribe,
        "settings": settings_ui.settings,
        "latest": handlers.latest,
        "search": search_ui.search_command,
        "sources": handlers.sources,
        "language": handlers.language,
        "timezone": handlers.timezone,
        "stats": admin.stats,
        "feeds": admin.feeds_command,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(CallbackQueryHandler(settings_ui.on_button, pattern=r"^(s|sub):"))
    app.add_handler(CallbackQueryHandler(search_ui.on_page, pattern=r"^q:"))
    app.add_handler(CallbackQueryHandler(_stale_button))
    app.add_handler(ChatMemberHandler(handlers.chat_member, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.Document.FileExtension("opml"), admin.opml_upload))
    app.add_handler(MessageHandler(filters.COMMAND, handlers.unknown_command))
    app.add_handler(MessageHandler(filters.TEXT & filters.ChatType.PRIVATE, handlers.plain_text))
    app.add_error_handler(_on_error)


async def _stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A button we don't know (forged or from an old version): answered, nothing changes."""
    if update.callback_query is not None:
        await update.callback_query.answer()


async def _on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """One error handler: log it (the token is redacted by the log filter)."""
    log.error("error while handling an update: %r", context.error, exc_info=context.error)


async def set_commands(app: Application) -> None:  # type: ignore[type-arg]
    for lang, entries in COMMANDS.items():
        commands = [BotCommand(name, text) for name, text in entries]
        try:
            await app.bot.set_my_commands(
                commands,
                scope=BotCommandScopeDefault(),
                language_code=None if lang == "en" else lang,
            )
        except TelegramError as e:
            log.warning("could not set the command menu (%s): %s", lang, e)


async def serve(settings: Settings) -> None:
    """The whole process: resources opened here are closed here, in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        redis = await stack.enter_async_context(open_redis(settings.redis))
        session = await stack.enter_async_context(http_session(settings))
        executor = make_executor(len(settings.feeds))
        if executor is not None:
            stack.callback(executor.shutdown, wait=False, cancel_futures=True)
        app = build_application(settings, redis)
        metrics = Metrics()
        sender = Sender(
            app.bot, redis, metrics, clock=utcnow, max_retries=settings.delivery.max_retries
        )
        poller = Poller(settings, redis, Fetcher(session, settings.polling), executor, clock=utcnow)
        svc = Services(settings, redis, session, sender, metrics, poller, utcnow)
        for handler in extra_handlers(redis, settings):
            poller.add_handler(handler)
        poller.set_health_handler(lambda feed, old, new: admin.on_feed_health(svc, feed, old, new))
        app.bot_data["services"] = svc
        register(app)
        async with app:
            await app.start()
            await set_commands(app)
            assert app.updater is not None
            await _start_updates(app, settings)
            tasks = [asyncio.create_task(_poll_loop(svc, stop), name="poll")]
            log.info("CensorWire is running (%s feeds)", len(settings.feeds))
            await stop.wait()
            log.info("stopping")
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if app.updater.running:
                await app.updater.stop()
            await app.stop()


async def _start_updates(app: Application, settings: Settings) -> None:  # type: ignore[type-arg]
    assert app.updater is not None
    telegram = settings.telegram
    if telegram.webhook_url:
        await app.updater.start_webhook(
            listen=telegram.webhook_listen,
            port=telegram.webhook_port,
            url_path="telegram",
            webhook_url=telegram.webhook_url,
            secret_token=telegram.webhook_secret or None,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        await app.updater.start_polling(allowed_updates=Update.ALL_TYPES, timeout=30)


async def _poll_loop(svc: Services, stop: asyncio.Event) -> None:
    """Poll at start, then every interval, while holding the poll lease; sweep after each poll."""
    lease = Lease(svc.redis, "poll", svc.process_id, POLL_LEASE_TTL)
    interval = svc.settings.polling.interval
    while not stop.is_set():
        if await lease.acquire() or await lease.renew():
            try:
                await _one_poll(svc, lease)
            except Exception:
                log.exception("poll failed; trying again at the next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                stop.wait(), timeout=interval if await lease.renew() else POLL_LEASE_TTL / 2
            )
    await lease.release()


async def _one_poll(svc: Services, lease: Lease) -> None:
    feeds: list[Feed] = await effective_feeds(svc.redis, svc.settings.feeds)
    renewing = asyncio.create_task(_keep_renewing(lease))
    try:
        with svc.metrics.poll_seconds.time():
            report = await svc.poller.poll(feeds)
    finally:
        renewing.cancel()
    now = svc.clock()
    svc.metrics.stories.inc(len(report.new_stories))
    svc.metrics.feed_errors.inc(report.count(Outcome.ERROR))
    await svc.redis.hset(
        keys.poll_last(),
        mapping={
            "finished": str(now.timestamp()),
            "feeds": str(len(report.feeds)),
            "new": str(len(report.new_stories)),
            "errors": str(report.count(Outcome.ERROR)),
        },
    )
    retention = svc.settings.polling.retention
    await story_store.sweep(svc.redis, now, retention)
    await sweep_search(svc.redis, now, retention)
    log.info("poll done: %s feeds, %s new stories", len(report.feeds), len(report.new_stories))


async def _keep_renewing(lease: Lease) -> None:
    while True:
        await asyncio.sleep(POLL_LEASE_TTL / 3)
        if not await lease.renew():
            log.warning("lost the poll lease during a poll")
            return
