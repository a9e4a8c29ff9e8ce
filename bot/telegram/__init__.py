"""Buyers in Telegram: the engine behind python-telegram-bot.

`build_telegram(app, settings, handoff=..., request=...)` returns a PTB `Application`;
`run_telegram(settings, webhook=..., listen=...)` is what `ozonbot run` calls.
Nothing in bot/engine imports this package.
"""
