"""A fake Telegram Bot API server over HTTP, for end-to-end tests and benchmarks.

The unmodified bot talks to it with `base_url=f"{fake.root}/bot"` and
`base_file_url=f"{fake.root}/file/bot"`. It records every call, queues injected updates for
`getUpdates` (long-polling) or a webhook, keeps the messages the bot sent so edits and
buttons behave, and can enforce Telegram's flood limits and answer with injected faults.
One fake serves one bot; tokens are recorded but not checked. State lives in
`botapi_state`, the methods in `botapi_methods`, records, faults and limits in
`botapi_rules`; this module is the server, the fault and limit switches and the injections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from . import tgobjects as tg
from .botapi_methods import CHAT_WRITES, SEND_METHODS, BotApiMethods
from .botapi_rules import (
    ApiError,
    Call,
    Fault,
    Limits,
    Upload,
    chat_fault_error,
    fault_error,
    read_params,
)

__all__ = ["ApiError", "Call", "FakeBotApi", "Limits", "Upload"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
JSONDict = dict[str, Any]


class FakeBotApi(BotApiMethods):
    """The fake server; `await start()` or `async with FakeBotApi() as fake:`."""

    def __init__(
        self,
        *,
        username: str = "fake_bot",
        first_name: str = "Fake",
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] | None = None,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        super().__init__(
            username=username,
            first_name=first_name,
            clock=clock,
            monotonic=monotonic,
            webhook_retry_delay=webhook_retry_delay,
        )
        self._runner: web.AppRunner | None = None
        self._methods = self.method_table()
        self._canonical = {name.lower(): name for name in self._methods}

    # ----- lifecycle -------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; return and set `root`."""
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        self._stopping = False
        self._released = asyncio.Event()
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        self.root = f"http://127.0.0.1:{port}"
        return self.root

    async def stop(self) -> None:
        """Release held requests, end long polls and the webhook, close the server."""
        self._stopping = True
        self._released.set()
        self._new_update.fire()
        self._changed.fire()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            await asyncio.gather(self._webhook_task, return_exceptions=True)
            self._webhook_task = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ----- faults and limits ------------------------------------------------------------

    def enforce_limits(
        self,
        global_per_second: int = 30,
        per_chat_per_second: int = 1,
        per_group_per_minute: int = 20,
        *,
        chat_burst: int = 0,
        global_burst: int = 0,
    ) -> None:
        """Answer sends over Telegram's limits (sliding windows) with 429 and count them."""
        self.limits = Limits(
            global_per_second, per_chat_per_second, per_group_per_minute, chat_burst, global_burst
        )

    def disable_limits(self) -> None:
        """Stop enforcing the flood limits (the default)."""
        self.limits = None

    def fail_next(
        self,
        method: str,
        kind: str,
        count: int = 1,
        chat_id: int | str | None = None,
        *,
        migrate_to: int | None = None,
        retry_after: int = 1,
    ) -> None:
        """Answer the next `count` calls of `method` ("*": any) with a fault of `kind`."""
        name = "*" if method == "*" else self._canonical.get(method.lower(), method)
        self._faults.append(Fault(name, kind, count, chat_id, migrate_to, retry_after))

    # ----- waiting -----------------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Callable[[FakeBotApi], T],
        timeout: float = 10.0,  # noqa: ASYNC109 (a deadline is what this helper is for)
    ) -> T:
        """Wait until predicate(fake) is truthy and return it; AssertionError on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    waiter = self._changed.waiter()
                    value = predicate(self)
                    if value:
                        return value
                    await waiter.wait()
        except TimeoutError:
            raise AssertionError(
                f"condition not met within {timeout} s\n{self.describe_calls()}"
            ) from None

    # ----- injecting updates ------------------------------------------------------------

    def inject_message(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        chat_type: str | None = None,
        language_code: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        sender_chat: int | None = None,
        entities: list[JSONDict] | None = None,
    ) -> int:
        """A text message from a user (bot_command entity added for "/…"); the update_id."""
        chat = self._inject_chat(chat_id, chat_type)
        if user_id is None:
            if chat["type"] != "private":
                raise ValueError("user_id is required for a message in a group")
            user_id = chat_id
        user = self._remember_user(user_id, language_code, username, first_name)
        extra: JSONDict = {}
        if sender_chat is not None:
            extra["sender_chat"] = self._chat(sender_chat)
        return self._inject_text(chat, user, text, entities, extra)

    def inject_anonymous_admin_message(
        self, chat_id: int, text: str, *, entities: list[JSONDict] | None = None
    ) -> int:
        """A message of an anonymous group admin: from GroupAnonymousBot, sender_chat=group."""
        chat = self._inject_chat(chat_id, None)
        extra = {"sender_chat": chat}
        return self._inject_text(chat, tg.anonymous_admin(), text, entities, extra)

    def inject_callback(
        self,
        chat_id: int,
        user_id: int,
        data: str,
        message_id: int,
        *,
        language_code: str | None = None,
    ) -> int:
        """A button press on a message; the callback query id is f"cb{update_id}"."""
        message = self._messages.get((chat_id, message_id)) or {
            "message_id": message_id,
            "date": int(self._clock()),
            "chat": self._chat(chat_id),
        }
        query: JSONDict = {
            "id": "",
            "from": self._remember_user(user_id, language_code, None, None),
            "chat_instance": str(chat_id),
            "data": data,
            "message": message,
        }
        update_id = self.inject_raw({"callback_query": query})
        query["id"] = f"cb{update_id}"  # the queued update holds this same dict
        self._callback_ids.add(query["id"])
        return update_id

    def inject_my_chat_member(
        self, chat_id: int, chat_type: str, old_status: str, new_status: str, user_id: int
    ) -> int:
        """The bot's own membership changed (blocked, kicked, added) by `user_id`."""
        chat = self._inject_chat(chat_id, chat_type)
        bot = self._bot_user()
        self._members[(chat_id, self.bot_id)] = new_status
        change = {
            "chat": chat,
            "from": self._users.get(user_id) or tg.make_user(user_id),
            "date": int(self._clock()),
            "old_chat_member": tg.chat_member(bot, old_status),
            "new_chat_member": tg.chat_member(bot, new_status),
        }
        return self.inject_raw({"my_chat_member": change})

    def inject_document(
        self,
        chat_id: int,
        user_id: int,
        file_id: str,
        file_name: str,
        *,
        content: bytes | None = None,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        chat_type: str | None = None,
        language_code: str | None = None,
    ) -> int:
        """A document sent by a user; with `content` the file is also downloadable."""
        if content is not None:
            self.add_file(file_id, content, f"documents/{file_name}")
        size = len(self._files[file_id][0]) if file_id in self._files else 0
        chat = self._inject_chat(chat_id, chat_type)
        extra: JSONDict = {"document": tg.document(file_id, file_name, size, mime_type)}
        if caption is not None:
            extra["caption"] = caption
        user = self._remember_user(user_id, language_code, None, None)
        return self.inject_raw({"message": self._store(chat, user, extra, by_bot=False)})

    # ----- HTTP -------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        name = request.match_info["method"]
        call = Call(self._canonical.get(name.lower(), name), {}, token, self._monotonic_now())
        self.bot_id = tg.bot_id_from_token(token)
        self.calls.append(call)
        try:
            call.params = await read_params(request)
            self._changed.fire()
            result = await self._answer(call)
        except ApiError as exc:
            call.status, call.description = exc.status, exc.description
            self._changed.fire()
            return web.json_response(exc.body(), status=exc.status)
        except asyncio.CancelledError:
            call.status = call.status or 0
            self._changed.fire()
            raise
        call.status, call.result = 200, result
        self._changed.fire()
        return web.json_response({"ok": True, "result": result})

    async def _handle_file(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        call = Call("downloadFile", {"file_path": path}, request.match_info["token"], 0.0)
        call.time = self._monotonic_now()
        self.calls.append(call)
        file_id = self._paths.get(path)
        call.status = 200 if file_id else 404
        self._changed.fire()
        if file_id is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=self._files[file_id][0])

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return web.json_response(ApiError(404, "Not Found").body(), status=404)

    async def _answer(self, call: Call) -> Any:
        handler = self._methods.get(call.method)
        if handler is None:
            raise ApiError(404, "Not Found")
        fault = self._take_fault(call)
        if fault is not None and fault.kind not in ("timeout", "timeout_after_send"):
            raise fault_error(fault, call.params.get("chat_id"))
        if fault is not None and fault.kind == "timeout":
            await self._hold(call)
        self._check_chat(call)
        result = handler(call)
        if asyncio.iscoroutine(result):
            result = await result
        if fault is not None:  # "timeout_after_send": done, but the answer never comes
            call.result = result
            await self._hold(call)
        return result

    async def _hold(self, call: Call) -> None:
        call.status = 0
        self._changed.fire()
        await self._released.wait()
        raise ApiError(502, "Bad Gateway")

    def _take_fault(self, call: Call) -> Fault | None:
        for fault in self._faults:
            if fault.matches(call.method, call.params.get("chat_id")):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                logger.debug("fake Bot API: %s answered with fault %s", call.method, fault.kind)
                return fault
        return None

    def _check_chat(self, call: Call) -> None:
        if "chat_id" not in call.params:
            return
        chat_id = self._chat_id(call)
        fault = self._chat_faults.get(chat_id)
        if fault is not None and (fault[0] != "forbidden" or call.method in CHAT_WRITES):
            raise chat_fault_error(*fault)
        if self.limits is not None and call.method in SEND_METHODS:
            wait = self._windows.wait_needed(self.limits, chat_id, call.time)
            if wait > 0:
                self.too_many += 1
                raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
