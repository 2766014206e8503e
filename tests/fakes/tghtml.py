"""Telegram's HTML parse mode as the Bot API applies it, for fakes and tests.

`parse_telegram_html` turns a message written for `parse_mode=HTML` into the plain text
Telegram shows and the number of entities it creates, or raises `ValueError` with a message
like Telegram's "can't parse entities" reason. It is a little stricter than Telegram where
Telegram would silently accept a bug of ours: a bare `&` that starts no entity (text that
was not escaped) and markup that Telegram would drop (tags inside `code`, nested links or
block quotes) are errors here.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TEXT_UTF16 = 4096
MAX_CAPTION_UTF16 = 1024

# Tag name -> attributes it may carry (other attributes are ignored, as Telegram does).
_TAGS: dict[str, frozenset[str]] = {
    "b": frozenset(),
    "strong": frozenset(),
    "i": frozenset(),
    "em": frozenset(),
    "u": frozenset(),
    "ins": frozenset(),
    "s": frozenset(),
    "strike": frozenset(),
    "del": frozenset(),
    "a": frozenset({"href"}),
    "code": frozenset({"class"}),
    "pre": frozenset(),
    "blockquote": frozenset({"expandable"}),
    "tg-spoiler": frozenset(),
    "span": frozenset({"class"}),
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def utf16_len(text: str) -> int:
    """Length of `text` in UTF-16 code units, the unit of Telegram's limits."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


@dataclass(frozen=True, slots=True)
class _Open:
    name: str
    offset: int  # byte offset of the start tag in the UTF-8 source, for messages
    start: int  # length of the plain text when the tag opened
    counts: bool  # whether the element makes an entity of its own


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, i: int) -> tuple[str, int]:
    """Decode the entity starting at `text[i] == "&"`; return it and the index after it."""
    end = text.find(";", i + 1, i + 12)
    if end < 0:
        raise ValueError(f"Character '&' is not escaped at byte offset {_byte_offset(text, i)}")
    name = text[i + 1 : end]
    if name in _NAMED_ENTITIES:
        return _NAMED_ENTITIES[name], end + 1
    code: int | None = None
    if name[:2] in ("#x", "#X") and len(name) > 2:
        try:
            code = int(name[2:], 16)
        except ValueError:
            code = None
    elif name[:1] == "#" and name[1:].isdigit():
        code = int(name[1:])
    if code is None or not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise ValueError(
            f'Unsupported HTML entity "&{name};" at byte offset {_byte_offset(text, i)}'
        )
    return chr(code), end + 1


def _decode_value(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            ch, i = _decode_entity(value, i)
            out.append(ch)
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _read_tag(text: str, i: int) -> tuple[str, dict[str, str], bool, int]:
    """Read the tag at `text[i] == "<"`: (name, attributes, is_end_tag, index after it)."""
    where = _byte_offset(text, i)
    j = i + 1
    closing = text.startswith("/", j)
    if closing:
        j += 1
    start = j
    while j < len(text) and text[j] in _NAME_CHARS:
        j += 1
    name = text[start:j].lower()
    if not name:
        kind = "end" if closing else "start"
        raise ValueError(f'Unsupported {kind} tag "" at byte offset {where}')
    attrs: dict[str, str] = {}
    while True:
        while j < len(text) and text[j].isspace():
            j += 1
        if j >= len(text):
            raise ValueError(f"Unclosed start tag at byte offset {where}")
        if text[j] == ">":
            return name, attrs, closing, j + 1
        if closing:
            raise ValueError(f'Unclosed end tag "{name}" at byte offset {where}')
        attr_start = j
        while j < len(text) and text[j] in _NAME_CHARS:
            j += 1
        attr = text[attr_start:j].lower()
        if not attr:
            raise ValueError(f'Empty attribute name in the tag "{name}" at byte offset {where}')
        value = ""
        if text.startswith("=", j):
            j += 1
            if j < len(text) and text[j] in "\"'":
                quote = text[j]
                end = text.find(quote, j + 1)
                if end < 0:
                    raise ValueError(f"Unclosed start tag at byte offset {where}")
                value = _decode_value(text[j + 1 : end])
                j = end + 1
            else:
                value_start = j
                while j < len(text) and not text[j].isspace() and text[j] != ">":
                    j += 1
                value = _decode_value(text[value_start:j])
        attrs[attr] = value


def _check_start(name: str, attrs: dict[str, str], stack: list[_Open], where: int) -> bool:
    """Raise on a tag Telegram rejects or would drop; return whether it makes an entity."""
    if name not in _TAGS:
        raise ValueError(f'Unsupported start tag "{name}" at byte offset {where}')
    if name == "span" and attrs.get("class") != "tg-spoiler":
        raise ValueError(f'Tag "span" must have class "tg-spoiler" at byte offset {where}')
    if name == "a" and not attrs.get("href"):
        raise ValueError(f'Tag "a" must have a non-empty "href" at byte offset {where}')
    names = [open_.name for open_ in stack]
    if "code" in names:
        raise ValueError(f'Tag "{name}" inside "code" at byte offset {where}')
    if "pre" in names:
        if name != "code" or stack[-1].name != "pre":
            raise ValueError(f'Tag "{name}" inside "pre" at byte offset {where}')
        return False  # <pre><code class="language-x"> is one entity
    if name == "a" and "a" in names:
        raise ValueError(f"Nested links at byte offset {where}")
    if name == "blockquote" and "blockquote" in names:
        raise ValueError(f"Nested blockquotes at byte offset {where}")
    return True


def parse_telegram_html(text: str) -> tuple[str, int]:
    """Return (plain text, entity count) of an HTML-mode message; ValueError if invalid."""
    plain: list[str] = []
    length = 0
    stack: list[_Open] = []
    entities = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "&":
            decoded, i = _decode_entity(text, i)
            plain.append(decoded)
            length += 1
            continue
        if ch != "<":
            plain.append(ch)
            length += 1
            i += 1
            continue
        where = _byte_offset(text, i)
        name, attrs, closing, i = _read_tag(text, i)
        if not closing:
            counts = _check_start(name, attrs, stack, where)
            stack.append(_Open(name, where, length, counts))
            continue
        if not stack:
            raise ValueError(f'Unexpected end tag "{name}" at byte offset {where}')
        top = stack.pop()
        if top.name != name:
            raise ValueError(
                f'Unmatched end tag at byte offset {where}, expected "</{top.name}>", '
                f'found "</{name}>"'
            )
        if top.counts and length > top.start:
            entities += 1
    if stack:
        raise ValueError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return "".join(plain), entities
