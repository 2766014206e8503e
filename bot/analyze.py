"""The CPU half of a poll, run in worker processes: parse, normalize, classify, summarize.

Everything here is pure and picklable in and out, so it runs in a process pool while the
event loop keeps fetching. Errors come back as data (``error``), not as exceptions.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.errors import ParseError
from bot.models import Story


@dataclass(frozen=True, slots=True)
class FeedJob:
    feed_url: str
    source: str
    lang: str
    topical: bool
    body: bytes
    headers: Mapping[str, str]
    fetched: datetime
    retention: float
    summary_sentences: int
    summary_chars: int


@dataclass(frozen=True, slots=True)
class Analyzed:
    """On-topic stories of one feed with their cluster fingerprints, and what was skipped."""

    stories: tuple[tuple[Story, str], ...] = ()
    entries: int = 0
    off_topic: int = 0
    too_old: int = 0
    warning: str = ""
    error: str = ""


def analyze(job: FeedJob) -> Analyzed:
    """Parse the feed in ``job`` and keep its on-topic, recent entries as enriched stories.

    A bug that this feed's content trips is that feed's error, naming where it happened: one
    feed must not stop every poll after it (the error reaches ``poll``'s report and admins).
    """
    try:
        return _analyze(job)
    except Exception as e:  # the batch boundary (a ParseError is handled inside)
        frame = traceback.extract_tb(e.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        return Analyzed(error=f"internal error reading this feed: {e!r:.200} at {where}")


def _analyze(job: FeedJob) -> Analyzed:
    from bot.cluster import fingerprint
    from bot.normalize import make_story, unique
    from bot.parse import parse_feed
    from bot.relevance import classify, default_vocabulary, is_relevant
    from bot.summarize import summarize

    try:
        parsed = parse_feed(job.feed_url, job.body, job.headers)
    except ParseError as e:
        return Analyzed(error=e.reason)
    vocabulary = default_vocabulary()
    oldest = job.fetched - timedelta(seconds=job.retention)
    lang = job.lang or parsed.lang
    kept: list[tuple[Story, str]] = []
    off_topic = too_old = 0
    candidates = []
    for entry in parsed.entries:
        story = make_story(
            entry, feed_url=job.feed_url, source=job.source, lang=lang, fetched=job.fetched
        )
        if story is not None:
            candidates.append(story)
    for story in unique(candidates):
        if story.published < oldest:
            too_old += 1
            continue
        relevance = classify(story.title, story.text, story.lang, vocabulary)
        if not job.topical and not is_relevant(relevance, vocabulary):
            off_topic += 1
            continue
        story = dataclasses.replace(
            story,
            score=relevance.score,
            apps=relevance.apps,
            countries=relevance.countries,
            actions=relevance.actions,
        )
        summary = summarize(
            story.title,
            story.text,
            story.lang,
            max_sentences=job.summary_sentences,
            max_chars=job.summary_chars,
        )
        story = dataclasses.replace(story, summary=summary)
        kept.append((story, fingerprint(story).dumps()))
    return Analyzed(
        stories=tuple(kept),
        entries=len(parsed.entries),
        off_topic=off_topic,
        too_old=too_old,
        warning=parsed.warning,
    )
