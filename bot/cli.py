"""The command line: ``run``, ``poll --once [--json]``, ``digest``. Exit codes 0, 1, 2."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn, TextIO

import aiohttp

from bot import keys
from bot import stories as story_store
from bot.config import Settings, load_settings
from bot.durations import parse_duration
from bot.errors import CensorWireError, ConfigError, StorageError
from bot.feeds import effective_feeds
from bot.fetch import Fetcher
from bot.llm_stage import llm_handler, make_summarizer
from bot.logs import setup_logging
from bot.models import Story
from bot.pipeline import FeedReport, Outcome, Poller, PollReport, StoryHandler
from bot.storage import Redis, open_redis
from bot.workers import Workers

log = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with one line instead of the whole usage."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(f"usage: {message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="censorwire", description="CensorWire: censorship news for Telegram")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("run", help="run the bot: updates, polling, delivery")
    poll = commands.add_parser("poll", help="poll every feed and store new stories")
    poll.add_argument("--once", action="store_true", required=True, help="poll once and exit")
    poll.add_argument("--json", action="store_true", help="JSON lines of new stories on stdout")
    digest = commands.add_parser("digest", help="print a digest of stored stories")
    digest.add_argument("--since", default="24h", help="window, e.g. 24h, 7d (default 24h)")
    digest.add_argument("--lang", default="en", choices=["en", "ru"], help="labels' language")
    digest.add_argument("--story-lang", default="", help="story languages, e.g. ru,en")
    digest.add_argument("--app", action="append", default=[], help="app filter, repeatable")
    digest.add_argument("--country", action="append", default=[], help="country, repeatable")
    digest.add_argument("--limit", type=int, default=None, help="at most N events")
    digest.add_argument("--format", default="text", choices=["text", "html"])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m bot`` and ``censorwire``."""
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    try:
        args = build_parser().parse_args(argv)
        settings = load_settings(os.environ, Path.cwd())
    except ConfigError as e:
        print(f"censorwire: {e}", file=sys.stderr)
        return 2
    secrets = [
        settings.telegram.token,
        settings.telegram.webhook_secret,
        settings.summarizer.llm_api_key,
    ]
    setup_logging(args.log_level, secrets)
    try:
        if args.command == "poll":
            return asyncio.run(poll_once(settings, as_json=args.json))
        if args.command == "digest":
            return asyncio.run(print_digest(settings, args))
        from bot.app import run_bot

        return run_bot(settings)
    except ConfigError as e:
        print(f"censorwire: {e}", file=sys.stderr)
        return 2
    except StorageError as e:
        print(f"censorwire: {e}", file=sys.stderr)
        return 1
    except CensorWireError as e:
        print(f"censorwire: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def utcnow() -> datetime:
    return datetime.now(UTC)


@contextlib.asynccontextmanager
async def http_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=settings.polling.concurrency, ttl_dns_cache=300)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


def make_executor(feeds: int) -> Executor | None:
    """Worker processes for parsing when there is enough to parse; else the default threads."""
    workers = os.cpu_count() or 1
    if feeds < 8 or workers < 2:
        return None
    return Workers(workers)


async def poll_once(settings: Settings, *, as_json: bool) -> int:
    """``poll --once``: every feed once; the report on stdout, or JSON lines (report on stderr)."""
    report_out = sys.stderr if as_json else sys.stdout
    async with open_redis(settings.redis) as redis, http_session(settings) as session:
        feeds = await effective_feeds(redis, settings.feeds)
        executor = make_executor(len(feeds))
        try:
            poller = Poller(
                settings, redis, Fetcher(session, settings.polling), executor, clock=utcnow
            )
            for handler in extra_handlers(redis, settings):
                poller.add_handler(handler)
            if (summarizer := make_summarizer(session, settings.summarizer)) is not None:
                poller.add_handler(llm_handler(redis, summarizer))
            with _Progress(len(feeds), report_out) as progress:
                report = await poller.poll(feeds, progress.advance)
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
    if as_json:
        for story in report.new_stories:
            print(story_store.json_line(story), flush=False)
        sys.stdout.flush()
    write_report(report, report_out)
    return 0


