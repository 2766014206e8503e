"""Full-text search: query parsing and morphology (pure), and the index against real Redis."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from bot import keys, search, stories
from bot.errors import QueryError
from bot.i18n import t
from bot.models import Story
from bot.query import MAX_TERM_CHARS, Query, document_terms, parse_query, roots
from bot.text import words

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
DAY = 86400
TTL = 90 * DAY


def make_story(n: int, title: str, summary: str = "", **changes: object) -> Story:
    base = Story(
        id=f"s{n}",
        url=f"https://news.example/{n}",
        title=title,
        text=f"{title}. {summary}",
        source="Example News",
        feed_url="https://news.example/feed",
        published=NOW - timedelta(hours=n),
        fetched=NOW,
        lang="en",
        summary=summary,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def put(redis: aioredis.Redis, *items: Story) -> list[int]:
    """Store like the pipeline does, then index; returns the story numbers."""
    nums = []
    for story in items:
        assert await stories.save_story(redis, story, "", NOW, TTL)
        num = int(await redis.hget(keys.story(story.id), "num") or 0)
        await search.index_story(redis, story, num, TTL)
        nums.append(num)
    return nums


async def find(redis: aioredis.Redis, text: str, **options: int) -> list[str]:
    page = await search.search(redis, parse_query(text), now=NOW, **options)
    return [story.id for story in page.stories]


# Pure: parsing and morphology -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("блокировки Telegram", Query(("блок", "telegram"))),
        ('"decryption keys" Apple', Query(("decrypt", "key", "appl"), (), (("decrypt", "key"),))),
        ("«ключи шифрования»", Query(("ключ", "шифр"), (), (("ключ", "шифр"),))),
        ("app:WhatsApp country:ru lang:RU", Query((), ("app:whatsapp", "country:RU", "lang:ru"))),
        ("app: telegram блокировка", Query(("блок",), ("app:telegram",))),
        ("app:телеграм", Query((), ("app:telegram",))),
        ("the blocking of Signal", Query(("block", "signal"))),
        ("<script>alert(1)</script>", Query(("script", "alert"))),
        ('"unclosed quote telegram', Query(("unclos", "quot", "telegram"))),
        ("blocked blocking BLOCKS", Query(("block",))),
    ],
)
def test_parse_query(text: str, expected: Query) -> None:
    assert parse_query(text) == expected


@pytest.mark.parametrize(
    ("text", "english", "russian"),
    [
        ("x" * 257, "at most 256 characters", "не больше 256 символов"),
        ("", "nothing to search for", "нечего искать"),
        ("*", "nothing to search for", "нечего искать"),
        ("the and of", "nothing to search for", "нечего искать"),
        ("и в на", "nothing to search for", "нечего искать"),
        ("app:", "app: needs a value, e.g. app:whatsapp", "после app: нужно значение"),
        ("telegram country:", "country: needs a value", "после country: нужно значение"),
        (
            "country:Russia",
            "country: takes a two-letter code",
            "двухбуквенный код, например country:RU",
        ),
        ("lang:russian", "lang: takes a two-letter code", "двухбуквенный код, например lang:ru"),
        ("app:<script>", "takes an app name", "нужно название приложения"),
    ],
)
def test_bad_queries_are_refused_with_a_reason_in_the_readers_language(
    text: str, english: str, russian: str
) -> None:
    with pytest.raises(QueryError) as refused:
        parse_query(text)
    assert english in t("en", refused.value.reason, **refused.value.values)
    assert russian in t("ru", refused.value.reason, **refused.value.values)


def test_a_very_long_word_becomes_a_bounded_term() -> None:
    query = parse_query("я" * 200)
    assert len(query.terms) == 1
    assert len(query.terms[0]) <= MAX_TERM_CHARS


def _doc(word: str) -> set[str]:
    return {term for part in words(word) for term in roots(part, True)}


def _asked(word: str) -> str:
    (term,) = roots(words(word)[0])
    return term


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("блокировки", "заблокировал"),
        ("блокировка", "разблокировали"),
        ("блокирует", "блокировку"),
        ("замедление", "замедлили"),
        ("замедлять", "замедлял"),
        ("регистрация", "зарегистрировался"),
        ("требование", "потребовал"),
        ("штраф", "оштрафовали"),
        ("цензура", "цензурирует"),
        ("телеграм", "Telegram"),
        ("телеграма", "Телеграме"),
        ("blocking", "blocked"),
        ("blocking", "unblocked"),
        ("throttling", "throttled"),
        ("censorship", "censored"),
    ],
)
def test_word_forms_find_each_other(query: str, document: str) -> None:
    assert _asked(query) in _doc(document)


@pytest.mark.parametrize(
    ("query", "document"),
    [
        ("разблокировка", "заблокировал"),  # unblocking news only
        ("unblocked", "blocked"),
        ("ключи", "отключение"),  # keys are not shutdowns
        ("ключи", "заключил"),
        ("банк", "бан"),
    ],
)
def test_different_words_stay_apart(query: str, document: str) -> None:
    assert _asked(query) not in _doc(document)


# Redis: index and search ------------------------------------------------------------------


async def test_russian_and_english_word_forms_are_found(redis: aioredis.Redis) -> None:
    await put(
        redis,
        make_story(1, "Роскомнадзор заблокировал Telegram", "Ведомство исполнило решение суда.",
                   lang="ru"),
        make_story(2, "Провайдеры замедлили YouTube в Москве", "Скорость упала в десять раз.",
                   lang="ru"),
        make_story(3, "Суд: власти разблокировали LinkedIn", "Доступ вернули спустя годы.",
                   lang="ru"),
        make_story(4, "Iran blocked WhatsApp and Instagram", "Mobile networks cut access."),
    )  # fmt: skip
    assert await find(redis, "блокировки") == ["s1", "s3"]
    assert await find(redis, "разблокировка") == ["s3"]
    assert await find(redis, "замедление") == ["s2"]
    assert await find(redis, "blocking") == ["s4"]
    assert await find(redis, "телеграм") == ["s1"]


async def test_every_term_must_match(redis: aioredis.Redis) -> None:
    await put(
        redis,
        make_story(1, "Russia blocks Telegram", "Roskomnadzor acted on a court order."),
        make_story(2, "Russia blocks LinkedIn", "The regulator cited data localisation."),
        make_story(3, "Telegram adds stories", "A product update with no blocking at all."),
    )
    assert await find(redis, "telegram blocked russia") == ["s1"]
    assert await find(redis, "telegram linkedin") == []


async def test_quoted_phrase_must_appear_as_written(redis: aioredis.Redis) -> None:
    await put(
        redis,
        make_story(1, "FSB demands decryption keys from Telegram", "The court fined the app."),
        make_story(2, "Telegram keys", "Decryption is not possible, says the company."),
        make_story(3, "Регулятор требует ключи шифрования", "Мессенджер отказался.", lang="ru"),
    )
    assert await find(redis, '"decryption keys"') == ["s1"]
    assert await find(redis, '"decryption key" telegram') == ["s1"]
    assert await find(redis, "«ключей шифрования»") == ["s3"]


async def test_filters_narrow_by_app_country_and_language(redis: aioredis.Redis) -> None:
    await put(
        redis,
        make_story(1, "WhatsApp calls blocked", "Calls fail.", apps=("whatsapp",),
                   countries=("RU",), lang="en"),
        make_story(2, "Звонки в WhatsApp заблокированы", "Звонки не проходят.",
                   apps=("whatsapp",), countries=("RU",), lang="ru"),
        make_story(3, "WhatsApp blocked during exams", "Exams again.", apps=("whatsapp",),
                   countries=("IQ",)),
        make_story(4, "Telegram blocked", "Again.", apps=("telegram",), countries=("RU",)),
    )  # fmt: skip
    assert await find(redis, "blocked app:whatsapp") == ["s1", "s3"]
    assert await find(redis, "app:whatsapp country:ru") == ["s1", "s2"]
    assert await find(redis, "app:whatsapp country:RU lang:ru") == ["s2"]
    assert await find(redis, "country:IQ") == ["s3"]


async def test_title_matches_rank_above_mentions_of_the_same_age(redis: aioredis.Redis) -> None:
    await put(
        redis,
        make_story(1, "Ministry publishes annual report", "It mentions VPN blocking once."),
        make_story(2, "VPN blocking expands to new protocols", "Operators filter more.",
                   published=NOW - timedelta(hours=5)),
        make_story(3, "VPN blocking in the news a week ago", "Old news.",
                   published=NOW - timedelta(days=7)),
    )  # fmt: skip
    assert await find(redis, "vpn blocking") == ["s2", "s1", "s3"]


async def test_newer_stories_come_first_when_equally_good(redis: aioredis.Redis) -> None:
    await put(
        redis,
        *(make_story(n, f"Telegram blocked, day {n}", "", published=NOW - timedelta(days=n))
          for n in (30, 2, 61, 9))
    )  # fmt: skip
    assert await find(redis, "telegram") == ["s2", "s9", "s30", "s61"]


async def test_pages_cover_every_match_once(redis: aioredis.Redis) -> None:
    await put(redis, *(make_story(n, f"Signal blocked in region {n}") for n in range(1, 26)))
    seen: list[str] = []
    for offset, size, more in ((0, 10, True), (10, 10, True), (20, 5, False)):
        page = await search.search(redis, parse_query("signal"), now=NOW, offset=offset)
        assert (len(page.stories), page.has_more, page.total_estimate) == (size, more, 25)
        seen += [story.id for story in page.stories]
    assert seen == [f"s{n}" for n in range(1, 26)]


async def test_stories_gone_from_storage_are_skipped(redis: aioredis.Redis) -> None:
    await put(redis, *(make_story(n, f"Viber blocked, report {n}") for n in range(1, 13)))
    await redis.delete(keys.story("s1"), keys.story("s2"))
    page = await search.search(redis, parse_query("viber"), now=NOW, limit=5)
    assert [story.id for story in page.stories] == ["s3", "s4", "s5", "s6", "s7"]
    assert page.has_more


async def test_indexing_twice_and_removing(redis: aioredis.Redis) -> None:
    story = make_story(1, "Zello blocked again", "The walkie-talkie app.")
    (num,) = await put(redis, story)
    await search.index_story(redis, story, num, TTL)
    assert await find(redis, "zello") == ["s1"]
    await search.remove_story(redis, story, num)
    assert await find(redis, "zello") == []


async def test_only_the_search_window_is_searched(redis: aioredis.Redis) -> None:
    await put(
        redis,
        make_story(1, "Imo blocked", published=NOW - timedelta(days=3)),
        make_story(2, "Imo blocked earlier", published=NOW - timedelta(days=40)),
    )
    assert await find(redis, "imo", window_days=30) == ["s1"]
    assert await find(redis, "imo") == ["s1", "s2"]


async def test_sweep_drops_expired_weeks_and_gone_stories(redis: aioredis.Redis) -> None:
    old = make_story(1, "LINE blocked in 2017", published=NOW - timedelta(days=120))
    gone = make_story(2, "LINE blocked this week", published=NOW - timedelta(hours=2))
    kept = make_story(3, "LINE unblocked this week", published=NOW - timedelta(hours=1))
    await put(redis, old, gone, kept)
    await redis.delete(keys.story(gone.id))
    old_week = int(old.published.timestamp()) // search.WEEK
    assert await search.sweep(redis, NOW, 90 * DAY) == 2
    assert not await redis.exists(keys.search_bucket(old_week, "en"))
    assert await search.sweep(redis, NOW, 90 * DAY) == 0
    assert await find(redis, "line", window_days=365) == ["s3"]


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert('x')</script>",
        "*telegram*",
        "app:telegram " + "ж" * 120,
        "' OR 1=1; DROP TABLE stories --",
    ],
)
async def test_hostile_queries_just_find_nothing(redis: aioredis.Redis, text: str) -> None:
    await put(redis, make_story(1, "Telegram blocked", apps=("telegram",)))
    expected = ["s1"] if text == "*telegram*" else []
    assert await find(redis, text) == expected


async def test_pages_match_a_plain_scan_of_every_story(redis: aioredis.Redis) -> None:
    """Early stopping across weeks returns exactly what scoring every story would."""
    rng = random.Random(2018)
    vocab = ["telegram", "blocked", "court", "vpn", "signal", "throttled", "fines", "iran"]
    corpus = [
        make_story(
            n,
            " ".join(rng.sample(vocab, 2)),
            " ".join(rng.sample(vocab, 3)),
            published=NOW - timedelta(minutes=rng.randrange(100 * 24 * 60)),
            apps=(rng.choice(["telegram", "signal"]),),
            lang=rng.choice(["en", "ru", "uk"]),
        )
        for n in range(1, 301)
    ]
    numbered = list(zip(corpus, range(1, 301), strict=True))
    await stories_only(redis, numbered)
    await search.index_stories(redis, numbered, TTL)
    await search.index_stories(redis, numbered[:50], TTL)  # repeating changes nothing
    since = NOW.timestamp() - 90 * DAY
    for _ in range(40):
        words_asked = rng.sample(vocab, rng.randint(1, 2))
        text = " ".join(words_asked + rng.sample(["", "app:signal", "lang:uk", "lang:ru"], 1))
        offset = rng.choice([0, 3, 9])
        query = parse_query(text.strip())
        expected = []
        for story, num in numbered:
            terms = document_terms(story)
            minute = int(story.published.timestamp()) // 60 * 60
            if minute >= since and all(t in terms for t in query.terms + query.filters):
                title_share = sum(terms[t] for t in query.terms) / len(query.terms)
                expected.append((minute + int(DAY * title_share), num, story.id))
        expected.sort(reverse=True)
        page = await search.search(redis, query, now=NOW, limit=4, offset=offset)
        assert [s.id for s in page.stories] == [i for *_, i in expected[offset : offset + 4]]
        assert page.has_more == (len(expected) > offset + 4)


async def stories_only(redis: aioredis.Redis, numbered: list[tuple[Story, int]]) -> None:
    """The story records and number map the index points at, as bot/stories.py writes them."""
    async with redis.pipeline(transaction=False) as pipe:
        for story, num in numbered:
            pipe.hset(keys.story(story.id), mapping={"data": stories.story_to_json(story)})
            pipe.hset(keys.story_nums(), str(num), story.id)
        await pipe.execute()
