"""/settings and its buttons. Callback data is short and validated; stale buttons are answered."""

from __future__ import annotations

import dataclasses

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import subscriptions
from bot.commands import (
    COMMON_ZONES,
    DIGEST_TIMES,
    SETTINGS_APPS,
    SETTINGS_COUNTRIES,
    STORY_LANGS,
    toggle,
)
from bot.countries import LANGUAGE_NAMES, app_name, country_name, flag
from bot.handlers import (
    button_gate,
    gate,
    menu_markup,
    reply,
    subscribed_text,
    user_language_code,
)
from bot.i18n import LANGS, t
from bot.services import Services, may_change_chat, services
from bot.subscriptions import Mode, Subscription


def settings_text(sub: Subscription, lang: str) -> str:
    anything = t(lang, "any")
    return t(
        lang,
        "settings",
        apps=", ".join(app_name(a, lang) for a in sub.apps) or anything,
        countries=", ".join(country_name(c, lang) for c in sub.countries) or anything,
        langs=", ".join(sub.langs) or anything,
        mode=t(lang, f"mode_{sub.mode.value}"),
        time=sub.digest_time,
        tz=sub.tz,
        language="English" if sub.lang == "en" else "Русский",
    )


async def settings(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/settings: current filters and delivery, with buttons to change them."""
    if (lang := await gate(update, context)) is None:
        return
    chat = update.effective_chat
    assert chat is not None
    sub = await subscriptions.get(services(context).redis, chat.id)
    if sub is None:
        await reply(update, context, t(lang, "not_subscribed"), markup=menu_markup(lang, False))
        return
    await reply(update, context, settings_text(sub, lang), markup=menu_markup(lang, True))


def _grid(buttons: list[InlineKeyboardButton], width: int, lang: str) -> InlineKeyboardMarkup:
    rows = [buttons[i : i + width] for i in range(0, len(buttons), width)]
    rows.append([InlineKeyboardButton(t(lang, "btn_back"), callback_data="s:menu")])
    return InlineKeyboardMarkup(rows)


def picker(view: str, sub: Subscription, lang: str) -> tuple[str, InlineKeyboardMarkup]:
    """The text and buttons of one settings view."""

    def mark(on: bool, label: str) -> str:
        return f"✓ {label}" if on else label

    if view == "apps":
        buttons = [
            InlineKeyboardButton(mark(a in sub.apps, app_name(a, lang)), callback_data=f"s:app:{a}")
            for a in SETTINGS_APPS
        ]
        return t(lang, "pick_apps"), _grid(buttons, 3, lang)
    if view == "cc":
        buttons = [
            InlineKeyboardButton(
                mark(c in sub.countries, f"{flag(c)} {c}"), callback_data=f"s:c:{c}"
            )
            for c in SETTINGS_COUNTRIES
        ]
        return t(lang, "pick_countries"), _grid(buttons, 4, lang)
    if view == "sl":
        buttons = [
            InlineKeyboardButton(
                mark(x in sub.langs, LANGUAGE_NAMES.get(x, x)), callback_data=f"s:l:{x}"
            )
            for x in STORY_LANGS
        ]
        return t(lang, "pick_langs"), _grid(buttons, 3, lang)
    if view == "mode":
        buttons = [
            InlineKeyboardButton(
                mark(sub.mode is m, _capital(t(lang, f"mode_{m.value}"))),
                callback_data=f"s:m:{m.value}",
            )
            for m in Mode
        ]
        return t(lang, "pick_mode"), _grid(buttons, 1, lang)
    if view == "time":
        buttons = [
            InlineKeyboardButton(mark(sub.digest_time == x, x), callback_data=f"s:t:{x}")
            for x in DIGEST_TIMES
        ]
        return t(lang, "pick_time", tz=sub.tz), _grid(buttons, 3, lang)
    if view == "tz":
        buttons = [
            InlineKeyboardButton(mark(sub.tz == z, z), callback_data=f"s:z:{z}")
            for z in COMMON_ZONES
        ]
        return t(lang, "pick_tz"), _grid(buttons, 2, lang)
    return settings_text(sub, lang), menu_markup(lang, True)


_VIEWS = {"apps", "cc", "sl", "mode", "time", "tz", "menu"}


def apply_choice(sub: Subscription, kind: str, value: str) -> tuple[Subscription, str] | None:
    """The subscription after one button press and the view to show; None for forged data."""
    if kind == "app" and value in SETTINGS_APPS:
        return dataclasses.replace(sub, apps=toggle(sub.apps, value)), "apps"
    if kind == "c" and value in SETTINGS_COUNTRIES:
        return dataclasses.replace(sub, countries=toggle(sub.countries, value)), "cc"
    if kind == "l" and value in STORY_LANGS:
        return dataclasses.replace(sub, langs=toggle(sub.langs, value)), "sl"
    if kind == "m" and value in {m.value for m in Mode}:
        return dataclasses.replace(sub, mode=Mode(value)), "mode"
    if kind == "t" and value in DIGEST_TIMES:
        return dataclasses.replace(sub, digest_time=value), "time"
    if kind == "z" and value in COMMON_ZONES:
        return dataclasses.replace(sub, tz=value), "tz"
    return None


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Every ``s:``/``sub:`` button: validated, permission-checked, answered."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    svc = services(context)
    if (lang := await button_gate(update, context)) is None:
        return
    data = query.data or ""
    parts = data.split(":", 2)
    if not await may_change_chat(update, context):
        await query.answer(t(lang, "group_admin_only"), show_alert=True)
        return
    if parts[:2] == ["s", "lang"] and len(parts) == 3 and parts[2] in LANGS:
        await subscriptions.set_chat_lang(svc.redis, chat.id, parts[2])
        await query.answer()
        await _edit(svc, query.message, t(parts[2], "language_set"), None)
        return
    if parts[:2] == ["s", "lang"] and len(parts) == 2:
        await query.answer()
        markup = InlineKeyboardMarkup(
            [
                [
                    InlineKeyboardButton("English", callback_data="s:lang:en"),
                    InlineKeyboardButton("Русский", callback_data="s:lang:ru"),
                ]
            ]
        )
        await _edit(svc, query.message, t(lang, "pick_lang"), markup)
        return
    now = svc.clock()
    sub = await subscriptions.get(svc.redis, chat.id)
    if data == "sub:all":
        if sub is None:
            sub = Subscription(
                chat_id=chat.id,
                kind=chat.type,
                lang=lang,
                digest_time=svc.settings.delivery.digest_time,
                tz=subscriptions.default_zone(user_language_code(update) or lang),
                title=chat.title or "",
                created=now.timestamp(),
            )
            await subscriptions.save(svc.redis, sub, now)
        await query.answer(t(lang, "saved"))
        await _edit(svc, query.message, subscribed_text(sub, lang), menu_markup(lang, True))
        return
    if parts[0] != "s" or len(parts) < 2:
        await query.answer(t(lang, "stale_button"))
        return
    if sub is None:
        await query.answer(t(lang, "subscribe_first"), show_alert=True)
        return
    if len(parts) == 2 and parts[1] in _VIEWS:
        await query.answer()
        text, markup = picker(parts[1], sub, lang)
        await _edit(svc, query.message, text, markup)
        return
    choice = apply_choice(sub, parts[1], parts[2]) if len(parts) == 3 else None
    if choice is None:
        await query.answer(t(lang, "stale_button"))
        return
    sub, view = choice
    await subscriptions.save(svc.redis, sub, now)
    await query.answer(t(lang, "saved"))
    text, markup = picker(view, sub, lang)
    await _edit(svc, query.message, text, markup)


async def _edit(
    svc: Services, message: object, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    chat_id = getattr(getattr(message, "chat", None), "id", None)
    message_id = getattr(message, "message_id", None)
    if isinstance(chat_id, int) and isinstance(message_id, int):
        await svc.sender.edit(chat_id, message_id, text, markup)


def _capital(text: str) -> str:
    """``daily digest`` → ``Daily digest``: a button label, from a phrase used mid-sentence."""
    return text[:1].upper() + text[1:]
