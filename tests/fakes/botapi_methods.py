"""The Bot API methods the fake answers, on top of its state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp

from . import tgobjects as tg
from .botapi_rules import CONFLICT, ApiError, Call
from .botapi_state import BotApiState
from .tghtml import MAX_CAPTION_UTF16, MAX_TEXT_UTF16

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Handler = Callable[[Call], Any]

SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
CHAT_WRITES = SEND_METHODS | {
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "sendChatAction",
}
_ACCEPTED = (  # methods answered with `true` and only recorded
    "setChatMenuButton",
    "close",
    "logOut",
    "sendChatAction",
    "setMyDescription",
    "setMyShortDescription",
    "setMyName",
    "setMyDefaultAdministratorRights",
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class BotApiMethods(BotApiState):
    """One handler per Bot API method: a call in, the `result` out, or ApiError."""

    def method_table(self) -> dict[str, Handler]:
        """Canonical method name -> handler."""
        methods: dict[str, Handler] = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "setWebhook": self._set_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "answerCallbackQuery": self._answer_callback_query,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getFile": self._get_file,
        }
        for name in _ACCEPTED:
            methods[name] = self._accept
        return methods

    def _accept(self, call: Call) -> bool:
        return True

    def _get_me(self, call: Call) -> JSONDict:
        return {
            **self._bot_user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    async def _get_updates(self, call: Call) -> list[JSONDict]:
        params = call.params
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        if self.conflict_on_second_consumer and self._polling.get(call.token, 0) > 0:
            raise ApiError(409, CONFLICT)
        if params.get("allowed_updates") is not None:
            self.allowed_updates = list(params["allowed_updates"])
        offset = int(params.get("offset", 0))
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        self._polling[call.token] = self._polling.get(call.token, 0) + 1
        try:
            async with asyncio.timeout(max(float(params.get("timeout", 0)), 0.0)):
                while not self._updates and not self._stopping:
                    await self._new_update.waiter().wait()
        except TimeoutError:
            pass
        finally:
            self._polling[call.token] -= 1
        return self._updates[:limit]

    def _delete_webhook(self, call: Call) -> bool:
        self.webhook = None
        self._new_update.fire()
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _set_webhook(self, call: Call) -> bool:
        if not call.params.get("url"):
            return self._delete_webhook(call)
        self.webhook = dict(call.params)
        if call.params.get("allowed_updates") is not None:
            self.allowed_updates = list(call.params["allowed_updates"])
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        if self._webhook_task is None or self._webhook_task.done():
            self._webhook_task = asyncio.create_task(self._deliver_webhook())
        return True

    def _get_webhook_info(self, call: Call) -> JSONDict:
        url = self.webhook["url"] if self.webhook else ""
        info = {"url": url, "has_custom_certificate": False}
        return {**info, "pending_update_count": len(self._updates)}

    async def _deliver_webhook(self) -> None:
        """Post queued updates one by one to the webhook while one is set."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        while self.webhook is not None and not self._stopping:
            if not self._updates:
                await self._new_update.waiter().wait()
                continue
            update = self._updates[0]
            secret = self.webhook.get("secret_token")
            headers = {"X-Telegram-Bot-Api-Secret-Token": str(secret)} if secret else {}
            try:
                async with self._session.post(
                    str(self.webhook["url"]), json=update, headers=headers
                ) as response:
                    status = response.status
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.debug("fake Bot API: webhook delivery failed: %s", exc)
                status = 0
            self.webhook_deliveries.append((update["update_id"], status))
            self._changed.fire()
            if 200 <= status < 300:
                if self._updates and self._updates[0] is update:
                    self._updates.pop(0)
            else:
                await asyncio.sleep(self._webhook_retry_delay)

    def _commands_key(self, call: Call) -> tuple[str, str]:
        scope = call.params.get("scope")
        kind = str(scope.get("type", "default")) if isinstance(scope, dict) else "default"
        return kind, str(call.params.get("language_code", ""))

    def _set_my_commands(self, call: Call) -> bool:
        self.my_commands[self._commands_key(call)] = list(call.params.get("commands", []))
        return True

    def _get_my_commands(self, call: Call) -> list[JSONDict]:
        return self.my_commands.get(self._commands_key(call), [])

    def _delete_my_commands(self, call: Call) -> bool:
        self.my_commands.pop(self._commands_key(call), None)
        return True

    def _answer_callback_query(self, call: Call) -> bool:
        if str(call.params.get("callback_query_id")) not in self._callback_ids:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        return True

    def _send_message(self, call: Call) -> JSONDict:
        text = self._render(call, "text", MAX_TEXT_UTF16, "message is too long")
        return self._deliver(call, {"text": text})

    def _caption(self, call: Call) -> JSONDict:
        if not call.params.get("caption"):
            return {}
        caption = self._render(call, "caption", MAX_CAPTION_UTF16, "message caption is too long")
        return {"caption": caption}

    def _send_photo(self, call: Call) -> JSONDict:
        extra = self._caption(call)
        file_id, _name, size, _mime = self._upload(call, "photo", "photo.jpg")
        return self._deliver(call, {**extra, "photo": tg.photo_sizes(file_id, size)})

    def _send_document(self, call: Call) -> JSONDict:
        extra = self._caption(call)
        file_id, name, size, mime = self._upload(call, "document", "document")
        return self._deliver(call, {**extra, "document": tg.document(file_id, name, size, mime)})

    def _editable(self, call: Call, verb: str) -> tuple[int, int]:
        key = (self._chat_id(call), int(call.params.get("message_id", 0)))
        if key not in self._messages:
            raise ApiError(400, f"Bad Request: message to {verb} not found")
        if verb == "edit" and key not in self._bot_messages:
            raise ApiError(400, "Bad Request: message can't be edited")
        return key

    def _edited(self, key: tuple[int, int], changes: JSONDict) -> JSONDict:
        message = {**self._messages[key], **changes, "edit_date": int(self._clock())}
        markup = changes.get("reply_markup")
        if not (isinstance(markup, dict) and "inline_keyboard" in markup):
            message.pop("reply_markup", None)
        self._messages[key] = message
        return message

    def _edit_message_text(self, call: Call) -> JSONDict:
        key = self._editable(call, "edit")
        raw = (str(call.params.get("text", "")), str(call.params.get("parse_mode")))
        text = self._render(call, "text", MAX_TEXT_UTF16, "message is too long")
        markup = call.params.get("reply_markup")
        if raw == self._raw.get(key) and markup == self._messages[key].get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        self._raw[key] = raw
        return self._edited(key, {"text": text, "reply_markup": markup})

    def _edit_message_reply_markup(self, call: Call) -> JSONDict:
        key = self._editable(call, "edit")
        markup = call.params.get("reply_markup")
        if markup == self._messages[key].get("reply_markup"):
            raise ApiError(400, _NOT_MODIFIED)
        return self._edited(key, {"reply_markup": markup})

    def _delete_message(self, call: Call) -> bool:
        key = self._editable(call, "delete")
        del self._messages[key]
        self._bot_messages.discard(key)
        return True

    def _get_chat(self, call: Call) -> JSONDict:
        return tg.chat_full_info(self._chat(self._chat_id(call)))

    def _get_chat_member(self, call: Call) -> JSONDict:
        chat_id = self._chat_id(call)
        user_id = int(call.params.get("user_id", 0))
        user = self._bot_user() if user_id == self.bot_id else self._users.get(user_id)
        status = self._members.get((chat_id, user_id), "member")
        return tg.chat_member(user or tg.make_user(user_id), status)

    def _get_chat_administrators(self, call: Call) -> list[JSONDict]:
        chat_id = self._chat_id(call)
        admins = []
        for (chat, user_id), status in self._members.items():
            if chat == chat_id and status in ("creator", "administrator"):
                user = self._bot_user() if user_id == self.bot_id else self._users.get(user_id)
                admins.append(tg.chat_member(user or tg.make_user(user_id), status))
        return admins

    def _get_file(self, call: Call) -> JSONDict:
        file_id = str(call.params.get("file_id", ""))
        if file_id not in self._files:
            raise ApiError(400, "Bad Request: invalid file_id")
        content, path = self._files[file_id]
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "file_size": len(content),
            "file_path": path,
        }
