"""Noise removal before summarizing: datelines, bylines, credits, blurbs, share buttons.

``clean_article`` keeps the article's own prose. What it leaves is made of pieces of the
input (whitespace aside), so a sentence chosen from it is a sentence of the story. The
patterns of every language apply to every story: feeds mislabel their language often, and
a Russian dateline cannot be mistaken for English prose.
"""

from __future__ import annotations

import re

_LINE_BREAK = re.compile(r"\r\n?|[\u2028\u2029\x85]")
_INVISIBLE = re.compile(r"[\u200b\u2060\ufeff\u00ad]")
_SPACES = re.compile(r"[^\S\n]+")

_MONTH_RU = r"(?:янв|фев|мар|апр|ма[йя]|июн|июл|авг|сен|окт|ноя|дек)[а-яё]*\.?"
_CITY_RU = r"[а-яёa-z][а-яёa-z\-]*(?:[ \-][а-яёa-z\-]+){0,2}"
_AGENCY_RU = (
    r"(?:риа новости|р-спорт|прайм|ria novosti|тасс|интерфакс|регнум|рбк|sputnik|спутник"
    r"|риа «?новости»?)(?: [а-яё]+)?"
)
# Leading datelines, tried in turn at the start of the first paragraph.
_DATELINES = (
    # "москва, 1 дек — риа новости." / "МАГАС, 1 дек — РИА Новости, Адам Буражев."
    re.compile(
        rf"{_CITY_RU},\s*\d{{1,2}}\s+{_MONTH_RU}(?:\s+\d{{4}})?\s*[—–-]+\s*{_AGENCY_RU}"
        r"(?:,\s*[^.\n]{3,60}?)?\.\s*",
        re.IGNORECASE,
    ),
    # "МОСКВА, 1 декабря. /ТАСС/." / "... /Корр. ТАСС Иван Иванов/."
    re.compile(
        rf"{_CITY_RU},\s*\d{{1,2}}\s+{_MONTH_RU}(?:\s+\d{{4}})?\.?\s*/[^/\n]{{2,60}}/\.?\s*",
        re.IGNORECASE,
    ),
    # "МОСКВА, 27 ноя — Северный вестник.": an outlet of one or two words after an upper-case
    # city and a date (a news sentence is longer than two words)
    re.compile(
        rf"[А-ЯЁ]{{2,}}(?:[ \-][А-ЯЁ]{{2,}}){{0,2}},\s*\d{{1,2}}\s+{_MONTH_RU}(?:\s+\d{{4}})?"
        r"\s*[—–-]+\s*[«\"]?[A-ZА-ЯЁ][\w\-»\"]*(?:\s+[«\"]?[\w\-»\"]+)?\.\s+"
    ),
    # "Москва. 1 декабря. INTERFAX.RU - "
    re.compile(rf"{_CITY_RU}\.\s*\d{{1,2}}\s+{_MONTH_RU}\s*INTERFAX\.RU\s*[—–-]+\s*", re.I),
    # "(CNN)", "(Reuters) --", "(EW.com) —"
    re.compile(
        r"\((?:CNN|CNN Student News|Reuters|AP|AFP|Bloomberg|UPI|[A-Z][\w.]{1,15})\)"
        r"\s*(?:[—–-]{1,2}\s*)?"
    ),
    # "LONDON (Reuters) -", "NEW YORK, N.Y. (AP) —", "Paris (CNN)"
    re.compile(
        r"[A-Z][A-Za-z.'’\-]*(?:[ ,]+[A-Z][A-Za-z.'’\-]*){0,3}\s*"
        r"\((?:CNN|Reuters|AP|AFP|Bloomberg|UPI|dpa|Xinhua|RFE/RL|TASS|Interfax)\)"
        r"\s*(?:[—–-]{1,2}\s*)?"
    ),
    # "WASHINGTON —", "KYIV, Ukraine --", "SAN FRANCISCO - "
    re.compile(
        r"[A-Z][A-Z.'’\-]{2,}(?: [A-Z][A-Z.'’\-]+){0,2}(?:,\s*[A-Z][A-Za-z.]+(?: [A-Z][a-z.]+)?)?"
        r"\s*(?:—|–|--| - )\s*"
    ),
)

