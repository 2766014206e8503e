"""Admin broadcast through the real bot process against the limit-enforcing fake; JSON out.

    python -m bench.broadcast [--subscribers N] [--rate R] [--memory-subscribers M]
                              [--in-flight K] [--only single,two,kill9,memory] [--redis-url URL]

Scenarios, each on a flushed Redis and a fresh fake Bot API that answers 429 above
``rate`` messages in any sliding second overall and 1 a second per chat:

- ``single``: one bot process (``per_second = rate``) sends one broadcast to N chats;
- ``two``: the same with two processes on one Redis (only the first polls updates);
- ``kill9``: one process, SIGKILLed when ``--kill-at`` of the chats have their copy, then
  started again; it resumes the job (the dead consumer's entries are claimed after
  ``claim_after``); duplicates may not exceed ``in_flight``;
- ``memory``: M subscribers; the bot's VmRSS/VmHWM idle, after /stats and a broadcast
  preview (every chat id loaded), after every chat was made due for its (empty) digest,
  and after a confirmed broadcast fanned out to all M chats (then cancelled).

The rate is measured at the fake from the arrival of the first subscriber copy to the
arrival of the last: (copies - 1) / (t_last - t_first). Lost: subscribers with no copy;
duplicates: copies beyond the first. The fake runs in this process, which does nothing else
meanwhile (it polls counters twice a second); its CPU time is reported next to the bots'.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bench.botproc import (
    RUNNING,
    BenchError,
    BotProcess,
    CpuMeter,
    Fleet,
    claim,
    memory_mb,
    subscribe,
    until,
)
from bot import keys
from bot.embedded import EmbeddedServer
from bot.leases import holder_of
from tests.botrun import ADMIN
from tests.fakes.botapi import FakeBotApi
from tests.fakes.tghtml import parse_telegram_html

FIRST_CHAT = 10_000_000
TEXT = "<b>CensorWire</b>: the weekly digest now covers OONI measurements from 12 countries."
SCENARIOS = ("single", "two", "kill9", "memory")
RATE_METHOD = "(copies - 1) / (arrival of the last copy - arrival of the first), at the fake"


# ----- the broadcast ----------------------------------------------------------------------


async def ready(fake: FakeBotApi, bot: BotProcess, polls: bool) -> None:
    """Wait until the bot polls updates (``polls``) or says it is running."""
    if polls:
        await until(lambda: fake.calls_to("getUpdates"), 60, "the first getUpdates", bots=[bot])
    else:
        await bot.wait_logged(RUNNING, 60)


async def confirm_broadcast(fake: FakeBotApi, bots: list[BotProcess]) -> int:
    """/broadcast, then press Confirm under the preview; the progress message's id."""
    before = len(fake.sent(ADMIN))
    fake.inject_message(ADMIN, f"/broadcast {TEXT}", language_code="en")
    await until(lambda: len(fake.sent(ADMIN)) >= before + 2, 60, "the preview", bots=bots)
    confirm = fake.sent(ADMIN)[before + 1]
    data = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    fake.inject_callback(ADMIN, ADMIN, data, int(confirm["message_id"]))
    return int(confirm["message_id"])


def progress(fake: FakeBotApi, message_id: int) -> str:
    message = fake.message(ADMIN, message_id) or {}
    return parse_telegram_html(str(message.get("text", "")))[0]


def finished_report(fake: FakeBotApi, message_id: int) -> str:
    """The progress message's text once it says the broadcast finished, else ''."""
    text = progress(fake, message_id)
    return text if "finished" in text else ""


def copies(fake: FakeBotApi) -> int:
    """Messages delivered to anyone but the admin."""
    return len(fake.sent()) - len(fake.sent(ADMIN))


def all_delivered(fake: FakeBotApi, chats: range) -> bool:
    return copies(fake) >= len(chats) and all(fake.sent(c) for c in chats)


def delivery_figures(fake: FakeBotApi, chats: range, limit: int) -> dict[str, Any]:
    """Rate, 429s, lost and duplicates of one broadcast, from the fake's records."""
    wanted = set(chats)
    times = sorted(
        c.time
        for c in fake.calls
        if c.method == "sendMessage" and c.delivered and c.params.get("chat_id") in wanted
    )
    per_chat = Counter({chat: len(fake.sent(chat)) for chat in chats})
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span > 0 else 0.0
    return {
        "delivered": len(times),
        "seconds_first_to_last": round(span, 2),
        "rate": round(rate, 1),
        "rate_over_limit": round(rate / limit, 3),
        "max_in_any_second": max_in_window(times, 1.0),
        "copies_each_second": [
            sum(1 for t in times if second <= t - times[0] < second + 1)
            for second in range(int(span) + 1)
        ],
        "longest_gap_s": round(max((b - a for a, b in itertools.pairwise(times)), default=0.0), 2),
        "answers_429": fake.too_many,
        "lost": sum(1 for n in per_chat.values() if n == 0),
        "duplicates": sum(n - 1 for n in per_chat.values() if n > 1),
    }


