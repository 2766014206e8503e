"""The one send path: every message the bot sends goes through ``Sender``.

Rate limits are held by the bot's rate limiter (``bot.ratelimit``); this module applies the
error reactions of TELEGRAM.md: a blocked or vanished chat is unsubscribed, a migrated group
is followed, HTML that Telegram rejects is resent as plain text once, a timeout is retried
at most once, other network errors are retried with backoff a bounded number of times.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot import subscriptions
from bot.errors import StorageError
from bot.metrics import Metrics
from bot.storage import Redis

log = logging.getLogger(__name__)

_TAG = re.compile(r"<[^>]+>")


class Outcome(StrEnum):
    SENT = "sent"
    BLOCKED = "blocked"
    """The chat blocked the bot, removed it, or is gone: it was unsubscribed."""
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    outcome: Outcome
    chat_id: int
    message: Message | None = None
    reason: str = ""


def plain_text(markup: str) -> str:
    """Telegram HTML as plain text: tags dropped, entities decoded (the parse-error fallback)."""
    return html.unescape(_TAG.sub("", markup))


class Sender:
    """Sends with Telegram's error reactions; one per process, shared by handlers and jobs."""

    def __init__(
        self,
        bot: Bot,
        redis: Redis,
        metrics: Metrics,
        *,
        clock: Callable[[], datetime],
        max_retries: int = 5,
        backoff: float = 1.0,
    ) -> None:
        self._bot = bot
        self._redis = redis
        self._metrics = metrics
        self._clock = clock
        self._max_retries = max_retries
        self._backoff = backoff

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        kind: str = "reply",
        html_mode: bool = True,
        markup: InlineKeyboardMarkup | None = None,
        quiet: bool = False,
        preview: bool = False,
    ) -> Delivery:
        """Send ``text`` to ``chat_id``, reacting to every error; never raises Telegram errors."""
        kwargs: dict[str, Any] = {
            "reply_markup": markup,
            "disable_notification": quiet,
            "link_preview_options": LinkPreviewOptions(is_disabled=not preview),
        }
        return await self._deliver(
            chat_id,
            kind,
            lambda cid, plain: self._send_message(cid, text, plain, html_mode, kwargs),
        )

    async def send_photo(
        self, chat_id: int, photo: bytes, caption: str, *, kind: str = "reply"
    ) -> Delivery:
        async def call(cid: int, plain: bool) -> Message:
            return await self._bot.send_photo(
                cid,
                photo=photo,
                caption=plain_text(caption) if plain else caption,
                parse_mode=None if plain else ParseMode.HTML,
            )

        return await self._deliver(chat_id, kind, call)

    async def send_document(
        self, chat_id: int, content: bytes, filename: str, caption: str = ""
    ) -> Delivery:
        async def call(cid: int, plain: bool) -> Message:
            return await self._bot.send_document(
                cid, document=content, filename=filename, caption=plain_text(caption) or None
            )

        return await self._deliver(chat_id, "reply", call)

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
    ) -> bool:
        """Edit a message; False when Telegram refused (gone, unchanged); never raises."""
        try:
            await self._bot.edit_message_text(
                text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except BadRequest as e:
            if "not modified" not in str(e).lower():
                log.warning("edit of message %s in %s refused: %s", message_id, chat_id, e)
            return False
        except (TelegramError, StorageError) as e:
            log.warning("edit of message %s in %s failed: %s", message_id, chat_id, e)
            return False
        return True

    async def _send_message(
        self, chat_id: int, text: str, plain: bool, html_mode: bool, kwargs: dict[str, Any]
    ) -> Message:
        if plain or not html_mode:
            body = plain_text(text) if html_mode else text
            return await self._bot.send_message(chat_id, body, parse_mode=None, **kwargs)
        return await self._bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, **kwargs)

    async def _deliver(
        self, chat_id: int, kind: str, call: Callable[[int, bool], Awaitable[Message]]
    ) -> Delivery:
        plain = False
        timeouts = 0
        errors = 0
        while True:
            try:
                message = await call(chat_id, plain)
            except RetryAfter as e:
                # The rate limiter waits these out; one escaping it is waited here, never dropped.
                self._metrics.too_many.inc()
                await asyncio.sleep(_seconds(e.retry_after))
                continue
            except Forbidden as e:
                return await self._unsubscribe(chat_id, f"forbidden: {e.message}")
            except ChatMigrated as e:
                new_id = int(e.new_chat_id)
                log.info("chat %s migrated to %s; following it", chat_id, new_id)
                await subscriptions.migrate(self._redis, chat_id, new_id, self._clock())
                chat_id = new_id
                continue
            except TimedOut:
                timeouts += 1
                if timeouts > 1:
                    return self._failed(chat_id, kind, "timed out twice")
                continue
            except BadRequest as e:
                text = e.message.lower()
                if "chat not found" in text or "chat_id is empty" in text:
                    return await self._unsubscribe(chat_id, "chat not found")
                if "can't parse entities" in text and not plain:
                    log.error("Telegram rejected our HTML for chat %s (a bug): %s", chat_id, e)
                    plain = True
                    continue
                return self._failed(chat_id, kind, f"bad request: {e.message}")
            except NetworkError as e:
                errors += 1
                if errors > self._max_retries:
                    return self._failed(chat_id, kind, f"network: {e.message}")
                await asyncio.sleep(min(30.0, self._backoff * 2 ** (errors - 1)))
                continue
            self._metrics.sent.labels(kind=kind).inc()
            return Delivery(Outcome.SENT, chat_id, message)

    async def _unsubscribe(self, chat_id: int, reason: str) -> Delivery:
        await subscriptions.delete(self._redis, chat_id)
        self._metrics.blocked.inc()
        log.info("chat %s unsubscribed (%s)", chat_id, reason)
        return Delivery(Outcome.BLOCKED, chat_id, reason=reason)

    def _failed(self, chat_id: int, kind: str, reason: str) -> Delivery:
        self._metrics.failed.labels(reason=reason.split(":")[0]).inc()
        log.warning("%s to chat %s failed: %s", kind, chat_id, reason)
        return Delivery(Outcome.FAILED, chat_id, reason=reason)


def _seconds(value: object) -> float:
    total = getattr(value, "total_seconds", None)
    if callable(total):
        return float(total())
    return float(value)  # type: ignore[arg-type]