_NAME = r"[A-Z][\w'’.\-]*(?:\s+(?:[A-Z][\w'’.\-]*|de|van|von|der|al|bin|da))*"
_NOISE_PARAGRAPHS = (
    # bylines
    re.compile(
        rf"(?:By|BY|Written by|Words by)\s+{_NAME}(?:\s*(?:,|and|&)\s*{_NAME})*"
        rf"(?:\s*[,|/]\s*(?:The )?{_NAME})?\.?"
    ),
    re.compile(r"(?:Additional )?(?:Reporting|Writing|Editing) by\b.{0,250}"),
    re.compile(r"(?:Автор|Авторы|Текст|Редактор|Корреспондент)\s*[:—–-]\s*.{1,100}", re.I),
    # photo credits
    re.compile(
        r"(?:Photo|Photos|Photograph|Image|Picture|Video|Credit|Illustration|Фото|Фотография"
        r"|Иллюстрация|Изображение|Видео|Источник фото)(?:\s+by)?\s*[:©—–]\s*.{0,150}",
        re.I,
    ),
    re.compile(r"(?:©|Copyright ©?\s*\d{4}|\(c\)\s*\d{4}).{0,150}", re.I),
    re.compile(r"[^.!?]{0,150}(?:Getty Images|Shutterstock|AP Photo|EPA-EFE)\)?\.?"),
    # "Read more", related links
    re.compile(
        r"(?:Read more|Read also|Also read|Read next|See also|More on this|Scroll down for"
        r"|Читайте также|Читайте еще|Читайте ещё|Читать также|Смотрите также|Читайте подробнее"
        r"|Читайте нас)\b.{0,250}",
        re.I,
    ),
    re.compile(r"(?:Related|Watch|Listen|Recommended|Подробнее|По теме)\s*:.{0,250}", re.I),
    # share buttons: nothing but their words
    re.compile(
        r"(?:(?:Share(?: this| on| via)?|Tweet|E-?mail|Print|Copy link|Facebook|Twitter|X"
        r"|WhatsApp|Telegram|LinkedIn|Reddit|Pinterest|VK|Viber|ВКонтакте|Одноклассники"
        r"|Поделиться(?: в)?|Отправить|Печать|Копировать ссылку|Like this|Like|Loading\.\.\.)"
        r"[\s:,|/•·]*)+",
        re.I,
    ),
    # newsletters, donations, follow-us lines
    re.compile(
        r"(?:Sign up|Subscribe|Get our|Donate|Please (?:support|consider|donate)|Become a"
        r"|Follow us|Join us|Support (?:us|our|The|independent)|Continue|Not ready to support"
        r"|Remind me later)\b.{0,300}"
    ),
    re.compile(
        r"(?:Подпишитесь|Подписывайтесь|Поддержите|Поддержать|Пожертвовать|Следите за нами"
        r"|Присоединяйтесь|Наш (?:телеграм|Telegram)|Мы в (?:телеграм|Telegram))\b.{0,300}",
        re.I,
    ),
    # the feed footers of WordPress
    re.compile(r"The post .{1,300} appeared first on .{1,150}"),
    re.compile(r"(?:Запись|Сообщение) .{1,300} (?:впервые появилась|появились сначала) .{1,150}"),
    # time stamps and update lines standing alone
    re.compile(
        r"(?:Published|Updated|Last updated|Опубликовано|Обновлено)"
        r"(?:\s*:|\s+(?:on |at |в )?\d).{0,60}",
        re.I,
    ),
    re.compile(r"\d{1,2}[:.]\d{2}(?:\s*(?:GMT|UTC|BST|EST|МСК|MSK|am|pm))?", re.I),
)
_MAX_NOISE_PARAGRAPH = 320

# A donation or newsletter blurb: everything from here to the end is the outlet's, not news.
_BLURB = (
    r"(?:A Message from\b|Support (?:The |our |us\b|independent )|Dear (?:readers?|friends)\b"
    r"|Уважаемые читатели|Дорогие (?:читатели|друзья)|Поддержите\b|Sign up for our\b"
    r"|Subscribe to our\b|Подпишитесь на наш|Подписывайтесь на наш|Become a (?:member|supporter"
    r"|patron)\b|Please (?:support|consider supporting|donate)\b|If you (?:value|appreciate"
    r"|enjoy|like) (?:our|this|what)\b)"
)
_BLURB_PARAGRAPH = re.compile(_BLURB)
_BLURB_INLINE = re.compile(r"(?<=[.!?…\"»”])\s+" + _BLURB)
_BLURB_MIN_SHARE = 0.4  # an inline blurb starts in the latter part of a paragraph
_BLURB_REACH = 200  # characters back from a late blurb where an earlier one still joins it

