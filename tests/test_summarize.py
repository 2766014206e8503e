"""Per-story summaries: noise removal, sentence splitting, extractive choice, bad input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.cleaning import clean_article, is_noise_sentence
from bot.sentences import MAX_INPUT, split_sentences
from bot.summarize import ELLIPSIS, summarize

# --- cleaning ---------------------------------------------------------------------------

BODY_EN = "Roskomnadzor blocked the messenger on Monday."
BODY_RU = "Роскомнадзор заблокировал мессенджер в понедельник."


@pytest.mark.parametrize(
    ("raw", "lang", "expected"),
    [
        # datelines
        ("МОСКВА, 1 дек — РИА Новости. " + BODY_RU, "ru", BODY_RU),
        ("москва, 1 дек — риа новости. роскомнадзор заблокировал сервис.", "ru",
         "роскомнадзор заблокировал сервис."),
        ("магас, 1 дек — риа новости, адам буражев. " + BODY_RU, "ru", BODY_RU),
        ("москва, 31 янв - риа новости. " + BODY_RU, "ru", BODY_RU),
        ("МОСКВА, 3 апреля. /ТАСС/. " + BODY_RU, "ru", BODY_RU),
        ("МОСКВА, 27 ноя — Северный вестник. " + BODY_RU, "ru", BODY_RU),
        ("НИЖНИЙ НОВГОРОД, 2 мар 2026 — «Фонтанка». " + BODY_RU, "ru", BODY_RU),
        ("МОСКВА, 27 ноя — Роскомнадзор заблокировал Telegram. " + BODY_RU, "ru",
         "МОСКВА, 27 ноя — Роскомнадзор заблокировал Telegram. " + BODY_RU),
        ("Москва, 27 ноя — Северный вестник. " + BODY_RU, "ru",
         "Москва, 27 ноя — Северный вестник. " + BODY_RU),
        ("(CNN)" + BODY_EN, "en", BODY_EN),
        ("(CNN) -- " + BODY_EN, "en", BODY_EN),
        ("LONDON (Reuters) - " + BODY_EN, "en", BODY_EN),
        ("NEW YORK, N.Y. (AP) — " + BODY_EN, "en", BODY_EN),
        ("WASHINGTON — " + BODY_EN, "en", BODY_EN),
        ("KYIV, Ukraine -- " + BODY_EN, "en", BODY_EN),
        # bylines
        ("By Jane Doe\n" + BODY_EN, "en", BODY_EN),
        ("By Jane Doe and Ivan Petrov, The Moscow Times\n" + BODY_EN, "en", BODY_EN),
        ("Автор: Иван Петров\n" + BODY_RU, "ru", BODY_RU),
        (BODY_EN + "\nReporting by Jane Doe; Editing by John Smith", "en", BODY_EN),
        # photo credits
        ("Photo: Reuters\n" + BODY_EN, "en", BODY_EN),
        ("Фото: РИА Новости / Иван Петров\n" + BODY_RU, "ru", BODY_RU),
        ("Roskomnadzor blocked the messenger (Photo by Jane Doe/Getty Images) on Monday.",
         "en", BODY_EN),
        # read more
        (BODY_EN + "\nRead more: Russia fines Google again\nUsers moved to VPNs.", "en",
         BODY_EN + "\nUsers moved to VPNs."),
        (BODY_RU + "\nЧитайте также: РКН замедлил YouTube\nПользователи ушли в VPN.", "ru",
         BODY_RU + "\nПользователи ушли в VPN."),
        # newsletters and donations, as paragraphs and run into the text
        (BODY_EN + "\nA Message from The Moscow Times:\nDear readers,\nWe are facing "
         "unprecedented challenges.\nSupport The Moscow Times!", "en", BODY_EN),
        (BODY_EN + " The regulator gave no deadline for lifting the block. Support The Moscow "
         "Times! Sign up for our free weekly newsletter.", "en",
         BODY_EN + " The regulator gave no deadline for lifting the block."),
        (BODY_EN + "\nSign up for our free weekly newsletter", "en", BODY_EN),
        (BODY_RU + "\nПоддержите нас! Каждый рубль важен.", "ru", BODY_RU),
        (BODY_RU + "\nПодпишитесь на наш канал в Telegram", "ru", BODY_RU),
        # share buttons
        (BODY_EN + "\nShare this:\nFacebook\nTwitter", "en", BODY_EN),
        (BODY_EN + " Share this: Facebook Twitter Email", "en", BODY_EN),
        (BODY_RU + "\nПоделиться\nВКонтакте", "ru", BODY_RU),
        # feed footers
        (BODY_EN + " The post Russia blocks Telegram appeared first on Digital Rights Watch.",
         "en", BODY_EN),
        # prose that only looks like noise stays
        ("By Monday, Roskomnadzor had blocked 50 VPN services.", "en",
         "By Monday, Roskomnadzor had blocked 50 VPN services."),
        ("Support for the ban was low, a poll found.", "en",
         "Support for the ban was low, a poll found."),
        ("Updated figures show 50 VPN services were blocked.", "en",
         "Updated figures show 50 VPN services were blocked."),
        # whitespace: non-breaking spaces and blank lines
        ("Roskomnadzor\u00a0blocked  the messenger\n\n\non Monday.", "en",
         "Roskomnadzor blocked the messenger\non Monday."),
    ],
)  # fmt: skip
def test_clean_article_removes_noise_and_keeps_prose(raw: str, lang: str, expected: str) -> None:
    assert clean_article(raw, lang) == expected


@pytest.mark.parametrize(
    ("sentence", "noise"),
    [
        ("Read more: how to set up a proxy for Telegram", True),
        ("читайте также: как настроить прокси", True),
        ("Subscribe to our newsletter for weekly updates.", True),
        ("The regulator told subscribers to update their apps.", False),
        ("Пользователи поделились скриншотами ошибок.", False),
    ],
)
def test_is_noise_sentence(sentence: str, noise: bool) -> None:
    assert is_noise_sentence(sentence) is noise


# --- sentences --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Mr. Smith met U.S. officials on Jan. 5 in Washington. They discussed the ban.", "en",
         ["Mr. Smith met U.S. officials on Jan. 5 in Washington.", "They discussed the ban."]),
        ("J. K. Rowling wrote about it. Then she left.", "en",
         ["J. K. Rowling wrote about it.", "Then she left."]),
        ('He said "It is over. We lost." Then he left.', "en",
         ['He said "It is over. We lost."', "Then he left."]),
        ("The block began in April 2018... It lasted two years.", "en",
         ["The block began in April 2018...", "It lasted two years."]),
        ("the app went dark at noon. users moved to vpns.", "en",
         ["the app went dark at noon.", "users moved to vpns."]),
        ("А. С. Пушкин родился в 1799 г. в Москве. Он поэт.", "ru",
         ["А. С. Пушкин родился в 1799 г. в Москве.", "Он поэт."]),
        ("роскомнадзор, т.е. регулятор, заблокировал сервис по ст. 15.1 закона. "
         "пользователи перешли на vpn.", "ru",
         ["роскомнадзор, т.е. регулятор, заблокировал сервис по ст. 15.1 закона.",
          "пользователи перешли на vpn."]),
        ("в 2018 г. суд по иску а. и. жарова заблокировал telegram в россии. "
         "\"мы не передадим ключи\", — заявил дуров.", "ru",
         ["в 2018 г. суд по иску а. и. жарова заблокировал telegram в россии.",
          "\"мы не передадим ключи\", — заявил дуров."]),
        ("Первый абзац.\nВторой абзац без точки", "ru",
         ["Первый абзац.", "Второй абзац без точки"]),
        ("Iran cut mobile internet. Users moved to VPNs.", "fa",
         ["Iran cut mobile internet.", "Users moved to VPNs."]),
        ("اینترنت قطع شد. کاربران به وی‌پی‌ان روی آوردند.", "fa",
         ["اینترنت قطع شد.", "کاربران به وی‌پی‌ان روی آوردند."]),
        ("微信被封锁。用户转向VPN。", "zh", ["微信被封锁。", "用户转向VPN。"]),
        ("", "en", []),
        ("  \n \n", "ru", []),
    ],
)  # fmt: skip
def test_split_sentences(text: str, lang: str, expected: list[str]) -> None:
    assert split_sentences(text, lang) == expected


@pytest.mark.parametrize("lang", ["en", "ru", "fa"])
def test_a_50000_character_sentence_is_capped(lang: str) -> None:
    word = {"en": "blocked", "ru": "заблокирован", "fa": "مسدود"}[lang]
    text = " ".join([word] * (50_000 // (len(word) + 1)))
    sentences = split_sentences(text, lang)
    assert len(sentences) == 1
    assert len(sentences[0]) <= MAX_INPUT
    assert text.startswith(sentences[0])


def test_a_long_text_is_cut_at_a_sentence_end() -> None:
    text = "Telegram was blocked again today. " * 1000
    sentences = split_sentences(text, "en", max_chars=200)
    assert sentences == ["Telegram was blocked again today."] * 5


# --- summarize --------------------------------------------------------------------------

STORY_EN = (
    "MOSCOW (Reuters) - Russia's communications regulator blocked the Telegram messenger on "
    "Monday after a Moscow court ruled against the company. The app had refused to give the "
    "FSB security service the keys to read users' messages. Millions of IP addresses were "
    "blocked in the attempt, disrupting Google and Amazon cloud services. Telegram founder "
    "Pavel Durov called the ban unconstitutional.\nRead more: Durov's statement in full\n"
    "Share this:\nFacebook\nTwitter"
)
LEAD_EN = (
    "Russia's communications regulator blocked the Telegram messenger on Monday after a "
    "Moscow court ruled against the company."
)
SECOND_EN = "The app had refused to give the FSB security service the keys to read users' messages."
STORY_RU = (
    "москва, 16 апр — риа новости. роскомнадзор начал блокировку мессенджера telegram по "
    "решению таганского суда москвы. ранее компания отказалась передать фсб ключи для "
    "расшифровки переписки пользователей. в ведомстве, т.е. в роскомнадзоре, пояснили, что "
    "блокировка продлится до исполнения требований."
)
LIVE_BLOG = (
    "Welcome to our live coverage of the mobile internet shutdowns in the region.\n"
    "10:05 Authorities cut mobile internet in three provinces, according to NetBlocks data.\n"
    "10:40 Residents said messaging apps stopped working shortly after the shutdowns began.\n"
    "11:15 The telecoms ministry declined to comment on the shutdowns.\n"
    "11:50 NetBlocks data show national connectivity at 40 per cent of ordinary levels "
    "as the mobile internet shutdowns widen."
)


@pytest.mark.parametrize(
    ("title", "text", "lang", "max_sentences", "max_chars", "expected"),
    [
        # the lead, cleaned of the dateline and footer
        ("Russia blocks Telegram", STORY_EN, "en", 2, 300, LEAD_EN + " " + SECOND_EN),
        ("Russia blocks Telegram", STORY_EN, "en", 1, 300, LEAD_EN),
        # the second sentence does not fit: the first alone
        ("Russia blocks Telegram", STORY_EN, "en", 2, 150, LEAD_EN),
        # Russian, lower-case, with a dateline
        ("РКН начал блокировку Telegram", STORY_RU, "ru", 1, 300,
         "роскомнадзор начал блокировку мессенджера telegram по решению таганского суда "
         "москвы."),
        # a first paragraph that only repeats the title is skipped
        ("Russia blocks Telegram", "Russia blocks Telegram.\n" + LEAD_EN, "en", 2, 300, LEAD_EN),
        # a text opening with noise
        ("Russia blocks Telegram", "By Jane Doe\nPhoto: AFP\nWASHINGTON — " + LEAD_EN, "en", 2,
         300, LEAD_EN),
        # a live blog: the greeting is skipped, the central updates are chosen
        ("Mobile internet shutdowns: live updates", LIVE_BLOG, "en", 2, 300,
         "10:05 Authorities cut mobile internet in three provinces, according to NetBlocks data. "
         "11:50 NetBlocks data show national connectivity at 40 per cent of ordinary levels as "
         "the mobile internet shutdowns widen."),
    ],
)  # fmt: skip
def test_summarize_chooses_sentences(
    title: str, text: str, lang: str, max_sentences: int, max_chars: int, expected: str
) -> None:
    assert summarize(title, text, lang, max_sentences=max_sentences, max_chars=max_chars) == (
        expected
    )


def test_a_roundup_picks_items_about_the_main_subject() -> None:
    text = (
        "Here is the week in censorship.\n"
        "• Russia slowed YouTube again, and YouTube traffic fell by half.\n"
        "• Iran lifted the WhatsApp ban after two years.\n"
        "• Turkey blocked Wikipedia for a day.\n"
        "• Russian providers said the YouTube slowdown would continue through the winter."
    )
    summary = summarize("Censorship digest: YouTube slowed again", text, "en")
    assert summary.startswith("• Russia slowed YouTube again")
    assert "Here is the week" not in summary


def test_an_overlong_first_sentence_is_cut_at_a_word() -> None:
    text = "Roskomnadzor " + "blocked another proxy server " * 40 + "today."
    summary = summarize("", text, "en", max_chars=120)
    assert len(summary) <= 120
    assert summary.endswith(ELLIPSIS)
    assert text.startswith(summary.removesuffix(ELLIPSIS))
    assert not summary.removesuffix(ELLIPSIS).endswith(" ")


@pytest.mark.parametrize(
    ("title", "text", "lang", "expected"),
    [
        ("Russia blocks Telegram", "", "en", ""),
        ("Russia blocks Telegram", "   \n\t ", "en", ""),
        ("Russia blocks Telegram", "Share this:\nFacebook\nRead more: Telegram blocked\n"
         "Подпишитесь на наш канал", "en", ""),
        ("Russia blocks Telegram", "...\n!!!\n🙂🙂🙂", "en", ""),
        ("<b>Telegram</b> &amp; <script>alert(1)</script>", LEAD_EN, "en", LEAD_EN),
        ("Telegram заблокирован 🚫",
         "Telegram заблокирован в России 🚫. Пользователи ушли в VPN 🔒.", "ru",
         "Telegram заблокирован в России 🚫. Пользователи ушли в VPN 🔒."),
        ("", "اینترنت موبایل در تهران قطع شد. کاربران به وی‌پی‌ان روی آوردند.", "fa",
         "اینترنت موبایل در تهران قطع شد. کاربران به وی‌پی‌ان روی آوردند."),
        ("", "האינטרנט נחסם בעיר הבירה אתמול. המשתמשים עברו לשירותי VPN.", "he",
         "האינטרנט נחסם בעיר הבירה אתמול. המשתמשים עברו לשירותי VPN."),
        ("", "Die Behörde sperrte den Messenger am Montag. Nutzer wichen auf VPN aus.", "xx",
         "Die Behörde sperrte den Messenger am Montag. Nutzer wichen auf VPN aus."),
        ("", "Telegram blocked.", "", "Telegram blocked."),
    ],
)  # fmt: skip
def test_bad_input_gives_a_sensible_summary_or_nothing(
    title: str, text: str, lang: str, expected: str
) -> None:
    assert summarize(title, text, lang) == expected


@pytest.mark.parametrize("lang", ["en", "ru", ""])
def test_a_50000_character_sentence_gives_a_short_summary(lang: str) -> None:
    text = "Роскомнадзор заблокировал " + "ещё один прокси-сервер и " * 2000 + "так далее."
    summary = summarize("РКН", text, lang)
    assert 0 < len(summary) <= 300
    assert summary.endswith(ELLIPSIS)
    assert text.startswith(summary.removesuffix(ELLIPSIS))


@pytest.mark.parametrize(("max_sentences", "max_chars"), [(0, 300), (2, 0), (-1, -1)])
def test_no_room_gives_nothing(max_sentences: int, max_chars: int) -> None:
    assert summarize("t", STORY_EN, "en", max_sentences=max_sentences, max_chars=max_chars) == ""


@pytest.mark.parametrize(
    ("title", "text", "lang"),
    [
        ("Russia blocks Telegram", STORY_EN, "en"),
        ("РКН начал блокировку Telegram", STORY_RU, "ru"),
        ("Mobile internet shutdowns: live updates", LIVE_BLOG, "en"),
    ],
)
@pytest.mark.parametrize("max_sentences", [1, 2, 3])
def test_every_summary_sentence_is_verbatim(
    title: str, text: str, lang: str, max_sentences: int
) -> None:
    summary = summarize(title, text, lang, max_sentences=max_sentences, max_chars=10_000)
    assert _is_verbatim(summary, clean_article(text, lang), lang)


def _is_verbatim(summary: str, cleaned: str, lang: str) -> bool:
    """Whether ``summary`` is sentences of ``cleaned`` joined by spaces, in story order, or
    the start of one of them cut and ended with "…"."""
    sentences = split_sentences(cleaned, lang, max_chars=6000)
    if summary.endswith(ELLIPSIS):
        head = summary.removesuffix(ELLIPSIS)
        return any(sentence.startswith(head) for sentence in sentences)
    reachable = {0: -1}  # summary offset -> index of the last sentence used to reach it
    for index, sentence in enumerate(sentences):
        for offset, last in list(reachable.items()):
            start = offset + 1 if offset else 0
            if last < index and summary.startswith(sentence, start):
                end = start + len(sentence)
                if end == len(summary) or summary[end] == " ":
                    reachable.setdefault(end, index)
    return summary == "" or len(summary) in reachable


_ALPHABET = st.sampled_from(
    list("abc XYZ.,!?…\"'«»()—-:\n\t0123456789 ")
    + list("абв ЁЖЯ ")
    + ["Mr.", "U.S.", "т.е.", "г.", "A. B.", "Read more:", "(CNN)", "Фото:", "By Jane Doe\n"]
    + list("اب שׁ 中文 🙂🚫\u00a0\u200b")
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=st.text(max_size=60),
    text=st.lists(_ALPHABET, max_size=400).map("".join),
    lang=st.sampled_from(["en", "ru", "", "fa", "zh", "xx"]),
    max_sentences=st.integers(min_value=1, max_value=3),
    max_chars=st.integers(min_value=1, max_value=400),
)
def test_summarize_never_fails_and_stays_verbatim(
    title: str, text: str, lang: str, max_sentences: int, max_chars: int
) -> None:
    summary = summarize(title, text, lang, max_sentences=max_sentences, max_chars=max_chars)
    assert len(summary) <= max_chars
    assert _is_verbatim(summary, clean_article(text, lang), lang)
