"""Our Redis search against SQLite FTS5 over the same 100,000 generated stories; JSON out.

    python -m bench.search [--stories N] [--queries N] [--redis-url URL]

Stories (English and Russian, popular words like "telegram" and "блокировка" in many) are
stored as bot/stories.py stores them and indexed with ``bot.search.index_story``; FTS5
holds the same titles and summaries (``porter unicode61``, BM25, ``ORDER BY rank LIMIT
10``). Index size is ``MEMORY USAGE … SAMPLES 0`` summed over every search key (exact),
with ``used_memory`` before and after indexing as a cross-check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis.asyncio as aioredis

from bot import keys, search
from bot.embedded import EmbeddedServer
from bot.errors import QueryError
from bot.models import Story
from bot.query import parse_query
from bot.stories import story_to_json
from bot.text import words

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
HARD_QUERIES = [
    "blocked блокировка",
    "people люди",
    "blocked суд",
    "lifts decryption",
    "lifts decryption telegram",
]
"""Common words that never meet: nothing to stop early on (reported apart from the mix)."""
RETENTION = 90 * 86400
APPS = {"telegram": 35, "whatsapp": 12, "youtube": 10, "vpn": 8, "twitter": 6, "signal": 4,
        "facebook": 5, "instagram": 4, "viber": 3, "": 13}  # fmt: skip
COUNTRIES = {"RU": 40, "IR": 10, "CN": 8, "TR": 6, "IN": 6, "PK": 4, "BY": 4, "KZ": 3,
             "ET": 2, "MM": 2, "": 15}  # fmt: skip
EN_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp", "youtube": "YouTube", "vpn": "VPN",
            "twitter": "Twitter", "signal": "Signal", "facebook": "Facebook",
            "instagram": "Instagram", "viber": "Viber", "": "messaging apps"}  # fmt: skip
RU_NAMES = {"telegram": "Telegram", "whatsapp": "WhatsApp", "youtube": "YouTube", "vpn": "VPN",
            "twitter": "Twitter", "signal": "Signal", "facebook": "Facebook",
            "instagram": "Instagram", "viber": "Viber", "": "мессенджеры"}  # fmt: skip
EN_ACTORS = ["Roskomnadzor", "the regulator", "a Moscow court", "the telecom ministry",
             "mobile operators", "the government", "state ISPs", "the prosecutor"]  # fmt: skip
RU_ACTORS = ["Роскомнадзор", "регулятор", "Таганский суд", "Минцифры", "операторы связи",
             "правительство", "провайдеры", "прокуратура"]  # fmt: skip
EN_TITLES = [
    "{actor} blocks {app} in {place}",
    "{app} blocked in {place} after refusing to hand over decryption keys",
    "Users in {place} report {app} throttling as {actor} tests DPI filters",
    "{actor} fines {app} for failing to delete banned content",
    "{place} lifts the ban on {app} after two years of blocking",
    "Court orders {app} blocking over data localisation demands",
    "{actor} demands user data from {app}",
    "Internet shutdown in {place} cuts access to {app} and news sites",
    "VPN crackdown in {place}: {actor} blocks dozens of services",
]
RU_TITLES = [
    "{actor} заблокировал {app} в регионе {place}",
    "Блокировка {app}: {actor} потребовал ключи шифрования",
    "Пользователи жалуются на замедление {app}, {actor} тестирует ТСПУ",
    "{actor} оштрафовал {app} за отказ удалять запрещенный контент",
    "Разблокировка {app}: {actor} снял ограничения спустя два года",
    "Суд постановил заблокировать {app} из-за требований о хранении данных",
    "{actor} требует от {app} передать данные пользователей",
    "Отключение интернета в регионе {place}: недоступны {app} и новостные сайты",
    "Блокировки VPN: {actor} ограничил доступ к десяткам сервисов",
]
EN_COMMON = """
people government report week says officials service country users access
company statement network data measurements traffic providers operators city region
minister ministry law bill parliament president security police protest election media
journalists news sites website platform messages calls video channel accounts content
request demand order ruling appeal decision month year days hours million thousands
restrictions rules policy agency experts researchers volunteers tests servers connections
encryption privacy surveillance rights freedom speech internet mobile broadband fines
registry register local foreign state federal national public private legal official
blocked blocking throttled throttling banned shutdown outage censorship filtering
"""
RU_COMMON = """
люди правительство доклад неделя сообщили власти сервис страна пользователи
доступ компания заявление сеть данные измерения трафик провайдеры операторы город регион
министр министерство закон законопроект депутаты президент безопасность полиция протест
выборы СМИ журналисты новости сайты платформа сообщения звонки видео канал аккаунты
контент требование решение постановление апелляция месяц год дней часов миллионов тысячи
ограничения правила политика ведомство эксперты исследователи волонтеры тесты серверы
соединения шифрование приватность слежка права свобода интернет мобильный штрафы реестр
блокировка блокировки блокировку заблокировали заблокирован замедление замедлили
ограничил отключение запрет запретили цензура фильтрация
"""
EN_SYLLABLES = "ba ka ri to mu le sa ne vo di gra tor len mar kis pol den ham ster win"
RU_SYLLABLES = "ка ро ли на ве ми до ту ра сё пре вод ков мир лав зен тор бел гор сла"


def zipf_words(rng: random.Random, common: str, syllables: str) -> list[str]:
    """The vocabulary by rank: common words first, then 30,000 invented names and terms."""
    parts = syllables.split()
    tail = {"".join(rng.choice(parts) for _ in range(rng.randint(2, 4))) for _ in range(40_000)}
    return common.split() + sorted(tail)[:30_000]


def weights(size: int) -> list[float]:
    return [1.0 / (rank + 3) for rank in range(size)]


def make_stories(count: int, seed: int = 20170416) -> list[Story]:
    """``count`` stories over the last 90 days, oldest first; 45% Russian."""
    rng = random.Random(seed)
    vocab = {
        "en": zipf_words(rng, EN_COMMON, EN_SYLLABLES),
        "ru": zipf_words(rng, RU_COMMON, RU_SYLLABLES),
    }
    cum = {lang: list(accumulate(weights(len(v)))) for lang, v in vocab.items()}
    times = sorted(rng.uniform(0, RETENTION - 3600) for _ in range(count))
    result = []
    for n, offset in enumerate(times):
        lang = "ru" if rng.random() < 0.45 else "en"
        app = rng.choices(list(APPS), list(APPS.values()))[0]
        country = rng.choices(list(COUNTRIES), list(COUNTRIES.values()))[0]

        def filler(k: int, lang: str = lang) -> str:
            return " ".join(rng.choices(vocab[lang], cum_weights=cum[lang], k=k))

        names, actors, titles = (
            (RU_NAMES, RU_ACTORS, RU_TITLES) if lang == "ru" else (EN_NAMES, EN_ACTORS, EN_TITLES)
        )
        place = country or filler(1)
        title = rng.choice(titles).format(actor=rng.choice(actors), app=names[app], place=place)
        title = f"{title} {filler(rng.randint(0, 3))}".strip()
        summary = ". ".join(
            f"{rng.choice(actors).capitalize()} {filler(rng.randint(8, 16))}" for _ in range(3)
        )
        published = NOW - timedelta(seconds=RETENTION - offset)
        result.append(
            Story(
                id=f"b{n}",
                url=f"https://news.example/{n}",
                title=title,
                text=f"{summary}. {filler(120)}",
                source="Bench News",
                feed_url="https://news.example/feed",
                published=published,
                fetched=published + timedelta(minutes=rng.randint(1, 30)),
                lang=lang,
                apps=(app,) if app else (),
                countries=(country,) if country else (),
                summary=summary,
            )
        )
    return result


def accumulate(values: list[float]) -> Iterator[float]:
    total = 0.0
    for value in values:
        total += value
        yield total


def make_queries(stories: list[Story], count: int, seed: int = 7) -> list[str]:
    """One to three words taken from stored stories; a third include a popular word."""
    rng = random.Random(seed)
    popular = ["telegram", "блокировка", "блокировки", "whatsapp", "vpn", "Роскомнадзор", "blocked"]
    queries: list[str] = []
    while len(queries) < count:
        story = rng.choice(stories)
        pool = [w for w in words(f"{story.title} {story.summary}") if len(w) > 3 and w.isalpha()]
        picked = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
        if rng.random() < 0.33:
            picked[0] = rng.choice(popular)
        text = " ".join(dict.fromkeys(picked))
        try:
            parse_query(text)
        except QueryError:  # only common words
            continue
        queries.append(text)
    return queries


async def store(redis: aioredis.Redis, stories: list[Story], batch: int = 500) -> None:
    """The structures of ``stories.save_story``, written with pipelines."""
    for at in range(0, len(stories), batch):
        async with redis.pipeline(transaction=False) as pipe:
            for num, story in enumerate(stories[at : at + batch], start=at + 1):
                pipe.hset(
                    keys.story(story.id),
                    mapping={"data": story_to_json(story), "fp": "", "num": num},
                )
                pipe.expire(keys.story(story.id), RETENTION)
                pipe.hset(keys.story_nums(), str(num), story.id)
                pipe.zadd(keys.stories_by_time(), {story.id: story.published.timestamp()})
            await pipe.execute()


async def index(redis: aioredis.Redis, stories: list[Story], batch: int = 500) -> None:
    """``index_stories`` in batches, as the pipeline hands on each poll's new stories."""
    for at in range(0, len(stories), batch):
        numbered = [(s, n) for n, s in enumerate(stories[at : at + batch], start=at + 1)]
        await search.index_stories(redis, numbered, RETENTION)


