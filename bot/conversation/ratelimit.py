"""A per-buyer message rate limit: a sliding window of arrival times, in memory.

A buyer over the limit is told once per window to slow down; further messages in that window are
recorded in the transcript but not answered. One process's view: with several processes each one
counts what it handled, so the limit is per process (enough to stop one buyer flooding a process).
"""

from __future__ import annotations

from collections import deque

ALLOW, WARN, DROP = "allow", "warn", "drop"


class RateLimiter:
    def __init__(self, per_minute: int, *, window: float = 60.0, max_buyers: int = 100_000) -> None:
        self.limit = per_minute
        self.window = window
        self.max_buyers = max_buyers
        self._seen: dict[str, deque[float]] = {}
        self._warned: dict[str, float] = {}

    def check(self, key: str, now: float) -> str:
        """ALLOW the message, WARN (the first over the limit in this window), or DROP it."""
        if self.limit <= 0:
            return ALLOW
        times = self._seen.get(key)
        if times is None:
            if len(self._seen) >= self.max_buyers:
                self._forget(now)
            times = self._seen[key] = deque()
        while times and now - times[0] >= self.window:
            times.popleft()
        if len(times) < self.limit:
            times.append(now)
            return ALLOW
        warned = self._warned.get(key)
        if warned is not None and now - warned < self.window:
            return DROP
        self._warned[key] = now
        return WARN

    def _forget(self, now: float) -> None:
        """Drop buyers with no message inside the window (memory stays bounded)."""
        for key in [k for k, t in self._seen.items() if not t or now - t[-1] >= self.window]:
            del self._seen[key]
            self._warned.pop(key, None)
