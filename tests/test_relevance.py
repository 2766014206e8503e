"""The relevance classifier: what a subscriber gets and what stays out of the channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.relevance import evaluate
from bot.errors import ConfigError
from bot.relevance import Vocabulary, classify, default_vocabulary, is_relevant, load_vocabulary


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    return default_vocabulary()


# (lang, title, body, on topic)
TOPIC_CASES = [
    # Russian inflections and verb prefixes
    ("ru", "РКН заблокировал Telegram", "", True),
    (
        "ru",
        "Блокировки мессенджеров продолжаются",
        "Провайдеры сообщают о новых блокировках.",
        True,
    ),
    ("ru", "Власти замедлили YouTube", "", True),
    ("ru", "Роскомнадзор разблокировал Telegram", "", True),
    ("ru", "Телеграмм заблокируют в России", "", True),
    ("ru", "Вотсап ограничат", "Роскомнадзор пообещал ограничить работу вотсапа.", True),
    ("ru", "Госдума приняла закон о суверенном интернете", "", True),
    ("ru", "Закон Яровой вступил в силу", "", True),
    ("ru", "Узбекистан снял ограничения с Telegram", "", True),
    # English
    ("en", "Iran shuts down internet as protests spread", "", True),
    ("en", "Roskomnadzor demands Telegram hand over decryption keys", "", True),
    ("en", "Turkey lifts ban on Wikipedia", "", True),
    ("en", "Russia bans VPNs that let users bypass blocks", "", True),
    ("en", "Pakistan's telecom authority blocks X, formerly Twitter", "", True),
    ("en", "Apple removes VPN apps from China App Store at government request", "", True),
    # other scripts
    ("fa", "فیلتر تلگرام در ایران", "", True),
    (
        "tr",
        "Twitter'a erişim engellendi",
        "BTK kararı ile Türkiye'de erişim engeli getirildi.",
        True,
    ),
    # ambiguous names count only in context
    ("en", "Russia blocks the Signal messenger", "", True),
    ("en", "Imo.im blocked in the UAE", "", True),
    ("en", "LINE messenger blocked in Russia", "", True),
    ("en", "Weak signal blocks rescue calls", "", False),
    ("en", "Imo State bans street trading", "", False),
    ("en", "Factory shuts production line", "", False),
    ("ru", "Макс Ферстаппен заблокировал соперника на трассе", "", False),
    ("en", "Heavy rain: storm signal number 8 raised", "", False),
    # the other senses of block, ban, restrict, shutdown
    ("en", "Telegram adds new stickers", "Premium users get animated emoji.", False),
    ("ru", "Ограничение движения по мосту", "Проезд закроют на выходные.", False),
    ("ru", "Запрет на продажу алкоголя продлён", "Магазины не будут продавать спиртное.", False),
    ("en", "Court blocks merger of two telecom giants", "The judge cited competition law.", False),
    ("en", "Carmaker shuts down plant", "Production halts for two weeks.", False),
    ("ru", "Депутаты предложили запретить энергетики", "Законопроект внесён в Госдуму.", False),
    ("ru", "Росстат зафиксировал замедление инфляции", "", False),
    ("en", "Microsoft to shut down Skype in May", "Users move to Teams.", False),
    ("en", "Instagram restricts teen accounts", "Parents get new controls.", False),
    ("en", "Minister calls for ban on smoking in parks", "", False),
    ("en", "Critical firewall flaw lets hackers into corporate networks", "", False),
    ("en", "School PTA bans phones at events", "", False),
    ("en", "Rail service suspended in Georgia after storm", "", False),
    ("ru", "Сборная России отстранена от турнира", "", False),
    ("ru", "Россия ввела запрет на ввоз строительных материалов", "", False),
    ("ru", "Сбой в работе WhatsApp", "Компания устранила ошибку в обновлении.", False),
]


@pytest.mark.parametrize(("lang", "title", "body", "expected"), TOPIC_CASES)
def test_on_topic(vocab: Vocabulary, lang: str, title: str, body: str, expected: bool) -> None:
    rel = classify(title, body, lang, vocab)
    assert is_relevant(rel, vocab) is expected, rel
    assert 0.0 <= rel.score <= 1.0


# (lang, title, body, apps, countries, actions)
TAG_CASES = [
    ("ru", "РКН замедлил YouTube", "", ("youtube",), ("RU",), ("throttled",)),
    ("ru", "Роскомнадзор разблокировал Telegram", "", ("telegram",), ("RU",), ("unblocked",)),
    ("ru", "РКН заблокировал Telegram", "", ("telegram",), ("RU",), ("blocked",)),
    ("ru", "Телеграм-каналы и вайбер недоступны", "", ("telegram", "viber"), (), ("blocked",)),
    ("en", "Russia lifts ban on Telegram", "", ("telegram",), ("RU",), ("unblocked",)),
    ("en", "Russia bans VPNs", "", (), ("RU",), ("blocked", "vpn_ban")),
    ("en", "Moscow court orders Telegram blocked", "", ("telegram",), ("RU",), ("blocked",)),
    (
        "en",
        "Russia blocks LINE, BlackBerry Messenger, Imo and Zello",
        "",
        ("bbm", "imo", "line", "zello"),
        ("RU",),
        ("blocked",),
    ),
    (
        "en",
        "Facebook Messenger and WhatsApp throttled in Iran",
        "",
        ("facebook_messenger", "whatsapp"),
        ("IR",),
        ("throttled",),
    ),
    (
        "ru",
        "Telegram внесли в реестр организаторов распространения информации",
        "",
        ("telegram",),
        (),
        ("registry",),
    ),
    (
        "en",
        "FSB demands encryption keys from Telegram",
        "",
        ("telegram",),
        (),
        ("data_demand",),
    ),
    ("en", "India orders internet shutdown in Kashmir", "", (), ("IN",), ("shutdown",)),
    (
        "en",
        "OONI data show WhatsApp blocked in Ethiopia",
        "",
        ("whatsapp",),
        ("ET",),
        ("blocked", "measurement"),
    ),
    ("tr", "WİKİPEDİA'YA ERİŞİM ENGELİ KALDIRILDI", "", ("wikipedia",), (), ("unblocked",)),
    ("zh", "微信被封锁", "", ("wechat",), (), ("blocked",)),
]


@pytest.mark.parametrize(("lang", "title", "body", "apps", "countries", "actions"), TAG_CASES)
def test_tags(
    vocab: Vocabulary,
    lang: str,
    title: str,
    body: str,
    apps: tuple[str, ...],
    countries: tuple[str, ...],
    actions: tuple[str, ...],
) -> None:
    rel = classify(title, body, lang, vocab)
    assert (rel.apps, rel.countries, rel.actions) == (apps, countries, actions)


def test_title_weighs_more_than_body(vocab: Vocabulary) -> None:
    in_title = classify("Russia blocks Telegram", "Officials commented.", "en", vocab)
    in_body = classify("Officials commented", "Russia blocks Telegram.", "en", vocab)
    assert in_title.score > in_body.score


def test_long_text_is_classified_from_its_start(vocab: Vocabulary) -> None:
    body = "Роскомнадзор заблокировал Telegram. " + "Погода в Москве. " * 3000
    assert len(body) > 50_000
    rel = classify("Новости", body, "ru", vocab)
    assert is_relevant(rel, vocab)
    assert rel.apps == ("telegram",)
    late = classify(
        "Новости", "Погода в Москве. " * 3000 + "РКН заблокировал Telegram.", "ru", vocab
    )
    assert not is_relevant(late, vocab)


def test_empty_story_scores_zero(vocab: Vocabulary) -> None:
    assert classify("", "", "en", vocab).score == 0.0


def test_threshold_is_exposed(vocab: Vocabulary) -> None:
    assert 0.0 < vocab.threshold < 1.0
    assert vocab.threshold == vocab.scoring.threshold


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[scoring\n", "vocabulary"),
        (b"[context]\nterms = []\n", "scoring.threshold is missing"),
        (
            b"[scoring]\nthreshold=0.5\ntitle_weight=2\nbody_chars=10\nwindow=3\n"
            b"context_window=2\nphrase_gap=1\nfallback=0.5\nno_state_factor=0.3\n"
            b'app_weight=1\n[apps.x]\nterms = ["ab*"]\n',
            "shorter than 3",
        ),
    ],
)
def test_bad_vocabulary_names_the_problem(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "vocabulary.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        load_vocabulary(path)


def test_missing_vocabulary_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_vocabulary(tmp_path / "missing.toml")


@pytest.mark.parametrize("split", ["tune", "heldout"])
def test_labelled_precision_and_recall_stay_high(split: str) -> None:
    result = evaluate(split)
    assert result["n"] >= 100
    assert result["precision"] >= 0.9, result
    assert result["recall"] >= 0.9, result
