"""Prometheus metrics of one process, in a registry of its own (no global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.sent = Counter("censorwire_messages_sent", "Messages delivered", ["kind"], registry=r)
        self.failed = Counter(
            "censorwire_messages_failed", "Messages given up on", ["reason"], registry=r
        )
        self.too_many = Counter(
            "censorwire_telegram_429", "429 Too Many Requests answers from Telegram", registry=r
        )
        self.blocked = Counter(
            "censorwire_chats_unsubscribed", "Chats dropped (blocked the bot, gone)", registry=r
        )
        self.queue_depth = Gauge(
            "censorwire_delivery_queue_depth", "Messages waiting in the delivery queue", registry=r
        )
        self.poll_seconds = Histogram(
            "censorwire_poll_seconds",
            "Duration of a poll of every feed",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.feed_errors = Counter(
            "censorwire_feed_errors", "Feed fetch or parse failures", registry=r
        )
        self.stories = Counter("censorwire_stories_new", "New stories stored", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
