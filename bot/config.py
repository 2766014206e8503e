"""Settings: the TOML config plus the environment, checked strictly, into one frozen object."""

from __future__ import annotations

import dataclasses
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bot.durations import DURATION, parse_duration
from bot.errors import ConfigError
from bot.ooni import OoniSettings

DEFAULT_CONFIG_NAME = "config.toml"
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    token: str = field(default="", repr=False)
    api_base_url: str = ""
    admins: tuple[int, ...] = ()
    webhook_url: str = ""
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443
    webhook_secret: str = field(default="", repr=False)
    commands_per_minute: int = 20


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = ""
    data_dir: Path = Path("data")
    maxmemory: str = "1gb"


@dataclass(frozen=True, slots=True)
class PollingSettings:
    interval: float = field(default=600.0, metadata=DURATION)
    concurrency: int = 64
    per_host: int = 4
    connect_timeout: float = field(default=10.0, metadata=DURATION)
    timeout: float = field(default=30.0, metadata=DURATION)
    max_body_bytes: int = 5_000_000
    failing_after: int = 5
    max_backoff: float = field(default=86400.0, metadata=DURATION)
    retention: float = field(default=90 * 86400.0, metadata=DURATION)
    max_redirects: int = 5
    user_agent: str = "CensorWire/0.1 (+https://github.com/censorwire/censorwire; news bot)"


@dataclass(frozen=True, slots=True)
class SummarizerSettings:
    sentences: int = 2
    max_chars: int = 300
    llm_enabled: bool = False
    llm_url: str = ""
    llm_model: str = ""
    llm_api_key: str = field(default="", repr=False)
    llm_timeout: float = field(default=20.0, metadata=DURATION)
    llm_concurrency: int = 2
    llm_max_calls_per_poll: int = 50


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    digest_time: str = "09:00"
    per_second: int = 30
    per_chat_per_second: float = 1.0
    per_group_per_minute: int = 20
    max_retries: int = 5
    in_flight: int = 16
    latest_default: int = 5
    latest_max: int = 20
    digest_limit: int = 30
    claim_after: float = field(default=60.0, metadata=DURATION)
    schedule_every: float = field(default=15.0, metadata=DURATION)
    slot_hold: float = field(default=30.0, metadata=DURATION)
    lease_ttl: float = field(default=30.0, metadata=DURATION)


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    port: int = 0
    host: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class FeedConfig:
    url: str
    name: str = ""
    lang: str = ""
    topical: bool = False

    @property
    def title(self) -> str:
        return self.name or urlsplit(self.url).netloc or self.url


@dataclass(frozen=True, slots=True)
class Settings:
    telegram: TelegramSettings = TelegramSettings()
    redis: RedisSettings = RedisSettings()
    polling: PollingSettings = PollingSettings()
    summarizer: SummarizerSettings = SummarizerSettings()
    delivery: DeliverySettings = DeliverySettings()
    ooni: OoniSettings = field(default_factory=OoniSettings)
    metrics: MetricsSettings = MetricsSettings()
    feeds: tuple[FeedConfig, ...] = ()
    config_path: Path | None = None


_SECTIONS: dict[str, type[Any]] = {
    "telegram": TelegramSettings,
    "redis": RedisSettings,
    "polling": PollingSettings,
    "summarizer": SummarizerSettings,
    "delivery": DeliverySettings,
    "ooni": OoniSettings,
    "metrics": MetricsSettings,
}


def default_config_text() -> str:
    """The shipped ``config.example.toml``, used when no config file is given."""
    from importlib.resources import files

    return files("bot").joinpath("data/config.example.toml").read_text(encoding="utf-8")


def load_settings(environ: Mapping[str, str], cwd: Path) -> Settings:
    """Build the settings from ``CENSORWIRE_CONFIG`` (or ./config.toml, or defaults) and env."""
    explicit = environ.get("CENSORWIRE_CONFIG", "")
    if explicit:
        path: Path | None = (cwd / explicit).resolve()
        assert path is not None
        if not path.is_file():
            raise ConfigError(f"CENSORWIRE_CONFIG: no such file: {explicit}")
    else:
        candidate = cwd / DEFAULT_CONFIG_NAME
        path = candidate.resolve() if candidate.is_file() else None
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: cannot read: {e}") from e
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML: {e}") from e
        base = path.parent
    else:
        raw = tomllib.loads(default_config_text())
        base = cwd
    return parse_settings(raw, environ, base, path)


def parse_settings(
    raw: Mapping[str, Any], environ: Mapping[str, str], base: Path, path: Path | None = None
) -> Settings:
    """Check ``raw`` key by key, apply environment overrides, resolve relative paths."""
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "feeds":
            continue
        if key not in _SECTIONS:
            raise ConfigError(f"{key}: unknown section")
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: must be a table like [{key}]")
        sections[key] = _build(_SECTIONS[key], value, key)
    feeds = _parse_feeds(raw.get("feeds", []))
    telegram: TelegramSettings = sections.get("telegram", TelegramSettings())
    redis: RedisSettings = sections.get("redis", RedisSettings())
    telegram = _telegram_from_env(telegram, environ)
    if environ.get("REDIS_URL", ""):
        redis = dataclasses.replace(redis, url=environ["REDIS_URL"])
    _check_redis_url(redis.url)
    if not redis.data_dir.is_absolute():
        redis = dataclasses.replace(redis, data_dir=(base / redis.data_dir).resolve())
    sections["telegram"] = telegram
    sections["redis"] = redis
    _check_values(sections)
    return Settings(**sections, feeds=feeds, config_path=path)


