"""Human handoff: agents answer buyers from a Telegram forum group."""
