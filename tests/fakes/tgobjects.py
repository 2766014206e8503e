"""Bot API JSON objects (users, chats, members, entities) as the fake Bot API answers them."""

from __future__ import annotations

from typing import Any

from .tghtml import utf16_len

JSONDict = dict[str, Any]

ANONYMOUS_ADMIN_ID = 1087968824  # "GroupAnonymousBot": the sender of anonymous admins' messages
CHAT_TYPES = ("private", "group", "supergroup", "channel")
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")

_ADMIN_RIGHTS = (
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_post_messages",
    "can_edit_messages",
    "can_pin_messages",
)
_RESTRICTIONS = (
    "can_change_info",
    "can_invite_users",
    "can_pin_messages",
    "can_send_messages",
    "can_send_polls",
    "can_send_other_messages",
    "can_add_web_page_previews",
    "can_manage_topics",
    "can_send_audios",
    "can_send_documents",
    "can_send_photos",
    "can_send_videos",
    "can_send_video_notes",
    "can_send_voice_notes",
    "can_edit_tag",
)


def bot_id_from_token(token: str) -> int:
    """The bot's user id: the number before the colon of its token (123456 if none)."""
    head = token.split(":", 1)[0]
    return int(head) if head.isdigit() else 123456


def chat_type_for(chat_id: int) -> str:
    """Telegram's chat kind from the id: positive private, -100… supergroup, else group."""
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


def make_user(
    user_id: int,
    *,
    is_bot: bool = False,
    first_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
) -> JSONDict:
    """A `User` object."""
    user: JSONDict = {
        "id": user_id,
        "is_bot": is_bot,
        "first_name": first_name or f"User{user_id}",
    }
    if username:
        user["username"] = username
    if language_code:
        user["language_code"] = language_code
    return user


def anonymous_admin() -> JSONDict:
    """The user Telegram puts in `from` for a message of an anonymous group admin."""
    return make_user(
        ANONYMOUS_ADMIN_ID, is_bot=True, first_name="Group", username="GroupAnonymousBot"
    )


def make_chat(
    chat_id: int,
    chat_type: str | None = None,
    *,
    title: str | None = None,
    username: str | None = None,
) -> JSONDict:
    """A `Chat` object; the type defaults to the one the id's sign implies."""
    kind = chat_type or chat_type_for(chat_id)
    if kind not in CHAT_TYPES:
        raise ValueError(f"unknown chat type {kind!r}")
    chat: JSONDict = {"id": chat_id, "type": kind}
    if kind == "private":
        chat["first_name"] = f"User{chat_id}"
    else:
        chat["title"] = title or f"{kind.capitalize()} {chat_id}"
    if username:
        chat["username"] = username
    return chat


def chat_full_info(chat: JSONDict) -> JSONDict:
    """A `ChatFullInfo` object (getChat) for a `Chat` object."""
    gifts = dict.fromkeys(
        (
            "unlimited_gifts",
            "limited_gifts",
            "unique_gifts",
            "premium_subscription",
            "gifts_from_channels",
        ),
        False,
    )
    return {
        **chat,
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": gifts,
    }


def chat_member(user: JSONDict, status: str) -> JSONDict:
    """A `ChatMember` object of the given status with every field PTB requires."""
    member: JSONDict = {"status": status, "user": user}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(can_be_edited=False, is_anonymous=False)
        member.update(dict.fromkeys(_ADMIN_RIGHTS, True))
    elif status == "restricted":
        member.update(is_member=True, until_date=0)
        member.update(dict.fromkeys(_RESTRICTIONS, False))
    elif status == "kicked":
        member["until_date"] = 0
    elif status not in ("member", "left"):
        raise ValueError(f"unknown chat member status {status!r}")
    return member


def command_entities(text: str) -> list[JSONDict]:
    """The `bot_command` entity Telegram adds to a text starting with "/", else nothing."""
    if not text.startswith("/") or len(text) < 2 or text[1].isspace():
        return []
    command = text.split(maxsplit=1)[0]
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(command)}]


def document(file_id: str, file_name: str, size: int, mime_type: str) -> JSONDict:
    """A `Document` object."""
    return {
        "file_id": file_id,
        "file_unique_id": f"u-{file_id}",
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": size,
    }


def photo_sizes(file_id: str, size: int) -> list[JSONDict]:
    """The `PhotoSize` list of a sent photo (one size is enough for a fake)."""
    return [
        {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "width": 640,
            "height": 480,
            "file_size": size,
        }
    ]
