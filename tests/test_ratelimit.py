"""The Redis-backed Telegram rate limiter: the window rule, its Lua twin, and real sends.

End-to-end tests run python-telegram-bot against the fake Bot API enforcing Telegram's
limits strictly (no burst tolerance), scaled up so they are short, and count 429 answers
and deliveries; none asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import cast

import pytest
import redis.asyncio as aioredis
from telegram.error import Forbidden, RetryAfter
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from bot import keys
from bot.ratelimit import (
    RedisRateLimiter,
    Reservation,
    Wait,
    Window,
    chat_scope,
    message_count,
    retry_seconds,
    slot_wait,
)
from tests.fakes.botapi import FakeBotApi

TOKEN = "123456:TEST-token"
GLOBAL = keys.telegram_rate("global")


# ----- the rule, pure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("windows", "now", "paused_for", "wait"),
    [
        ([], 10.0, 0.0, 0.0),
        ([Window(3, 1.0, (9.5, 9.6))], 10.0, 0.0, 0.0),  # room for one more
        ([Window(3, 1.0, (9.2, 9.5, 9.9))], 10.0, 0.0, 0.2),  # full until 9.2 leaves
        ([Window(2, 1.0, (8.9, 9.5))], 10.0, 0.0, 0.0),  # 8.9 already left the window
        ([Window(1, 1.0, (9.0,))], 10.0, 0.0, 0.0),  # exactly one span ago: gone
        ([Window(1, 1.0, (40.0,))], 10.0, 0.0, 1.0),  # in flight: a span after it ends
        ([Window(3, 1.0, (9.5,), need=2)], 10.0, 0.0, 0.0),  # an album of two fits
        ([Window(3, 1.0, (9.5, 9.6), need=2)], 10.0, 0.0, 0.5),  # it needs 9.5 gone
        ([Window(20, 60.0, tuple(float(t) for t in range(20)))], 30.0, 0.0, 30.0),  # group
        (
            [Window(30, 1.0, (9.5,)), Window(1, 1.0, (9.7,)), Window(20, 60.0, (0.0,))],
            10.0,
            0.0,
            0.7,  # the chat's own second binds
        ),
        ([Window(30, 1.0, ())], 10.0, 2.0, 2.0),  # everybody waits out a 429 pause
        ([Window(1, 1.0, (9.9,))], 10.0, 0.5, 0.9),  # the longer of pause and window
    ],
)
def test_the_window_rule(windows: list[Window], now: float, paused_for: float, wait: float) -> None:
    assert slot_wait(windows, now, paused_for) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("chat_id", "scope"),
    [
        (42, ("42", False)),
        ("42", ("42", False)),
        (-5, ("-5", True)),  # a basic group
        (-1001234567890, ("-1001234567890", True)),  # a supergroup or channel
        ("@CensorWireNews", ("@censorwirenews", True)),  # only channels/supergroups have one
        (None, None),  # e.g. an edit by inline_message_id
    ],
)
def test_chat_scope(chat_id: object, scope: tuple[str, bool] | None) -> None:
    assert chat_scope(chat_id) == scope


@pytest.mark.parametrize(
    ("endpoint", "data", "count"),
    [
        ("sendMessage", {"chat_id": 1, "text": "x"}, 1),
        ("sendMediaGroup", {"chat_id": 1, "media": ["a", "b", "c"]}, 3),
        ("forwardMessages", {"chat_id": 1, "message_ids": [1, 2]}, 2),
        ("copyMessage", {"chat_id": 1, "message_id": 7}, 1),
    ],
)
def test_albums_count_one_per_message(endpoint: str, data: dict[str, object], count: int) -> None:
    assert message_count(endpoint, data) == count


@pytest.mark.parametrize(
    ("retry_after", "seconds"),
    [(dt.timedelta(seconds=3), 3.0), (dt.timedelta(milliseconds=1500), 1.5), (2, 2.0), (0.5, 0.5)],
)
def test_retry_after_in_seconds(retry_after: dt.timedelta | float, seconds: float) -> None:
    assert retry_seconds(retry_after) == seconds


@pytest.mark.parametrize(
    ("endpoint", "data", "scopes"),
    [
        ("sendMessage", {"chat_id": 42}, ["global", "chat:42"]),
        ("sendMessage", {"chat_id": -5}, ["global", "chat:-5", "group:-5"]),
        ("sendPhoto", {"chat_id": "@Chan"}, ["global", "chat:@chan", "group:@chan"]),
        ("editMessageText", {"chat_id": 42, "message_id": 1}, ["global", "chat:42"]),
        ("editMessageText", {"inline_message_id": "abc"}, ["global"]),
        ("getUpdates", {}, []),
        ("answerCallbackQuery", {"callback_query_id": "1"}, []),
        ("sendChatAction", {"chat_id": 42, "action": "typing"}, []),
        ("getChatMember", {"chat_id": -5, "user_id": 1}, []),
        ("setMyCommands", {"commands": []}, []),
    ],
)
def test_which_requests_count_toward_which_windows(
    redis: aioredis.Redis, endpoint: str, data: dict[str, object], scopes: list[str]
) -> None:
    rules = RedisRateLimiter(redis).plan(endpoint, data)
    assert [rule.key for rule in rules] == [keys.telegram_rate(scope) for scope in scopes]
    assert all("{tg}" in rule.key for rule in rules)  # one hash slot: one Lua call on Cluster
    assert "{tg}" in keys.telegram_pause()


def test_config_values_become_windows(redis: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(
        redis, per_second=30, per_chat_per_second=0.5, per_group_per_minute=20
    )
    rules = limiter.plan("sendMediaGroup", {"chat_id": -5, "media": ["a"] * 40})
    assert [(r.limit, r.span, r.need) for r in rules] == [
        (30, 1.0, 30),  # an album bigger than the limit waits for an empty second
        (1, 2.0, 1),  # 0.5 a second: one send every two seconds
        (20, 60.0, 1),
    ]


# ----- the Lua script against real Redis ----------------------------------------------------


@pytest.fixture
async def other_redis(redis: aioredis.Redis, redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A second client on the same database: a second bot process."""
    client: aioredis.Redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def redis_now(redis: aioredis.Redis) -> float:
    seconds, micros = await redis.time()
    return seconds + micros / 1_000_000


