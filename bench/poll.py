"""Benchmark of the feed pipeline against bare feedparser, measured side by side in one run.

Generates FEEDS feeds of ITEMS realistic items (about one in ten on topic), serves them from
a separate process over 20 loopback hosts (127.0.0.1 to 127.0.0.20), then measures:
  - cold poll throughput of the whole pipeline (fetch, parse, normalize, classify,
    summarize, cluster, store in Redis) / bare ``feedparser.parse`` over the same bytes in a
    process pool using all cores; goal >= 0.7;
  - a second poll where every feed answers 304, in feeds/s; goal >= 2,000;
  - peak resident memory of the poller process (and of its parse workers); goal < 300 MB;
  - relevance precision and recall on the held-out labelled half; goal >= 0.9.
Also the share of feeds the plain RSS fast path reads (bot/fastrss.py; the rest go to
feedparser), and, where /proc exists, the CPU milliseconds per feed of every process on
each side, and ``cpu_bound_ratio``: bare CPU per feed / the pipeline's (all its
processes). It equals
``cold_ratio`` when the run has every core to itself, and it barely moves when other work
shares the machine, which the wall-clock ratio does not survive.
Prints one JSON object. Usage: python -m bench.poll [--feeds 1000] [--items 30]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import multiprocessing
import os
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HOSTS = [f"127.0.0.{i}" for i in range(1, 21)]

ON_TOPIC_EN = [
    "Roskomnadzor blocks {app} in Russia after it refused to share user data",
    "{country_en} throttles {app} as regulator tightens control over messengers",
    "Court orders ISPs to block {app}; VPN use surges",
    "Authorities in {country_en} impose internet shutdown, {app} unreachable",
    "Regulator demands decryption keys from {app}, threatens a ban",
]
ON_TOPIC_RU = [
    "Роскомнадзор заблокировал {app} за отказ передать данные пользователей",
    "РКН замедлил {app} по всей России",
    "Суд оштрафовал {app} за отказ хранить данные россиян в России",
    "В России ограничили доступ к {app}, пользователи переходят на VPN",
]
OFF_TOPIC_EN = [
    "City council approves new budget for road repairs in {city}",
    "Local football club signs striker ahead of the winter transfer window",
    "Storm warning issued as heavy rain hits {city}",
    "Tech giant unveils a new phone with a faster chip and better camera",
    "Central bank keeps interest rate unchanged, citing stable inflation",
    "Museum in {city} opens an exhibition of modern sculpture",
    "{app} adds new stickers and reactions for group chats",
    "Airline adds direct flights between {city} and the coast",
]
OFF_TOPIC_RU = [
    "В {city_ru} начался ремонт дорог, движение ограничат до весны",
    "Футбольный клуб подписал контракт с новым нападающим",
    "Синоптики обещают сильный снегопад в выходные",
    "Центробанк сохранил ключевую ставку",
    "В музее открылась выставка современной скульптуры",
    "Мэрия запретила продажу алкоголя в дни праздников",
]
APPS = ["Telegram", "WhatsApp", "Viber", "Signal messenger", "YouTube", "Discord", "WeChat"]
COUNTRIES = ["Russia", "Iran", "Turkey", "Pakistan", "Belarus", "Myanmar"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Hillview", "Northport"]
CITIES_RU = ["Самаре", "Казани", "Перми", "Томске"]
FILLER_EN = (
    "Officials said the measure would take effect immediately. Residents reacted on social "
    "media, and experts expect further announcements next week. The report cites figures "
    "from independent monitors and statements by several officials."
)
FILLER_RU = (
    "Официальные лица заявили, что мера вступит в силу немедленно. Жители отреагировали в "
    "соцсетях, а эксперты ждут новых заявлений на следующей неделе. В сообщении приводятся "
    "данные независимых наблюдателей и заявления нескольких чиновников."
)


def make_feed(index: int, items: int, now: datetime, rng: random.Random) -> bytes:
    russian = index % 3 == 0
    parts = []
    for j in range(items):
        on_topic = rng.random() < 0.1
        app, country = rng.choice(APPS), rng.choice(COUNTRIES)
        if russian:
            template = rng.choice(ON_TOPIC_RU if on_topic else OFF_TOPIC_RU)
            filler = FILLER_RU
        else:
            template = rng.choice(ON_TOPIC_EN if on_topic else OFF_TOPIC_EN)
            filler = FILLER_EN
        title = template.format(
            app=app, country_en=country, city=rng.choice(CITIES), city_ru=rng.choice(CITIES_RU)
        )
        lead = f"{title}. {filler}" if not on_topic else f"{title}, officials said. {filler}"
        body = f"<p>{escape(lead)}</p><p>{escape(filler)}</p>"
        when = format_datetime(now - timedelta(minutes=rng.randint(1, 60 * 24 * 5)))
        link = f"https://site{index}.example/news/{index}-{j}?utm_source=rss"
        parts.append(
            f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
            f'<guid isPermaLink="false">{index}-{j}</guid><pubDate>{when}</pubDate>'
            f"<description>{escape(body)}</description></item>"
        )
    lang = "ru" if russian else "en"
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Site {index}</title><link>https://site{index}.example/</link>"
        f"<language>{lang}</language>{''.join(parts)}</channel></rss>"
    ).encode()


def serve(folder: str, port: int, ready: Any) -> None:
    """The feed server process: every file under ``folder`` at /feed/<n>, with ETags."""
    from aiohttp import web

    bodies = {p.stem: p.read_bytes() for p in Path(folder).glob("*.xml")}
    etags = {k: f'"{hash(v) & 0xFFFFFFFF:x}"' for k, v in bodies.items()}

    async def handle(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        etag = etags[name]
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=bodies[name], headers={"ETag": etag, "Content-Type": "application/rss+xml"}
        )

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/feed/{name}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for host in HOSTS:
            await web.TCPSite(runner, host, port).start()
        ready.set()
        await asyncio.Event().wait()

    asyncio.run(main())


def _parse_only(body: bytes) -> int:
    import feedparser

    return len(feedparser.parse(body).entries)


def _cpu_seconds(pids: Iterable[int]) -> float:
    """User plus system CPU seconds of the processes ``pids`` so far (Linux /proc)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children() -> set[int]:
    """This process's child processes (workers, the feed server, embedded Redis)."""
    found = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid():
            found.add(int(entry.name))
    return found


