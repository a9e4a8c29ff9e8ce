"""A fake Bot API that enforces Telegram's sending limits as Telegram counts them: by arrival.

sendMessage answers 429 (with `retry_after`) when it would make more than `per_second` messages in
any one-second window (sliding, the strictest reading), more than one message to a private chat
within `chat_seconds`, or more than `group_per_minute` to a group within a minute. A 429 is not a
message: it does not count. Chats in `blocked` answer 403 (the buyer blocked the bot).

Every accepted message is recorded per chat (`delivered`), so tests count lost and doubled ones.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from tests.fake_telegram import ApiError, Call, FakeTelegram


class LimitedTelegram(FakeTelegram):
    def __init__(self, *, per_second: float = 30, chat_seconds: float = 1.0, group_per_minute: float = 20,
                 retry_after: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.per_second = per_second
        self.chat_seconds = chat_seconds
        self.group_per_minute = group_per_minute
        self.retry_after = retry_after
        self.blocked: set[int] = set()
        self.arrivals: deque[float] = deque()  # accepted messages, last second
        self.chat_last: dict[int, float] = {}
        self.group_arrivals: dict[int, deque[float]] = defaultdict(deque)
        self.too_many = 0  # 429s answered
        self.delivered: dict[int, list[str]] = defaultdict(list)  # chat -> texts accepted, in order
        self.accepted_at: list[float] = []

    def _refuse(self, why: str) -> ApiError:
        self.too_many += 1
        return ApiError(429, f"Too Many Requests: retry after {self.retry_after} ({why})",
                        {"retry_after": self.retry_after})

    async def api_sendMessage(self, params: dict[str, Any], call: Call) -> Any:
        now = call.at  # arrival
        chat = int(params["chat_id"])
        if chat in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        while self.arrivals and self.arrivals[0] <= now - 1.0:
            self.arrivals.popleft()
        if len(self.arrivals) >= self.per_second:
            raise self._refuse("bot")
        if chat < 0:
            group = self.group_arrivals[chat]
            while group and group[0] <= now - 60.0:
                group.popleft()
            if len(group) >= self.group_per_minute:
                raise self._refuse("group")
            group.append(now)
        else:
            last = self.chat_last.get(chat)
            if last is not None and now - last < self.chat_seconds:
                raise self._refuse("chat")
            self.chat_last[chat] = now
        self.arrivals.append(now)
        self.accepted_at.append(now)
        message = await super().api_sendMessage(params, call)
        self.delivered[chat].append(params["text"])
        return message