def max_in_window(times: list[float], span: float) -> int:
    """The most sends whose arrival times fall within any ``span`` seconds."""
    window: deque[float] = deque()
    most = 0
    for t in times:
        window.append(t)
        while window[0] <= t - span:
            window.popleft()
        most = max(most, len(window))
    return most


async def run_broadcast(
    args: argparse.Namespace, client: aioredis.Redis, folder: Path, processes: int, kill: bool
) -> dict[str, Any]:
    """One broadcast to ``args.subscribers`` chats with 1 or 2 processes, optionally a kill."""
    await claim(client)
    chats = range(FIRST_CHAT, FIRST_CHAT + args.subscribers)
    setup_seconds = await subscribe(client, chats)
    delivery = {
        "per_second": args.rate,
        "in_flight": args.in_flight,
        "claim_after": f"{args.claim_after}s",
        "schedule_every": "1s",
    }
    fake = FakeBotApi()
    await fake.start()
    fake.enforce_limits(global_per_second=args.rate, per_chat_per_second=1, per_group_per_minute=20)
    fake.conflict_on_second_consumer = True
    fleet = Fleet(folder, args.redis_url, fake.root, delivery)
    result: dict[str, Any] = {"processes": processes, "subscribers": len(chats)}
    try:
        first = await fleet.start("a")
        await ready(fake, first, polls=True)
        bots = [first]
        if processes > 1:
            second = await fleet.start("b")
            await ready(fake, second, polls=False)
            bots.append(second)
        holder = await holder_of(client, "updates") or ""
        result["updates_lease"] = [b.name for b in bots if f":{b.pid}:" in holder]
        meter = CpuMeter(client)
        await meter.start(bots)
        started = time.monotonic()
        message_id = await confirm_broadcast(fake, bots)
        budget = 60 + 3 * len(chats) / args.rate
        if kill:
            result["kill"] = await kill_and_restart(args, fake, fleet, client, meter, chats, budget)
            bots = [p for p in fleet.processes if p.alive]
        await until(
            lambda: all_delivered(fake, chats),
            budget + (args.claim_after + 60 if kill else 0),
            lambda: f"every one of {len(chats)} chats getting its copy (so far {copies(fake)})",
            every=0.5,
            bots=bots,
        )
        await until(lambda: _queue_empty(client), 60, "an empty delivery queue", bots=bots)
        result["seconds_to_all_delivered"] = round(time.monotonic() - started, 1)
        result["cpu_seconds"] = await meter.finish(bots)
        report = await until(
            lambda: finished_report(fake, message_id),
            90,
            "the final report in the progress message",
            every=0.5,
            bots=bots,
        )
        result["report"] = report
        result.update(delivery_figures(fake, chats, args.rate))
        result["getupdates_409"] = sum(1 for c in fake.calls_to("getUpdates") if c.status == 409)
        result["subscribe_seconds"] = setup_seconds
    finally:
        result["exit_codes"] = await fleet.close()
        await fake.stop()
    return result


async def _queue_empty(client: aioredis.Redis) -> bool:
    return int(await client.xlen(keys.queue())) == 0


async def kill_and_restart(
    args: argparse.Namespace,
    fake: FakeBotApi,
    fleet: Fleet,
    client: aioredis.Redis,
    meter: CpuMeter,
    chats: range,
    budget: float,
) -> dict[str, Any]:
    """SIGKILL the process when ``kill_at`` of the chats have a copy; start a new one."""
    victim = fleet.processes[-1]
    at = int(len(chats) * args.kill_at)
    await until(lambda: copies(fake) >= at, budget, f"{at} copies before the kill", 0.05, [victim])
    victim_figures = await meter.dying(victim)
    victim.kill()
    await victim.process.wait()
    delivered = copies(fake)
    pending: Any = await client.xpending(keys.queue(), "senders")
    restarted = await fleet.start("a-restarted")
    meter.add(restarted)
    await restarted.wait_logged(RUNNING, 60)
    return {
        "killed_after_copies": delivered,
        "entries_pending_at_kill": int(pending["pending"]),
        "in_flight_setting": args.in_flight,
        "claim_after_s": args.claim_after,
        "killed_process": victim_figures,
    }


# ----- memory -----------------------------------------------------------------------------


