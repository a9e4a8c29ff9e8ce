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
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Where things live
    flows_dir: Path = ROOT / "flows"
    locales_dir: Path = ROOT / "locales"
    data_dir: Path = ROOT / "data"
    default_lang: Literal["zh", "ru"] = "ru"

    # Telegram
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org/bot"
    telegram_file_base: str = "https://api.telegram.org/file/bot"
    webhook_secret: SecretStr | None = None
    agents_chat_id: int | None = None  # the agents' forum supergroup
    agents_lang: Literal["zh", "ru"] = "zh"

    # Orders
    order_provider: Literal["demo", "ozon"] = "demo"
    ozon_client_id: str | None = None
    ozon_api_key: SecretStr | None = None
    ozon_base_url: str = "https://api-seller.ozon.ru"
    ozon_cache_ttl: float = 30.0
    ozon_fbs_get_rps: float = 2.0
    ozon_allow_cancel: bool = False
    link_secret: SecretStr | None = Field(default=None, description="HMAC key for signed order deep links")

    # Buyers
    lookups_per_hour: int = 10
    owner_attempts: int = 3

    @property
    def store_path(self) -> Path:
        return self.data_dir / "conversations.sqlite3"

    @property
    def demo_orders_path(self) -> Path:
        return self.data_dir / "demo_orders.sqlite3"
