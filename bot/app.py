"""``run``: the bot's lifecycle. Opens Redis and HTTP, starts updates, polling and delivery."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

import aiohttp
from redis.exceptions import RedisError
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

from bot import (
    admin,
    broadcast,
    handlers,
    keys,
    search_ui,
    settings_ui,
    status_ui,
    subscriptions,
)
from bot import stories as story_store
from bot.cli import extra_handlers, http_session, make_executor
from bot.config import Settings
from bot.delivery import Worker, alert_new_stories, schedule_loop
from bot.errors import CensorWireError, ConfigError
from bot.feeds import Feed, effective_feeds
from bot.fetch import Fetcher
from bot.i18n import COMMANDS
from bot.leases import Lease, keep, wait_to_acquire
from bot.llm_stage import llm_handler, make_summarizer
from bot.metrics import Metrics
from bot.models import Story
from bot.ooni_watch import ooni_loop
from bot.ops import Watchdog, start_http
from bot.pipeline import Outcome, Poller
from bot.ratelimit import RedisRateLimiter
from bot.search import sweep as sweep_search
from bot.send import Sender
from bot.services import Services
from bot.storage import Redis, open_redis
from bot.tgrequest import AiohttpRequest
from bot.updates import PerChatOrder

log = logging.getLogger(__name__)

TELEGRAM_API = "https://api.telegram.org"
REPAIR_EVERY = 6 * 3600.0
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
    limiter = RedisRateLimiter.from_settings(redis, settings.delivery)
    return (
        Application.builder()
        .token(settings.telegram.token)
        .base_url(f"{root}/bot")
        .base_file_url(f"{root}/file/bot")
        .rate_limiter(limiter)
        .request(AiohttpRequest())
        .get_updates_request(AiohttpRequest(connections=2))
        .concurrent_updates(PerChatOrder())
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
        "status": status_ui.status,
        "sources": handlers.sources,
        "language": handlers.language,
        "timezone": handlers.timezone,
        "stats": admin.stats,
        "feeds": admin.feeds_command,
        "broadcast": broadcast.broadcast_command,
        "broadcast_cancel": broadcast.cancel_command,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(CallbackQueryHandler(settings_ui.on_button, pattern=r"^(s|sub):"))
    app.add_handler(CallbackQueryHandler(search_ui.on_page, pattern=r"^q:"))
    app.add_handler(CallbackQueryHandler(broadcast.on_button, pattern=r"^b:"))
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
        svc = _services(settings, redis, session, app, executor)
        if settings.metrics.port:
            runner = await start_http(
                redis, svc.metrics, settings.metrics.host, settings.metrics.port
            )
            stack.push_async_callback(runner.cleanup)
        app.bot_data["services"] = svc
        register(app)
        async with app:
            await app.start()
            await set_commands(app)
            loops: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
                "updates": lambda: _leased(svc, "updates", stop, _updates(app, settings)),
                "poll": lambda: _leased(svc, "poll", stop, _polls(svc)),
                "schedule": lambda: schedule_loop(svc, stop),
                "delivery": lambda: Worker(svc, svc.process_id).run(stop),
            }
            if settings.ooni.enabled:
                ooni = functools.partial(ooni_loop, svc)
                loops["ooni"] = lambda: _leased(svc, "ooni", stop, ooni)
            tasks = [
                asyncio.create_task(_supervised(name, loop, stop), name=name)
                for name, loop in loops.items()
            ]
            log.info("CensorWire is running (process %s)", svc.process_id)
            await stop.wait()
            log.info("stopping")
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.stop()


async def _supervised(
    name: str, loop: Callable[[], Coroutine[Any, Any, None]], stop: asyncio.Event
) -> None:
    """Run a long-lived loop until ``stop``; if it dies of an error, log it and start it again.

    This is the one place that catches every exception: a loop that died silently would
    leave a process that looks alive but no longer delivers or answers.
    """
    while not stop.is_set():
        try:
            await loop()
        except Exception:
            log.exception("the %s loop failed; restarting it in 5 s", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5.0)
        else:
            return


def _services(
    settings: Settings,
    redis: Redis,
    session: aiohttp.ClientSession,
    app: Application,  # type: ignore[type-arg]
    executor: Executor | None,
) -> Services:
    metrics = Metrics()
    svc: Services  # assigned below; the watchdog only notifies once the bot runs

    async def notify(key: str, **values: object) -> None:
        await admin.notify_admins(svc, key, **values)

    sender = Sender(
        app.bot,
        redis,
        metrics,
        clock=utcnow,
        max_retries=settings.delivery.max_retries,
    )
    poller = Poller(settings, redis, Fetcher(session, settings.polling), executor, clock=utcnow)
    svc = Services(settings, redis, session, sender, metrics, poller, utcnow, Watchdog(notify))
    svc.llm = make_summarizer(session, settings.summarizer)
    for handler in extra_handlers(redis, settings):
        poller.add_handler(handler)
    if svc.llm is not None:  # before alerts, so that an alert carries the model's summary
        poller.add_handler(llm_handler(redis, svc.llm))
    poller.add_handler(lambda new: _alerts(svc, new))
    poller.set_health_handler(lambda feed, old, new: admin.on_feed_health(svc, feed, old, new))
    return svc


async def _alerts(svc: Services, new: Sequence[Story]) -> None:
    if svc.llm is not None:  # the model may have replaced the stored summaries
        new = await story_store.load_stories(svc.redis, [story.id for story in new])
    await alert_new_stories(svc, new)


Job = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def _leased(svc: Services, name: str, stop: asyncio.Event, job: Job) -> None:
    """Run ``job`` only while this process holds the lease ``name``; wait for it otherwise.

    ``job`` gets an event that is set when the process stops or the lease is lost.
    """
    lease = Lease(svc.redis, name, svc.process_id, svc.settings.delivery.lease_ttl)
    while await wait_to_acquire(lease, stop):
        ended = asyncio.Event()

        async def lost() -> None:
            ended.set()  # noqa: B023 - this iteration's event, used within it

        async def relay() -> None:
            await stop.wait()
            ended.set()  # noqa: B023

        keeper = asyncio.create_task(keep(lease, stop, lost))
        relayer = asyncio.create_task(relay())
        try:
            await job(ended)
        finally:
            keeper.cancel()
            relayer.cancel()
        if stop.is_set():
            with contextlib.suppress(RedisError):
                await lease.release()
            return


def _updates(app: Application, settings: Settings) -> Job:  # type: ignore[type-arg]
    """Receive updates (getUpdates or the webhook) until ``ended``."""

    async def job(ended: asyncio.Event) -> None:
        assert app.updater is not None
        telegram = settings.telegram
        if telegram.webhook_url:
            await app.updater.start_webhook(
                listen=telegram.webhook_listen,
                port=telegram.webhook_port,
                url_path="telegram",
                webhook_url=telegram.webhook_url,
                secret_token=telegram.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
                bootstrap_retries=-1,
            )
        else:
            await app.updater.start_polling(
                allowed_updates=Update.ALL_TYPES, timeout=30, bootstrap_retries=-1
            )
        await ended.wait()
        await app.updater.stop()

    return job


def _polls(svc: Services) -> Job:
    """Poll at once, then every interval, until ``ended``; sweep the indexes after each poll."""

    async def job(ended: asyncio.Event) -> None:
        while not ended.is_set():
            try:
                await _one_poll(svc)
            except (RedisError, CensorWireError) as e:
                log.error("poll failed, trying again at the next interval: %s", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), svc.settings.polling.interval)

    return job


async def _one_poll(svc: Services) -> None:
    feeds: list[Feed] = await effective_feeds(svc.redis, svc.settings.feeds)
    if svc.llm is not None:
        svc.llm.start_poll()
    with svc.metrics.poll_seconds.time():
        report = await svc.poller.poll(feeds)
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
    if now.timestamp() - svc.last_repair >= REPAIR_EVERY:
        svc.last_repair = now.timestamp()
        if repaired := await subscriptions.repair_indexes(svc.redis, now):
            log.warning("repaired %s subscription index entries", repaired)
        if repaired := await story_store.repair_indexes(svc.redis, now):
            log.warning("repaired the indexes of %s stories", repaired)
    log.info("poll done: %s feeds, %s new stories", len(report.feeds), len(report.new_stories))