@pytest.mark.parametrize(
    ("kind", "ages", "pause", "allowed_wait", "binding"),
    [
        ("global", [-1.5, -0.5], 0.0, 0.0, None),  # one left the window: room for the third
        ("global", [-0.2, -0.2, -0.2], 0.0, 0.8, "global"),
        ("chat", [-30.0], 0.0, 70.0, "chat:-5"),  # per chat 0.01/s: one send per 100 s
        ("chat", [30.0], 0.0, 100.0, "chat:-5"),  # still in flight
        ("group", [-95.0, -10.0], 0.0, 105.0, "group:-5"),  # two in the group's 200 s
        ("group", [-190.0, -30.0], 0.0, 70.0, "chat:-5"),  # the chat's 100 s bind over 10 s
        ("none", [], 5.0, 5.0, "pause"),  # a shared pause after a 429
    ],
)
async def test_the_lua_script_follows_the_rule(
    redis: aioredis.Redis,
    kind: str,
    ages: list[float],
    pause: float,
    allowed_wait: float,
    binding: str | None,
) -> None:
    limiter = RedisRateLimiter(
        redis, per_second=3, per_chat_per_second=0.01, per_group_per_minute=2, group_window=200
    )
    rules = limiter.plan("sendMessage", {"chat_id": -5})
    now = await redis_now(redis)
    key = {"global": GLOBAL, "chat": rules[1].key, "group": rules[2].key, "none": ""}[kind]
    for n, age in enumerate(ages):
        await redis.zadd(key, {f"old{n}": round((now + age) * 1_000_000)})
    if kind == "group":  # the group's sends are the chat's sends too
        await redis.zadd(rules[1].key, {"old": round((now + max(ages)) * 1_000_000)})
    if pause:
        await limiter.pause(pause)
    windows = [
        Window(r.limit, r.span, tuple(s / 1e6 for _, s in await scores(redis, r.key)), r.need)
        for r in rules
    ]
    expected = slot_wait(windows, now, pause)
    assert expected == pytest.approx(allowed_wait)
    answer = await limiter.try_reserve(rules)
    if binding is None:
        assert isinstance(answer, Reservation)
    else:
        assert isinstance(answer, Wait)
        assert answer.seconds == pytest.approx(expected, abs=0.1)  # Redis's clock moved on
        pause_key = keys.telegram_pause()
        assert answer.key == (pause_key if binding == "pause" else keys.telegram_rate(binding))


