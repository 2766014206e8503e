"""Every Redis key name CensorWire uses. Nothing else builds a key.

All keys start with ``cw:``. A record that must change atomically lives in one key, or in
keys sharing a ``{hash tag}`` so MULTI/EXEC and Lua work on Redis Cluster too.

Schema history (``cw:schema`` holds the number):
  1. first version.
"""

from __future__ import annotations

import hashlib

SCHEMA_VERSION = 1


def digest(text: str, size: int = 16) -> str:
    """A short stable hex digest for building ids and keys from arbitrary text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size // 2).hexdigest()


def schema() -> str:
    return "cw:schema"


# Stories ---------------------------------------------------------------------------------


def story(story_id: str) -> str:
    """Hash: the story record (``data`` JSON, ``fp`` cluster fingerprint, ``num``)."""
    return f"cw:story:{{{story_id}}}"


def story_pattern() -> str:
    """SCAN pattern matching every story record."""
    return "cw:story:{*}"


def story_guid(feed_url: str, guid: str) -> str:
    """String: a feed's entry guid → story id, so an edited entry is never new again."""
    return "cw:guid:" + digest(f"{feed_url} {guid}")


def story_seq() -> str:
    """Counter: integer story numbers for the search index."""
    return "cw:story:seq"


def story_nums() -> str:
    """Hash: story number → story id."""
    return "cw:story:nums"


def stories_by_time() -> str:
    """Sorted set: story id scored by publication time (unix seconds)."""
    return "cw:idx:time"


def cluster(cluster_id: str) -> str:
    """Sorted set: the story ids of one cluster scored by publication time."""
    return f"cw:cluster:{{{cluster_id}}}"


def clusters_by_time() -> str:
    """Sorted set: cluster id scored by the time its newest story was stored."""
    return "cw:idx:clusters"


# Feeds ----------------------------------------------------------------------------------


def feed_state(feed_url: str) -> str:
    """Hash: a feed's fetch state (fetch URL, validators, errors, status, last poll)."""
    return f"cw:feed:{digest(feed_url)}"


def feeds_added() -> str:
    """Hash: feed URL → JSON of a feed added by an admin in the bot."""
    return "cw:feeds:added"


def feeds_removed() -> str:
    """Set: baseline feed URLs removed by an admin."""
    return "cw:feeds:removed"


def feeds_paused() -> str:
    """Set: feed URLs paused by an admin."""
    return "cw:feeds:paused"


def poll_last() -> str:
    """Hash: summary of the last finished poll."""
    return "cw:poll:last"


def lease(name: str) -> str:
    """String: holder id of a lease (``poll``, ``updates``), with a TTL."""
    return f"cw:lease:{name}"


# Subscribers and delivery ---------------------------------------------------------------


def subscription(chat_id: int) -> str:
    """Hash: a chat's subscription record (``data`` JSON)."""
    return f"cw:sub:{{{chat_id}}}"


def subscription_pattern() -> str:
    """SCAN pattern matching every subscription record."""
    return "cw:sub:{*}"


def sent_clusters(chat_id: int) -> str:
    """Set: cluster ids already sent to a chat (digests and alerts), with a TTL."""
    return f"cw:sent:{{{chat_id}}}"


def chat_settings(chat_id: int) -> str:
    """Hash: per-chat preferences kept even without a subscription (``lang``)."""
    return f"cw:chat:{{{chat_id}}}"


def subscribers() -> str:
    """Set: chat ids with a subscription."""
    return "cw:subs"


def digest_due() -> str:
    """Sorted set: chat id scored by its next digest time (unix seconds)."""
    return "cw:due"


def alert_chats() -> str:
    """Set: chat ids that opted in to instant alerts."""
    return "cw:alerts"


def user_rate(user_id: int) -> str:
    """Sorted set: a user's recent command times (abuse limit)."""
    return f"cw:urate:{user_id}"


def button(token: str) -> str:
    """Hash: state behind an inline button (callback data holds only ``token``)."""
    return f"cw:btn:{token}"


def queue() -> str:
    """Stream: the delivery queue, consumed by every process through one group."""
    return "cw:{dq}:q"


def queue_mark_prefix() -> str:
    """Prefix of the markers that make enqueueing idempotent (one per entry key)."""
    return "cw:{dq}:k:"


def queue_receipt(entry_id: str) -> str:
    """String: how many parts of a queue entry were sent."""
    return "cw:{dq}:r:" + entry_id


def broadcast(job: str) -> str:
    """Hash: one broadcast job (text, status, counters, progress message)."""
    return f"cw:{{dq}}:bc:{job}"


def broadcast_chats(job: str) -> str:
    """List: the chats a broadcast goes to, snapshotted when it was confirmed."""
    return f"cw:{{dq}}:bc:{job}:chats"


def broadcasts_active() -> str:
    """Set: broadcast jobs not finished yet."""
    return "cw:{dq}:bc:active"


# Search ---------------------------------------------------------------------------------
# Owned by bot/search.py. Every search key shares the hash tag {search}, so one Lua call can
# read all weeks on Redis Cluster too. A bucket holds one week of one language group's
# postings: field = term, value = packed 6-byte entries (binary: only that module's Lua
# scripts read or write them).


def search_bucket(week: int, part: str) -> str:
    """Hash: a week of the search index for ``part`` (en, ru, xx), term → packed postings."""
    return f"cw:search:{{search}}:w{week}:{part}"


def search_buckets() -> str:
    """Sorted set: the key of every search bucket, scored by the start of its week."""
    return "cw:search:{search}:buckets"


def search_sweep_cursor() -> str:
    """String: the bucket key whose postings the search sweep checked last."""
    return "cw:search:{search}:cursor"


# Rate limits and leases ---
# Owned by bot/ratelimit.py. Every Telegram rate key shares the hash tag {tg}, so the one Lua
# call that checks and reserves a send slot works on Redis Cluster too. Leases use lease().


def telegram_rate(scope: str) -> str:
    """Sorted set: Telegram sends in a sliding window (``global``, ``chat:<id>``, ``group:…``)."""
    return f"cw:rate:{{tg}}:{scope}"


def telegram_pause() -> str:
    """String with a TTL: every process holds its Telegram sends until it expires (after a 429)."""
    return "cw:rate:{tg}:pause"


# OONI ---
# Owned by bot/ooni_watch.py and bot/status_ui.py. A country's keys share the hash tag
# {ooni:CC}, so they can change together in one MULTI/EXEC on Redis Cluster too.


def ooni_days(country: str) -> str:
    """Hash: closed day (ISO) → JSON of its daily and per-network rows, kept for good."""
    return f"cw:ooni:{{ooni:{country}}}:days"


def ooni_episodes(country: str) -> str:
    """Hash: OONI test name → JSON of its open blocking episode (absent when none)."""
    return f"cw:ooni:{{ooni:{country}}}:episodes"


def ooni_series(country: str) -> str:
    """String: JSON of the day series per test from the last successful check (/status)."""
    return f"cw:ooni:{{ooni:{country}}}:series"


def ooni_events(country: str) -> str:
    """List: the latest alert and resolved decisions as JSON, newest first, capped."""
    return f"cw:ooni:{{ooni:{country}}}:events"


def ooni_chart(country: str, version: str, lang: str) -> str:
    """String with a TTL: base64 PNG of the /status chart of one series version."""
    return f"cw:ooni:{{ooni:{country}}}:chart:{version}:{lang}"


def ooni_health() -> str:
    """Hash: the OONI loop's health (errors in a row, last error, admins told)."""
    return "cw:ooni:health"
