"""Checking admin-written Telegram HTML before anything is sent (broadcasts)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

ALLOWED = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
     "blockquote", "tg-spoiler", "span", "tg-emoji"}
)  # fmt: skip
_BAD_ENTITY = re.compile(r"&(?!(?:lt|gt|amp|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});)")
MAX_TEXT = 4096


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.error = ""
        self.text_len = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in ALLOWED:
            self.error = self.error or f"<{tag}> is not allowed in Telegram HTML"
        if tag == "a" and not any(k == "href" and v for k, v in attrs):
            self.error = self.error or "<a> needs an href"
        if tag == "span" and ("class", "tg-spoiler") not in attrs:
            self.error = self.error or '<span> is only allowed as <span class="tg-spoiler">'
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.error = self.error or f"</{tag}> does not close the last open tag"
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text_len += len(data.encode("utf-16-le")) // 2

    def handle_entityref(self, name: str) -> None:
        self.text_len += 1

    def handle_charref(self, name: str) -> None:
        self.text_len += 1


def check_html(text: str) -> str | None:
    """None when ``text`` is valid Telegram HTML within 4096 characters, else the reason."""
    if not text.strip():
        return "the text is empty"
    if match := _BAD_ENTITY.search(text):
        return f"write & as &amp; (at position {match.start()})"
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.error:
        return checker.error
    if checker.stack:
        return f"<{checker.stack[-1]}> is never closed"
    if checker.text_len > MAX_TEXT:
        return f"the text is {checker.text_len} characters; Telegram allows {MAX_TEXT}"
    return None