def _telegram_from_env(telegram: TelegramSettings, environ: Mapping[str, str]) -> TelegramSettings:
    changes: dict[str, Any] = {}
    if environ.get("TELEGRAM_TOKEN", ""):
        changes["token"] = environ["TELEGRAM_TOKEN"].strip()
    if environ.get("TELEGRAM_API_BASE_URL", ""):
        changes["api_base_url"] = environ["TELEGRAM_API_BASE_URL"].strip()
    if "CENSORWIRE_ADMINS" in environ:
        changes["admins"] = _parse_admins(environ["CENSORWIRE_ADMINS"])
    telegram = dataclasses.replace(telegram, **changes)
    if telegram.webhook_url and not _SECRET.fullmatch(telegram.webhook_secret):
        raise ConfigError(
            "telegram.webhook_secret: required in webhook mode, 1-256 characters of "
            "A-Z a-z 0-9 _ - (Telegram sends it with every update; others are refused)"
        )
    if telegram.api_base_url:
        parts = urlsplit(telegram.api_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("telegram.api_base_url: must be an http(s) URL like http://host:8081")
    return telegram


def _parse_admins(text: str) -> tuple[int, ...]:
    admins = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            admins.append(int(part))
        except ValueError:
            raise ConfigError(
                f"CENSORWIRE_ADMINS: {part!r} is not a Telegram user id (comma-separated numbers)"
            ) from None
    return tuple(admins)


def _check_redis_url(url: str) -> None:
    if url and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("redis.url: must start with redis://, rediss:// or unix://")


def _check_values(sections: Mapping[str, Any]) -> None:
    polling: PollingSettings = sections.get("polling", PollingSettings())
    positive = {
        "polling.interval": polling.interval,
        "polling.concurrency": polling.concurrency,
        "polling.per_host": polling.per_host,
        "polling.timeout": polling.timeout,
        "polling.connect_timeout": polling.connect_timeout,
        "polling.max_body_bytes": polling.max_body_bytes,
        "polling.failing_after": polling.failing_after,
        "polling.retention": polling.retention,
    }
    summarizer: SummarizerSettings = sections.get("summarizer", SummarizerSettings())
    positive["summarizer.sentences"] = summarizer.sentences
    positive["summarizer.max_chars"] = summarizer.max_chars
    delivery: DeliverySettings = sections.get("delivery", DeliverySettings())
    positive["delivery.per_second"] = delivery.per_second
    positive["delivery.in_flight"] = delivery.in_flight
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key}: must be greater than zero")
    if summarizer.llm_enabled and not (summarizer.llm_url and summarizer.llm_model):
        raise ConfigError("summarizer.llm_url: required (with llm_model) when llm_enabled = true")
    from bot.schedule import parse_clock

    try:
        parse_clock(delivery.digest_time)
    except ValueError as e:
        raise ConfigError(f"delivery.digest_time: {e}") from e
    ooni: OoniSettings = sections.get("ooni", OoniSettings())
    for cc in ooni.countries:
        if len(cc) != 2 or not cc.isalpha() or not cc.isupper():
            raise ConfigError(f"ooni.countries: {cc!r} is not a two-letter upper-case country code")


def _parse_feeds(raw: Any) -> tuple[FeedConfig, ...]:
    if not isinstance(raw, list):
        raise ConfigError("feeds: must be written as [[feeds]] tables")
    feeds: list[FeedConfig] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"feeds[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: must be a table")
        if "url" not in item:
            raise ConfigError(f"{where}.url: missing")
        feed = _build(FeedConfig, item, where)
        parts = urlsplit(feed.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(f"{where}.url: must be an http(s) URL, got {feed.url!r}")
        if feed.lang and (len(feed.lang) != 2 or not feed.lang.isalpha()):
            raise ConfigError(f"{where}.lang: must be a two-letter ISO 639-1 code like en or ru")
        if feed.url in seen:
            raise ConfigError(f"{where}.url: listed twice: {feed.url}")
        seen.add(feed.url)
        feeds.append(dataclasses.replace(feed, lang=feed.lang.lower()))
    return tuple(feeds)


def _build(cls: type[T], values: Mapping[str, Any], where: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{where}.{key}: unknown key")
        kwargs[key] = _convert(value, hints[key], fields[key].metadata, f"{where}.{key}")
    return cls(**kwargs)


def _convert(value: Any, hint: Any, metadata: Mapping[str, Any], key: str) -> Any:
    origin = typing.get_origin(hint)
    if metadata.get("duration"):
        if isinstance(value, str):
            try:
                return parse_duration(value)
            except ValueError as e:
                raise ConfigError(f"{key}: {e}") from e
        raise ConfigError(f'{key}: must be a duration string like "30s", "10m", "2h" or "1d"')
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: must be true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: must be a whole number")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: must be a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: must be a string")
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: must be a path")
        return Path(value)
    if origin is tuple:
        (item_hint, _ellipsis) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{key}: must be a list")
        return tuple(_convert(item, item_hint, {}, f"{key}[{i}]") for i, item in enumerate(value))
    if isinstance(hint, types.UnionType):
        raise ConfigError(f"{key}: unsupported type")  # pragma: no cover - schema bug
    raise ConfigError(f"{key}: unsupported type {hint!r}")  # pragma: no cover - schema bug