class CpuMeter:
    """CPU milliseconds per feed of named groups of processes over one timed stretch."""

    def __init__(self, groups: dict[str, set[int]], feeds: int) -> None:
        self._groups, self._feeds = groups, feeds
        self._start = {name: _cpu_seconds(pids) for name, pids in groups.items()}

    def per_feed(self) -> dict[str, float]:
        return {
            name: round((_cpu_seconds(pids) - self._start[name]) * 1000 / self._feeds, 2)
            for name, pids in self._groups.items()
        }


def bare_parse_rate(bodies: list[bytes], workers: int) -> tuple[float, dict[str, float]]:
    before = _children()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_parse_only, bodies[: workers * 2]))  # warm the workers up
        meter = CpuMeter({"workers": _children() - before}, len(bodies))
        start = time.perf_counter()
        entries = sum(pool.map(_parse_only, bodies, chunksize=4))
        elapsed = time.perf_counter() - start
        cpu = meter.per_feed()
    assert entries
    return len(bodies) / elapsed, cpu


def _worker_rss(_: int) -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _analyze_only(body: bytes) -> int:
    """The pipeline's worker warm-up, as ``_parse_only`` is the bare side's: one feed, untimed."""
    from bot.analyze import FeedJob, analyze

    job = FeedJob(
        feed_url="http://warm-up.invalid/feed",
        source="warm-up",
        lang="",
        topical=False,
        body=body,
        headers={},
        fetched=datetime.now(UTC),
        retention=90 * 86400.0,
        summary_sentences=2,
        summary_chars=400,
    )
    return analyze(job).entries


