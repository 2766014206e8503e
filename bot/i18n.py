"""The bot's own texts in English and Russian. Placeholders are filled with escaped values."""

from __future__ import annotations

import html
from typing import Final

LANGS: Final = ("en", "ru")

_EN: Final[dict[str, str]] = {
    "welcome": (
        "<b>CensorWire</b> follows messenger blocking and internet censorship: apps blocked, "
        "throttled or banned, regulators demanding user data, shutdowns, VPN bans.\n\n"
        "I read news feeds in English and Russian, keep only stories on this topic, group the "
        "same event from several outlets and send you a short digest.\n\n"
        "Subscribe below to get everything, then narrow it down to the apps, countries and "
        "languages you follow. /help lists every command."
    ),
    "help": (
        "<b>Commands</b>\n"
        "/subscribe — daily digest of everything; or with filters: "
        "<code>/subscribe telegram whatsapp RU lang:ru</code>\n"
        "/settings — filters, digest or instant alerts, digest time, time zone\n"
        "/latest — newest events: <code>/latest 10</code>, <code>/latest telegram RU</code>\n"
        "/search — find stories: <code>/search блокировка telegram</code>, "
        '<code>/search "decryption keys" country:RU</code>\n'
        "/status — measured blocking from OONI: <code>/status RU</code>\n"
        "/sources — the feeds I read and their health\n"
        "/language — English or Russian\n"
        "/timezone — set your zone: <code>/timezone Europe/Berlin</code>\n"
        "/unsubscribe — stop everything and delete this chat's data\n\n"
        "Filters: app names (<code>telegram</code>, <code>whatsapp</code>, <code>signal</code>, "
        "<code>youtube</code>…), two-letter country codes (<code>RU</code>, <code>IR</code>, "
        "<code>TR</code>…) and story languages (<code>lang:ru</code>). "
        "A channel is subscribed from a private chat: <code>/subscribe @channel</code>."
    ),
    "help_admin": (
        "\n\n<b>Admin</b>\n/stats — subscribers, stories, feeds\n"
        "/feeds — list; <code>/feeds add URL</code>, <code>/feeds remove N</code>, "
        "<code>/feeds pause N</code>, <code>/feeds resume N</code>, "
        "<code>/feeds export</code>; send an .opml file to import\n"
        "/broadcast TEXT — announcement to every subscriber (with a preview); "
        "/broadcast_cancel"
    ),
    "subscribed": "✅ Subscribed. {what}\nDelivery: {mode}, {time} ({tz}).",
    "subscription_updated": "✅ Subscription updated. {what}\nDelivery: {mode}, {time} ({tz}).",
    "subscribed_narrow": "You can narrow it down:",
    "filters_all": "All stories on the topic.",
    "filters_some": "Only: {filters}.",
    "bad_filters": (
        "I don't know these filters: {bad}. Use app names (telegram, whatsapp…), two-letter "
        "country codes (RU, IR…) or lang:ru / lang:en."
    ),
    "unsubscribed": (
        "Unsubscribed. I deleted everything I kept for this chat. /subscribe to come back."
    ),
    "not_subscribed": "This chat is not subscribed. /subscribe to start.",
    "settings": (
        "<b>Settings</b>\nApps: {apps}\nCountries: {countries}\nStory languages: {langs}\n"
        "Delivery: {mode}\nDigest time: {time} ({tz})\nLanguage: {language}"
    ),
    "any": "any",
    "mode_digest": "daily digest",
    "mode_alerts": "instant alerts",
    "mode_both": "digest and instant alerts",
    "btn_subscribe": "✅ Subscribe to everything",
    "btn_apps": "📱 Apps",
    "btn_countries": "🌍 Countries",
    "btn_langs": "🗣 Story languages",
    "btn_mode": "🔔 Delivery",
    "btn_time": "🕘 Digest time",
    "btn_tz": "🌐 Time zone",
    "btn_lang": "🔤 Bot language",
    "btn_back": "‹ Back",
    "btn_all": "Any",
    "btn_more": "More ›",
    "btn_prev": "‹ Previous",
    "btn_confirm": "✅ Send to everyone",
    "btn_cancel": "✖ Cancel",
    "pick_apps": "Which apps? Tap to turn on or off; none selected means all.",
    "pick_countries": "Which countries? Tap to turn on or off; none selected means all.",
    "pick_langs": "Stories in which languages? None selected means all.",
    "pick_mode": "How should I deliver?",
    "pick_time": "When should the daily digest arrive? Times are in {tz} (change: 🌐 Time zone).",
    "pick_tz": "Your time zone? Or type it: <code>/timezone Europe/Berlin</code>",
    "pick_lang": "Language of the bot:",
    "saved": "Saved.",
    "stale_button": "This button is out of date.",
    "subscribe_first": "Subscribe first: /subscribe",
    "latest_empty": "No events yet for these filters. I'll have more after the next poll.",
    "search_usage": (
        "What should I look for? <code>/search блокировка telegram</code>, "
        '<code>/search "decryption keys"</code>, <code>/search whatsapp country:IR</code>'
    ),
    "search_bad": "I can't search for that: {reason}",
    "search_none": "Nothing found for <b>{query}</b>.",
    "search_head": "🔎 <b>{query}</b>: results {first}–{last}{more}",
    "search_more": ", more on the next page",
    "sources_head": "<b>Sources</b> ({count}): {ok} working, {failing} failing",
    "health_waiting": "failing ({errors} in a row): {reason}; next try {when}",
    "health_retrying": "failing ({errors} in a row): {reason}; retrying now",
    "health_disabled": "disabled: {reason}",
    "language_set": "I'll speak English here.",
    "timezone_set": "Time zone set to {tz}. Next digest: {when}.",
    "timezone_bad": (
        "I don't know the time zone {tz}. Use a name like Europe/Moscow, Asia/Tehran or UTC."
    ),
    "timezone_usage": "Type your zone like this: <code>/timezone Europe/Berlin</code>",
    "unknown_command": "I don't know that command. /help lists what I can do.",
    "plain_text": "I answer commands. Try /latest, /search or /help.",
    "slow_down": "Too many commands at once. Please wait a minute.",
    "admin_only": "Sorry, that command is for the bot's administrators.",
    "group_admin_only": "Only this group's admins can change its subscription.",
    "channel_usage": "Send <code>/subscribe @channel</code> in a private chat with me.",
    "channel_unknown": "I can't find {channel}. Add me to the channel as an admin first.",
    "channel_not_admin": "You need to be an admin of {channel} to subscribe it.",
    "channel_bot_not_admin": "Add me to {channel} as an admin who can post, then try again.",
    "channel_subscribed": "✅ {channel} is subscribed. {what}",
    "channel_unsubscribed": "{channel} is unsubscribed; I deleted what I kept for it.",
    "unsubscribe_usage": (
        "<code>/unsubscribe</code> stops this chat; <code>/unsubscribe @channel</code> "
        "stops a channel you administer."
    ),
    "group_added": (
        "Hello! I post news about messenger blocking and censorship. "
        "An admin can /subscribe this group."
    ),
    "stats": (
        "<b>Stats</b>\nSubscribers: {subs} ({kinds})\nLanguages: {langs}\n"
        "Stories stored: {stories}\nFeeds: {ok} ok, {failing} failing, {paused} paused\n"
        "Last poll: {last_poll}"
    ),
    "feeds_head": "<b>Feeds</b> ({count})",
    "feed_added": "Added {url} ({entries} entries read).",
    "feed_add_failed": "I couldn't read {url}: {reason}. Nothing was added.",
    "feed_removed": "Removed {url}.",
    "feed_paused": "Paused {url}.",
    "feed_resumed": "Resumed {url}.",
    "feed_unknown": "No feed {which}. See /feeds for the numbers.",
    "feeds_usage": (
        "<code>/feeds add URL</code>, <code>/feeds remove N</code>, <code>/feeds pause N</code>, "
        "<code>/feeds resume N</code>, <code>/feeds export</code>"
    ),
    "opml_imported": "Imported {added} feeds from the OPML file ({skipped} already known).",
    "opml_bad": "That file isn't OPML I can read: {reason}",
    "feed_failing": "⚠️ Feed failing: {name} ({url})\n{reason}",
    "feed_recovered": "✅ Feed working again: {name} ({url})",
    "feed_disabled": "⛔ Feed gone (HTTP 410), disabled: {name} ({url})",
    "query_too_long": "at most {limit} characters, please",
    "query_needs_value": "{name}: needs a value, e.g. {example}",
    "query_empty": "nothing to search for: add a word such as telegram or блокировка",
    "query_app": "app: takes an app name, e.g. {example}",
    "query_code": "{name}: takes a two-letter code, e.g. {example}",
    "broadcast_usage": "Write the announcement after the command: <code>/broadcast Hello!</code>",
    "broadcast_bad": "Telegram would refuse this HTML: {reason}. Nothing was sent.",
    "broadcast_preview": "☝️ Preview. Send it to every subscribed chat ({count})?",
    "broadcast_dropped": "Broadcast cancelled; nothing was sent.",
    "broadcast_progress": (
        "📣 Broadcast: sent {sent}, failed {failed}, blocked {blocked}, "
        "remaining {remaining} of {total}, ETA {eta}"
    ),
    "broadcast_done": (
        "📣 Broadcast finished: sent {sent}, failed {failed}, blocked {blocked}, "
        "cancelled {cancelled} of {total}."
    ),
    "broadcast_cancelled": "Broadcast stopped; the chats not reached yet are skipped.",
    "broadcast_none": "No broadcast is running.",
    "delivery_failing": "⚠️ Deliveries are failing: {failed} of the last {total} sends failed.",
    "redis_back": "✅ Redis was unreachable for {seconds}s and is back; nothing was lost.",
    "status_usage": (
        "Which country? <code>/status RU</code>. I watch OONI measurements for: {watched}."
    ),
    "status_none_watched": (
        "None of this chat's countries is watched. Try <code>/status RU</code>; watched: {watched}."
    ),
    "status_unknown": (
        "I don't know the country code {code}. Use two letters: <code>/status RU</code>."
    ),
    "status_not_watched": (
        "I don't watch OONI measurements for {name} ({code}). Watched countries: {watched}."
    ),
    "status_off": "OONI measurements are switched off on this bot.",
    "status_no_data": (
        "No OONI data for {country} yet: the first check may still be running, or OONI did "
        "not answer it. Try again in a few minutes."
    ),
    "status_no_measurements": (
        "OONI has no messenger measurements from {country} in the last {days} days."
    ),
    "status_head": "<b>{flag} {country}: messenger tests, last {days} days (OONI, to {today})</b>",
    "status_open": " · alert open since {since}",
    "ooni_failing": "⚠️ OONI checks failing ({errors} in a row), retrying with backoff:\n{reason}",
    "ooni_recovered": "✅ OONI checks work again; alerts and /status are up to date.",
    "never": "never",
}