async def scores(redis: aioredis.Redis, key: str) -> list[tuple[str, float]]:
    return cast(list[tuple[str, float]], await redis.zrange(key, 0, -1, withscores=True))


async def test_overall_chat_and_group_windows_in_redis(redis: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(redis, per_second=3, per_group_per_minute=2)
    first = [await limiter.try_reserve(limiter.plan("sendMessage", {"chat_id": c})) for c in (1, 2)]
    assert all(isinstance(a, Reservation) for a in first)
    again = await limiter.try_reserve(limiter.plan("sendMessage", {"chat_id": 1}))
    assert isinstance(again, Wait)  # the chat's second, though the overall window has room
    assert again.key == keys.telegram_rate("chat:1")
    group = await limiter.try_reserve(limiter.plan("sendMessage", {"chat_id": -7}))
    assert isinstance(group, Reservation)
    fourth = await limiter.try_reserve(limiter.plan("sendMessage", {"chat_id": 3}))
    assert isinstance(fourth, Wait)  # three in this second overall
    assert fourth.key == GLOBAL and 0 < fourth.seconds <= 1.0
    assert await redis.zcard(GLOBAL) == 3  # a refused send reserves nothing


async def test_a_group_waits_for_its_minute(redis: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(redis, per_second=30, per_chat_per_second=0, per_group_per_minute=2)
    rules = limiter.plan("sendMessage", {"chat_id": -7})
    for _ in range(2):
        slot = await limiter.try_reserve(rules)
        assert isinstance(slot, Reservation)
        await limiter.settle(slot)
    wait = await limiter.try_reserve(rules)
    assert isinstance(wait, Wait) and 55 < wait.seconds <= 60
    private = await limiter.try_reserve(limiter.plan("sendMessage", {"chat_id": 7}))
    assert isinstance(private, Reservation)  # private chats have no minute window


async def test_a_slot_is_in_flight_until_settled(redis: aioredis.Redis) -> None:
    limiter = RedisRateLimiter(redis, hold=30)
    slot = await limiter.try_reserve(limiter.plan("sendMessage", {"chat_id": 1}))
    assert isinstance(slot, Reservation)
    before = await redis_now(redis)
    [(_, in_flight)] = await scores(redis, GLOBAL)
    assert in_flight / 1e6 > before + 29  # counted until it returns (or a crashed one's hold)
    await limiter.settle(slot)
    [(_, done)] = await scores(redis, GLOBAL)
    assert before <= done / 1e6 <= await redis_now(redis)
    assert await redis.pttl(GLOBAL) > 0


async def test_a_pause_holds_every_process_and_is_never_shortened(
    redis: aioredis.Redis, other_redis: aioredis.Redis
) -> None:
    mine, theirs = RedisRateLimiter(redis), RedisRateLimiter(other_redis)
    assert await mine.pause(5.0)
    assert await mine.pause(1.0)  # a shorter 429 later does not cut the first short
    wait = await theirs.try_reserve(theirs.plan("sendMessage", {"chat_id": 9}))
    assert isinstance(wait, Wait) and 4 < wait.seconds <= 5


# ----- python-telegram-bot against the fake Bot API ------------------------------------------


def make_bot(fake: FakeBotApi, limiter: RedisRateLimiter) -> ExtBot[int]:
    return ExtBot(
        TOKEN,
        base_url=f"{fake.root}/bot",
        base_file_url=f"{fake.root}/file/bot",
        request=HTTPXRequest(connection_pool_size=128),
        rate_limiter=limiter,
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


async def test_a_broadcast_stays_within_the_overall_limit(
    fake: FakeBotApi, redis: aioredis.Redis
) -> None:
    fake.enforce_limits(global_per_second=50, per_chat_per_second=1)
    async with make_bot(fake, RedisRateLimiter(redis, per_second=50)) as bot:
        await asyncio.gather(*(bot.send_message(chat, f"news {chat}") for chat in range(1, 101)))
    assert fake.too_many == 0
    assert len(fake.sent()) == 100
    assert all(len(fake.sent(chat)) == 1 for chat in range(1, 101))


async def test_two_processes_together_stay_within_every_limit(
    fake: FakeBotApi, redis: aioredis.Redis, other_redis: aioredis.Redis
) -> None:
    """Each chat gets one message from each process: the chat window is shared too."""
    fake.enforce_limits(global_per_second=50, per_chat_per_second=1)
    one = make_bot(fake, RedisRateLimiter(redis, per_second=50))
    two = make_bot(fake, RedisRateLimiter(other_redis, per_second=50))
    async with one, two:
        sends = [
            bot.send_message(chat, name)
            for chat in range(1, 51)
            for bot, name in ((one, "one"), (two, "two"))
        ]
        await asyncio.gather(*sends)
    assert fake.too_many == 0
    assert all(sorted(s["text"] for s in fake.sent(c)) == ["one", "two"] for c in range(1, 51))


async def test_parts_of_a_digest_reach_each_chat_in_order(
    fake: FakeBotApi, redis: aioredis.Redis
) -> None:
    fake.enforce_limits(global_per_second=50, per_chat_per_second=1)

    async def digest(bot: ExtBot[int], chat: int) -> None:
        for part in ("1/3", "2/3", "3/3"):
            await bot.send_message(chat, part)

    async with make_bot(fake, RedisRateLimiter(redis, per_second=50)) as bot:
        await asyncio.gather(*(digest(bot, chat) for chat in range(1, 21)))
    assert fake.too_many == 0
    assert all([s["text"] for s in fake.sent(c)] == ["1/3", "2/3", "3/3"] for c in range(1, 21))


def scaled_clock(factor: float) -> Callable[[], float]:
    """The fake's flood-window clock running `factor` times faster than the event loop."""
    return lambda: asyncio.get_running_loop().time() * factor


async def test_groups_get_at_most_their_share_per_window(redis: aioredis.Redis) -> None:
    """The fake's minute passes in 2 s (its clock runs 30× fast); ours is 2 s as well."""
    async with FakeBotApi(monotonic=scaled_clock(30)) as fake:
        fake.enforce_limits(global_per_second=1000, per_chat_per_second=1, per_group_per_minute=3)
        limiter = RedisRateLimiter(
            redis, per_chat_per_second=4, per_group_per_minute=3, group_window=2.0
        )
        async with make_bot(fake, limiter) as bot:
            sends = [bot.send_message(group, f"{n}") for group in (-5, -6) for n in range(5)]
            await asyncio.gather(*sends)
        assert fake.too_many == 0
        assert len(fake.sent(-5)) == len(fake.sent(-6)) == 5


@pytest.mark.parametrize(
    ("limiter_args", "chats", "group_window_clock"),
    [
        ({"per_second": 200}, list(range(1, 101)), 1.0),  # overall limit left to Telegram
        ({"per_chat_per_second": 4, "per_group_per_minute": 0}, [-5] * 4, 30.0),  # 4th: 429
    ],
)
async def test_without_our_windows_the_fake_does_answer_429(
    redis: aioredis.Redis,
    limiter_args: dict[str, float],
    chats: list[int],
    group_window_clock: float,
) -> None:
    """The control for the tests above: their strict fake really catches a loose limiter."""
    async with FakeBotApi(monotonic=scaled_clock(group_window_clock)) as fake:
        per_second = 50 if group_window_clock == 1.0 else 1000
        fake.enforce_limits(global_per_second=per_second, per_group_per_minute=3)
        limiter = RedisRateLimiter(redis, max_retry_after_retries=0, **limiter_args)  # type: ignore[arg-type]
        async with make_bot(fake, limiter) as bot:
            results = await asyncio.gather(
                *(bot.send_message(c, "x") for c in chats),
                return_exceptions=True,
            )
    assert fake.too_many > 0
    assert sum(isinstance(r, RetryAfter) for r in results) == fake.too_many


async def test_a_429_is_waited_out_and_the_message_delivered_once(
    fake: FakeBotApi, redis: aioredis.Redis
) -> None:
    hits: list[float] = []
    fake.fail_next("sendMessage", "429", retry_after=1)
    async with make_bot(fake, RedisRateLimiter(redis, on_retry_after=hits.append)) as bot:
        await bot.send_message(42, "alert")
    assert hits == [1.0]
    assert [call.status for call in fake.calls_to("sendMessage")] == [429, 200]
    assert [s["text"] for s in fake.sent(42)] == ["alert"]


async def test_repeated_429s_end_in_the_error_after_the_retry_budget(
    fake: FakeBotApi, redis: aioredis.Redis
) -> None:
    hits: list[float] = []
    fake.fail_next("sendMessage", "429", count=3, retry_after=1)
    limiter = RedisRateLimiter(redis, max_retry_after_retries=0, on_retry_after=hits.append)
    async with make_bot(fake, limiter) as bot:
        with pytest.raises(RetryAfter):
            await bot.send_message(42, "alert")
        with pytest.raises(RetryAfter):
            await bot.send_message(43, "alert", rate_limit_args=1)  # this one retries once
    assert hits == [1.0, 1.0, 1.0]
    assert fake.sent() == []
    assert await redis.pttl(keys.telegram_pause()) > 0  # the others still hold back


async def test_other_errors_pass_unchanged_and_free_the_slot(
    fake: FakeBotApi, redis: aioredis.Redis
) -> None:
    fake.fail_next("sendMessage", "forbidden")
    async with make_bot(fake, RedisRateLimiter(redis)) as bot:
        with pytest.raises(Forbidden):
            await bot.send_message(42, "hello")
    [(_, score)] = await scores(redis, keys.telegram_rate("chat:42"))
    assert score / 1e6 <= await redis_now(redis)  # settled, not held for the crash timeout


async def test_requests_that_do_not_send_pass_straight_through(
    fake: FakeBotApi, redis: aioredis.Redis
) -> None:
    limiter = RedisRateLimiter(redis)
    async with make_bot(fake, limiter) as bot:
        await limiter.pause(600)  # sends would wait ten minutes
        await asyncio.wait_for(bot.send_chat_action(42, "typing"), 5)
        await asyncio.wait_for(bot.get_chat_member(-5, 42), 5)
        await asyncio.wait_for(bot.get_me(), 5)
    assert await redis.keys("cw:rate:*") == [keys.telegram_pause()]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"per_second": 0},
        {"per_chat_per_second": -1.0},
        {"per_group_per_minute": -1},
        {"max_retry_after_retries": -1},
        {"group_window": 0.0},
        {"hold": 0.0},
    ],
)
def test_impossible_limits_are_refused(redis: aioredis.Redis, kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RedisRateLimiter(redis, **kwargs)  # type: ignore[arg-type]
