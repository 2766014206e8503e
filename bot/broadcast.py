"""Admin broadcasts: preview, confirm, fan out through the queue, progress, cancel, resume.

A job lives in Redis (``keys.broadcast``): its text, status, counters and progress message.
Confirming snapshots the subscribed chats; the fan-out queues one entry per chat in
batches, remembering how far it got, so a restart resumes it. Each chat's entry is queued
once (the queue's key), and counted once (the counter and the acknowledgement are one
transaction), so only a send in flight when a process died can reach a chat twice.
"""

from __future__ import annotations

import logging
import secrets
import time

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import keys, queue, subscriptions
from bot.admin import admin_lang
from bot.handlers import command_argument, reply
from bot.i18n import t
from bot.markup import check_html
from bot.queue import Entry
from bot.send import Outcome
from bot.services import Services, chat_lang, services

log = logging.getLogger(__name__)

FAN_OUT_BATCH = 500
PROGRESS_EVERY = 5.0
COUNTERS = ("sent", "failed", "blocked", "cancelled")


async def broadcast_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/broadcast <HTML>: validate, show a preview with Confirm and Cancel."""
    if (lang := await admin_lang(update, context)) is None:
        return
    svc = services(context)
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    text = command_argument(message)
    if not text:
        await reply(update, context, t(lang, "broadcast_usage"))
        return
    if (problem := check_html(text)) is not None:
        await reply(update, context, t(lang, "broadcast_bad", reason=problem))
        return
    job = secrets.token_hex(6)
    await svc.redis.hset(
        keys.broadcast(job),
        mapping={
            "text": text,
            "status": "pending",
            "admin_chat": str(chat.id),
            "created": str(time.time()),
        },
    )
    await svc.redis.expire(keys.broadcast(job), 7 * 86400)
    await svc.sender.send(chat.id, text)
    total = len(await subscriptions.all_chat_ids(svc.redis))
    markup = InlineKeyboardMarkup(
        [[
            InlineKeyboardButton(t(lang, "btn_confirm"), callback_data=f"b:ok:{job}"),
            InlineKeyboardButton(t(lang, "btn_cancel"), callback_data=f"b:no:{job}"),
        ]]
    )  # fmt: skip
    await reply(update, context, t(lang, "broadcast_preview", count=total), markup=markup)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Confirm or Cancel under a preview; only admins, only a pending job."""
    query = update.callback_query
    chat = update.effective_chat
    user = update.effective_user
    if query is None or chat is None:
        return
    svc = services(context)
    lang = await chat_lang(svc, update)
    if user is None or not svc.is_admin(user.id):
        await query.answer(t(lang, "admin_only"), show_alert=True)
        return
    parts = (query.data or "").split(":")
    job = parts[2] if len(parts) == 3 else ""
    status = str(await svc.redis.hget(keys.broadcast(job), "status")) if job else None
    if parts[1:2] not in (["ok"], ["no"]) or status != "pending":
        await query.answer(t(lang, "stale_button"))
        return
    await query.answer()
    message_id = query.message.message_id if query.message else 0
    if parts[1] == "no":
        await svc.redis.hset(keys.broadcast(job), "status", "dropped")
        await svc.sender.edit(chat.id, message_id, t(lang, "broadcast_dropped"))
        return
    await start_job(svc, job, chat.id, message_id, lang)


async def start_job(svc: Services, job: str, chat_id: int, message_id: int, lang: str) -> None:
    """Snapshot the audience, mark the job running; the fan-out and progress follow."""
    chats = await subscriptions.all_chat_ids(svc.redis)
    key = keys.broadcast(job)
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.delete(keys.broadcast_chats(job))
        for start in range(0, len(chats), 1000):
            pipe.rpush(keys.broadcast_chats(job), *chats[start : start + 1000])
        pipe.expire(keys.broadcast_chats(job), 7 * 86400)
        pipe.hset(
            key,
            mapping={
                "status": "running", "total": str(len(chats)), "fanned": "0",
                "started": str(time.time()), "progress_chat": str(chat_id),
                "progress_msg": str(message_id), "lang": lang, "shown": "",
                **{c: "0" for c in COUNTERS},
            },
        )  # fmt: skip
        pipe.sadd(keys.broadcasts_active(), job)
        await pipe.execute()
    await fan_out(svc, job)
    await report_progress(svc, job, force=True)


