"""Texts for agents, in the agents' language: the context card, order cards, diagnoses, notices.

Everything returned is Telegram HTML. Catalog texts are plain; every dynamic value (names, order
fields, buyers' messages) is escaped here, so a buyer called `<b>` or a product named `A & B` shows
as typed. Texts stay under Telegram's 4096-character limit.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from bot.engine.state import ConversationState
from bot.handoff.diagnose import Diagnosis
from bot.i18n.render import Texts, buyer_timezone
from bot.orders.facts import OrderFacts
from bot.orders.model import Order
from bot.store.base import TranscriptEntry

MAX_TEXT = 4096
RECENT = 10  # buyer/bot messages shown on the card
SNIPPET = 300  # characters of each message shown
MAX_PRODUCTS = 8
LANG_NAMES = {"zh": "中文", "ru": "Русский"}
# Buyers on another channel than Telegram (by conversation-key prefix): a line on the card says where.
CHANNEL_NOTES = {"oz:": "agent_card.ozon_chat"}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=False)


class Safe(str):
    """Text that is already HTML (escaped or built here): `AgentTexts.t` passes it through."""


def cut(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class BuyerInfo:
    chat_id: str
    name: str = ""
    username: str = ""
    lang: str = ""


class AgentTexts:
    """Renders agent-facing texts in one language (settings.agents_lang)."""

    def __init__(self, renderer: Texts, lang: str, tz: tzinfo | None = None) -> None:
        self.r = renderer
        self.lang = lang
        self.tz = tz or buyer_timezone()  # times of day on cards and in /history: the buyers' clock

    def t(self, msgid: str, count: int | None = None, **params: Any) -> str:
        """A catalog text; str params are HTML-escaped, dates and money formatted for `lang`."""
        safe = {k: (esc(v) if isinstance(v, str) and not isinstance(v, Safe) else v) for k, v in params.items()}
        if count is not None:
            safe.setdefault("count", count)
        return self.r.text(msgid, self.lang, safe, count)

    def label(self, msgid: str, fallback: str) -> Safe:
        """A catalog label, or the raw value when the catalog has none (escaped either way)."""
        text = self.r.text(msgid, self.lang)
        return Safe(esc(fallback if text == msgid else text))

    def reason(self, reason: str) -> Safe:
        return self.label(f"agent_card.reason.{reason}", reason)

    # ---- order --------------------------------------------------------------------------------
    def order_lines(self, order: Order, now: datetime) -> list[str]:
        f = OrderFacts(order, now)
        status: str = self.label(str(f.status_label), order.status)  # both labels are escaped
        if order.substatus:
            status += f" · {self.label(str(f.substatus_label), order.substatus)}"
        out = [
            self.t("agent_card.order_number", posting=order.posting_number, order=order.order_number,
                   scheme=order.scheme.value.upper()),
            self.t("agent_card.status", status=Safe(status))
            + " " + self.t("agent_card.in_status", f.hours_in_status),
            self.t("agent_card.created", date=order.created_at),
        ]
        if order.shipment_date and (f.before_packing or f.being_prepared):
            out.append(self.t("agent_card.shipment_date", date=order.shipment_date))
        if f.seller_late:
            out.append("⚠️ " + self.t("agent_card.seller_late", f.hours_seller_late))
        if order.delivery_date_begin and order.delivery_date_end:
            out.append(self.t("agent_card.delivery_window", begin=order.delivery_date_begin,
                              end=order.delivery_date_end))
        if f.delivery_late:
            out.append("⚠️ " + self.t("agent_card.delivery_late", f.days_delivery_late))
        out.append(self.t("agent_card.delivery", method=order.delivery_method or "—", city=order.city or "—",
                          tracking=order.tracking_number or "—"))
        for p in order.products[:MAX_PRODUCTS]:
            out.append("• " + self.t("agent_card.product", name=cut(p.name, 120), qty=p.quantity, price=p.price))
        if len(order.products) > MAX_PRODUCTS:
            out.append(f"• … +{len(order.products) - MAX_PRODUCTS}")
        out.append(self.t("agent_card.total", total=order.total))
        if order.related_postings:
            out.append(self.t("agent_card.related", postings=", ".join(order.related_postings)))
        if order.cancellation:
            who = self.label(str(f.cancelled_by_label), f.cancelled_by)
            out.append("❌ " + self.t("agent_card.cancelled", by=who, reason=order.cancellation.reason or "—"))
            if order.cancellation.cancelled_after_ship:
                out.append(self.t("agent_card.cancelled_after_ship"))
        for ret in order.returns:
            out.append("↩️ " + self.t("agent_card.return", id=str(ret.id), type=ret.type, status=ret.status or "—",
                                      reason=ret.reason or "—"))
        return out

    def order_card(self, order: Order, now: datetime, *, fresh: bool) -> str:
        head = "📦 <b>" + self.t("agent_card.order_title") + "</b>"
        note = self.t("agent_card.order_fresh" if fresh else "agent_card.order_snapshot")
        return "\n".join([head, *self.order_lines(order, now), f"<i>{note}</i>"])

    # ---- the context card ---------------------------------------------------------------------
    def context_card(self, buyer: BuyerInfo, state: ConversationState | None, reason: str, flow_id: str,
                     node_id: str, transcript: Iterable[TranscriptEntry], now: datetime, *,
                     on_duty: list[str] | None = None, returning: bool = False) -> str:
        title = self.t("agent_card.title_again" if returning else "agent_card.title")
        head = [f"🆘 <b>{title}</b>", self.t("agent_card.reason", reason=self.reason(reason))]
        who = [
            "👤 <b>" + self.t("agent_card.buyer_title") + "</b>",
            self.t("agent_card.buyer", name=buyer.name or "—",
                   username=("@" + buyer.username) if buyer.username else "—",
                   id=buyer.chat_id, lang=LANG_NAMES.get(buyer.lang, buyer.lang or "—")),
        ]
        who += ["💬 " + self.t(msgid) for prefix, msgid in CHANNEL_NOTES.items() if buyer.chat_id.startswith(prefix)]
        order = state.order_model() if state else None
        if order is not None:
            order_part = ["", *self.order_card(order, now, fresh=False).split("\n")]
        else:
            order_part = ["", "📦 " + self.t("agent_card.no_order")]
        path = [p for p in (state.path if state else [])][-12:]
        stopped = f"{flow_id}:{node_id}" if flow_id else (path[-1] if path else "—")
        path_part = ["", "🧭 <b>" + self.t("agent_card.path_title") + "</b>",
                     esc(" → ".join(path) if path else "—"),
                     self.t("agent_card.stopped_at", where=stopped)]
        recent = [e for e in transcript if e.text or e.kind][-RECENT:]
        tail = ["", "🔔 " + " ".join(esc(u) for u in on_duty)] if on_duty else []
        tail += ["", "<i>" + self.t("agent_card.commands") + "</i>"]
        while True:
            lines = ["", "💬 <b>" + self.t("agent_card.recent_title") + "</b>"]
            lines += [self.transcript_line(e) for e in recent] or ["—"]
            text = "\n".join(head + who + order_part + path_part + lines + tail)
            if len(text) <= MAX_TEXT or not recent:
                return text[:MAX_TEXT]
            recent = recent[1:]

    def transcript_line(self, entry: TranscriptEntry) -> str:
        who = {"in": "agent_card.from_buyer", "out": "agent_card.from_bot", "agent": "agent_card.from_agent"}
        stamp = datetime.fromtimestamp(entry.at, self.tz).strftime("%H:%M") if entry.at else ""
        body = entry.text if entry.text else f"[{entry.kind}]"
        if entry.direction == "in" and entry.kind == "press":
            body = f"[{body}]"
        speaker = self.t(who.get(entry.direction, "agent_card.from_bot"))
        return f"<code>{stamp}</code> <b>{speaker}</b>: {esc(cut(body, SNIPPET))}"

    # ---- diagnosis ----------------------------------------------------------------------------
    def diagnosis(self, d: Diagnosis, order: Order, now: datetime) -> str:
        f = OrderFacts(order, now)
        status: str = self.label(str(f.status_label), order.status)  # both labels are escaped
        if order.substatus:
            status += f" · {self.label(str(f.substatus_label), order.substatus)}"
        out = ["🩺 <b>" + self.t("agent_card.diag.title", number=order.posting_number) + "</b>",
               self.t("agent_card.status", status=Safe(status)) + " "
               + self.t("agent_card.in_status", f.hours_in_status),
               "", "<b>" + self.t("agent_card.diag.causes") + "</b>"]
        out += ["• " + self.t(line.msg, line.count, **line.params) for line in d.causes]
        if d.todo:
            out += ["", "<b>" + self.t("agent_card.diag.todo") + "</b>"]
            out += [f"{i}. " + self.t(line.msg, line.count, **line.params) for i, line in enumerate(d.todo, 1)]
        return "\n".join(out)[:MAX_TEXT]

    # ---- notices ------------------------------------------------------------------------------
    def action_notice(self, action: str, args: dict[str, Any], buyer: BuyerInfo, order: Order | None,
                      now: datetime, thread_link: str = "") -> str:
        name = self.label(f"handoff.action.{action}", action)
        out = ["📣 <b>" + self.t("agent_card.notice_title", action=name) + "</b>",
               self.t("agent_card.buyer", name=buyer.name or "—",
                      username=("@" + buyer.username) if buyer.username else "—",
                      id=buyer.chat_id, lang=LANG_NAMES.get(buyer.lang, buyer.lang or "—"))]
        extra = {k: v for k, v in args.items() if k != "posting" and v not in (None, "")}
        if extra:
            out.append(esc(", ".join(f"{k}: {v}" for k, v in extra.items())))
        if order is not None:
            out += ["", *self.order_lines(order, now)]
        elif args.get("posting"):
            out.append(esc(args["posting"]))
        if thread_link:
            out.append(thread_link)
        return "\n".join(out)[:MAX_TEXT]

    def history(self, buyer: BuyerInfo, entries: list[TranscriptEntry], notes: list[dict[str, Any]]) -> str:
        """The whole conversation as plain text (for the .txt file): buyer, bot, agents, notes."""
        rows: list[tuple[float, str, str]] = []
        who = {"in": "agent_card.from_buyer", "out": "agent_card.from_bot", "agent": "agent_card.from_agent"}
        for e in entries:
            body = e.text or f"[{e.kind}]"
            label = self.r.text(who.get(e.direction, "agent_card.from_bot"), self.lang)
            if e.direction == "agent" and e.meta.get("agent"):
                label += f" ({e.meta['agent']})"
            rows.append((e.at, label, body))
        for n in notes:
            rows.append((n["at"], self.r.text("agent_card.note_label", self.lang) + f" ({n['author']})", n["text"]))
        rows.sort(key=lambda r: r[0])
        head = f"{buyer.name} @{buyer.username} id={buyer.chat_id} lang={buyer.lang}\n\n"
        return head + "\n".join(
            f"{datetime.fromtimestamp(at, self.tz).strftime('%Y-%m-%d %H:%M:%S')}  {label}: {body}"
            for at, label, body in rows
        ) + "\n"
