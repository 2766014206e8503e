"""The one exception hierarchy of CensorWire."""

from __future__ import annotations


class CensorWireError(Exception):
    """Base of every error CensorWire raises on purpose."""


class ConfigError(CensorWireError):
    """Bad configuration or usage; the message names the key. Exit code 2."""


class StorageError(CensorWireError):
    """Redis is unreachable or refused a command. Exit code 1."""


class EmbeddedServerError(StorageError):
    """The embedded Redis-compatible server could not be found or started."""


class FeedError(CensorWireError):
    """A feed could not be fetched or parsed; ``reason`` is for a person to act on."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class FetchError(FeedError):
    """The HTTP side failed: network, status, size, timeout."""

    def __init__(
        self, url: str, reason: str, *, retry_after: float | None = None, status: int = 0
    ) -> None:
        super().__init__(url, reason)
        self.retry_after = retry_after
        self.status = status


class ParseError(FeedError):
    """The body is not a feed we can read."""


class QueryError(CensorWireError, ValueError):
    """A search query we cannot run. ``reason`` names a text of the catalog (bot/i18n.py)
    and ``values`` fill it, so whoever asked reads why in their own language."""

    def __init__(self, reason: str, **values: str) -> None:
        super().__init__(reason, values)
        self.reason = reason
        self.values = values


class SummarizerError(CensorWireError):
    """An optional LLM summarizer failed; callers fall back to the extractive summary."""


class OoniError(CensorWireError):
    """The OONI API failed or answered something we cannot read."""
