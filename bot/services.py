"""What handlers and jobs share in one process: settings, Redis, HTTP, the send path."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import aiohttp
from telegram import Chat, ChatMember, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import keys, subscriptions
from bot.config import Settings
from bot.i18n import pick_lang
from bot.leases import new_holder
from bot.llm import LlmSummarizer
from bot.metrics import Metrics
from bot.ops import Watchdog
from bot.pipeline import Poller
from bot.send import Sender
from bot.storage import Redis

ANONYMOUS_ADMIN_ID = 1087968824
BUTTON_TTL = 86400
_ADMIN_STATUSES = (ChatMember.ADMINISTRATOR, ChatMember.OWNER)


@dataclass
class Services:
    """Built once at start and closed at stop; reached by handlers through ``services()``."""

    settings: Settings
    redis: Redis
    session: aiohttp.ClientSession
    sender: Sender
    metrics: Metrics
    poller: Poller
    clock: Callable[[], datetime]
    watchdog: Watchdog
    process_id: str = field(default_factory=new_holder)
    llm: LlmSummarizer | None = None
    last_repair: float = 0.0

    def is_admin(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self.settings.telegram.admins


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    found = context.application.bot_data["services"]
    assert isinstance(found, Services)
    return found


async def chat_lang(svc: Services, update: Update) -> str:
    """The chat's chosen language, else the user's Telegram language."""
    chat = update.effective_chat
    if chat is not None:
        chosen = await subscriptions.chat_lang(svc.redis, chat.id)
        if chosen:
            return chosen
    user = update.effective_user
    return pick_lang(user.language_code if user else None)


async def may_change_chat(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """In a private chat, anyone; in a group, its admins (anonymous admins included)."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is None:
        return False
    if chat.type == Chat.PRIVATE:
        return True
    message = update.effective_message
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id == chat.id  # anonymous admin speaking as the group
    if user is None:
        return False
    if user.id == ANONYMOUS_ADMIN_ID:
        return True
    try:
        member = await context.bot.get_chat_member(chat.id, user.id)
    except TelegramError:
        return False
    return member.status in _ADMIN_STATUSES


async def over_command_limit(svc: Services, user_id: int) -> tuple[bool, bool]:
    """(over the per-user limit, first time over in this window) for a command by ``user_id``."""
    key = keys.user_rate(user_id)
    now = svc.clock().timestamp()
    limit = svc.settings.telegram.commands_per_minute
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.zremrangebyscore(key, "-inf", now - 60)
        pipe.zadd(key, {f"{now:.6f}-{secrets.token_hex(2)}": now})
        pipe.zcard(key)
        pipe.expire(key, 120)
        _, _, count, _ = await pipe.execute()
    return int(count) > limit, int(count) == limit + 1


async def store_button(svc: Services, payload: dict[str, str]) -> str:
    """Keep a button's state in Redis; the callback data carries only the returned token."""
    token = secrets.token_urlsafe(9)
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.hset(keys.button(token), mapping=cast(Mapping[Any, Any], payload))
        pipe.expire(keys.button(token), BUTTON_TTL)
        await pipe.execute()
    return token


async def load_button(svc: Services, token: str) -> dict[str, str]:
    if not token or len(token) > 16:
        return {}
    found = await svc.redis.hgetall(keys.button(token))
    return {str(k): str(v) for k, v in found.items()}
