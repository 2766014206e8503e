"""The fake Bot API's state: chats, users, members, messages, files, updates and records."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from . import tgobjects as tg
from .botapi_rules import (
    ApiError,
    Call,
    Fault,
    Limits,
    SendWindows,
    Signal,
    Upload,
)
from .tghtml import parse_telegram_html, utf16_len

JSONDict = dict[str, Any]


class BotApiState:
    """What the fake knows and has recorded; the server and the methods build on it."""

    def __init__(
        self,
        *,
        username: str = "fake_bot",
        first_name: str = "Fake",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        self.username = username
        self.first_name = first_name
        self.root = ""  # "http://127.0.0.1:PORT" once started
        self.calls: list[Call] = []
        self.too_many = 0  # 429 answers given by the limit enforcement
        self.limits: Limits | None = None
        self.conflict_on_second_consumer = False
        self.allowed_updates: list[str] | None = None  # as last sent by getUpdates/setWebhook
        self.webhook: JSONDict | None = None  # setWebhook's parameters while one is set
        self.webhook_deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status or 0)
        self.my_commands: dict[tuple[str, str], list[JSONDict]] = {}  # (scope, lang) -> list
        self.bot_id = 123456  # from the token of the latest call
        self._clock = clock  # message dates
        self._monotonic = monotonic  # call times and flood windows; the event loop's clock
        self._webhook_retry_delay = webhook_retry_delay
        self._session: aiohttp.ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._released = asyncio.Event()  # set by stop(): frees requests held by "timeout"
        self._changed = Signal()  # every call, answer and injection
        self._new_update = Signal()
        self._updates: list[JSONDict] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._messages: dict[tuple[int, int], JSONDict] = {}
        self._raw: dict[tuple[int, int], tuple[str, str]] = {}  # raw text and parse mode
        self._bot_messages: set[tuple[int, int]] = set()
        self._chats: dict[int, JSONDict] = {}
        self._users: dict[int, JSONDict] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._files: dict[str, tuple[bytes, str]] = {}  # file_id -> (content, file_path)
        self._paths: dict[str, str] = {}  # file_path -> file_id
        self._faults: list[Fault] = []
        self._chat_faults: dict[int, tuple[str, int | None]] = {}
        self._callback_ids: set[str] = set()
        self._polling: dict[str, int] = {}  # token -> getUpdates requests in flight
        self._windows = SendWindows()
        self._sent: list[JSONDict] = []
        self._sent_by_chat: dict[int, list[JSONDict]] = {}

    # ----- configuration ----------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
    ) -> JSONDict:
        """Register a chat (type from the id's sign unless given); "@username" finds it."""
        chat = tg.make_chat(chat_id, chat_type, title=title, username=username)
        self._chats[chat_id] = chat
        return chat

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers for this user in this chat (default "member")."""
        tg.chat_member(tg.make_user(user_id), status)  # validates the status
        self._members[(chat_id, user_id)] = status

    def add_file(self, file_id: str, content: bytes, file_path: str | None = None) -> str:
        """Make a file available to getFile and the file URL; return its file_path."""
        path = file_path or f"documents/file_{len(self._files) + 1}"
        self._files[file_id] = (content, path)
        self._paths[path] = file_id
        return path

    def block_chat(self, chat_id: int) -> None:
        """Every write to this chat gets 403 "bot was blocked by the user"."""
        self._chat_faults[chat_id] = ("forbidden", None)

    def unblock_chat(self, chat_id: int) -> None:
        """Undo block_chat, migrate_chat or delete_chat."""
        self._chat_faults.pop(chat_id, None)

    def delete_chat(self, chat_id: int) -> None:
        """Every call about this chat gets 400 "chat not found"."""
        self._chat_faults[chat_id] = ("chat_not_found", None)

    def migrate_chat(self, chat_id: int, new_chat_id: int | None = None) -> int:
        """Turn a group into a supergroup: calls to the old id get 400 with the new id."""
        new_id = new_chat_id if new_chat_id is not None else int(f"-100{abs(chat_id)}")
        self._chat_faults[chat_id] = ("migrate", new_id)
        self.add_chat(new_id, "supergroup", title=self._chat(chat_id).get("title"))
        return new_id

    # ----- inspection -------------------------------------------------------------------

    @property
    def pending_updates(self) -> int:
        """Updates injected and not yet confirmed by a getUpdates offset or a webhook."""
        return len(self._updates)

    def calls_to(self, method: str) -> list[Call]:
        """The recorded calls of one method."""
        return [call for call in self.calls if call.method == method]

    def sent(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Params of delivered sendMessage/sendPhoto/sendDocument, plus their "message_id"."""
        if chat_id is None:
            return list(self._sent)
        resolved = self._find_chat_id(chat_id)
        return list(self._sent_by_chat.get(resolved, [])) if resolved is not None else []

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """The current state of a message (text after entity parsing, reply_markup)."""
        return self._messages.get((chat_id, message_id))

    def chat_messages(self, chat_id: int) -> list[JSONDict]:
        """The bot's messages still in a chat, oldest first, as they look now."""
        keys = sorted(key for key in self._bot_messages if key[0] == chat_id)
        return [self._messages[key] for key in keys]

    def describe_calls(self, last: int = 30) -> str:
        """A readable dump of the latest calls, for assertion messages."""
        lines = [f"last {min(last, len(self.calls))} of {len(self.calls)} calls:"]
        lines += [f"  {call}" for call in self.calls[-last:]]
        return "\n".join(lines)

    def inject_raw(self, update: JSONDict) -> int:
        """Queue an update (its update_id is replaced by the next one); return the id."""
        update_id = next(self._update_ids)
        self._updates.append({**update, "update_id": update_id})
        self._new_update.fire()
        self._changed.fire()
        return update_id

    # ----- chats, users, messages -------------------------------------------------------

    def _monotonic_now(self) -> float:
        return self._monotonic() if self._monotonic else asyncio.get_running_loop().time()

    def _chat(self, chat_id: int) -> JSONDict:
        return self._chats.get(chat_id) or tg.make_chat(chat_id)

    def _inject_chat(self, chat_id: int, chat_type: str | None) -> JSONDict:
        if chat_type is not None or chat_id not in self._chats:
            return self.add_chat(chat_id, chat_type)
        return self._chats[chat_id]

    def _find_chat_id(self, value: object) -> int | None:
        if isinstance(value, int):
            return value
        text = str(value)
        if text.lstrip("-").isdigit():
            return int(text)
        name = text.removeprefix("@").lower()
        for chat_id, chat in self._chats.items():
            if str(chat.get("username", "")).lower() == name:
                return chat_id
        return None

    def _chat_id(self, call: Call) -> int:
        chat_id = self._find_chat_id(call.params.get("chat_id"))
        if chat_id is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat_id

    def _remember_user(
        self, user_id: int, language_code: str | None, username: str | None, name: str | None
    ) -> JSONDict:
        """The user object for an injection; what is not given is kept from earlier ones."""
        known = self._users.get(user_id, {})
        if language_code is None:
            language_code = known.get("language_code", "en") if known else "en"
        user = tg.make_user(
            user_id,
            first_name=name or known.get("first_name"),
            username=username or known.get("username"),
            language_code=language_code,
        )
        self._users[user_id] = user
        return user

    def _bot_user(self) -> JSONDict:
        return tg.make_user(
            self.bot_id, is_bot=True, first_name=self.first_name, username=self.username
        )

    def _store(
        self, chat: JSONDict, sender: JSONDict, extra: JSONDict, *, by_bot: bool
    ) -> JSONDict:
        message_id = next(self._message_ids)
        message = {
            "message_id": message_id,
            "date": int(self._clock()),
            "chat": chat,
            "from": sender,
            **extra,
        }
        self._messages[(chat["id"], message_id)] = message
        if by_bot:
            self._bot_messages.add((chat["id"], message_id))
        return message

    def _inject_text(
        self,
        chat: JSONDict,
        sender: JSONDict,
        text: str,
        entities: list[JSONDict] | None,
        extra: JSONDict,
    ) -> int:
        extra = {**extra, "text": text}
        found = tg.command_entities(text) if entities is None else entities
        if found:
            extra["entities"] = found
        return self.inject_raw({"message": self._store(chat, sender, extra, by_bot=False)})

    def _render(self, call: Call, key: str, limit: int, too_long: str) -> str:
        """The text Telegram would show for `params[key]`, or the error it would give."""
        raw = str(call.params.get(key, ""))
        parse_mode = str(call.params.get("parse_mode", "")).lower()
        plain = raw
        if parse_mode == "html":
            try:
                plain, _count = parse_telegram_html(raw)
            except ValueError as exc:
                raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        plain = plain.strip()
        if key == "text" and not plain:
            raise ApiError(400, "Bad Request: message text is empty")
        if utf16_len(plain) > limit:
            raise ApiError(400, f"Bad Request: {too_long}")
        return plain

    def _deliver(self, call: Call, extra: JSONDict) -> JSONDict:
        chat_id = self._chat_id(call)
        markup = call.params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            extra["reply_markup"] = markup
        message = self._store(self._chat(chat_id), self._bot_user(), extra, by_bot=True)
        raw = str(call.params.get("text", call.params.get("caption", "")))
        self._raw[(chat_id, message["message_id"])] = (raw, str(call.params.get("parse_mode")))
        self._windows.record(chat_id, call.time)
        record = {**call.params, "message_id": message["message_id"]}
        self._sent.append(record)
        self._sent_by_chat.setdefault(chat_id, []).append(record)
        call.delivered = True
        return message

    def _upload(self, call: Call, key: str, default_name: str) -> tuple[str, str, int, str]:
        """(file_id, file_name, size, mime type) of a sent file: an upload or a known id."""
        value = call.params.get(key)
        if isinstance(value, Upload):
            file_id = f"{key}{next(self._file_ids)}"
            name = value.filename or default_name
            self.add_file(file_id, value.content, f"{key}s/{file_id}_{name}")
            return file_id, name, len(value.content), value.content_type
        if isinstance(value, str) and value in self._files:
            content, path = self._files[value]
            return value, path.rsplit("/", 1)[-1], len(content), "application/octet-stream"
        raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
