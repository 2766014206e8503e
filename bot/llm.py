"""Optional LLM summaries through an OpenAI-compatible chat-completions endpoint.

Off by default. Every failure (timeout, HTTP error, malformed or empty answer, an answer
too long or in the wrong script, the per-poll call budget spent) gives back the caller's
extractive summary, so a story always has one. The API key goes only into the
``Authorization`` header: it is kept out of ``repr`` and scrubbed from every log line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.cleaning import clean_article
from bot.errors import SummarizerError

logger = logging.getLogger(__name__)

_MAX_INPUT = 6000  # characters of story text sent to the model
_MAX_BODY = 256 * 1024  # bytes of answer read at most
_MIN_WORDS = 3
_LANGUAGE_NAMES = {"en": "English", "ru": "Russian"}
_LETTER = re.compile(r"[^\W\d_]")
_CYRILLIC = re.compile(r"[а-яёА-ЯЁ]")
_LATIN = re.compile(r"[A-Za-z]")
_PREFACE = re.compile(r"^(?:summary|резюме|кратко|краткое содержание)\s*:\s*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_QUOTES = "\"'«»“”„"


@dataclass(frozen=True)
class LlmSettings:
    """The ``[summarizer]`` LLM keys; ``url`` is the full chat/completions URL."""

    enabled: bool = False
    url: str = ""
    model: str = ""
    api_key: str = field(default="", repr=False)
    timeout: float = 20.0
    concurrency: int = 2
    max_calls_per_poll: int = 50
    max_chars: int = 400


class LlmSummarizer:
    """Asks the model for a short summary; falls back to the extractive one on any failure."""

    def __init__(self, session: aiohttp.ClientSession, settings: LlmSettings) -> None:
        self._session = session
        self._settings = settings
        self._semaphore = asyncio.Semaphore(max(1, settings.concurrency))
        self._calls_left = settings.max_calls_per_poll

    def start_poll(self) -> None:
        """A new poll begins: the call budget is full again."""
        self._calls_left = self._settings.max_calls_per_poll

    async def summarize(self, story_title: str, text: str, lang: str, fallback: str) -> str:
        """The model's summary of the story, or ``fallback`` when anything goes wrong."""
        settings = self._settings
        if not settings.enabled or not settings.url or not text.strip():
            return fallback
        if self._calls_left <= 0:
            logger.debug("LLM call budget spent for this poll; extractive summary kept")
            return fallback
        self._calls_left -= 1  # taken before waiting, so concurrent callers never overspend
        try:
            async with self._semaphore:
                return await self._ask(story_title, text, lang)
        except SummarizerError as e:
            logger.warning("LLM summary failed, extractive one kept: %s", self._scrub(str(e)))
            return fallback

    async def _ask(self, title: str, text: str, lang: str) -> str:
        settings = self._settings
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        timeout = aiohttp.ClientTimeout(total=settings.timeout)
        try:
            async with self._session.post(
                settings.url, json=self._payload(title, text, lang), headers=headers,
                timeout=timeout, allow_redirects=False,
            ) as response:  # fmt: skip
                if not 200 <= response.status < 300:
                    raise SummarizerError(f"HTTP {response.status}")
                body = await _read_capped(response)
        except TimeoutError as e:
            raise SummarizerError(f"no answer within {settings.timeout:g} s") from e
        except aiohttp.ClientError as e:
            raise SummarizerError(f"request failed ({type(e).__name__})") from e
        except ValueError as e:  # a URL yarl cannot parse
            raise SummarizerError(f"bad request ({type(e).__name__})") from e
        try:
            answer = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SummarizerError("the answer is not JSON") from e
        return self._check(_content(answer), lang)

    def _payload(self, title: str, text: str, lang: str) -> dict[str, Any]:
        language = _LANGUAGE_NAMES.get(lang, "the language of the story")
        limit = self._settings.max_chars
        system = (
            "You summarize news stories about internet censorship and messenger blocking for "
            f"a Telegram digest. Answer with one or two plain sentences in {language}, at most "
            f"{limit} characters, using only facts stated in the story. No preface, no "
            "markup, no opinions."
        )
        story = clean_article(text, lang)[:_MAX_INPUT]
        return {
            "model": self._settings.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": f"Title: {title}\n\n{story}"},
            ],
            "temperature": 0.2,
            "max_tokens": max(64, limit // 2),
        }

    def _check(self, content: str, lang: str) -> str:
        """The answer tidied, or an error when it is not a usable summary."""
        summary = _PREFACE.sub("", _SPACES.sub(" ", content).strip()).strip(_QUOTES + " ")
        if len(summary.split()) < _MIN_WORDS or not _LETTER.search(summary):
            raise SummarizerError("the answer is empty or not prose")
        if "```" in summary or ("<" in summary and ">" in summary):
            raise SummarizerError("the answer holds markup")
        if len(summary) > self._settings.max_chars:
            raise SummarizerError(f"the answer is too long ({len(summary)} characters)")
        cyrillic, latin = len(_CYRILLIC.findall(summary)), len(_LATIN.findall(summary))
        if (lang == "ru" and cyrillic <= latin) or (lang == "en" and latin <= cyrillic):
            raise SummarizerError(f"the answer is not in the story's language ({lang})")
        return summary

    def _scrub(self, message: str) -> str:
        key = self._settings.api_key
        return message.replace(key, "***") if key else message


async def _read_capped(response: aiohttp.ClientResponse) -> bytes:
    """The body, refusing more than ``_MAX_BODY`` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > _MAX_BODY:
            raise SummarizerError(f"the answer is over {_MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _content(answer: object) -> str:
    """``choices[0].message.content`` of a chat-completions answer, checked on the way."""
    if not isinstance(answer, dict):
        raise SummarizerError("the answer is not a JSON object")
    choices = answer.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise SummarizerError("the answer has no choices")
    choice = choices[0]
    if choice.get("finish_reason") == "length":
        raise SummarizerError("the answer was cut off at the token limit")
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise SummarizerError("the answer has no message content")
    return content
