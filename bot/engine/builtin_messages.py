"""Messages the engine says by itself, outside any flow. The validators require them in every language."""

ENGINE_MESSAGES: tuple[str, ...] = (
    "common.not_understood", "common.stale_button", "common.media_not_expected", "common.empty_message",
    "common.flow_changed", "common.skip", "common.choose", "common.bot_resumed", "common.back_to_bot",
    "lookup.ask_number", "lookup.bad_number", "lookup.ask_phone", "lookup.phone_format", "lookup.phone_wrong",
    "lookup.pick_posting", "lookup.posting_option", "lookup.rate_limited", "lookup.cannot_verify",
    "lookup.share_phone", "lookup.ask_product", "lookup.ask_date", "lookup.quiz_option", "lookup.quiz_wrong",
    "lookup.link_expired", "lookup.link_foreign", "handoff.action.owner_guessing",
    "ask.free_text_invalid", "ask.media_invalid", "ask.media_too_large", "ask.order_number_invalid",
    "ask.phone_invalid", "handoff.console_notice", "duration.hours", "duration.days",
    "actions.cancelled", "actions.cancel_failed", "common.slow_down", "common.did_you_mean", "common.evidence_saved",
    "command.start", "command.menu", "command.lang", "command.order", "command.agent", "command.history",
    "command.help", "command.bot",
)
