"""/search: full-text search with paging buttons (the query is kept in Redis, not the button)."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import subscriptions
from bot.countries import day_month
from bot.digest import linkable, shorten
from bot.errors import QueryError
from bot.handlers import button_gate, command_argument, gate, reply
from bot.i18n import Raw, t
from bot.query import parse_query
from bot.search import search
from bot.services import Services, load_button, services, store_button

PAGE = 5


async def search_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/search <query>: best and newest stories first, paged with buttons."""
    if (lang := await gate(update, context)) is None:
        return
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    text = command_argument(message)
    if not text:
        await reply(update, context, t(lang, "search_usage"))
        return
    try:
        parse_query(text)
    except QueryError as e:
        reason = Raw(t(lang, e.reason, **e.values))
        await reply(update, context, t(lang, "search_bad", reason=reason))
        return
    svc = services(context)
    token = await store_button(svc, {"q": text, "chat": str(chat.id)})
    body, markup = await render_page(svc, chat.id, text, 0, token, lang)
    await reply(update, context, body, markup=markup)


async def render_page(
    svc: Services, chat_id: int, text: str, offset: int, token: str, lang: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of results for ``chat_id``, dated in its zone as its digests are."""
    page = await search(svc.redis, parse_query(text), now=svc.clock(), limit=PAGE, offset=offset)
    if not page.stories:
        return t(lang, "search_none", query=shorten(text, 80)), None
    zone = subscriptions.reader_zone(await subscriptions.get(svc.redis, chat_id), lang)
    lines = [
        t(
            lang,
            "search_head",
            query=shorten(text, 80),
            first=offset + 1,
            last=offset + len(page.stories),
            more=Raw(t(lang, "search_more")) if page.has_more else "",
        )
    ]
    for story in page.stories:
        title = html.escape(shorten(story.title, 200))
        if linkable(story.url):
            title = f'<a href="{html.escape(story.url, quote=True)}">{title}</a>'
        when = day_month(story.published.astimezone(zone).date(), lang, year=True)
        source = html.escape(shorten(story.source, 60))
        summary = html.escape(shorten(story.summary, 240)) if story.summary else ""
        lines.append(f"\n<b>{title}</b>\n{source} · {when}" + (f"\n{summary}" if summary else ""))
    buttons = []
    if offset > 0:
        buttons.append(
            InlineKeyboardButton(
                t(lang, "btn_prev"), callback_data=f"q:{token}:{max(0, offset - PAGE)}"
            )
        )
    if page.has_more:
        buttons.append(
            InlineKeyboardButton(t(lang, "btn_more"), callback_data=f"q:{token}:{offset + PAGE}")
        )
    return "\n".join(lines), InlineKeyboardMarkup([buttons]) if buttons else None


async def on_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A paging button: its token must exist and belong to this chat, its offset be sane."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or query.message is None:
        return
    svc = services(context)
    if (lang := await button_gate(update, context)) is None:
        return
    _, token, raw_offset = ((query.data or "") + "::").split(":")[:3]
    state = await load_button(svc, token)
    if (
        not state
        or state.get("chat") != str(chat.id)
        or not (raw_offset.isascii() and raw_offset.isdigit())
        or int(raw_offset) > 500
    ):
        await query.answer(t(lang, "stale_button"))
        return
    await query.answer()
    body, markup = await render_page(svc, chat.id, state["q"], int(raw_offset), token, lang)
    await svc.sender.edit(chat.id, query.message.message_id, body, markup)
