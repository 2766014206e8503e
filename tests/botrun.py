"""Running the real bot process (``python -m bot run``) against the fake Bot API in tests."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.botapi import FakeBotApi

TOKEN = "123456:TEST-token-for-the-fake-bot-api"
ADMIN = 777


@dataclass
class BotRun:
    fake: FakeBotApi
    process: asyncio.subprocess.Process
    log: Path

    def sent_texts(self, chat_id: int) -> list[str]:
        return [str(m.get("text", m.get("caption", ""))) for m in self.fake.sent(chat_id)]

    async def wait_sent(self, chat_id: int, count: int = 1) -> list[dict[str, Any]]:
        """The messages sent to ``chat_id`` once there are at least ``count`` of them."""
        found: list[dict[str, Any]] = await self.fake.wait_for(
            lambda f: f.sent(chat_id) if len(f.sent(chat_id)) >= count else None, 15
        )
        return found

    async def command(self, chat_id: int, text: str, **kwargs: Any) -> dict[str, Any]:
        """Send ``text`` from ``chat_id`` and return the bot's next message to that chat."""
        before = len(self.fake.sent(chat_id))
        self.fake.inject_message(chat_id, text, **kwargs)
        return (await self.wait_sent(chat_id, before + 1))[before]

    async def press(self, chat_id: int, user_id: int, data: str, message_id: int) -> None:
        """Press a button and wait until the bot answered the callback query."""
        update_id = self.fake.inject_callback(chat_id, user_id, data, message_id)
        await self.fake.wait_for(
            lambda f: any(
                c.params.get("callback_query_id") == f"cb{update_id}"
                for c in f.calls_to("answerCallbackQuery")
            )
        )


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


async def _logged(log: Path, text: str) -> None:
    """Wait until the bot's log shows ``text`` (a process that does not poll updates)."""
    deadline = asyncio.get_running_loop().time() + 30
    while text not in _read(log):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the bot never logged {text!r}")
        await asyncio.sleep(0.05)


def write_config(
    folder: Path, feeds: Sequence[str] = (), extra: str = "", polling: dict[str, str] | None = None
) -> Path:
    """A config file; ``polling`` holds TOML values (``{"interval": '"2s"'}``) over defaults."""
    values = {"interval": '"1h"', "timeout": '"5s"', **(polling or {})}
    lines = [
        extra,
        '[redis]\ndata_dir = "data"\n',
        "[polling]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()),
    ]
    lines += [f'[[feeds]]\nurl = "{url}"\nname = "Feed {i}"\n' for i, url in enumerate(feeds)]
    path = folder / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@asynccontextmanager
async def running_bot(
    tmp_path: Path,
    redis_url: str,
    *,
    feeds: Sequence[str] = (),
    extra_config: str = "",
    admins: str = str(ADMIN),
    fake: FakeBotApi | None = None,
    polling: dict[str, str] | None = None,
    wait_updates: bool = True,
    killed: bool = False,
) -> AsyncIterator[BotRun]:
    """The bot process talking to a fake Bot API; stopped with SIGTERM, which must exit 0
    (unless the test ``killed`` it with SIGKILL)."""
    own_fake = fake is None
    api = fake or FakeBotApi()
    if own_fake:
        await api.start()
    config = write_config(tmp_path, feeds, extra_config, polling)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "CENSORWIRE_"))}
    env.update(
        CENSORWIRE_CONFIG=str(config),
        TELEGRAM_TOKEN=TOKEN,
        TELEGRAM_API_BASE_URL=api.root,
        REDIS_URL=redis_url,
        CENSORWIRE_ADMINS=admins,
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "bot.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env, stdout=out, stderr=out
        )
    run = BotRun(api, process, log)
    try:
        if wait_updates:
            await api.wait_for(lambda f: f.calls_to("getUpdates"), timeout=30)
        else:
            await _logged(log, "CensorWire is running")
        yield run
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
                await process.wait()
        if own_fake:
            await api.stop()
    expected = -signal.SIGKILL if killed else 0
    assert process.returncode == expected, log.read_text(errors="replace")[-3000:]