# Furniture inside a paragraph, each with words that must be present for it to apply.
_INLINE = (
    (("appeared first on",),
     re.compile(r"\s*The post .{1,300}? appeared first on [^\n]{1,150}?(?:\.(?=\s|$)|$)")),
    (("впервые появилась", "появились сначала"),
     re.compile(r"\s*(?:Запись|Сообщение) .{1,300}? (?:впервые появилась|появились сначала) "
                r"[^\n]{1,150}?(?:\.(?=\s|$)|$)")),
    (("Share", "Поделиться"),
     re.compile(r"\s*(?:Share(?: this)?|Поделиться)\s*:?\s*(?:(?:Facebook|Twitter|X|E-?mail"
                r"|Print|WhatsApp|Telegram|LinkedIn|Reddit|VK|ВКонтакте|Одноклассники|Viber)\b"
                r"[\s,|•]*)+")),
    (("Like",), re.compile(r"\s*(?:Like this:|Like Loading\.\.\.)")),
    (("Scroll down",),
     re.compile(r"\s*Scroll down (?:for|to watch|to see) (?:the )?videos?\b[.:…]*")),
    (("(Photo", "(Image", "(Picture", "(Credit", "(Фото"),
     re.compile(r"\s*\((?:Photo|Photos|Image|Picture|Credit|Фото)\b[^()\n]{0,150}\)")),
    (("Getty", "AFP)", "Reuters)", "AP)", "EPA)", "Shutterstock"),
     re.compile(r"\s*\([^()\n]{0,120}/\s*(?:Getty Images|AFP|Reuters|AP|EPA|Shutterstock)\)")),
    (("Photo", "Фото"), re.compile(r"\s*(?:Photo|Фото)(?: by)?\s*:\s*[^\n.!?]{1,80}$")),
)  # fmt: skip

_NOISE_SENTENCE = re.compile(
    r"\b(?:Read more|Read also|Sign up for|Subscribe to|Share this|appeared first on"
    r"|Scroll down for|Click here|Follow us on|Support The|Support us)\b|"
    r"(?i:\b(?:читайте также|смотрите также|читайте подробнее|подпишитесь на|подписывайтесь на"
    r"|поддержите нас|следите за нами|поделиться:))"
)


def clean_article(text: str, lang: str) -> str:
    """The prose of a story: paragraphs joined by newlines, web furniture removed.

    ``lang`` is accepted for rules that need it; today every rule applies to every story.
    """
    del lang  # see the docstring
    paragraphs = _paragraphs(text)
    paragraphs = _cut_blurb(paragraphs)
    kept: list[str] = []
    for paragraph in paragraphs:
        if _is_noise_paragraph(paragraph):
            continue
        stripped = _strip_inline(paragraph)
        if stripped and not _is_noise_paragraph(stripped):
            kept.append(stripped)
    return "\n".join(_strip_dateline(kept))


def is_noise_sentence(sentence: str) -> bool:
    """Whether a sentence is web furniture ("Read more", "Subscribe to…") rather than news."""
    return _NOISE_SENTENCE.search(sentence) is not None


def _paragraphs(text: str) -> list[str]:
    text = _INVISIBLE.sub("", _LINE_BREAK.sub("\n", text))
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return [line for line in lines if line]


def _is_noise_paragraph(paragraph: str) -> bool:
    if len(paragraph) > _MAX_NOISE_PARAGRAPH:
        return False
    return any(pattern.fullmatch(paragraph) for pattern in _NOISE_PARAGRAPHS)


def _cut_blurb(paragraphs: list[str]) -> list[str]:
    """Drop a closing donation or newsletter blurb and everything after it."""
    for index, paragraph in enumerate(paragraphs):
        if _BLURB_PARAGRAPH.match(paragraph):
            if index > 0:
                return paragraphs[:index]
            continue
        starts = [match.start() for match in _BLURB_INLINE.finditer(paragraph)]
        late = [start for start in starts if start >= _BLURB_MIN_SHARE * len(paragraph)]
        if late:
            cut = late[0]
            for start in reversed(starts):  # a blurb sentence or two may come just before
                if cut - _BLURB_REACH <= start < cut:
                    cut = start
            return [*paragraphs[:index], paragraph[:cut]]
    return paragraphs


def _strip_inline(paragraph: str) -> str:
    for triggers, pattern in _INLINE:
        if any(trigger in paragraph for trigger in triggers):
            paragraph = pattern.sub("", paragraph)
    return paragraph.strip()


def _strip_dateline(paragraphs: list[str]) -> list[str]:
    """Remove the dateline (and what stands before it) from the start of the first paragraph."""
    if not paragraphs:
        return paragraphs
    first = paragraphs[0]
    for pattern in _DATELINES:
        match = pattern.match(first)
        if match and match.end() < len(first):
            first = first[match.end() :].lstrip()
            break
        if match:  # the dateline was a paragraph of its own
            return paragraphs[1:]
    return [first, *paragraphs[1:]]
