"""The optional LLM summaries at the pipeline's hand-on point.

Each new story is stored with its extractive summary first; when ``[summarizer]
llm_enabled`` is on, this handler asks the model for a better one (within the per-poll call
budget) and replaces the stored summary when the model gave a usable answer. Any failure
keeps the extractive summary. Digests, instant alerts (queued after this stage), ``/latest``
and search results show the stored one; the search index keeps the extractive one's words.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp

from bot import stories
from bot.config import SummarizerSettings
from bot.llm import LlmSettings, LlmSummarizer
from bot.models import Story
from bot.pipeline import StoryHandler
from bot.storage import Redis


def llm_settings(summarizer: SummarizerSettings) -> LlmSettings:
    """The LLM client's settings from the ``[summarizer]`` section."""
    return LlmSettings(
        enabled=summarizer.llm_enabled,
        url=summarizer.llm_url,
        model=summarizer.llm_model,
        api_key=summarizer.llm_api_key,
        timeout=summarizer.llm_timeout,
        concurrency=summarizer.llm_concurrency,
        max_calls_per_poll=summarizer.llm_max_calls_per_poll,
        max_chars=summarizer.max_chars + summarizer.max_chars // 2,
    )


def llm_handler(redis: Redis, summarizer: LlmSummarizer) -> StoryHandler:
    """A handler that improves each new story's stored summary with the model."""

    async def improve(new: Sequence[Story]) -> None:
        answers = await asyncio.gather(
            *(summarizer.summarize(s.title, s.text, s.lang, fallback=s.summary) for s in new)
        )
        for story, summary in zip(new, answers, strict=True):
            if summary and summary != story.summary:
                await stories.replace_summary(redis, story.id, summary)

    return improve


def make_summarizer(
    session: aiohttp.ClientSession, summarizer: SummarizerSettings
) -> LlmSummarizer | None:
    """The LLM client when it is switched on, else None."""
    if not summarizer.llm_enabled:
        return None
    return LlmSummarizer(session, llm_settings(summarizer))
