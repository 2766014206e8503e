"""A Redis-backed Telegram rate limiter: several bot processes together stay within limits.

Telegram allows about 30 messages a second overall, 1 a second per chat and 20 a minute
per group or channel (TELEGRAM.md). Before each message-producing request one Lua script
checks sliding windows kept in Redis sorted sets and either reserves a slot in every
window the request counts toward or answers how long to wait. The script reads Redis's
clock (``TIME``), so processes whose clocks differ still agree.

A reserved slot is dated in the future ("in flight") until the request returns, then
dated at its completion. A send thus counts from before it leaves until one window after
its answer came back; it reached Telegram somewhere in between, so however the network
reorders requests no window at Telegram holds more sends than we let through. The price is
the round trip: a window fits ``limit`` sends per ``span + latency`` at worst.

Which requests count (decided here, see `LIMITED`): everything that puts a message in a
chat or changes one (sends, copies, forwards, edits) counts toward the overall window, the
chat's window and, for groups and channels (negative ids or ``@username``), the group's
window. An album or a batch copy counts as one per message overall and as one in its chat.
Everything else (getUpdates, answerCallbackQuery, sendChatAction, getMe, getChatMember,
setMyCommands, deleteMessage …) passes straight through.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot import keys
from bot.config import DeliverySettings
from bot.errors import StorageError
from bot.storage import Redis

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Result = bool | JSONDict | list[JSONDict]

# fmt: off
SENDS = frozenset({
    "sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendAnimation", "sendAudio",
    "sendVoice", "sendVideoNote", "sendSticker", "sendMediaGroup", "sendPaidMedia",
    "sendPoll", "sendDice", "sendLocation", "sendVenue", "sendContact", "sendInvoice",
    "copyMessage", "copyMessages", "forwardMessage", "forwardMessages",
})
EDITS = frozenset({
    "editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup",
    "editMessageLiveLocation", "stopMessageLiveLocation", "stopPoll",
})
# fmt: on
LIMITED = SENDS | EDITS
"""Endpoints held to the windows; Telegram counts edits toward a chat's flood limit too."""
_BATCHES = {
    "sendMediaGroup": "media",
    "copyMessages": "message_ids",
    "forwardMessages": "message_ids",
}

# Sorted sets of send times in whole microseconds of Redis time (exact in a double).
# KEYS[1] pause key, KEYS[2..] windows; ARGV[1] slot token, ARGV[2] in-flight hold (µs),
# then per window: limit, span (µs), slots needed. Returns {0, 0} when reserved, else
# {µs to wait, index of the key that binds (1: the pause)}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait, binding = redis.call('PTTL', KEYS[1]) * 1000, 1
if wait < 0 then wait = 0 end
for i = 2, #KEYS do
  local a = 3 * i - 3
  local limit, span, need = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - span)
  local over = redis.call('ZCARD', KEYS[i]) + need - limit
  if over > 0 then
    local oldest = tonumber(redis.call('ZRANGE', KEYS[i], over - 1, over - 1, 'WITHSCORES')[2])
    local w = math.min(oldest, now) + span - now
    if w > wait then wait, binding = w, i end
  end
end
if wait > 0 then return {math.ceil(wait), binding} end
local hold = tonumber(ARGV[2])
for i = 2, #KEYS do
  local a = 3 * i - 3
  for j = 1, tonumber(ARGV[a + 2]) do
    redis.call('ZADD', KEYS[i], now + hold, ARGV[1] .. '#' .. j)
  end
  redis.call('PEXPIRE', KEYS[i], math.ceil((hold + tonumber(ARGV[a + 1])) / 1000))
end
return {0, 0}
"""

# KEYS windows; ARGV[1] slot token, then per window: span (µs), slots. Dates the slot now.
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  local span, need = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  for j = 1, need do
    redis.call('ZADD', KEYS[i], now, ARGV[1] .. '#' .. j)
  end
  local keep = math.ceil(span / 1000)
  if redis.call('PTTL', KEYS[i]) < keep then redis.call('PEXPIRE', KEYS[i], keep) end
end
return 0
"""