async def fan_out(svc: Services, job: str) -> None:
    """Queue the job's remaining chats in batches, remembering how far it got."""
    key = keys.broadcast(job)
    while True:
        state = await svc.redis.hmget(key, ["status", "fanned", "total"])
        if state[0] != "running":
            return
        fanned, total = int(state[1] or 0), int(state[2] or 0)
        if fanned >= total:
            return
        chats = await svc.redis.lrange(
            keys.broadcast_chats(job), fanned, fanned + FAN_OUT_BATCH - 1
        )
        if not chats:
            return
        entries = [
            Entry(key=f"bc:{job}:{c!s}", chat=int(c), kind="broadcast", job=job) for c in chats
        ]
        await queue.enqueue(svc.redis, entries)
        await svc.redis.hset(key, "fanned", str(fanned + len(chats)))


async def deliver_broadcast(svc: Services, entry_id: str, entry: Entry) -> bool:
    """Send one chat's copy (unless cancelled or already sent), count it, acknowledge it;
    True when this call sent it."""
    key = keys.broadcast(entry.job)
    sent_now = False
    status, text = await svc.redis.hmget(key, ["status", "text"])
    if status != "running" or not text or not await subscriptions.exists(svc.redis, entry.chat):
        counter = "cancelled"
    elif await queue.parts_sent(svc.redis, entry_id):
        counter = "sent"  # sent before a crash; only the counting was left to do
    else:
        result = await svc.sender.send(entry.chat, str(text), kind="broadcast")
        counter = {Outcome.SENT: "sent", Outcome.BLOCKED: "blocked"}.get(result.outcome, "failed")
        if result.outcome is Outcome.SENT:
            sent_now = True
            await queue.part_done(svc.redis, entry_id, 1)
        await svc.watchdog.delivery_outcome(result.outcome)
    async with svc.redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, counter, 1)
        pipe.xack(keys.queue(), queue.GROUP, entry_id)
        pipe.xdel(keys.queue(), entry_id)
        pipe.delete(keys.queue_receipt(entry_id))
        await pipe.execute()
    return sent_now


async def cancel_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/broadcast_cancel: stop every running broadcast; what was not sent yet is skipped."""
    if (lang := await admin_lang(update, context)) is None:
        return
    svc = services(context)
    stopped = 0
    for job in map(str, await svc.redis.smembers(keys.broadcasts_active())):
        if await svc.redis.hget(keys.broadcast(job), "status") == "running":
            await svc.redis.hset(keys.broadcast(job), "status", "cancelled")
            stopped += 1
    await reply(update, context, t(lang, "broadcast_cancelled" if stopped else "broadcast_none"))


def progress_text(state: dict[str, str], now: float, lang: str) -> tuple[str, bool]:
    """The progress line of a job and whether it is finished (pure)."""
    total = int(state.get("total", 0))
    counts = {c: int(state.get(c, 0)) for c in COUNTERS}
    done = sum(counts.values())
    remaining = max(0, total - done)
    finished = remaining == 0 or (
        state.get("status") == "cancelled" and done >= int(state.get("fanned", 0))
    )
    elapsed = max(1e-3, now - float(state.get("started", now)))
    rate = done / elapsed
    eta = f"{remaining / rate:.0f}s" if rate > 0 and remaining else "—"
    key = "broadcast_done" if finished else "broadcast_progress"
    values = dict(total=total, remaining=remaining, eta=eta, **counts)
    return t(lang, key, **values), finished


async def report_progress(svc: Services, job: str, *, force: bool = False) -> bool:
    """Edit the job's progress message (at most every 5 s, only when its text changed)."""
    key = keys.broadcast(job)
    state = {str(k): str(v) for k, v in (await svc.redis.hgetall(key)).items()}
    if not state:
        await svc.redis.srem(keys.broadcasts_active(), job)
        return True
    now = time.time()
    text, finished = progress_text(state, now, state.get("lang", "en"))
    due = force or finished or now - float(state.get("edited", 0)) >= PROGRESS_EVERY
    if due and text != state.get("shown"):
        await svc.sender.edit(int(state["progress_chat"]), int(state["progress_msg"]), text)
        await svc.redis.hset(key, mapping={"shown": text, "edited": str(now)})
    if finished:
        await svc.redis.srem(keys.broadcasts_active(), job)
        if state.get("status") == "running":
            await svc.redis.hset(key, "status", "done")
    return finished


async def tend_jobs(svc: Services) -> None:
    """Resume fan-outs and refresh progress of every active job (the schedule lease holder)."""
    for job in map(str, await svc.redis.smembers(keys.broadcasts_active())):
        await fan_out(svc, job)
        await report_progress(svc, job)
