"""The fake forum Bot API (tests/fake_forum.py) with Telegram's real delivery guarantees.

Updates stay in `fake.pending` until they are confirmed, in both modes:
- long polling: `getUpdates(offset=N)` confirms (drops) every update with id < N and returns the
  pending ones with id >= N (waiting up to `timeout`); a bot that restarts without confirming gets
  them again;
- webhook: each update is POSTed to the registered URL, one at a time per chat and in order, and
  POSTed again (every `redeliver_after` seconds) until the bot answers 2xx; only a 2xx confirms it.

What the crash tests read afterwards (beside `calls`, where every answered call carries `at`,
`done_at` and `reset`):
- `deliveries[update_id]`: how many times an update was served (getUpdates batches, webhook POSTs);
- `confirmed_at[update_id]`: when it was confirmed; `on_confirm` hooks hear the ids at once;
- `webhook_posts`: every POST with its timing and status; `repeated`: updates posted again after a
  2xx (set `repeat_after_2xx` to a probability: Telegram repeats an update whose 2xx it did not get).

    fake = DeliveryForum()
    await fake.start()
    fake.on_confirm.append(lambda ids: ...)       # e.g. kill the bot 1-2 ms later
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientSession, ClientTimeout

from tests.fake_forum import FakeForum
from tests.fake_telegram import Call


@dataclass
class WebhookPost:
    update_id: int
    at: float
    done_at: float | None = None
    status: int = 0  # 0: no HTTP answer (refused, reset, timeout)


def chat_of(update: dict[str, Any]) -> int:
    """The chat an update belongs to (webhook deliveries are sequential per chat)."""
    for key in ("message", "edited_message", "channel_post", "edited_channel_post"):
        if key in update:
            return int(update[key]["chat"]["id"])
    query = update.get("callback_query")
    if query is not None:
        message = query.get("message")
        return int(message["chat"]["id"]) if message else int(query["from"]["id"])
    return 0


class DeliveryForum(FakeForum):
    redeliver_after = 0.2  # seconds between webhook attempts for one update (Telegram backs off longer)
    webhook_timeout = 10.0  # seconds a webhook POST may take before it counts as failed
    repeat_after_2xx = 0.0  # webhook: chance that Telegram posts an update again although the bot said 2xx
    # (its answer was lost on the way: Telegram then delivers the update again, as it does after timeouts)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.webhook_posts: list[WebhookPost] = []
        self.repeated: list[int] = []  # update_ids posted again after a 2xx (repeat_after_2xx)
        self._rng = random.Random(0)
        self._chat_workers: dict[int, asyncio.Task] = {}

    # ---- updates stay pending until confirmed, whatever the mode ------------------------------
    def push(self, update: dict[str, Any]) -> int:
        update = {"update_id": next(self._update_ids), **update}
        self.pending.append(update)
        self._new_update.set()
        if self.webhook is not None:
            self._kick()
        return update["update_id"]

    def pending_ids(self) -> list[int]:
        return [u["update_id"] for u in self.pending]

    def _confirm(self, update_ids: list[int]) -> None:
        now = time.perf_counter()
        for update_id in update_ids:
            self.confirmed_at.setdefault(update_id, now)
        for hook in list(self.on_confirm):
            hook(update_ids)
        self._notify()  # wake wait_for() callers

    # ---- webhook: per chat, in order, again until 2xx ------------------------------------------
    async def api_setWebhook(self, params: dict[str, Any], call: Call) -> Any:
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token"),
                        "allowed_updates": params.get("allowed_updates")}
        self._kick()
        return True

    async def api_deleteWebhook(self, params: dict[str, Any], call: Call) -> Any:
        self.webhook = None
        if params.get("drop_pending_updates"):
            self._confirm([u["update_id"] for u in self.pending])
            self.pending.clear()
        return True

    def queue_of(self, update: dict[str, Any]) -> Any:
        """The webhook queue an update waits in (one POST at a time per queue): here its chat."""
        return chat_of(update)

    def _kick(self) -> None:
        if self.closing:
            return
        for chat in {self.queue_of(u) for u in self.pending}:
            worker = self._chat_workers.get(chat)
            if worker is None or worker.done():
                self._chat_workers[chat] = asyncio.get_running_loop().create_task(self._deliver_chat(chat))

    async def _deliver_chat(self, chat: Any) -> None:
        while self.webhook is not None and not self.closing:
            update = next((u for u in self.pending if self.queue_of(u) == chat), None)
            if update is None:
                return
            if await self._post(update):
                if self.repeat_after_2xx and self._rng.random() < self.repeat_after_2xx \
                        and self.deliveries[update["update_id"]] == 1:
                    self.repeated.append(update["update_id"])
                    continue  # "the 2xx never arrived": the same update again
                if update in self.pending:
                    self.pending.remove(update)
                self._confirm([update["update_id"]])
            else:
                await asyncio.sleep(self.redeliver_after)

    async def _post(self, update: dict[str, Any]) -> bool:
        hook = self.webhook
        if hook is None:
            return False
        if self._client is None:
            self._client = ClientSession(timeout=ClientTimeout(total=self.webhook_timeout))
        headers = {"X-Telegram-Bot-Api-Secret-Token": hook["secret_token"]} if hook.get("secret_token") else {}
        post = WebhookPost(update["update_id"], time.perf_counter())
        self.webhook_posts.append(post)
        self.served_at.setdefault(update["update_id"], post.at)
        self.deliveries[update["update_id"]] += 1
        try:
            async with self._client.post(hook["url"], json=update, headers=headers) as resp:
                await resp.read()
                post.status = resp.status
        except Exception:  # noqa: BLE001 - refused, reset, timed out: Telegram tries again later
            post.status = 0
        post.done_at = time.perf_counter()
        self._notify()
        return 200 <= post.status < 300

    async def stop(self) -> None:
        self.closing = True
        for worker in self._chat_workers.values():
            worker.cancel()
        await super().stop()
