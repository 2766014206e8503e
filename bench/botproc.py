"""Real bot processes (``python -m bot run``) for benchmarks: start, watch, measure, kill.

Each process gets its own folder (config, log) and its own metrics port, so the bench can
read per-process counters from ``/metrics``, CPU time from ``/proc/<pid>/stat`` and
resident memory from ``/proc/<pid>/status``. Every process started through a ``Fleet``
is killed when the fleet closes, whatever happened. ``CpuMeter`` puts the bots' CPU next
to Redis's, the bench's and everything else on the machine; ``until`` is a bounded wait;
``claim`` and ``subscribe`` prepare the bots' Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aioredis

from bot import subscriptions
from bot.subscriptions import Subscription
from tests.botrun import ADMIN, TOKEN, write_config

RUNNING = "CensorWire is running"
OWNER_MARK = "cwbench:owned"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak resident) of a live process, in MiB."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = round(int(value.split()[0]) / 1024, 1)
    return found


class BenchError(RuntimeError):
    """A scenario could not finish (timeout, a process died)."""


async def until(
    predicate: Callable[[], Any],
    timeout: float,  # noqa: ASYNC109
    what: str | Callable[[], str],
    every: float = 0.1,
    bots: Iterable[BotProcess] = (),
) -> Any:
    """Poll ``predicate`` until truthy; BenchError after ``timeout`` or if a bot died."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        said = what() if callable(what) else what
        for bot in bots:
            if not bot.alive:
                raise BenchError(f"bot {bot.name} died while waiting for {said}:\n{bot.log_tail()}")
        if loop.time() > deadline:
            raise BenchError(f"{said}: not within {timeout:g}s")
        await asyncio.sleep(every)


@dataclass
class BotProcess:
    """One running ``python -m bot run``."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    metrics_port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def log_tail(self, chars: int = 2000) -> str:
        return self.log_text()[-chars:]

    async def wait_logged(self, text: str, timeout: float) -> None:  # noqa: ASYNC109
        """Wait until the log shows ``text``; RuntimeError if the process dies or time runs out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while text not in self.log_text():
            if not self.alive:
                raise RuntimeError(
                    f"bot {self.name} exited with {self.process.returncode} before logging "
                    f"{text!r}:\n{self.log_tail()}"
                )
            if loop.time() > deadline:
                raise RuntimeError(
                    f"bot {self.name} did not log {text!r} within {timeout:g}s:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.1)

    async def metrics(self) -> dict[str, float]:
        """The process's Prometheus samples, summed over labels (name -> value)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as answer:
            body = await answer.text()
        samples: dict[str, float] = {}
        for line in body.splitlines():
            if not line or line.startswith("#"):
                continue
            name_labels, _, value = line.rpartition(" ")
            name = name_labels.split("{", 1)[0]
            samples[name] = samples.get(name, 0.0) + float(value)
        return samples

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """SIGTERM and wait (SIGKILL after ``timeout``); the exit code."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout)
            except TimeoutError:
                self.process.kill()
        return await self.process.wait()


@dataclass
class Fleet:
    """Starts bot processes against one fake Bot API and one Redis; kills them all at close."""

    folder: Path
    redis_url: str
    api_root: str
    delivery: dict[str, object] = field(default_factory=dict)
    processes: list[BotProcess] = field(default_factory=list)

    def config_text(self, metrics_port: int) -> str:
        lines = ["[delivery]"]
        for key, value in self.delivery.items():
            shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
            lines.append(f"{key} = {shown}")
        lines += ["", "[metrics]", f"port = {metrics_port}", ""]
        return "\n".join(lines)

    async def start(self, name: str) -> BotProcess:
        """Start a process (it is not waited for: see ``BotProcess.wait_logged``)."""
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = write_config(folder, extra=self.config_text(port))
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "CENSORWIRE_"))
        }
        env.update(
            CENSORWIRE_CONFIG=str(config),
            TELEGRAM_TOKEN=TOKEN,
            TELEGRAM_API_BASE_URL=self.api_root,
            REDIS_URL=self.redis_url,
            CENSORWIRE_ADMINS=str(ADMIN),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(Path.cwd()), env.get("PYTHONPATH")])),
        )
        log = folder / "bot.log"
        with log.open("ab") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=folder, env=env, stdout=out, stderr=out
            )
        bot = BotProcess(name, process, log, port)
        self.processes.append(bot)
        return bot

    async def close(self, grace: float = 30.0) -> dict[str, dict[str, float]]:
        """Stop every process (SIGTERM; SIGKILL after ``grace`` s): exit codes, seconds."""
        codes: dict[str, dict[str, float]] = {}
        for bot in self.processes:
            started = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                code = await bot.stop(grace)
                codes[bot.name] = {"exit": code, "stop_s": round(time.monotonic() - started, 1)}
        self.processes.clear()
        return codes


