"""Exceptions raised by order providers. Adapters turn them into buyer-facing messages."""


class OrderBackendError(Exception):
    """Base class for provider failures."""


class OrderBackendUnavailable(OrderBackendError):
    """The backend cannot answer now (outage, rate limit, bad credentials). Try later."""