async def pipeline_rates(
    urls: list[str], warm_up: list[bytes], workers: int, redis_url: str, server_pid: int
) -> dict[str, Any]:
    import aiohttp

    from bot.cli import extra_handlers
    from bot.config import FeedConfig, RedisSettings, parse_settings
    from bot.feeds import Feed
    from bot.fetch import Fetcher
    from bot.pipeline import Poller
    from bot.storage import open_redis
    from bot.workers import Workers

    settings = parse_settings({"polling": {"per_host": 8, "concurrency": 128}}, {}, Path())
    settings = dataclasses.replace(settings, redis=RedisSettings(url=redis_url))
    feeds = [Feed(FeedConfig(url=u, name=f"Feed {i}")) for i, u in enumerate(urls)]
    before = _children()
    pool = Workers(workers)  # the bot's own worker pool
    list(pool.map(_analyze_only, warm_up))  # warm the workers up, as the bare side does
    groups = {
        "poller": {os.getpid()},
        "workers": _children() - before,
        "feed_server": {server_pid},
        "redis": before - {server_pid},  # embedded Redis (an external one is not seen), and
        # multiprocessing's idle resource tracker
    }
    async with (
        open_redis(settings.redis) as redis,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=128)) as session,
    ):
        poller = Poller(
            settings,
            redis,
            Fetcher(session, settings.polling),
            pool,
            clock=lambda: datetime.now(UTC),
            handlers=extra_handlers(redis, settings),
        )
        meter = CpuMeter(groups, len(feeds))
        start = time.perf_counter()
        cold = await poller.poll(feeds)
        cold_s = time.perf_counter() - start
        cold_cpu = meter.per_feed()
        meter = CpuMeter(groups, len(feeds))
        start = time.perf_counter()
        warm = await poller.poll(feeds)
        warm_s = time.perf_counter() - start
        warm_cpu = meter.per_feed()
    worker_rss = max(pool.map(_worker_rss, range(workers * 4)))
    pool.shutdown()
    errors = [r.message for r in cold.feeds if r.message and r.new == 0 and r.entries == 0]
    return {
        "cold_feeds_per_s": len(feeds) / cold_s,
        "cold_seconds": cold_s,
        "stored": len(cold.new_stories),
        "cold_errors": len(errors),
        "warm_feeds_per_s": len(feeds) / warm_s,
        "warm_unchanged": sum(1 for r in warm.feeds if r.outcome.value == "unchanged"),
        "worker_peak_rss_mb": worker_rss / 1024,
        "cold_cpu": cold_cpu,
        "warm_cpu": warm_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=30)
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--redis-url", default="", help="default: a private embedded server")
    args = parser.parse_args()
    workers = os.cpu_count() or 1
    rng = random.Random(2017)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        bodies = [make_feed(i, args.items, now, rng) for i in range(args.feeds)]
        for i, body in enumerate(bodies):
            (Path(folder) / f"{i}.xml").write_bytes(body)
        ctx = multiprocessing.get_context("spawn")
        ready = ctx.Event()
        server = ctx.Process(target=serve, args=(folder, args.port, ready), daemon=True)
        server.start()
        if not ready.wait(30):
            sys.exit("feed server did not start")
        urls = [f"http://{HOSTS[i % len(HOSTS)]}:{args.port}/feed/{i}" for i in range(args.feeds)]
        try:
            bare, bare_cpu = bare_parse_rate(bodies, workers)
            redis_url = args.redis_url
            embedded = None
            if not redis_url:
                from bot.embedded import EmbeddedServer

                embedded = EmbeddedServer(Path(folder) / "redis", "2gb")
                redis_url = embedded.attach()
            try:
                warm_up = bodies[: workers * 2]
                rates = asyncio.run(
                    pipeline_rates(urls, warm_up, workers, redis_url, server.pid or 0)
                )
            finally:
                if embedded is not None:
                    embedded.leave()
        finally:
            server.kill()
    from bench.relevance import evaluate

    heldout = evaluate("heldout")
    result = {
        "feeds": args.feeds,
        "items_per_feed": args.items,
        "bytes": sum(len(b) for b in bodies),
        "workers": workers,
        "bare_feedparser_feeds_per_s": round(bare, 1),
        "pipeline_cold_feeds_per_s": round(rates["cold_feeds_per_s"], 1),
        "cold_ratio": round(rates["cold_feeds_per_s"] / bare, 3),
        "cold_ratio_goal": 0.7,
        "stories_stored": rates["stored"],
        "fast_rss_share": _fast_share(bodies),
        "warm_304_feeds_per_s": round(rates["warm_feeds_per_s"], 1),
        "warm_304_goal": 2000,
        "warm_unchanged": rates["warm_unchanged"],
        "poller_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "worker_peak_rss_mb": round(rates["worker_peak_rss_mb"], 1),
        "rss_goal_mb": 300,
        "relevance_heldout": heldout,
        "cpu_ms_per_feed": {
            "bare": bare_cpu,
            "pipeline_cold": rates["cold_cpu"],
            "pipeline_warm": rates["warm_cpu"],
        },
        "cpu_bound_ratio": _cpu_ratio(bare_cpu, rates["cold_cpu"]),
    }
    print(json.dumps(result, indent=2))


def _fast_share(bodies: list[bytes]) -> float:
    """The share of feeds read by the plain RSS fast path (the rest: feedparser)."""
    from bot.fastrss import parse_rss

    headers = {"content-type": "application/rss+xml"}  # what the feed server sends
    return round(sum(parse_rss(b, headers) is not None for b in bodies) / len(bodies), 3)


def _cpu_ratio(bare: dict[str, float], pipeline: dict[str, float]) -> float | None:
    spent = sum(pipeline.values())
    return round(sum(bare.values()) / spent, 3) if spent else None


if __name__ == "__main__":
    main()