async def run_memory(
    args: argparse.Namespace, client: aioredis.Redis, folder: Path
) -> dict[str, Any]:
    """The bot's resident memory with ``memory_subscribers`` subscriptions, step by step."""
    await claim(client)
    chats = range(FIRST_CHAT, FIRST_CHAT + args.memory_subscribers)
    result: dict[str, Any] = {"subscribers": len(chats)}
    result["subscribe_seconds"] = await subscribe(client, chats)
    fake = FakeBotApi()
    await fake.start()
    fake.enforce_limits(global_per_second=args.rate, per_chat_per_second=1, per_group_per_minute=20)
    delivery = {"per_second": args.rate, "in_flight": args.in_flight, "schedule_every": "1s"}
    fleet = Fleet(folder, args.redis_url, fake.root, delivery)
    try:
        bot = await fleet.start("memory")
        await ready(fake, bot, polls=True)
        await asyncio.sleep(3)
        result["idle"] = memory_mb(bot.pid)
        await admin_command(fake, bot, "/stats", 1)
        await admin_command(fake, bot, f"/broadcast {TEXT}", 2)
        result["after_stats_and_preview"] = memory_mb(bot.pid)
        result["due_digests"] = await due_pass(client, bot, chats, args.due_seconds)
        result["after_due_digest_pass"] = memory_mb(bot.pid)
        confirm = fake.sent(ADMIN)[-1]
        data = confirm["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        fake.inject_callback(ADMIN, ADMIN, data, int(confirm["message_id"]))
        job = data.rsplit(":", 1)[1]
        await until(lambda: _fanned_out(client, job, len(chats)), 180, "the fan-out", 0.5, [bot])
        result["after_broadcast_fan_out"] = memory_mb(bot.pid)
        await admin_command(fake, bot, "/broadcast_cancel", 1)
        result["peak_mb"] = memory_mb(bot.pid)["VmHWM"]
    finally:
        result["exit_codes"] = await fleet.close()
        await fake.stop()
    return result


async def admin_command(fake: FakeBotApi, bot: BotProcess, text: str, replies: int) -> None:
    """Send a command from the admin; wait for the bot's ``replies`` messages."""
    wanted = len(fake.sent(ADMIN)) + replies
    fake.inject_message(ADMIN, text, language_code="en")
    await until(lambda: len(fake.sent(ADMIN)) >= wanted, 120, f"the reply to {text}", bots=[bot])


async def _fanned_out(client: aioredis.Redis, job: str, total: int) -> bool:
    fanned = await client.hget(keys.broadcast(job), "fanned")
    return int(fanned or 0) >= total


async def due_pass(
    client: aioredis.Redis, bot: BotProcess, chats: range, seconds: float
) -> dict[str, Any]:
    """Make every chat due now; after ``seconds``, how many the scheduler has handled.

    No stories are stored, so every digest is empty: this measures the scheduler's pace
    through due chats (it re-dates each one), not delivery.
    """
    past = time.time() - 60
    for start in range(0, len(chats), 5000):
        part = chats[start : start + 5000]
        await client.zadd(keys.digest_due(), {str(c): past for c in part})
    await asyncio.sleep(seconds)
    still: int = await client.zcount(keys.digest_due(), "-inf", time.time())
    return {
        "made_due": len(chats),
        "seconds_waited": seconds,
        "handled": len(chats) - still,
        "handled_per_second": round((len(chats) - still) / seconds, 1),
        "schedule_every_s": 1,
    }


# ----- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=300, help="limit, messages per second")
    parser.add_argument("--memory-subscribers", type=int, default=100_000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--claim-after", type=int, default=5, help="seconds")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of chats served")
    parser.add_argument("--due-seconds", type=float, default=10.0)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--redis-url", default="")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs)")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def verdicts(results: dict[str, Any]) -> dict[str, bool]:
    """Each goal of the issue, met or not, for the scenarios that ran."""
    goals: dict[str, bool] = {}
    for name in ("single", "two"):
        if name in results:
            r = results[name]
            goals[f"{name}_rate"] = r["rate_over_limit"] >= 0.95
            goals[f"{name}_clean"] = (r["answers_429"], r["lost"], r["duplicates"]) == (0, 0, 0)
    if "kill9" in results:
        r = results["kill9"]
        goals["kill9"] = r["lost"] == 0 and r["duplicates"] <= r["kill"]["in_flight_setting"]
    if "memory" in results:
        goals["memory"] = results["memory"]["peak_mb"] < 200
    return goals


async def run(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    os.environ["PTB_TIMEDELTA"] = "1"
    client: aioredis.Redis = aioredis.Redis.from_url(args.redis_url, decode_responses=True)
    chosen = args.only.split(",")
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
        "limit_per_second": args.rate,
        "rate_method": RATE_METHOD,
    }
    try:
        if "single" in chosen:
            results["single"] = await run_broadcast(args, client, folder / "single", 1, False)
        if "two" in chosen:
            results["two"] = await run_broadcast(args, client, folder / "two", 2, False)
        if "kill9" in chosen:
            results["kill9"] = await run_broadcast(args, client, folder / "kill9", 1, True)
        if "memory" in chosen:
            results["memory"] = await run_memory(args, client, folder / "memory")
        results["goals_met"] = verdicts(results)
    finally:
        with contextlib.suppress(RedisError):
            await client.flushdb()
        await client.aclose()
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="cw-bench-broadcast-"))
    server: EmbeddedServer | None = None
    try:
        if not args.redis_url:
            server = EmbeddedServer(folder / "redis", "2gb")
            args.redis_url = server.attach()
        results = asyncio.run(run(args, folder))
    except BenchError as e:
        print(f"bench failed: {e}", file=sys.stderr)
        return 1
    finally:
        if server is not None:
            server.leave()
        if args.keep:
            print(f"work folder kept: {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(results, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
