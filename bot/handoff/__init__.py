"""Human handoff: agents answer buyers from a Telegram forum group.

Modules: `service` (TelegramHandoff, the HandoffPort of bot/conversation/ports.py),
`records` (the HandoffRecords protocol: topics, sessions, the relay outbox, notes, blocks, notices;
`records_sqlite` holds all the handoff's SQL, `records_memory` keeps them in memory), `outbox`
(durable, ordered, idempotent delivery with retries), `topics` (one topic per buyer, rate limits),
`card` (agents' texts: context card, order card, diagnosis, notices), `diagnose` (why an order is
stuck / has no shipping label, what to do), `commands` (agents' commands), `schedule` (working
hours), `figures` (containment figures), `wiring` (life cycle in the Telegram run loop).

For agents:
- each buyer who asks for a person gets a topic named `🟡 Name · RU · order number` (🟢 once
  an agent answered, ✅ when closed); it opens with a context card: buyer, order explained, the
  path through the flows, the reason and the last messages;
- anything you write in the topic reaches the buyer as the bot (text, photos, files, voice; edits
  too; a reply stays a reply); commands never do: /close, /order, /note, /flow, /history,
  /diagnose, /block, /unblock (/help lists them);
- requests flows pass on (urge the seller, cancel, return, ...) appear in General with the order
  card and a "Seen" button: pressing it tells the buyer staff have seen the request;
- a handoff nobody answers within HANDOFF_REPLY_TIMEOUT_MINUTES is announced again, mentioning
  HANDOFF_ON_DUTY.
"""
