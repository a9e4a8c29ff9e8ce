"""Containment figures: how many conversations the bot handled alone, and how handoffs went.

`await containment_figures(store, records, since=...)` -> `ContainmentFigures` (pydantic), for
`ozonbot stats`. Conversations and flow endings come from the store's analytics events
(`flow_ended` with outcome resolved / unresolved / handed_off); handoffs, reply times and ratings
from the handoff records.
"""

from __future__ import annotations

from collections import Counter
from statistics import median

from pydantic import BaseModel, Field

from bot.handoff.records import OPEN, HandoffRecords
from bot.store.base import ConversationStore


class Durations(BaseModel):
    count: int = 0
    median_seconds: float | None = None
    mean_seconds: float | None = None
    max_seconds: float | None = None

    @classmethod
    def of(cls, values: list[float]) -> Durations:
        if not values:
            return cls()
        return cls(count=len(values), median_seconds=float(median(values)), mean_seconds=sum(values) / len(values),
                   max_seconds=max(values))


class Ratings(BaseModel):
    count: int = 0
    average: float | None = None
    by_score: dict[int, int] = Field(default_factory=dict)


class ContainmentFigures(BaseModel):
    conversations: int = 0  # buyers with at least one finished flow in the period
    contained: int = 0  # of those, buyers never handed to an agent
    containment_rate: float | None = None  # contained / conversations
    flows_ended: int = 0
    flows_ended_without_handoff: int = 0
    handoffs: int = 0
    handoffs_by_flow: dict[str, int] = Field(default_factory=dict)
    handoffs_by_reason: dict[str, int] = Field(default_factory=dict)
    handoffs_open: int = 0
    handoffs_by_outcome: dict[str, int] = Field(default_factory=dict)  # closed, left, returned, blocked, open
    first_reply: Durations = Field(default_factory=Durations)  # handoff -> first agent message
    time_to_close: Durations = Field(default_factory=Durations)
    unanswered_handoffs: int = 0  # ended without any agent message
    ratings: Ratings = Field(default_factory=Ratings)
    # Requests flows passed to staff (urge, cancel, return, compensation, ...), by action and state:
    # open (nobody pressed anything), seen, done, declined.
    staff_requests: dict[str, dict[str, int]] = Field(default_factory=dict)
    staff_declined_by_reason: dict[str, int] = Field(default_factory=dict)
    staff_time_to_outcome: Durations = Field(default_factory=Durations)


def request_state(notice: dict) -> str:
    """open / seen / done / declined: where a request to staff stands."""
    if notice.get("outcome"):
        return str(notice["outcome"])
    return "seen" if notice.get("seen_at") is not None else "open"


async def containment_figures(store: ConversationStore, records: HandoffRecords,
                              since: float = 0.0) -> ContainmentFigures:
    events = await store.analytics(since)
    ended = [e for e in events if e.name == "flow_ended"]
    chats = {e.chat_id for e in ended}
    sessions = await records.sessions(since)
    handed_chats = {e.chat_id for e in ended if e.data.get("outcome") == "handed_off"} | {s.chat_id for s in sessions}
    contained = len(chats - handed_chats)
    f = ContainmentFigures(
        conversations=len(chats),
        contained=contained,
        containment_rate=(contained / len(chats)) if chats else None,
        flows_ended=len(ended),
        flows_ended_without_handoff=sum(1 for e in ended if e.data.get("outcome") != "handed_off"),
        handoffs=len(sessions),
        handoffs_by_flow=dict(Counter(s.flow_id or "(agent)" for s in sessions)),
        handoffs_by_reason=dict(Counter(s.reason or "(none)" for s in sessions)),
        handoffs_open=sum(1 for s in sessions if s.status == OPEN),
        handoffs_by_outcome=dict(Counter(s.status for s in sessions)),
        first_reply=Durations.of([s.first_reply_at - s.started_at for s in sessions if s.first_reply_at is not None]),
        time_to_close=Durations.of([s.closed_at - s.started_at for s in sessions if s.closed_at is not None]),
        unanswered_handoffs=sum(1 for s in sessions if s.status != OPEN and s.first_reply_at is None),
    )
    notices = await records.notices(since)
    by_action: dict[str, Counter[str]] = {}
    for n in notices:
        by_action.setdefault(n["action"], Counter())[request_state(n)] += 1
    f.staff_requests = {action: dict(states) for action, states in sorted(by_action.items())}
    f.staff_declined_by_reason = dict(Counter(n["outcome_reason"] for n in notices if n.get("outcome") == "declined"))
    decided = [n["outcome_at"] - n["at"] for n in notices if n.get("outcome_at") is not None]
    f.staff_time_to_outcome = Durations.of(decided)
    rated = [s.rating for s in sessions if s.rating]
    if rated:
        f.ratings = Ratings(count=len(rated), average=sum(rated) / len(rated),
                            by_score=dict(sorted(Counter(rated).items())))
    return f
