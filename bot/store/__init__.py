"""Conversation store: state per chat, the transcript both ways, analytics events, action records."""

from bot.store.base import ConversationStore, Outgoing, TranscriptEntry

__all__ = ["ConversationStore", "Outgoing", "TranscriptEntry"]