def extra_handlers(redis: Redis, settings: Settings) -> list[StoryHandler]:
    """Handlers every command that stores stories installs at the hand-on point."""
    retention = int(settings.polling.retention)

    async def index(new: Sequence[Story]) -> None:
        from bot.search import index_stories

        async with redis.pipeline(transaction=False) as pipe:
            for story in new:
                pipe.hget(keys.story(story.id), "num")
            numbers = await pipe.execute()
        numbered = [(story, int(num)) for story, num in zip(new, numbers, strict=True) if num]
        if numbered:
            await index_stories(redis, numbered, retention)

    return [index]


def write_report(report: PollReport, out: TextIO) -> None:
    """A per-feed report: one line a feed, then totals."""
    marks = {
        Outcome.NEW: "+",
        Outcome.NOTHING_NEW: "=",
        Outcome.UNCHANGED: "=",
        Outcome.ERROR: "!",
        Outcome.DEFERRED: "…",
        Outcome.PAUSED: "-",
        Outcome.DISABLED: "x",
    }
    for r in report.feeds:
        detail = f" {r.message}" if r.message else ""
        counts = (
            f" {r.new} new of {r.entries}"
            if r.outcome in (Outcome.NEW, Outcome.NOTHING_NEW)
            else ""
        )
        print(
            f"{marks[r.outcome]} {r.feed.config.title} [{r.outcome.value}]{counts}{detail}",
            file=out,
        )
    took = ((report.finished or report.started) - report.started).total_seconds()
    print(
        f"{len(report.feeds)} feeds in {took:.1f}s: {len(report.new_stories)} new stories, "
        f"{report.count(Outcome.ERROR)} failing, {report.count(Outcome.UNCHANGED)} unchanged",
        file=out,
    )


class _Progress:
    """A one-line progress bar on a terminal; silent when the output is not a terminal."""

    def __init__(self, total: int, out: TextIO) -> None:
        self._total = total
        self._done = 0
        self._out = out
        self._active = out.isatty() and total > 1

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            self._out.write("\r\033[K")
            self._out.flush()

    def advance(self, report: FeedReport) -> None:
        self._done += 1
        if not self._active:
            return
        width = 30
        filled = width * self._done // self._total
        bar = "#" * filled + "." * (width - filled)
        self._out.write(
            f"\r[{bar}] {self._done}/{self._total} {report.feed.config.title[:30]}\033[K"
        )
        self._out.flush()


async def print_digest(settings: Settings, args: argparse.Namespace) -> int:
    """``digest``: stored stories as a digest on stdout; needs no Telegram token."""
    from bot.digest import DigestOptions, Filters, apply_filters, compose_html, compose_text

    try:
        window = parse_duration(args.since)
    except ValueError as e:
        raise ConfigError(f"--since: {e}") from e
    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit: must be at least 1")
    filters = Filters(
        apps=frozenset(a.lower() for a in args.app),
        countries=frozenset(c.upper() for c in args.country),
        langs=frozenset(x.strip().lower() for x in args.story_lang.split(",") if x.strip()),
    )
    now = utcnow()
    since = now - timedelta(seconds=window)
    async with open_redis(settings.redis) as redis:
        events = await story_store.events_between(redis, since, now)
    events = apply_filters(events, filters, prefer_lang=args.lang)
    options = DigestOptions(
        labels_lang=args.lang, window_start=since, window_end=now, limit=args.limit
    )
    if not events:
        print(f"No stories since {since:%Y-%m-%d %H:%M} UTC for these filters.", file=sys.stderr)
    elif args.format == "html":
        print("\n\n".join(compose_html(events, options)))
    else:
        print(compose_text(events, options))
    return 0
