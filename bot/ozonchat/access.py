"""What the shop's key may do in Ozon chat: read chats, and write in them (Premium Plus or
Premium Pro subscription; reference §8).

Ozon has no method that tells the subscription. `probe` asks without side effects: the key's
roles (`/v1/roles`) must list the chat methods; `/v3/chat/list` must answer; and `/v2/chat/read`
on a chat whose messages are all read already (it changes nothing there) must not be refused.
With no such chat the answer is "not known yet": the adapter writes, and the first refusal that
names the subscription turns it read-only (bot/ozonchat/channel.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.orders.ozon.errors import OzonAuthError, OzonError
from bot.ozonchat.api import CHAT_LIST, SEND_MESSAGE, ChatForbidden, OzonChatApi


@dataclass(frozen=True, slots=True)
class ChatAccess:
    can_read: bool
    can_write: bool | None  # None: not known until the first reply
    detail: str

    @property
    def summary(self) -> str:
        if not self.can_read:
            return f"Ozon chat: cannot read chats ({self.detail})"
        if self.can_write is False:
            return (f"Ozon chat: read-only ({self.detail}); every chat is handed to agents, who answer in "
                    "the seller's cabinet")
        if self.can_write is None:
            return f"Ozon chat: answering ({self.detail})"
        return "Ozon chat: answering (chat methods and the Premium Plus/Pro subscription confirmed)"


def roles_allow(methods: list[str]) -> bool | None:
    """Whether the key's roles list the chat methods; None when Ozon listed no methods at all."""
    if not methods:
        return None
    return CHAT_LIST in methods and SEND_MESSAGE in methods


async def probe(api: OzonChatApi, role_methods: list[str] | None = None) -> ChatAccess:
    if role_methods is not None and roles_allow(role_methods) is False:
        return ChatAccess(True, False, "the key's roles do not include the chat methods")
    try:
        chats, _, _ = await api.chat_list(unread_only=False, limit=100)
    except (OzonAuthError, ChatForbidden) as exc:
        return ChatAccess(False, False, str(exc))
    read = next((c for c in chats if c.with_buyer and c.unread_count == 0 and c.last_message_id), None)
    if read is None:
        return ChatAccess(True, None, "subscription not confirmed yet: no read buyer chat to check on; "
                                      "checked again at the first reply")
    try:
        await api.read(read.chat_id, read.last_message_id)
    except ChatForbidden as exc:
        return ChatAccess(True, False, f"Ozon refuses the methods Premium Plus/Pro gates: {exc.message}")
    except OzonError as exc:
        return ChatAccess(True, None, f"subscription not confirmed: {exc}")
    return ChatAccess(True, True, "confirmed")
