"""The conversation service: the rules of a buyer's conversation, the same for every front end.

Front ends (Telegram, the terminal, later Ozon chat) translate their input into an `Inbound` and
give the service a `Channel` to answer through; the service decides what happens: the engine's
turn, silence and relay while an agent owns the chat, `/bot`, `/history`, refusals, the per-buyer
rate limit, the no-agent fallback and the follow-ups a turn asks for (handoff, staff notices).
"""
