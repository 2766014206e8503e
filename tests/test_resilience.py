"""Faults the bot must ride out: Redis restarting mid-broadcast, webhook mode, abusive users."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from pathlib import Path

import aiohttp
import redis.asyncio as aioredis

from bot import keys
from bot.embedded import EmbeddedServer
from tests.botrun import ADMIN, _logged, running_bot
from tests.fakes.botapi import FakeBotApi
from tests.fakes.tghtml import parse_telegram_html
from tests.test_bot import eventually
from tests.test_delivery import FAST, _broadcast, _report_text, _wait_report, subscribe_many, texts


async def test_redis_restart_mid_broadcast_loses_nothing(tmp_path: Path) -> None:
    """The bot keeps going while its Redis restarts; the broadcast finishes; admins hear."""
    data = tmp_path / "redis"
    server = EmbeddedServer(data)
    again = EmbeddedServer(data)
    url = server.attach()
    fake = FakeBotApi()
    await fake.start()
    try:
        client = aioredis.Redis.from_url(url, decode_responses=True)
        chats = range(9000, 9080)
        await subscribe_many(client, chats)
        await client.aclose()
        fake.enforce_limits(global_per_second=30, per_chat_per_second=1, per_group_per_minute=20)
        extra = FAST + "per_second = 20\n"
        bot_dir = tmp_path / "bot"
        bot_dir.mkdir()
        async with running_bot(bot_dir, url, extra_config=extra, fake=fake) as bot:
            await _broadcast(bot, "Through the outage")
            await fake.wait_for(lambda f: len([c for c in chats if f.sent(c)]) >= 15, 30)
            server.leave()  # the last user: the server shuts down (AOF flushed)
            await _logged(bot.log, "Redis unreachable")  # the bot noticed, and keeps going
            assert again.attach() == url
            await _wait_report(bot)
            assert "sent 80" in _report_text(bot)
            told = [parse_telegram_html(str(m["text"]))[0] for m in fake.sent(ADMIN)]
            assert any("Redis was unreachable" in t for t in told)
        copies = Counter({c: len(texts(fake, c)) for c in chats})
        assert min(copies.values()) == 1  # nobody lost
        assert sum(copies.values()) - len(chats) <= 4  # duplicates only for sends in flight
        assert fake.too_many == 0
    finally:
        server.leave()
        again.leave()
        await fake.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_verifies_the_secret_token(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    port = free_port()
    webhook = f"http://127.0.0.1:{port}/telegram"
    extra = (
        f'[telegram]\nwebhook_url = "{webhook}"\nwebhook_listen = "127.0.0.1"\n'
        f'webhook_port = {port}\nwebhook_secret = "s3cret-Token_1"\n'
    )
    fake = FakeBotApi()
    await fake.start()
    async with running_bot(tmp_path, redis_url, extra_config=extra, fake=fake, wait_updates=False):
        await fake.wait_for(lambda f: f.webhook, 30)
        assert fake.webhook is not None and fake.webhook["url"] == webhook
        fake.inject_message(42, "/help")
        await fake.wait_for(lambda f: f.sent(42), 30)
        async with aiohttp.ClientSession() as session:
            forged = {
                "update_id": 999,
                "message": {
                    "message_id": 1,
                    "date": 1,
                    "chat": {"id": 43, "type": "private"},
                    "text": "/help",
                },
            }
            async with session.post(webhook, json=forged) as response:
                assert response.status == 403  # no secret header: refused
        assert fake.sent(43) == []
        assert not fake.calls_to("getUpdates")
    await fake.stop()


async def test_a_flooding_user_is_told_once_and_others_are_served(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    extra = "[telegram]\ncommands_per_minute = 5\n"
    async with running_bot(tmp_path, redis_url, extra_config=extra) as bot:
        for _ in range(9):
            bot.fake.inject_message(66, "/help")
        await bot.fake.wait_for(lambda f: len(f.sent(66)) >= 6, 30)
        await bot.command(67, "/help")  # another user is still answered
        answers = [parse_telegram_html(str(m["text"]))[0] for m in bot.fake.sent(66)]
        await eventually(lambda: _no_pending(bot.fake))
    assert len([a for a in answers if a.startswith("Commands")]) == 5
    assert len([a for a in answers if "Too many commands" in a]) == 1
    assert len(bot.fake.sent(66)) == 6


async def _no_pending(fake: FakeBotApi) -> bool:
    await asyncio.sleep(0)
    return fake.pending_updates == 0


async def test_broadcast_cancel_skips_the_rest(
    tmp_path: Path, redis_url: str, redis: aioredis.Redis
) -> None:
    chats = range(9500, 9560)
    await subscribe_many(redis, chats)
    fake = FakeBotApi()
    await fake.start()
    fake.enforce_limits(global_per_second=10, per_chat_per_second=1, per_group_per_minute=20)
    async with running_bot(
        tmp_path, redis_url, extra_config=FAST + "per_second = 5\n", fake=fake
    ) as bot:
        await _broadcast(bot, "Stop me")
        await fake.wait_for(lambda f: len([c for c in chats if f.sent(c)]) >= 3, 30)
        reply = await bot.command(ADMIN, "/broadcast_cancel")
        assert "stopped" in parse_telegram_html(str(reply["text"]))[0]
        await _wait_report(bot)
        report = _report_text(bot)
        assert "cancelled" in report
    delivered = len([c for c in chats if fake.sent(c)])
    assert 3 <= delivered < len(chats)
    assert await redis.scard(keys.broadcasts_active()) == 0
    await fake.stop()
