"""Names readers see, in English and Russian: countries, flags, apps, dates, plural forms."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final

# Twelve month abbreviations, space-separated; Russian ones in the genitive ("27 нояб.").
_MONTHS: Final[dict[str, str]] = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "ru": "янв. февр. марта апр. мая июня июля авг. сент. окт. нояб. дек.",
}

# code: (English, Russian). Countries that show up in censorship news first; others fall
# back to their code.
_COUNTRIES: Final[dict[str, tuple[str, str]]] = {
    "AE": ("United Arab Emirates", "ОАЭ"),
    "AF": ("Afghanistan", "Афганистан"),
    "AM": ("Armenia", "Армения"),
    "AR": ("Argentina", "Аргентина"),
    "AT": ("Austria", "Австрия"),
    "AU": ("Australia", "Австралия"),
    "AZ": ("Azerbaijan", "Азербайджан"),
    "BD": ("Bangladesh", "Бангладеш"),
    "BE": ("Belgium", "Бельгия"),
    "BH": ("Bahrain", "Бахрейн"),
    "BR": ("Brazil", "Бразилия"),
    "BY": ("Belarus", "Беларусь"),
    "CA": ("Canada", "Канада"),
    "CD": ("DR Congo", "ДР Конго"),
    "CH": ("Switzerland", "Швейцария"),
    "CM": ("Cameroon", "Камерун"),
    "CN": ("China", "Китай"),
    "CU": ("Cuba", "Куба"),
    "CZ": ("Czechia", "Чехия"),
    "DE": ("Germany", "Германия"),
    "DZ": ("Algeria", "Алжир"),
    "EE": ("Estonia", "Эстония"),
    "EG": ("Egypt", "Египет"),
    "ER": ("Eritrea", "Эритрея"),
    "ES": ("Spain", "Испания"),
    "ET": ("Ethiopia", "Эфиопия"),
    "EU": ("European Union", "Евросоюз"),
    "FI": ("Finland", "Финляндия"),
    "FR": ("France", "Франция"),
    "GB": ("United Kingdom", "Великобритания"),
    "GE": ("Georgia", "Грузия"),
    "GN": ("Guinea", "Гвинея"),
    "GR": ("Greece", "Греция"),
    "HK": ("Hong Kong", "Гонконг"),
    "HU": ("Hungary", "Венгрия"),
    "ID": ("Indonesia", "Индонезия"),
    "IE": ("Ireland", "Ирландия"),
    "IL": ("Israel", "Израиль"),
    "IN": ("India", "Индия"),
    "IQ": ("Iraq", "Ирак"),
    "IR": ("Iran", "Иран"),
    "IT": ("Italy", "Италия"),
    "JO": ("Jordan", "Иордания"),
    "JP": ("Japan", "Япония"),
    "KE": ("Kenya", "Кения"),
    "KG": ("Kyrgyzstan", "Киргизия"),
    "KP": ("North Korea", "КНДР"),
    "KR": ("South Korea", "Южная Корея"),
    "KW": ("Kuwait", "Кувейт"),
    "KZ": ("Kazakhstan", "Казахстан"),
    "LB": ("Lebanon", "Ливан"),
    "LK": ("Sri Lanka", "Шри-Ланка"),
    "LT": ("Lithuania", "Литва"),
    "LV": ("Latvia", "Латвия"),
    "LY": ("Libya", "Ливия"),
    "MA": ("Morocco", "Марокко"),
    "MD": ("Moldova", "Молдова"),
    "ML": ("Mali", "Мали"),
    "MM": ("Myanmar", "Мьянма"),
    "MX": ("Mexico", "Мексика"),
    "MY": ("Malaysia", "Малайзия"),
    "NG": ("Nigeria", "Нигерия"),
    "NI": ("Nicaragua", "Никарагуа"),
    "NL": ("Netherlands", "Нидерланды"),
    "NP": ("Nepal", "Непал"),
    "OM": ("Oman", "Оман"),
    "PH": ("Philippines", "Филиппины"),
    "PK": ("Pakistan", "Пакистан"),
    "PL": ("Poland", "Польша"),
    "PS": ("Palestine", "Палестина"),
    "QA": ("Qatar", "Катар"),
    "RU": ("Russia", "Россия"),
    "RW": ("Rwanda", "Руанда"),
    "SA": ("Saudi Arabia", "Саудовская Аравия"),
    "SD": ("Sudan", "Судан"),
    "SG": ("Singapore", "Сингапур"),
    "SN": ("Senegal", "Сенегал"),
    "SO": ("Somalia", "Сомали"),
    "SS": ("South Sudan", "Южный Судан"),
    "SY": ("Syria", "Сирия"),
    "TD": ("Chad", "Чад"),
    "TH": ("Thailand", "Таиланд"),
    "TJ": ("Tajikistan", "Таджикистан"),
    "TM": ("Turkmenistan", "Туркмения"),
    "TN": ("Tunisia", "Тунис"),
    "TR": ("Turkey", "Турция"),
    "TW": ("Taiwan", "Тайвань"),
    "TZ": ("Tanzania", "Танзания"),
    "UA": ("Ukraine", "Украина"),
    "UG": ("Uganda", "Уганда"),
    "US": ("United States", "США"),
    "UZ": ("Uzbekistan", "Узбекистан"),
    "VE": ("Venezuela", "Венесуэла"),
    "VN": ("Vietnam", "Вьетнам"),
    "YE": ("Yemen", "Йемен"),
    "ZA": ("South Africa", "ЮАР"),
    "ZW": ("Zimbabwe", "Зимбабве"),
}

# app tag: (English, Russian); most brands keep their Latin name in Russian text.
_APPS: Final[dict[str, tuple[str, str]]] = {
    "telegram": ("Telegram", "Telegram"),
    "whatsapp": ("WhatsApp", "WhatsApp"),
    "facebook_messenger": ("Facebook Messenger", "Facebook Messenger"),
    "messenger": ("Facebook Messenger", "Facebook Messenger"),
    "facebook": ("Facebook", "Facebook"),
    "instagram": ("Instagram", "Instagram"),
    "threads": ("Threads", "Threads"),
    "twitter": ("X (Twitter)", "X (Twitter)"),
    "x": ("X (Twitter)", "X (Twitter)"),
    "youtube": ("YouTube", "YouTube"),
    "tiktok": ("TikTok", "TikTok"),
    "signal": ("Signal", "Signal"),
    "viber": ("Viber", "Viber"),
    "wechat": ("WeChat", "WeChat"),
    "line": ("LINE", "LINE"),
    "imo": ("imo", "imo"),
    "zello": ("Zello", "Zello"),
    "vchat": ("Vchat", "Vchat"),
    "bbm": ("BlackBerry Messenger", "BlackBerry Messenger"),
    "blackberry_messenger": ("BlackBerry Messenger", "BlackBerry Messenger"),
    "skype": ("Skype", "Skype"),
    "discord": ("Discord", "Discord"),
    "snapchat": ("Snapchat", "Snapchat"),
    "linkedin": ("LinkedIn", "LinkedIn"),
    "facetime": ("FaceTime", "FaceTime"),
    "google": ("Google", "Google"),
    "wikipedia": ("Wikipedia", "Википедия"),
    "vk": ("VK", "ВКонтакте"),
    "odnoklassniki": ("Odnoklassniki", "Одноклассники"),
    "max": ("MAX", "MAX"),
    "tamtam": ("TamTam", "TamTam"),
    "icq": ("ICQ", "ICQ"),
    "twitch": ("Twitch", "Twitch"),
    "reddit": ("Reddit", "Reddit"),
    "github": ("GitHub", "GitHub"),
    "protonmail": ("Proton Mail", "Proton Mail"),
    "proton": ("Proton", "Proton"),
    "tor": ("Tor", "Tor"),
    "psiphon": ("Psiphon", "Psiphon"),
    "vpn": ("VPN", "VPN"),
    "cloudflare": ("Cloudflare", "Cloudflare"),
    "starlink": ("Starlink", "Starlink"),
    "apple": ("Apple", "Apple"),
    "app_store": ("App Store", "App Store"),
    "google_play": ("Google Play", "Google Play"),
}


def flag(code: str) -> str:
    """The flag emoji of a two-letter country code (``"RU"`` → 🇷🇺); ``""`` for anything else."""
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    base = 0x1F1E6 - ord("A")
    return "".join(chr(base + ord(letter)) for letter in code.upper())


def country_name(code: str, lang: str = "en") -> str:
    """The country's name in ``lang`` (``en`` or ``ru``); an unknown code is returned as is."""
    names = _COUNTRIES.get(code.upper())
    if names is None:
        return code.upper() if len(code) == 2 else code
    return names[1] if lang == "ru" else names[0]


