"""The Ozon Seller API order provider (settings: ORDER_PROVIDER=ozon, OZON_CLIENT_ID, OZON_API_KEY, OZON_BASE_URL)."""

from bot.orders.ozon.errors import (
                                    CancelDisabled,
                                    CircuitOpen,
                                    OzonAuthError,
                                    OzonError,
                                    OzonNotFound,
                                    OzonRateLimited,
                                    OzonRequestError,
                                    OzonTransientError,
                                    check_response,
)
from bot.orders.ozon.mapping import CancelReason, KeyRoles
from bot.orders.ozon.provider import OzonOrderProvider

__all__ = [
    "CancelDisabled", "CancelReason", "CircuitOpen", "KeyRoles", "OzonAuthError", "OzonError", "OzonNotFound",
    "OzonOrderProvider", "OzonRateLimited", "OzonRequestError", "OzonTransientError", "check_response",
]
