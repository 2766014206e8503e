"""A feed's fetch state and the pure decisions on it: due or not, backoff, failing, gone."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from bot.schedule import backoff_delay

BACKOFF_BASE = 60.0


class FeedStatus(StrEnum):
    OK = "ok"
    FAILING = "failing"
    DISABLED = "disabled"
    """The publisher said 410 Gone: no more fetches until an admin resumes the feed."""


@dataclass(frozen=True, slots=True)
class FeedState:
    url: str
    fetch_url: str = ""
    etag: str = ""
    last_modified: str = ""
    errors: int = 0
    status: FeedStatus = FeedStatus.OK
    last_error: str = ""
    next_at: float = 0.0
    last_attempt: float = 0.0
    last_ok: float = 0.0
    stories: int = 0

    @property
    def target(self) -> str:
        """Where to fetch from: the URL a permanent redirect gave, else the configured one."""
        return self.fetch_url or self.url

    def to_redis(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_redis(cls, url: str, raw: Mapping[str, str]) -> FeedState:
        if not raw:
            return cls(url=url)
        return cls(
            url=url,
            fetch_url=raw.get("fetch_url", ""),
            etag=raw.get("etag", ""),
            last_modified=raw.get("last_modified", ""),
            errors=int(raw.get("errors", 0)),
            status=FeedStatus(raw.get("status", FeedStatus.OK)),
            last_error=raw.get("last_error", ""),
            next_at=float(raw.get("next_at", 0.0)),
            last_attempt=float(raw.get("last_attempt", 0.0)),
            last_ok=float(raw.get("last_ok", 0.0)),
            stories=int(raw.get("stories", 0)),
        )


def changed_fields(old: FeedState, new: FeedState) -> dict[str, str]:
    """The fields of ``new`` (as ``to_redis`` writes them) that differ from ``old``."""
    before = old.to_redis()
    return {name: value for name, value in new.to_redis().items() if before[name] != value}


def is_due(state: FeedState, now: datetime) -> bool:
    """True when the feed may be fetched now (not gone, not inside a backoff or Retry-After)."""
    return state.status is not FeedStatus.DISABLED and now.timestamp() >= state.next_at


def after_success(
    state: FeedState,
    now: datetime,
    *,
    etag: str,
    last_modified: str,
    moved_to: str,
    new_stories: int,
) -> FeedState:
    """The state after a 200 or a 304: errors cleared, validators and a moved URL kept."""
    return dataclasses.replace(
        state,
        fetch_url=moved_to or state.fetch_url,
        etag=etag or state.etag,
        last_modified=last_modified or state.last_modified,
        errors=0,
        status=FeedStatus.OK,
        last_error="",
        next_at=0.0,
        last_attempt=now.timestamp(),
        last_ok=now.timestamp(),
        stories=state.stories + new_stories,
    )


def after_failure(
    state: FeedState,
    now: datetime,
    *,
    reason: str,
    status: int = 0,
    retry_after: float | None = None,
    failing_after: int,
    max_backoff: float,
) -> FeedState:
    """The state after an error: exponential backoff, failing after N errors, 410 disables."""
    errors = state.errors + 1
    if status == 410:
        new_status = FeedStatus.DISABLED
    elif errors >= failing_after:
        new_status = FeedStatus.FAILING
    else:
        new_status = state.status if state.status is FeedStatus.FAILING else FeedStatus.OK
    delay = backoff_delay(errors, BACKOFF_BASE, max_backoff)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max_backoff))
    return dataclasses.replace(
        state,
        errors=errors,
        status=new_status,
        last_error=reason,
        next_at=now.timestamp() + delay,
        last_attempt=now.timestamp(),
    )


def describe(state: FeedState, now: datetime) -> str:
    """One line a person can act on: health, last error, when the next try is."""
    if state.status is FeedStatus.DISABLED:
        return f"disabled: {state.last_error}"
    if state.errors:
        wait = max(0.0, state.next_at - now.timestamp())
        when = datetime.fromtimestamp(state.next_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
        head = "failing" if state.status is FeedStatus.FAILING else "error"
        retry = f"next try {when}" if wait > 0 else "retrying now"
        return f"{head} ({state.errors}×): {state.last_error}; {retry}"
    return "ok"
