"""Configuration, read once in `main` from the environment and `.env` (pydantic-settings).

Secrets (the bot token, Ozon keys) come only from here and are never logged: they are SecretStr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    # An empty value (as in a copied .env.example) means "not set", not "set to nothing".
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True)

    # Where things live
    flows_dir: Path = ROOT / "flows"
    locales_dir: Path = ROOT / "locales"
    data_dir: Path = ROOT / "data"
    default_lang: str = "ru"  # a language of locales/ (checked when the app is built)

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org/bot"
    telegram_file_base: str = "https://api.telegram.org/file/bot"
    webhook_secret: SecretStr | None = None
    telegram_transport: Literal["httpx", "aiohttp"] = "aiohttp"  # PTB's HTTP client; aiohttp is faster
    agents_chat_id: int | None = Field(default=None, description="the agents' forum group id, e.g. -1001234567890")
    agents_lang: str = "zh"  # a language of locales/ (checked when the app is built)

    # Orders
    order_provider: Literal["demo", "ozon"] = "demo"
    ozon_client_id: str | None = None
    ozon_api_key: SecretStr | None = None
    ozon_base_url: str = "https://api-seller.ozon.ru"
    ozon_cache_ttl: float = 30.0
    ozon_fbs_get_rps: float = 2.0
    ozon_allow_cancel: bool = False
    store_cross_border: bool = False  # the shop ships from abroad (Ozon Global): its rFBS orders pass customs
    link_secret: SecretStr | None = Field(default=None, description="HMAC key for signed order deep links")

    # Buyers
    # IANA name: the clock buyers' dates and times are shown in, in every language
    buyer_timezone: str = "Europe/Moscow"
    lookups_per_hour: int = 10
    owner_attempts: int = 3  # wrong answers for one order before that buyer is locked out of it (for good)
    order_wrong_answers: int = Field(default=3, ge=1)  # wrong phone answers for one order, all buyers, before it closes
    order_wrong_answers_no_phone: int = Field(default=1, ge=1)  # the same for the product and date question
    owner_wrong_per_day: int = Field(default=10, ge=1)  # wrong answers of one buyer, all orders, per 24 h
    link_ttl_days: float = Field(default=30, gt=0)  # a signed order link works this many days after it is made
    buyer_messages_per_minute: int = 20  # more from one buyer gets one "please slow down"; 0 = no limit

    # Human handoff (bot/handoff): agents answer from topics of the agents_chat_id forum group
    handoff_timezone: str = "Europe/Moscow"  # IANA name; working hours are read in this zone
    handoff_hours: str = "09:00-21:00"  # agents' working hours, HH:MM-HH:MM (end may pass midnight)
    handoff_days: str = "mon-sun"  # working days: "mon-fri", "mon-fri,sun", ...
    handoff_reply_timeout_minutes: int = 10  # re-announce a handoff nobody answered after this long
    handoff_on_duty: str = ""  # agents mentioned on re-announce, comma-separated: "alice,@bob"
    handoff_agent_signature: str = ""  # empty: agents are anonymous; e.g. "— {name}, support"
    handoff_topics_per_buyer_per_day: int = 3  # topic (re)creations per buyer per 24 h
    handoff_topics_per_hour: int = 30  # topic creations per hour for the whole group
    handoff_check_seconds: float = 60.0  # period of the outbox flush + unanswered check
    handoff_max_attempts: int = 8  # relay attempts before a message is marked failed

    # Proactive messages (bot/notify): buyers' order news, the agents' digest, the one paced sender
    agent_digest_minutes: float = Field(default=60, ge=0)  # the agents' digest of postings at risk; 0: none
    agent_digest_cutoff_hours: float = Field(default=12, gt=0)  # "near the cutoff": shipping deadline this close
    # The sender's pace, kept below Telegram's (30/s per bot, ~1/s per chat, 20/min per group): replies share it
    notify_messages_per_second: float = Field(default=25, gt=0)
    notify_chat_seconds: float = Field(default=1.1, gt=0)  # between two proactive messages to one buyer
    notify_group_per_minute: float = Field(default=19, gt=0)  # proactive messages to the agents' group

    # Budgets, not waits (issue 13, item 3): a buyer hears "we are checking" instead of waiting on a slow API
    # A turn still working after this many seconds tells the buyer we are checking and will write (0: never)
    lookup_budget_seconds: float = Field(default=5.0, ge=0, le=60, description="seconds; 0 turns it off")
    ozon_timeout_seconds: float = Field(default=10.0, gt=0, le=120)  # one Seller API request, whole reply
    ozon_retries: int = Field(default=4, ge=0, le=10)  # retries of a failed Seller API call after the first try
    ozon_breaker_failures: int = Field(default=5, ge=1)  # consecutive failures that open the circuit breaker
    # An open breaker lets one probe call through after this cool-down; a failed probe doubles it, up to the max
    ozon_breaker_cooldown_seconds: float = Field(default=1.0, gt=0, le=300)
    ozon_breaker_max_cooldown_seconds: float = Field(default=10.0, gt=0, le=3600)

    # Ozon chat (bot/ozonchat): buyers in Ozon's own seller-buyer chat, on the same flows and agents
    ozon_chat: bool = False  # OZON_CHAT=true: `ozonbot run` answers Ozon chats (needs OZON_CLIENT_ID, OZON_API_KEY)
    ozon_chat_poll_seconds: float = Field(default=10, ge=0)  # /v3/chat/list for unread chats; 0: push only

    # Retention (bot/store/retention.py): days each kind of record is kept; 0 keeps it forever
    retention_transcript_days: float = Field(default=180, ge=0)  # messages both ways
    retention_analytics_days: float = Field(default=365, ge=0)  # analytics events (ozonbot stats)
    retention_actions_days: float = Field(default=365, ge=0)  # action records
    retention_inbox_days: float = Field(default=7, ge=0)  # raw incoming updates that have an outcome

    # Order mirror and Ozon push notifications (bot/orders/mirror, bot/push; issue 13)
    # on/off; unset: on with ORDER_PROVIDER=ozon, off with the demo provider
    mirror_enabled: bool | None = Field(default=None, description="true or false (unset: on with ORDER_PROVIDER=ozon)")
    mirror_max_age: float = Field(default=3600.0, gt=0)  # seconds a mirrored posting answers without a fresh read
    mirror_sync_seconds: float = Field(default=60.0, gt=0)  # period of the incremental sync
    mirror_full_sync_minutes: float = Field(default=30.0, gt=0)  # period of the full sweep (FBO, moved dates)
    mirror_days: float = Field(default=30.0, gt=0, le=364)  # the postings the mirror holds: created this many days back
    demo_step_seconds: float = Field(default=60.0, gt=0)  # the demo's live postings move one status per step
    ozon_push_secret: SecretStr | None = Field(default=None, description="the secret part of the push URL")
    ozon_push_listen: str = "127.0.0.1:8081"  # host:port of the push endpoint's own server (not in webhook mode)
    ozon_push_url: str = ""  # the public https URL that reaches the push server (what the seller cabinet gets)
    ozon_push_allow_ips: str = ""  # comma-separated addresses/networks; "ozon" = Ozon's documented ranges
    ozon_push_trust_forwarded: bool = False  # behind a reverse proxy: the client is X-Forwarded-For's first hop

    # Order mirror retention (bot/orders/mirror, MirrorStore.purge_postings; run with the RETENTION_* purges):
    # a delivered or cancelled posting whose status has not changed for this many days is forgotten (0: never).
    # 120 = the 3 months a buyer may return goods bought remotely when the return terms were not given in
    # writing (ЗоЗПП art. 26.1; 7 days otherwise), plus a month for the return's transit, dispute and refund.
    # At least MIRROR_DAYS: the full sweep would read a forgotten posting back. A posting asked about later is
    # read from Ozon again, quietly (no "new posting" news).
    mirror_keep_days: float = Field(default=120.0, ge=0)

    @property
    def mirror_on(self) -> bool:
        """Push notifications are stored and applied by the mirror: a push secret turns it on too."""
        if self.mirror_enabled is not None:
            return self.mirror_enabled
        return self.order_provider == "ozon" or self.ozon_push_secret is not None

    # Several processes on PostgreSQL (issue 14; README "Running several processes"). Unset: the
    # embedded SQLite file in DATA_DIR. postgresql://user:password@host:5432/db (a secret: it may
    # hold the password); the store and the handoff records each keep a pool of this many connections.
    database_url: SecretStr | None = None
    database_pool_size: int = Field(default=10, ge=1)
    # Seconds an update being handled, or a relay being sent, stays its process's: a repeat posted to
    # another process meanwhile is answered 503 (Telegram retries); after a kill -9 another process takes
    # it over once this has run out.
    database_lease_seconds: float = Field(default=30, gt=0)
    # How often each process tries to become the leader (and the leader checks its connection): a
    # killed leader is replaced within about this long.
    leader_check_seconds: float = Field(default=1.0, gt=0)

    @property
    def store_path(self) -> Path:
        return self.data_dir / "conversations.sqlite3"

    @property
    def demo_orders_path(self) -> Path:
        return self.data_dir / "demo_orders.sqlite3"