# KEYS[1] pause key; ARGV[1] milliseconds. Lengthens a pause, never shortens one.
_PAUSE = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 0
"""


# ----- the rule, pure -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Window:
    """A sliding window: at most `limit` sends in any `span` seconds; `need` slots wanted.

    `scores` are the send times in it; a send still in flight is dated in the future.
    """

    limit: int
    span: float
    scores: tuple[float, ...] = ()
    need: int = 1


def slot_wait(windows: Iterable[Window], now: float, paused_for: float = 0.0) -> float:
    """Seconds to wait before a send fits every window (0: send now). Mirrors `_RESERVE`.

    A send leaves a window `span` after its time; one still in flight is counted as if it
    finished now, so the answer is a lower bound the caller re-checks after waiting.
    """
    wait = max(paused_for, 0.0)
    for window in windows:
        live = sorted(score for score in window.scores if score > now - window.span)
        over = len(live) + window.need - window.limit
        if over > 0:
            wait = max(wait, min(live[over - 1], now) + window.span - now)
    return wait


def chat_scope(chat_id: object) -> tuple[str, bool] | None:
    """A chat's window name and whether it is a group or channel; None without a chat."""
    if chat_id is None or isinstance(chat_id, bool):
        return None
    text = str(chat_id).strip()
    if not text:
        return None
    if text.lstrip("-").isascii() and text.lstrip("-").isdigit():
        number = int(text)
        return str(number), number < 0
    return text.lower(), True  # "@username": only supergroups and channels have one


def message_count(endpoint: str, data: JSONDict) -> int:
    """How many messages a request puts in a chat (an album or a batch copy is several)."""
    field = _BATCHES.get(endpoint)
    items = data.get(field) if field else None
    return len(items) if isinstance(items, list | tuple) and items else 1


def retry_seconds(retry_after: dt.timedelta | float) -> float:
    """`RetryAfter.retry_after` in seconds: a timedelta with PTB_TIMEDELTA=1, else a number."""
    if isinstance(retry_after, dt.timedelta):
        return retry_after.total_seconds()
    return float(retry_after)


# ----- the limiter --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One window a request counts toward: its key, limit, span (seconds) and slots."""

    key: str
    limit: int
    span: float
    need: int = 1


@dataclass(frozen=True, slots=True)
class Wait:
    """No slot yet: try again in `seconds`; `key` names the window (or pause) that binds."""

    seconds: float
    key: str


@dataclass(frozen=True, slots=True)
class Reservation:
    """Slots taken for one request, to be dated at its completion by `settle`."""

    token: str
    rules: tuple[Rule, ...]


def _micros(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1_000_000))


