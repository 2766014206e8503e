"""The CPU half of a poll: one feed's unexpected failure is that feed's error, not the poll's."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.analyze import FeedJob, analyze
from tests.test_fastrss import PLAIN

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def job(**changes: object) -> FeedJob:
    fields: dict[str, object] = {
        "feed_url": "https://news.example/rss",
        "source": "Wire",
        "lang": "",
        "topical": False,
        "body": PLAIN,
        "headers": {"content-type": "application/rss+xml"},
        "fetched": NOW,
        "retention": 90 * 86400.0,
        "summary_sentences": 2,
        "summary_chars": 300,
    }
    return FeedJob(**{**fields, **changes})  # type: ignore[arg-type]


def test_a_feed_is_analyzed_into_on_topic_stories() -> None:
    result = analyze(job())
    assert result.error == "" and result.entries == 2
    assert [story.title for story, _fingerprint in result.stories] == ["РКН замедлил Telegram"]


def test_an_unexpected_failure_is_the_feeds_error_naming_where() -> None:
    result = analyze(job(retention="ninety days"))  # a bug's stand-in: a wrong type inside
    assert result.stories == ()
    assert result.error.startswith("internal error reading this feed: TypeError(")
    assert "analyze.py:" in result.error


def test_a_body_that_is_no_feed_is_a_parse_error() -> None:
    result = analyze(job(body=b"<html><body>Not a feed</body></html>", headers={}))
    assert "HTML page, not a feed" in result.error
