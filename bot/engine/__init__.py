"""The flow engine: pure decision-tree execution over YAML flows.

Nothing here imports Telegram, HTTP or SQLite. Adapters (bot/console.py, bot/telegram/) turn
their input into `events`, call `Engine.handle`, and render the returned `effects`.
"""
