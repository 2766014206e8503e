"""The optional LLM summarizer against a local fake OpenAI-compatible endpoint."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

import aiohttp
import pytest
from aiohttp import web

from bot.llm import LlmSettings, LlmSummarizer

KEY = "sk-test-4f7d1c9e-not-a-real-key"
FALLBACK = "Roskomnadzor blocked Telegram on Monday."
TITLE = "Russia blocks Telegram"
TEXT = (
    "MOSCOW (Reuters) - Russia's communications regulator blocked the Telegram messenger on "
    "Monday after a Moscow court ruled against the company. The app had refused to hand "
    "encryption keys to the FSB security service."
)
GOOD = "Russia's regulator blocked Telegram after the app refused to hand encryption keys."
RU_TEXT = "москва, 16 апр — риа новости. роскомнадзор начал блокировку telegram."
RU_GOOD = "Роскомнадзор начал блокировку Telegram по решению суда."

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeLlm:
    """What the fake endpoint saw, and how it answers."""

    url: str = ""
    requests: list[dict[str, object]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    handler: Handler | None = None


def completion(content: object, finish_reason: str = "stop") -> dict[str, object]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content},
             "finish_reason": finish_reason}
        ],
    }  # fmt: skip


def answer_with(content: object, finish_reason: str = "stop") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(completion(content, finish_reason))

    return handler


@pytest.fixture
async def fake_llm() -> AsyncIterator[FakeLlm]:
    fake = FakeLlm()

    async def endpoint(request: web.Request) -> web.StreamResponse:
        fake.requests.append(await request.json())
        fake.authorizations.append(request.headers.get("Authorization", ""))
        assert fake.handler is not None
        return await fake.handler(request)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", endpoint)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}/v1/chat/completions"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def settings_for(fake: FakeLlm, **changes: object) -> LlmSettings:
    base = LlmSettings(enabled=True, url=fake.url, model="tiny-news", api_key=KEY, timeout=5.0)
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_a_good_answer_is_the_summary(
    fake_llm: FakeLlm, session: aiohttp.ClientSession
) -> None:
    fake_llm.handler = answer_with(f"  Summary: {GOOD}\n")
    summarizer = LlmSummarizer(session, settings_for(fake_llm))
    assert await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) == GOOD
    sent = fake_llm.requests[0]
    assert sent["model"] == "tiny-news"
    messages = sent["messages"]
    assert isinstance(messages, list)
    assert messages[0]["role"] == "system"
    assert "English" in messages[0]["content"]
    assert "(Reuters)" not in messages[1]["content"]  # the story goes out cleaned
    assert TITLE in messages[1]["content"]


async def test_a_russian_story_asks_for_russian(
    fake_llm: FakeLlm, session: aiohttp.ClientSession
) -> None:
    fake_llm.handler = answer_with(RU_GOOD)
    summarizer = LlmSummarizer(session, settings_for(fake_llm))
    assert await summarizer.summarize("РКН блокирует Telegram", RU_TEXT, "ru", FALLBACK) == RU_GOOD
    messages = fake_llm.requests[0]["messages"]
    assert isinstance(messages, list)
    assert "Russian" in messages[0]["content"]


async def test_a_server_that_never_answers_times_out_to_the_fallback(
    fake_llm: FakeLlm, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.json_response(completion(GOOD))

    fake_llm.handler = hang
    summarizer = LlmSummarizer(session, settings_for(fake_llm, timeout=0.05))
    with caplog.at_level(logging.WARNING, logger="bot.llm"):
        assert await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) == FALLBACK
    assert "no answer within" in caplog.text
    never.set()  # only now, so that the fake server can stop


def status(code: int, body: str = "oops") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=code, text=body)

    return handler


def raw(body: str, content_type: str = "application/json") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=body, content_type=content_type)

    return handler


@pytest.mark.parametrize(
    ("handler", "logged"),
    [
        (status(500), "HTTP 500"),
        (status(401, '{"error": "invalid key"}'), "HTTP 401"),
        (status(429), "HTTP 429"),
        (raw("<html>Bad gateway</html>", "text/html"), "not JSON"),
        (raw('{"choices": [{"message": {"content": "cut'), "not JSON"),
        (raw("[1, 2, 3]"), "not a JSON object"),
        (raw('{"choices": []}'), "no choices"),
        (raw('{"error": {"message": "model overloaded"}}'), "no choices"),
        (answer_with(None), "no message content"),
        (answer_with(42), "no message content"),
        (answer_with(""), "empty or not prose"),
        (answer_with("   "), "empty or not prose"),
        (answer_with("!!! ??? ..."), "empty or not prose"),
        (answer_with("Telegram."), "empty or not prose"),
        (answer_with('```json\n{"summary": "Telegram was blocked"}\n```'), "markup"),
        (answer_with("<b>Telegram</b> was blocked by the regulator."), "markup"),
        (answer_with("Роскомнадзор заблокировал Telegram в понедельник."), "language"),
        (answer_with(GOOD, finish_reason="length"), "cut off"),
        (answer_with("Telegram was blocked. " * 30), "too long"),
    ],
)
async def test_any_bad_answer_gives_the_fallback(
    fake_llm: FakeLlm,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    handler: Handler,
    logged: str,
) -> None:
    fake_llm.handler = handler
    summarizer = LlmSummarizer(session, settings_for(fake_llm))
    with caplog.at_level(logging.WARNING, logger="bot.llm"):
        assert await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) == FALLBACK
    assert logged in caplog.text


async def test_an_answer_just_within_the_limit_is_kept(
    fake_llm: FakeLlm, session: aiohttp.ClientSession
) -> None:
    answer = ("Telegram was blocked in Russia on Monday " * 10)[:119].strip() + "."
    fake_llm.handler = answer_with(answer)
    summarizer = LlmSummarizer(session, settings_for(fake_llm, max_chars=120))
    assert await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) == answer


async def test_an_unreachable_endpoint_gives_the_fallback(
    fake_llm: FakeLlm, session: aiohttp.ClientSession
) -> None:
    url = fake_llm.url.replace("/v1/chat/completions", "/nowhere")  # 404 from the fake
    summarizer = LlmSummarizer(session, settings_for(fake_llm, url=url))
    assert await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) == FALLBACK


@pytest.mark.parametrize(
    "changes",
    [{"enabled": False}, {"url": ""}],
)
async def test_a_disabled_summarizer_calls_nothing(
    fake_llm: FakeLlm, session: aiohttp.ClientSession, changes: dict[str, object]
) -> None:
    fake_llm.handler = answer_with(GOOD)
    summarizer = LlmSummarizer(session, settings_for(fake_llm, **changes))
    assert await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) == FALLBACK
    assert fake_llm.requests == []


async def test_empty_text_calls_nothing(fake_llm: FakeLlm, session: aiohttp.ClientSession) -> None:
    fake_llm.handler = answer_with(GOOD)
    summarizer = LlmSummarizer(session, settings_for(fake_llm))
    assert await summarizer.summarize(TITLE, "  \n", "en", "") == ""
    assert fake_llm.requests == []


async def test_the_call_budget_is_per_poll(
    fake_llm: FakeLlm, session: aiohttp.ClientSession
) -> None:
    fake_llm.handler = answer_with(GOOD)
    summarizer = LlmSummarizer(session, settings_for(fake_llm, max_calls_per_poll=2))
    results = [await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) for _ in range(3)]
    assert results == [GOOD, GOOD, FALLBACK]
    assert len(fake_llm.requests) == 2
    summarizer.start_poll()
    assert await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) == GOOD
    assert len(fake_llm.requests) == 3


async def test_concurrent_callers_never_overspend_the_budget(
    fake_llm: FakeLlm, session: aiohttp.ClientSession
) -> None:
    fake_llm.handler = answer_with(GOOD)
    summarizer = LlmSummarizer(session, settings_for(fake_llm, max_calls_per_poll=3))
    results = await asyncio.gather(
        *(summarizer.summarize(TITLE, TEXT, "en", FALLBACK) for _ in range(8))
    )
    assert sorted(results) == sorted([GOOD] * 3 + [FALLBACK] * 5)
    assert len(fake_llm.requests) == 3


async def test_no_more_requests_in_flight_than_the_concurrency(
    fake_llm: FakeLlm, session: aiohttp.ClientSession
) -> None:
    limit = 2
    in_flight = 0
    most = 0
    full = asyncio.Event()
    release = asyncio.Event()

    async def held(request: web.Request) -> web.StreamResponse:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        if in_flight >= limit:
            full.set()
        await release.wait()
        in_flight -= 1
        return web.json_response(completion(GOOD))

    fake_llm.handler = held
    summarizer = LlmSummarizer(session, settings_for(fake_llm, concurrency=limit))
    calls = [
        asyncio.create_task(summarizer.summarize(TITLE, TEXT, "en", FALLBACK)) for _ in range(6)
    ]
    await full.wait()
    for _ in range(50):  # give any request past the limit every chance to arrive
        await asyncio.sleep(0)
    assert len(fake_llm.requests) == limit
    release.set()
    assert await asyncio.gather(*calls) == [GOOD] * 6
    assert most == limit


async def test_the_key_is_sent_as_a_bearer_header_and_never_logged(
    fake_llm: FakeLlm, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter([answer_with(GOOD), status(401, f'{{"error": "bad key {KEY}"}}'), raw("{")])

    async def rotating(request: web.Request) -> web.StreamResponse:
        return await next(answers)(request)

    fake_llm.handler = rotating
    summarizer = LlmSummarizer(session, settings_for(fake_llm))
    with caplog.at_level(logging.DEBUG):
        for _ in range(3):
            await summarizer.summarize(TITLE, TEXT, "en", FALLBACK)
        # a URL carrying the key (some gateways want it there) fails without showing it
        leaky = LlmSummarizer(session, settings_for(fake_llm, url=f"http://[::1:{KEY}/"))
        assert await leaky.summarize(TITLE, TEXT, "en", FALLBACK) == FALLBACK
    assert fake_llm.authorizations == [f"Bearer {KEY}"] * 3
    assert KEY not in caplog.text
    assert KEY not in repr(settings_for(fake_llm))
    assert all(KEY not in json.dumps(sent) for sent in fake_llm.requests)


async def test_no_key_sends_no_authorization(
    fake_llm: FakeLlm, session: aiohttp.ClientSession
) -> None:
    fake_llm.handler = answer_with(GOOD)
    summarizer = LlmSummarizer(session, settings_for(fake_llm, api_key=""))
    assert await summarizer.summarize(TITLE, TEXT, "en", FALLBACK) == GOOD
    assert fake_llm.authorizations == [""]