class RedisRateLimiter(BaseRateLimiter[int]):
    """Holds every process's Telegram sends within shared sliding windows in Redis.

    `rate_limit_args` (an int), when given to a bot method, overrides
    `max_retry_after_retries` for that request (PTB drops a falsy value: 0 cannot be sent).
    """

    __slots__ = (
        "_group_window",
        "_hold",
        "_max_retries",
        "_on_retry_after",
        "_pause",
        "_per_chat_per_second",
        "_per_group",
        "_per_second",
        "_reserve",
        "_settle",
        "_shared",
        "_turn",
    )

    def __init__(
        self,
        redis: Redis,
        *,
        per_second: int = 30,
        per_chat_per_second: float = 1.0,
        per_group_per_minute: int = 20,
        max_retry_after_retries: int = 20,
        on_retry_after: Callable[[float], None] | None = None,
        group_window: float = 60.0,
        hold: float = 30.0,
    ) -> None:
        if per_second < 1:
            raise ValueError("per_second must be at least 1")
        if per_chat_per_second < 0 or per_group_per_minute < 0 or max_retry_after_retries < 0:
            raise ValueError("per-chat and per-group limits and retries cannot be negative")
        if group_window <= 0 or hold <= 0:
            raise ValueError("group_window and hold must be positive")
        self._per_second = per_second
        self._per_chat_per_second = per_chat_per_second
        self._per_group = per_group_per_minute
        self._group_window = group_window
        self._hold = hold
        self._max_retries = max_retry_after_retries
        self._on_retry_after = on_retry_after
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)
        self._pause = redis.register_script(_PAUSE)
        self._shared = frozenset({keys.telegram_pause(), keys.telegram_rate("global")})
        self._turn = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        redis: Redis,
        settings: DeliverySettings,
        on_retry_after: Callable[[float], None] | None = None,
    ) -> RedisRateLimiter:
        """The limiter the config asks for."""
        return cls(
            redis,
            per_second=settings.per_second,
            per_chat_per_second=settings.per_chat_per_second,
            per_group_per_minute=settings.per_group_per_minute,
            hold=settings.slot_hold,
            on_retry_after=on_retry_after,
        )

    async def initialize(self) -> None:
        """Nothing to open: the Redis client belongs to the caller."""

    async def shutdown(self) -> None:
        """Nothing to close: the Redis client belongs to the caller."""

    def plan(self, endpoint: str, data: JSONDict) -> tuple[Rule, ...]:
        """The windows a request counts toward; empty when it passes straight through."""
        if endpoint not in LIMITED:
            return ()
        count = message_count(endpoint, data)
        rules = [Rule(keys.telegram_rate("global"), self._per_second, 1.0, count)]
        scope = chat_scope(data.get("chat_id"))
        if scope is not None:
            name, group = scope
            if self._per_chat_per_second > 0:
                span = 1.0 / self._per_chat_per_second
                rules.append(Rule(keys.telegram_rate(f"chat:{name}"), 1, span))
            if group and self._per_group > 0:
                key = keys.telegram_rate(f"group:{name}")
                rules.append(Rule(key, self._per_group, self._group_window))
        return tuple(Rule(r.key, r.limit, r.span, min(r.need, r.limit)) for r in rules)

    async def try_reserve(self, rules: Sequence[Rule]) -> Reservation | Wait:
        """Take a slot in every window at once, or say how long to wait and for which key."""
        token = uuid.uuid4().hex
        args: list[str | int] = [token, _micros(self._hold)]
        for rule in rules:
            args += [rule.limit, _micros(rule.span), rule.need]
        script_keys = [keys.telegram_pause(), *(rule.key for rule in rules)]
        try:
            micros, binding = await self._reserve(keys=script_keys, args=args)
        except RedisError as e:
            raise StorageError(f"cannot reserve a Telegram send slot in Redis: {e}") from e
        if int(micros) > 0:
            return Wait(int(micros) / 1_000_000, script_keys[int(binding) - 1])
        return Reservation(token, tuple(rules))

    async def reserve(self, rules: Sequence[Rule]) -> Reservation:
        """Wait (sleeping, never spinning) until a slot is free in every window; take it.

        This process's waiters queue in turn for the shared windows (overall and pause), so
        one of them asks Redis when a slot frees rather than all at once; a waiter held by
        its own chat's window waits outside the queue, holding nobody up.
        """
        while True:
            async with self._turn:
                answer = await self.try_reserve(rules)
                while isinstance(answer, Wait) and answer.key in self._shared:
                    await asyncio.sleep(answer.seconds)
                    answer = await self.try_reserve(rules)
            if isinstance(answer, Reservation):
                return answer
            await asyncio.sleep(answer.seconds)

    async def settle(self, reservation: Reservation) -> None:
        """Date a finished request's slots at its completion, starting their window."""
        args: list[str | int] = [reservation.token]
        for rule in reservation.rules:
            args += [_micros(rule.span), rule.need]
        try:
            await self._settle(keys=[rule.key for rule in reservation.rules], args=args)
        except RedisError as e:  # the send happened: never fail it; the hold runs out alone
            log.warning("could not settle a Telegram send slot in Redis: %s", e)

    async def pause(self, seconds: float) -> bool:
        """Hold every process's sends for `seconds` (Telegram answered 429); False if not shared."""
        millis = max(1, math.ceil(seconds * 1000))
        try:
            await self._pause(keys=[keys.telegram_pause()], args=[millis])
        except RedisError as e:
            log.warning("could not share a Telegram pause through Redis: %s", e)
            return False
        return True

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        """Send when every window has room; on a 429 pause everyone and send it again."""
        rules = self.plan(endpoint, data)
        if not rules:
            return await callback(*args, **kwargs)
        retries_left = self._max_retries if rate_limit_args is None else rate_limit_args
        while True:
            reservation = await self.reserve(rules)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as e:
                seconds = retry_seconds(e.retry_after)
                log.warning(
                    "Telegram answered %s with 429 (retry after %s s) although the limiter "
                    "held its windows: a bug to fix; pausing every process",
                    endpoint,
                    seconds,
                )
                if self._on_retry_after is not None:
                    self._on_retry_after(seconds)
                shared = await self.pause(seconds)  # whether or not this request retries
                if retries_left <= 0:
                    raise
                retries_left -= 1
                if not shared:
                    await asyncio.sleep(seconds)
            finally:
                await self.settle(reservation)