def machine_busy() -> float:
    """CPU seconds every process on the machine has used since boot (all cores)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


async def redis_cpu(client: aioredis.Redis) -> float:
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


class CpuMeter:
    """CPU seconds used from ``start`` on by the bots, Redis, this process and the others."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._bots: dict[str, float] = {}
        self._dead = 0.0
        self._dead_sent = 0
        self._redis = self._driver = self._machine = self._wall = 0.0

    async def start(self, bots: Iterable[BotProcess]) -> None:
        self._bots = {bot.name: cpu_seconds(bot.pid) for bot in bots}
        self._redis, self._driver = await redis_cpu(self._client), time.process_time()
        self._machine, self._wall = machine_busy(), time.monotonic()

    def add(self, bot: BotProcess) -> None:
        """A process started after ``start``: counted from now."""
        self._bots[bot.name] = cpu_seconds(bot.pid)

    async def dying(self, bot: BotProcess) -> dict[str, float]:
        """Call just before killing ``bot``: its sends and CPU so far, kept in the totals."""
        sent = int((await bot.metrics()).get("censorwire_messages_sent_total", 0))
        used = cpu_seconds(bot.pid) - self._bots.pop(bot.name, 0.0)
        self._dead += used
        self._dead_sent += sent
        return {"messages_sent": sent, "cpu_seconds": round(used, 1)}

    async def finish(self, bots: Iterable[BotProcess]) -> dict[str, Any]:
        """Per live process its sends (its /metrics) and CPU; Redis, bench, others, capacity."""
        wall = time.monotonic() - self._wall
        per_bot: dict[str, dict[str, float]] = {}
        for bot in bots:
            if bot.alive:
                samples = await bot.metrics()
                per_bot[bot.name] = {
                    "messages_sent": int(samples.get("censorwire_messages_sent_total", 0)),
                    "telegram_429": int(samples.get("censorwire_telegram_429_total", 0)),
                    "cpu_seconds": round(cpu_seconds(bot.pid) - self._bots.get(bot.name, 0), 1),
                }
        bots_cpu = sum(b["cpu_seconds"] for b in per_bot.values()) + self._dead
        redis = await redis_cpu(self._client) - self._redis
        driver = time.process_time() - self._driver
        others = machine_busy() - self._machine - bots_cpu - redis - driver
        sent = sum(b["messages_sent"] for b in per_bot.values()) + self._dead_sent
        return {
            "bots": per_bot,
            "bot_ms_per_message": round(1000 * bots_cpu / sent, 2) if sent else None,
            "redis": round(redis, 1),
            "bench_and_fake": round(driver, 1),
            "other_processes": round(others, 1),
            "machine_capacity": round(wall * (os.cpu_count() or 1), 1),
        }


async def claim(client: aioredis.Redis) -> None:
    """Flush the database, refusing one holding keys this bench did not write."""
    if await client.dbsize() and not await client.exists(OWNER_MARK):
        raise BenchError(
            "the Redis database holds keys this bench did not write; give an empty one"
        )
    await client.flushdb()
    await client.set(OWNER_MARK, "1")


async def subscribe(client: aioredis.Redis, chats: range, workers: int = 16) -> float:
    """Save a subscription for every chat (``subscriptions.save``); seconds it took."""
    started = time.monotonic()
    now = datetime.now(UTC)

    async def work(part: range) -> None:
        for chat in part:
            await subscriptions.save(
                client, Subscription(chat_id=chat, created=now.timestamp()), now
            )

    await asyncio.gather(*(work(chats[i::workers]) for i in range(workers)))
    return round(time.monotonic() - started, 1)
