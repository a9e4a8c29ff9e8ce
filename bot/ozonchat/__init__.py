"""Buyers in Ozon's own seller-buyer chat: the second front end on the conversation service.

`api` (the chat methods of the Seller API), `rules` (Ozon's reply windows, moderation of links and
phone numbers, the 1000-character limit, as data), `render` (replies without buttons: numbered
lines), `inbound` (Ozon messages to `Inbound`), `channel` (replies out), `adapter` (push and
polling into the inbox, per-chat order, read marks, recovery), `relay` (agents' replies back
through send/message), `run` (start-up with `ozonbot run` when OZON_CHAT=true).
"""