def app_name(app: str, lang: str = "en") -> str:
    """The display name of an app tag (``facebook_messenger`` → ``Facebook Messenger``)."""
    names = _APPS.get(app.lower())
    if names is None:
        return app.replace("_", " ").strip().title() if app.islower() else app
    return names[1] if lang == "ru" else names[0]


def known_countries() -> frozenset[str]:
    """Every country code that has a display name."""
    return frozenset(_COUNTRIES)


def known_apps() -> frozenset[str]:
    """Every app tag that has a display name."""
    return frozenset(_APPS)


def day_month(day: date, lang: str = "en", year: bool = False) -> str:
    """``27 Nov`` / ``27 нояб.``, with the year when asked (``31 Dec 2026``)."""
    month = _MONTHS["ru" if lang == "ru" else "en"].split()[day.month - 1]
    text = f"{day.day} {month}"
    return f"{text} {day.year}" if year else text


def plural(n: int, forms: tuple[str, str, str], lang: str = "en") -> str:
    """The noun form for ``n``: Russian one/few/many (1, 2–4, 5+; 11–14 many), English one/other."""
    if lang != "ru":
        return forms[0] if n == 1 else forms[2]
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return forms[1]
    return forms[2]


def day_time(local: datetime, lang: str = "en") -> str:
    """``27 Nov 08:20`` / ``27 нояб. 08:20``: a moment as it reads on its own clock."""
    return f"{day_month(local.date(), lang)} {local:%H:%M}"


def zone_name(local: datetime, lang: str = "en") -> str:
    """The time zone of ``local`` as readers know it: ``UTC``, ``MSK``/``МСК``, ``UTC+03:30``."""
    name = local.tzname() or "UTC"
    if name[0] in "+-":  # zones without an abbreviation: "+0330", "+05"
        name = f"UTC{name[0]}{name[1:3]}" + (f":{name[3:5]}" if len(name) > 3 else "")
    return "МСК" if name == "MSK" and lang == "ru" else name


LANGUAGE_NAMES: Final = {
    "en": "English", "ru": "Русский", "fa": "فارسی", "tr": "Türkçe", "zh": "中文",
    "uk": "Українська",
}  # fmt: skip
"""Story languages as their readers name them ("uk" alone reads as the United Kingdom)."""