_RU: Final[dict[str, str]] = {
    "welcome": (
        "<b>CensorWire</b> следит за блокировками мессенджеров и интернет-цензурой: ограничение, "
        "замедление и запреты приложений, требования регуляторов выдать данные пользователей, "
        "отключения интернета, запреты VPN.\n\n"
        "Я читаю новостные ленты на русском и английском, оставляю только новости по теме, "
        "объединяю одно событие из разных источников и присылаю короткий дайджест.\n\n"
        "Подпишитесь кнопкой ниже — на всё, а потом выберите приложения, страны и языки, "
        "которые вам интересны. /help — все команды."
    ),
    "help": (
        "<b>Команды</b>\n"
        "/subscribe — ежедневный дайджест обо всём; или с фильтрами: "
        "<code>/subscribe telegram whatsapp RU lang:ru</code>\n"
        "/settings — фильтры, дайджест или мгновенные оповещения, время, часовой пояс\n"
        "/latest — последние события: <code>/latest 10</code>, <code>/latest telegram RU</code>\n"
        "/search — поиск: <code>/search блокировка telegram</code>, "
        '<code>/search "ключи шифрования" country:RU</code>\n'
        "/status — измерения блокировок OONI: <code>/status RU</code>\n"
        "/sources — ленты, которые я читаю, и их состояние\n"
        "/language — русский или английский\n"
        "/timezone — часовой пояс: <code>/timezone Europe/Moscow</code>\n"
        "/unsubscribe — отписаться и удалить данные этого чата\n\n"
        "Фильтры: названия приложений (<code>telegram</code>, <code>whatsapp</code>, "
        "<code>signal</code>, <code>youtube</code>…), коды стран из двух букв (<code>RU</code>, "
        "<code>IR</code>, <code>TR</code>…) и язык новостей (<code>lang:ru</code>). "
        "Канал подписывают из личного чата: <code>/subscribe @channel</code>."
    ),
    "help_admin": (
        "\n\n<b>Администратору</b>\n/stats — подписчики, новости, ленты\n"
        "/feeds — список; <code>/feeds add URL</code>, <code>/feeds remove N</code>, "
        "<code>/feeds pause N</code>, <code>/feeds resume N</code>, "
        "<code>/feeds export</code>; пришлите файл .opml для импорта\n"
        "/broadcast ТЕКСТ — объявление всем подписчикам (с предпросмотром); /broadcast_cancel"
    ),
    "subscribed": "✅ Подписка оформлена. {what}\nДоставка: {mode}, {time} ({tz}).",
    "subscription_updated": "✅ Подписка обновлена. {what}\nДоставка: {mode}, {time} ({tz}).",
    "subscribed_narrow": "Можно сузить:",
    "filters_all": "Все новости по теме.",
    "filters_some": "Только: {filters}.",
    "bad_filters": (
        "Не понимаю фильтры: {bad}. Используйте названия приложений (telegram, whatsapp…), "
        "коды стран из двух букв (RU, IR…) или lang:ru / lang:en."
    ),
    "unsubscribed": "Подписка отменена, все данные этого чата удалены. /subscribe — вернуться.",
    "not_subscribed": "Этот чат не подписан. /subscribe — подписаться.",
    "settings": (
        "<b>Настройки</b>\nПриложения: {apps}\nСтраны: {countries}\nЯзыки новостей: {langs}\n"
        "Доставка: {mode}\nВремя дайджеста: {time} ({tz})\nЯзык: {language}"
    ),
    "any": "любые",
    "mode_digest": "ежедневный дайджест",
    "mode_alerts": "мгновенные оповещения",
    "mode_both": "дайджест и мгновенные оповещения",
    "btn_subscribe": "✅ Подписаться на всё",
    "btn_apps": "📱 Приложения",
    "btn_countries": "🌍 Страны",
    "btn_langs": "🗣 Языки новостей",
    "btn_mode": "🔔 Доставка",
    "btn_time": "🕘 Время дайджеста",
    "btn_tz": "🌐 Часовой пояс",
    "btn_lang": "🔤 Язык бота",
    "btn_back": "‹ Назад",
    "btn_all": "Любые",
    "btn_more": "Дальше ›",
    "btn_prev": "‹ Назад",
    "btn_confirm": "✅ Отправить всем",
    "btn_cancel": "✖ Отмена",
    "pick_apps": (
        "Какие приложения? Нажмите, чтобы включить или выключить; если ничего не выбрано — все."
    ),
    "pick_countries": (
        "Какие страны? Нажмите, чтобы включить или выключить; если ничего не выбрано — все."
    ),
    "pick_langs": "Новости на каких языках? Если ничего не выбрано — на всех.",
    "pick_mode": "Как доставлять?",
    "pick_time": "Когда присылать ежедневный дайджест? Время — {tz} (поменять: 🌐 Часовой пояс).",
    "pick_tz": "Ваш часовой пояс? Или напишите: <code>/timezone Europe/Moscow</code>",
    "pick_lang": "Язык бота:",
    "saved": "Сохранено.",
    "stale_button": "Эта кнопка устарела.",
    "subscribe_first": "Сначала подпишитесь: /subscribe",
    "latest_empty": (
        "По этим фильтрам событий пока нет. Новые появятся после следующего опроса лент."
    ),
    "search_usage": (
        "Что искать? <code>/search блокировка telegram</code>, "
        '<code>/search "ключи шифрования"</code>, <code>/search whatsapp country:IR</code>'
    ),
    "search_bad": "Не могу выполнить такой поиск: {reason}",
    "search_none": "По запросу <b>{query}</b> ничего не нашлось.",
    "search_head": "🔎 <b>{query}</b>: результаты {first}–{last}{more}",
    "search_more": ", дальше есть ещё",
    "sources_head": "<b>Источники</b> ({count}): работают {ok}, с ошибками {failing}",
    "health_waiting": "ошибки ({errors} подряд): {reason}; следующая попытка {when}",
    "health_retrying": "ошибки ({errors} подряд): {reason}; повторяю сейчас",
    "health_disabled": "отключена: {reason}",
    "language_set": "Буду говорить по-русски.",
    "timezone_set": "Часовой пояс: {tz}. Следующий дайджест: {when}.",
    "timezone_bad": (
        "Не знаю часовой пояс {tz}. Укажите название вроде Europe/Moscow, Asia/Tehran или UTC."
    ),
    "timezone_usage": "Напишите пояс так: <code>/timezone Europe/Moscow</code>",
    "unknown_command": "Не знаю такой команды. /help — что я умею.",
    "plain_text": "Я отвечаю на команды. Попробуйте /latest, /search или /help.",
    "slow_down": "Слишком много команд подряд. Подождите минуту.",
    "admin_only": "Извините, эта команда только для администраторов бота.",
    "group_admin_only": "Менять подписку группы могут только её администраторы.",
    "channel_usage": "Отправьте <code>/subscribe @channel</code> мне в личном чате.",
    "channel_unknown": "Не нахожу {channel}. Сначала добавьте меня в канал администратором.",
    "channel_not_admin": "Чтобы подписать {channel}, нужно быть его администратором.",
    "channel_bot_not_admin": "Добавьте меня в {channel} администратором с правом публикации.",
    "channel_subscribed": "✅ {channel} подписан. {what}",
    "channel_unsubscribed": "{channel} отписан; данные канала удалены.",
    "unsubscribe_usage": (
        "<code>/unsubscribe</code> отписывает этот чат; <code>/unsubscribe @channel</code> "
        "— канал, который вы администрируете."
    ),
    "group_added": (
        "Здравствуйте! Я публикую новости о блокировках мессенджеров и цензуре. "
        "Администратор может подписать группу командой /subscribe."
    ),
    "stats": (
        "<b>Статистика</b>\nПодписчики: {subs} ({kinds})\nЯзыки: {langs}\n"
        "Новостей в базе: {stories}\nЛенты: работают {ok}, с ошибками {failing}, "
        "на паузе {paused}\nПоследний опрос: {last_poll}"
    ),
    "feeds_head": "<b>Ленты</b> ({count})",
    "feed_added": "Лента {url} добавлена (прочитано записей: {entries}).",
    "feed_add_failed": "Не удалось прочитать {url}: {reason}. Ничего не добавлено.",
    "feed_removed": "Лента {url} удалена.",
    "feed_paused": "На паузе: {url}.",
    "feed_resumed": "Снова читается: {url}.",
    "feed_unknown": "Нет ленты {which}. Номера — в /feeds.",
    "feeds_usage": (
        "<code>/feeds add URL</code>, <code>/feeds remove N</code>, <code>/feeds pause N</code>, "
        "<code>/feeds resume N</code>, <code>/feeds export</code>"
    ),
    "opml_imported": "Импортировано лент из OPML: {added} (уже были: {skipped}).",
    "opml_bad": "Не могу прочитать этот файл как OPML: {reason}",
    "feed_failing": "⚠️ Лента с ошибками: {name} ({url})\n{reason}",
    "feed_recovered": "✅ Лента снова работает: {name} ({url})",
    "feed_disabled": "⛔ Лента удалена издателем (HTTP 410), отключена: {name} ({url})",
    "query_too_long": "не больше {limit} символов",
    "query_needs_value": "после {name}: нужно значение, например {example}",
    "query_empty": "нечего искать: добавьте слово, например telegram или блокировка",
    "query_app": "после app: нужно название приложения, например {example}",
    "query_code": "после {name}: нужен двухбуквенный код, например {example}",
    "broadcast_usage": "Напишите объявление после команды: <code>/broadcast Привет!</code>",
    "broadcast_bad": "Telegram не примет такой HTML: {reason}. Ничего не отправлено.",
    "broadcast_preview": "☝️ Предпросмотр. Отправить во все подписанные чаты ({count})?",
    "broadcast_dropped": "Рассылка отменена, ничего не отправлено.",
    "broadcast_progress": (
        "📣 Рассылка: отправлено {sent}, ошибок {failed}, заблокировали {blocked}, "
        "осталось {remaining} из {total}, ещё примерно {eta}"
    ),
    "broadcast_done": (
        "📣 Рассылка завершена: отправлено {sent}, ошибок {failed}, заблокировали {blocked}, "
        "отменено {cancelled} из {total}."
    ),
    "broadcast_cancelled": "Рассылка остановлена; оставшиеся чаты пропущены.",
    "broadcast_none": "Сейчас рассылок нет.",
    "delivery_failing": "⚠️ Сбои доставки: из последних {total} отправок не прошли {failed}.",
    "redis_back": "✅ Redis был недоступен {seconds} с и снова работает; ничего не потеряно.",
    "status_usage": (
        "Какая страна? <code>/status RU</code>. Я слежу за измерениями OONI для: {watched}."
    ),
    "status_none_watched": (
        "Ни за одной из стран этого чата я не слежу. Попробуйте <code>/status RU</code>; "
        "отслеживаются: {watched}."
    ),
    "status_unknown": "Не знаю код страны {code}. Нужны две буквы: <code>/status RU</code>.",
    "status_not_watched": (
        "Я не слежу за измерениями OONI по стране «{name}» ({code}). Отслеживаются: {watched}."
    ),
    "status_off": "Измерения OONI в этом боте выключены.",
    "status_no_data": (
        "Данных OONI для страны «{country}» пока нет: первая проверка ещё идёт или OONI "
        "не ответил. Попробуйте через несколько минут."
    ),
    "status_no_measurements": (
        "У OONI нет измерений мессенджеров из страны «{country}» за последние {days} дн."
    ),
    "status_head": "<b>{flag} {country}: тесты мессенджеров за {days} дн. (OONI, по {today})</b>",
    "status_open": " · оповещение с {since}",
    "ooni_failing": "⚠️ Проверки OONI не проходят ({errors} подряд), повторяю с паузами:\n{reason}",
    "ooni_recovered": "✅ Проверки OONI снова работают; оповещения и /status актуальны.",
    "never": "ещё не было",
}

