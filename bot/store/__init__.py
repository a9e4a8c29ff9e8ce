"""Conversation store: state per chat, the transcript both ways, analytics events, action records,
the inbox of raw incoming updates; numbered migrations (migrations.py) and retention (retention.py)."""

from bot.store.base import (
    ConversationStore,
    InboxItem,
    Outgoing,
    PendingUpdate,
    Retention,
    TranscriptEntry,
)

__all__ = ["ConversationStore", "InboxItem", "Outgoing", "PendingUpdate", "Retention", "TranscriptEntry"]
