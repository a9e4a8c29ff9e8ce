"""The fake Bot API (tests/fake_telegram.py) with a forum supergroup: topics, copies, members.

    fake = FakeForum(group_id=-100777)
    await fake.start()
    fake.add_agent(501, "Lena")                      # a member of the agents' group
    fake.agent_text(501, thread_id, "Hello!")        # an agent writes in a topic
    fake.delete_topic(thread_id)                     # later sends there: "message thread not found"

Every message the fake creates or is fed is kept in `fake.messages[(chat_id, message_id)]`, so
`copyMessage` copies real content and tests can read what a buyer or a topic finally shows.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.fake_telegram import BOT_USER, ApiError, Call, FakeTelegram

GIFTS = {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False, "premium_subscription": False,
         "gifts_from_channels": False}
ADMIN_RIGHTS = ("can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
                "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
                "can_edit_stories", "can_delete_stories", "can_pin_messages", "can_manage_topics")
CONTENT = ("text", "photo", "video", "document", "voice", "audio", "sticker", "animation", "video_note", "caption")
THREAD_NOT_FOUND = "Bad Request: message thread not found"


class FakeForum(FakeTelegram):
    def __init__(self, group_id: int = -1001234567890, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.group_id = group_id
        self.is_forum = True
        self.bot_status = "administrator"
        self.bot_rights = {r: True for r in ADMIN_RIGHTS}
        self.members: dict[int, dict[str, Any]] = {}  # user id -> user (agents)
        self.topics: dict[int, dict[str, Any]] = {}  # thread id -> {"name", "closed", "deleted"}
        self.messages: dict[tuple[int, int], dict[str, Any]] = {}
        self.buyers: dict[int, dict[str, Any]] = {}  # private chat id -> user, for getChat
        self._threads = itertools.count(10)

    # ---- state helpers ------------------------------------------------------------------------
    def add_agent(self, user_id: int, first_name: str = "Agent", username: str = "") -> dict[str, Any]:
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        self.members[user_id] = user
        return user

    def delete_topic(self, thread_id: int) -> None:
        self.topics[thread_id]["deleted"] = True

    def close_topic(self, thread_id: int) -> None:
        self.topics[thread_id]["closed"] = True

    def _check_thread(self, chat_id: int, params: dict[str, Any]) -> int | None:
        thread = params.get("message_thread_id")
        if chat_id != self.group_id or not thread:
            return None
        topic = self.topics.get(int(thread))
        if topic is None or topic["deleted"]:
            raise ApiError(400, THREAD_NOT_FOUND)
        if topic["closed"]:
            raise ApiError(400, "Bad Request: TOPIC_CLOSED")
        return int(thread)

    def _keep(self, message: dict[str, Any], thread: int | None) -> dict[str, Any]:
        if thread:
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        if message["chat"]["id"] == self.group_id:
            message["chat"].update({"type": "supergroup", "title": "Agents", "is_forum": True})
        self.messages[(message["chat"]["id"], message["message_id"])] = message
        return message

    def thread_messages(self, thread_id: int) -> list[dict[str, Any]]:
        """What the bot posted or copied into a topic, in order."""
        return [m for (chat, _), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
                if chat == self.group_id and m.get("message_thread_id") == thread_id
                and m.get("from", {}).get("id") == BOT_USER["id"]]

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """What the bot sent or copied to a (buyer's) chat, in order."""
        return [m for (chat, _), m in sorted(self.messages.items(), key=lambda kv: kv[0][1])
                if chat == chat_id and m.get("from", {}).get("id") == BOT_USER["id"]]

    # ---- methods ------------------------------------------------------------------------------
    async def api_sendMessage(self, params: dict[str, Any], call: Call) -> Any:
        thread = self._check_thread(int(params["chat_id"]), params)
        message = await super().api_sendMessage(params, call)
        if params.get("parse_mode"):
            message["parse_mode"] = params["parse_mode"]
        return self._keep(message, thread)

    async def api_sendDocument(self, params: dict[str, Any], call: Call) -> Any:
        thread = self._check_thread(int(params["chat_id"]), params)
        return self._keep(await super().api_sendDocument(params, call), thread)

    async def api_copyMessage(self, params: dict[str, Any], call: Call) -> Any:
        chat_id = int(params["chat_id"])
        thread = self._check_thread(chat_id, params)
        source = self.messages.get((int(params["from_chat_id"]), int(params["message_id"])))
        if source is None:
            raise ApiError(400, "Bad Request: message to copy not found")
        message = self._message(chat_id)
        for key in CONTENT:
            if key in source:
                message[key] = source[key]
        if "caption" in params:
            message["caption"] = params["caption"]
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self._keep(message, thread)
        return {"message_id": message["message_id"]}

    async def api_editMessageText(self, params: dict[str, Any], call: Call) -> Any:
        key = (int(params["chat_id"]), int(params["message_id"]))
        message = self.messages.get(key)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("text") == params["text"] and not params.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        message["text"] = params["text"]
        message["edit_date"] = int(time.time())
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:  # as Telegram: editing the text without a markup drops the keyboard
            message.pop("reply_markup", None)
        return message

    async def api_editMessageCaption(self, params: dict[str, Any], call: Call) -> Any:
        message = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        message["caption"] = params.get("caption", "")
        message["edit_date"] = int(time.time())
        return message

    async def api_editMessageReplyMarkup(self, params: dict[str, Any], call: Call) -> Any:
        message = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if message is None:
            return await super().api_editMessageReplyMarkup(params, call)
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        return message

    def _require_topic_rights(self, chat_id: int) -> None:
        if chat_id != self.group_id:
            raise ApiError(400, "Bad Request: chat not found")
        if not self.is_forum:
            raise ApiError(400, "Bad Request: the chat is not a forum")
        if self.bot_status != "administrator" or not self.bot_rights.get("can_manage_topics"):
            raise ApiError(400, "Bad Request: not enough rights to create a topic")

    async def api_createForumTopic(self, params: dict[str, Any], call: Call) -> Any:
        self._require_topic_rights(int(params["chat_id"]))
        name = params["name"]
        if not 1 <= len(name) <= 128:
            raise ApiError(400, "Bad Request: TOPIC_NAME_INVALID")
        thread = next(self._threads)
        self.topics[thread] = {"name": name, "closed": False, "deleted": False}
        return {"message_thread_id": thread, "name": name, "icon_color": 7322096}

    async def api_editForumTopic(self, params: dict[str, Any], call: Call) -> Any:
        self._require_topic_rights(int(params["chat_id"]))
        topic = self.topics.get(int(params["message_thread_id"]))
        if topic is None or topic["deleted"]:
            raise ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        if "name" in params:
            if params["name"] == topic["name"]:
                raise ApiError(400, "Bad Request: TOPIC_NOT_MODIFIED")
            topic["name"] = params["name"]
        return True

    async def api_closeForumTopic(self, params: dict[str, Any], call: Call) -> Any:
        self._require_topic_rights(int(params["chat_id"]))
        self.topics[int(params["message_thread_id"])]["closed"] = True
        return True

    async def api_reopenForumTopic(self, params: dict[str, Any], call: Call) -> Any:
        self._require_topic_rights(int(params["chat_id"]))
        topic = self.topics.get(int(params["message_thread_id"]))
        if topic is None or topic["deleted"]:
            raise ApiError(400, "Bad Request: TOPIC_ID_INVALID")
        topic["closed"] = False
        return True

    async def api_getChat(self, params: dict[str, Any], call: Call) -> Any:
        chat_id = int(params["chat_id"])
        base = {"id": chat_id, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": GIFTS}
        if chat_id == self.group_id:
            return {**base, "type": "supergroup", "title": "Agents", "is_forum": self.is_forum}
        user = self.buyers.get(chat_id)
        if user is None:
            raise ApiError(400, "Bad Request: chat not found")
        names = {k: v for k, v in user.items() if k in ("first_name", "last_name", "username")}
        return {**base, "type": "private", **names}

    def _member(self, user: dict[str, Any], status: str, rights: dict[str, bool] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"status": status, "user": user}
        if status == "administrator":
            out.update({"can_be_edited": False, "is_anonymous": False})
            out.update({r: False for r in ADMIN_RIGHTS})
            out.update(rights or {})
        return out

    async def api_getChatMember(self, params: dict[str, Any], call: Call) -> Any:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        if chat_id != self.group_id:
            raise ApiError(400, "Bad Request: chat not found")
        if user_id == BOT_USER["id"]:
            bot = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}
            return self._member(bot, self.bot_status, self.bot_rights)
        user = self.members.get(user_id)
        if user is None:
            return {"status": "left", "user": {"id": user_id, "is_bot": False, "first_name": "?"}}
        return self._member(user, "member")

    async def api_getChatAdministrators(self, params: dict[str, Any], call: Call) -> Any:
        if int(params["chat_id"]) != self.group_id:
            raise ApiError(400, "Bad Request: chat not found")
        bot = {k: BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")}
        return [self._member(bot, self.bot_status, self.bot_rights)] if self.bot_status == "administrator" else []

    # ---- injecting updates --------------------------------------------------------------------
    def message(self, chat_id: int, language_code: str = "ru", **content: Any) -> int:
        update_id = super().message(chat_id, language_code, **content)
        self._remember(update_id)
        return update_id

    def _remember(self, update_id: int) -> None:
        for update in list(self.pending) + list(getattr(self._webhook_queue, "_queue", [])):
            if update["update_id"] == update_id:
                msg = update.get("message") or update.get("edited_message")
                if msg and update.get("message"):
                    self.messages[(msg["chat"]["id"], msg["message_id"])] = msg
                if msg and msg["chat"]["id"] > 0:
                    self.buyers.setdefault(msg["chat"]["id"], msg["from"])

    def messages_by_update(self, update_id: int) -> dict[str, Any]:
        """The message of a queued update (to edit it later, or to know its id)."""
        for update in list(self.pending) + list(getattr(self._webhook_queue, "_queue", [])):
            if update["update_id"] == update_id:
                return update.get("message") or update.get("edited_message")
        raise KeyError(update_id)

    def make_group_message(self, user_id: int, thread_id: int | None, **content: Any) -> dict[str, Any]:
        user = self.members.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"Stranger{user_id}"}
        msg: dict[str, Any] = {"message_id": next(self._message_ids), "date": int(time.time()),
                               "chat": {"id": self.group_id, "type": "supergroup", "title": "Agents", "is_forum": True},
                               "from": user, **content}
        if thread_id:
            msg["message_thread_id"] = thread_id
            msg["is_topic_message"] = True
        if "text" in content and content["text"].startswith("/"):
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(content["text"].split(" ")[0])}]
        self.messages[(self.group_id, msg["message_id"])] = msg
        return msg

    def agent_text(self, user_id: int, thread_id: int | None, text: str, reply_to: int | None = None) -> dict[str, Any]:
        """Queue an agent's message in a topic (None: the General topic); returns the message.
        `reply_to`: the id of a group message it answers (default: none, as a plain message in a topic)."""
        extra: dict[str, Any] = {}
        if reply_to is not None:
            extra["reply_to_message"] = self.messages[(self.group_id, reply_to)]
        msg = self.make_group_message(user_id, thread_id, text=text, **extra)
        self.push({"message": msg})
        return msg

    def agent_photo(self, user_id: int, thread_id: int | None, file_id: str = "agent-photo",
                    caption: str = "") -> dict[str, Any]:
        sizes = [{"file_id": file_id, "file_unique_id": f"{file_id}-u", "width": 800, "height": 600,
                  "file_size": 40_000}]
        msg = self.make_group_message(user_id, thread_id, photo=sizes, **({"caption": caption} if caption else {}))
        self.push({"message": msg})
        return msg

    def edit(self, message: dict[str, Any], text: str) -> int:
        """Queue an edited_message update for a message fed earlier (buyer's or agent's)."""
        edited = {**message, "text": text, "edit_date": int(time.time())}
        self.messages[(message["chat"]["id"], message["message_id"])] = edited
        return self.push({"edited_message": edited})

    def group_press(self, user_id: int, data: str, message_id: int, thread_id: int | None = None) -> int:
        user = self.members.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"Stranger{user_id}"}
        msg: dict[str, Any] = {"message_id": message_id, "date": int(time.time()), "text": "…",
                               "chat": {"id": self.group_id, "type": "supergroup", "title": "Agents", "is_forum": True}}
        if thread_id:
            msg.update({"message_thread_id": thread_id, "is_topic_message": True})
        query = {"id": f"cq{next(self._update_ids)}", "from": user, "chat_instance": "agents", "data": data,
                 "message": msg}
        return self.push({"callback_query": query})

    def pop_update(self) -> dict[str, Any]:
        """Take the last queued update (for driving Application.process_update directly)."""
        return self.pending.pop()