async def index_bytes(redis: aioredis.Redis) -> int:
    total = 0
    async for key in redis.scan_iter(match="cw:search:*", count=1000):
        total += int(await redis.memory_usage(key, samples=0) or 0)
    return total


def fts5_build(stories: list[Story]) -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5(title, summary, tokenize='porter unicode61')")
    db.executemany(
        "INSERT INTO docs(rowid, title, summary) VALUES (?, ?, ?)",
        ((n, s.title, s.summary) for n, s in enumerate(stories, start=1)),
    )
    db.commit()
    return db


def fts5_query(db: sqlite3.Connection, text: str) -> list[tuple[int, str]]:
    match = " ".join('"' + w.replace('"', "") + '"' for w in words(text))
    sql = "SELECT rowid, title FROM docs WHERE docs MATCH ? ORDER BY rank LIMIT 10"
    return db.execute(sql, (match,)).fetchall()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


async def run(url: str, count: int, query_count: int) -> dict[str, object]:
    redis: aioredis.Redis = aioredis.Redis.from_url(url, decode_responses=True)
    try:
        if await redis.dbsize():
            raise SystemExit(f"refusing to use a non-empty Redis database at {url}")
        stories = make_stories(count)
        await store(redis, stories)
        before = int((await redis.info("memory"))["used_memory"])
        started = time.perf_counter()
        await index(redis, stories)
        index_seconds = time.perf_counter() - started
        after = int((await redis.info("memory"))["used_memory"])
        exact = await index_bytes(redis)
        db = fts5_build(stories)
        queries = make_queries(stories, query_count)
        for text in queries[:20]:  # warm both sides
            await search.search(redis, parse_query(text), now=NOW)
            fts5_query(db, text)
        ours, theirs, found = [], [], 0
        for text in queries:
            query = parse_query(text)
            t0 = time.perf_counter()
            page = await search.search(redis, query, now=NOW, limit=10)
            t1 = time.perf_counter()
            fts5_query(db, text)
            t2 = time.perf_counter()
            ours.append((t1 - t0) * 1000)
            theirs.append((t2 - t1) * 1000)
            found += bool(page.stories)
        hard = {}
        for text in HARD_QUERIES:
            query = parse_query(text)
            t0 = time.perf_counter()
            await search.search(redis, query, now=NOW, limit=10)
            t1 = time.perf_counter()
            fts5_query(db, text)
            hard[text] = [round((t1 - t0) * 1000, 1), round((time.perf_counter() - t1) * 1000, 1)]
        started = time.perf_counter()
        await search.sweep(redis, NOW, RETENTION)
        sweep_ms = (time.perf_counter() - started) * 1000
        ours_p50, ours_p95 = percentiles(ours)
        fts_p50, fts_p95 = percentiles(theirs)
        await redis.flushdb()
        return {
            "stories": count,
            "queries": len(queries),
            "queries_with_results": found,
            "ours_p50_ms": round(ours_p50, 3),
            "ours_p95_ms": round(ours_p95, 3),
            "fts5_p50_ms": round(fts_p50, 3),
            "fts5_p95_ms": round(fts_p95, 3),
            "p95_ratio_ours_to_fts5": round(ours_p95 / fts_p95, 3),
            "ours_max_ms": round(max(ours), 3),
            "fts5_max_ms": round(max(theirs), 3),
            "hard_queries_ms_ours_fts5": hard,
            "index_bytes_per_story": round(exact / count, 1),
            "index_bytes_method": "sum of MEMORY USAGE SAMPLES 0 over cw:search:* keys",
            "used_memory_delta_per_story": round((after - before) / count, 1),
            "index_seconds": round(index_seconds, 1),
            "sweep_ms": round(sweep_ms, 1),
        }
    finally:
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--redis-url", default="", help="an empty database; default: private server"
    )
    args = parser.parse_args()
    if args.redis_url:
        print(
            json.dumps(
                asyncio.run(run(args.redis_url, args.stories, args.queries)),
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    with tempfile.TemporaryDirectory(prefix="cw-bench-") as folder:
        server = EmbeddedServer(Path(folder), "3gb")
        url = server.attach()
        try:
            result = asyncio.run(run(url, args.stories, args.queries))
        finally:
            server.leave()
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
