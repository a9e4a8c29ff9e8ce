"""Buyers in Ozon's own seller-buyer chat: the second front end on the conversation service.

`api` (the chat methods of the Seller API, paced), `rules` (Ozon's reply windows, moderation of
links and phone numbers, the 1000-character limit, as data), `render` (replies without buttons:
numbered lines), `inbound` (Ozon messages to `Inbound`), `channel` (replies out), `adapter` (push
and polling into the inbox, per-chat order, read marks, recovery, the chat's order as proof),
`access` (the subscription the chat methods need), `agents` (the handoff for `oz:` buyers: agents'
replies through send/message, notes in the topic), `run` (start-up in `ozonbot run`, OZON_CHAT=true).
"""
