"""The fake Bot API's records, request decoding, faults and flood limits."""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSONDict = dict[str, Any]

FAULT_KINDS = frozenset(
    {
        "5xx",
        "timeout",
        "timeout_after_send",
        "429",
        "forbidden",
        "chat_not_found",
        "migrate",
        "parse_error",
        "conflict",
    }
)
CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
DEFAULT_MIGRATE_TO = -1001234567890
# Parameters that are strings even when they look like JSON ("123", "true").
_STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "file_id",
        "secret_token",
        "language_code",
        "description",
        "short_description",
        "name",
        "title",
        "inline_message_id",
        "query",
        "emoji",
        "action",
    }
)


class ApiError(Exception):
    """An error answer: HTTP status, Telegram's description and optional parameters."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        """The JSON body Telegram sends with this error."""
        body: JSONDict = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True, slots=True)
class Upload:
    """A file sent in a multipart request."""

    filename: str
    content_type: str
    content: bytes


@dataclass(slots=True)
class Call:
    """One request to the fake, updated when it is answered."""

    method: str
    params: JSONDict
    token: str
    time: float  # the event loop's clock at arrival
    status: int | None = None  # HTTP status; None while in flight; 0 if never answered
    result: Any = None
    description: str | None = None  # Telegram's description of an error answer
    delivered: bool = False  # a send that put a message in the chat

    def __str__(self) -> str:
        shown = {
            k: (f"<{len(v.content)} bytes>" if isinstance(v, Upload) else v)
            for k, v in self.params.items()
        }
        params = json.dumps(shown, ensure_ascii=False, default=str)
        if len(params) > 160:
            params = params[:157] + "..."
        answer = self.description or ("" if self.status == 200 else "no answer")
        return f"{self.time:10.3f} {self.method} {self.status} {params} {answer}".rstrip()


class Signal:
    """notify_all without a lock: wake every waiter; callable from plain functions too."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        """The event the next fire() sets; take it before checking the condition."""
        return self._event

    def fire(self) -> None:
        """Wake everyone waiting now."""
        self._event.set()
        self._event = asyncio.Event()


@dataclass(slots=True)
class Fault:
    """A fault to answer the next `remaining` matching calls with."""

    method: str  # canonical method name or "*"
    kind: str
    remaining: int
    chat_id: int | str | None = None
    migrate_to: int | None = None
    retry_after: int = 1

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {sorted(FAULT_KINDS)}")
        if self.remaining < 1:
            raise ValueError("count must be at least 1")

    def matches(self, method: str, chat_id: object) -> bool:
        """Whether this fault applies to a call."""
        if self.method not in ("*", method):
            return False
        return self.chat_id is None or str(self.chat_id) == str(chat_id)


def _migrate_target(chat_id: object) -> int:
    text = str(chat_id)
    if text.lstrip("-").isdigit() and not text.startswith("-100"):
        return int(f"-100{text.lstrip('-')}")
    return DEFAULT_MIGRATE_TO


def fault_error(fault: Fault, chat_id: object) -> ApiError:
    """The answer Telegram gives for a fault kind (all but the timeouts)."""
    if fault.kind == "5xx":
        return ApiError(502, "Bad Gateway")
    if fault.kind == "429":
        return ApiError(
            429,
            f"Too Many Requests: retry after {fault.retry_after}",
            {"retry_after": fault.retry_after},
        )
    if fault.kind == "migrate":
        target = fault.migrate_to if fault.migrate_to is not None else _migrate_target(chat_id)
        return chat_fault_error("migrate", target)
    if fault.kind == "parse_error":
        return ApiError(
            400, 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0'
        )
    if fault.kind == "conflict":
        return ApiError(409, CONFLICT)
    return chat_fault_error(fault.kind, None)


def chat_fault_error(kind: str, migrate_to: int | None) -> ApiError:
    """The answer for a chat that blocked the bot, is gone, or became a supergroup."""
    if kind == "forbidden":
        return ApiError(403, "Forbidden: bot was blocked by the user")
    if kind == "chat_not_found":
        return ApiError(400, "Bad Request: chat not found")
    if kind == "migrate":
        return ApiError(
            400,
            "Bad Request: group chat was upgraded to a supergroup chat",
            {"migrate_to_chat_id": migrate_to or DEFAULT_MIGRATE_TO},
        )
    raise ValueError(f"not a chat fault: {kind!r}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Telegram's flood limits; bursts are extra sends tolerated within a window."""

    global_per_second: int = 30
    per_chat_per_second: int = 1
    per_group_per_minute: int = 20
    chat_burst: int = 0
    global_burst: int = 0


def _wait(window: deque[float], now: float, span: float, allowed: int) -> float:
    while window and window[0] <= now - span:
        window.popleft()
    if len(window) < allowed:
        return 0.0
    return window[len(window) - allowed] + span - now


@dataclass(slots=True)
class SendWindows:
    """Sliding windows of delivered sends: overall, per chat (1 s), per group (60 s)."""

    overall: deque[float] = field(default_factory=deque)
    per_chat: dict[int, deque[float]] = field(default_factory=dict)
    per_group: dict[int, deque[float]] = field(default_factory=dict)

    def wait_needed(self, limits: Limits, chat_id: int, now: float) -> int:
        """Whole seconds to wait before one more send to `chat_id`; 0 if it may go now."""
        waits = [
            _wait(self.overall, now, 1.0, limits.global_per_second + limits.global_burst),
            _wait(
                self.per_chat.setdefault(chat_id, deque()),
                now,
                1.0,
                limits.per_chat_per_second + limits.chat_burst,
            ),
        ]
        if chat_id < 0:
            group = self.per_group.setdefault(chat_id, deque())
            waits.append(_wait(group, now, 60.0, limits.per_group_per_minute))
        longest = max(waits)
        return max(1, math.ceil(longest)) if longest > 0 else 0

    def record(self, chat_id: int, now: float) -> None:
        """Count a delivered send."""
        self.overall.append(now)
        self.per_chat.setdefault(chat_id, deque()).append(now)
        if chat_id < 0:
            self.per_group.setdefault(chat_id, deque()).append(now)


def _decode(key: str, value: str) -> Any:
    """PTB JSON-encodes every non-string parameter; strings it sends as they are."""
    if key in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def read_params(request: web.Request) -> JSONDict:
    """Parameters of a Bot API request: query string, form, multipart or JSON body."""
    params: JSONDict = {key: _decode(key, value) for key, value in request.query.items()}
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse JSON body") from None
        if isinstance(body, dict):
            params.update(body)
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            params[key] = Upload(value.filename, value.content_type, value.file.read())
        else:
            params[key] = _decode(key, value if isinstance(value, str) else bytes(value).decode())
    for key, value in list(params.items()):  # "attach://name" points at a multipart part
        if isinstance(value, str) and value.startswith("attach://"):
            part = params.get(value.removeprefix("attach://"))
            if isinstance(part, Upload):
                params[key] = part
    return params