_CATALOG: Final = {"en": _EN, "ru": _RU}

COMMANDS: Final[dict[str, list[tuple[str, str]]]] = {
    "en": [
        ("subscribe", "Daily digest; filters: telegram RU lang:ru"),
        ("latest", "Newest events"),
        ("search", "Search stories"),
        ("settings", "Filters, delivery, time, zone"),
        ("timezone", "Your time zone, e.g. Europe/Berlin"),
        ("status", "Measured blocking (OONI) in a country"),
        ("sources", "Feeds and their health"),
        ("language", "English or Russian"),
        ("help", "All commands with examples"),
        ("unsubscribe", "Stop and delete this chat's data"),
    ],
    "ru": [
        ("subscribe", "Ежедневный дайджест; фильтры: telegram RU lang:ru"),
        ("latest", "Последние события"),
        ("search", "Поиск по новостям"),
        ("settings", "Фильтры, доставка, время, пояс"),
        ("timezone", "Часовой пояс, например Europe/Moscow"),
        ("status", "Измерения блокировок OONI в стране"),
        ("sources", "Ленты и их состояние"),
        ("language", "Русский или английский"),
        ("help", "Все команды с примерами"),
        ("unsubscribe", "Отписаться и удалить данные"),
    ],
}


def pick_lang(code: str | None) -> str:
    """The bot language for a Telegram ``language_code``: Russian for ru/uk/be/kk, else English."""
    if code and code.split("-")[0].lower() in ("ru", "uk", "be", "kk"):
        return "ru"
    return "en"


def t(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang``; values are HTML-escaped unless wrapped in ``Raw``."""
    catalog = _CATALOG.get(lang, _EN)
    template = catalog.get(key) or _EN[key]
    if not values:
        return template
    escaped = {k: v.text if isinstance(v, Raw) else html.escape(str(v)) for k, v in values.items()}
    return template.format(**escaped)


class Raw:
    """A value already in Telegram HTML, inserted into a text as it is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text
