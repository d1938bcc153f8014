"""In-memory sliding-window limits (per client address): thread-safe, bounded in memory."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque

MAX_KEYS = 50_000
"""Beyond this many clients the least recently seen are forgotten, so a flood of spoofed
sources cannot grow memory without end."""


class SlidingWindow:
    """At most `limit` hits per key within any `period` seconds; 0 means no limit."""

    def __init__(self, limit: int, period: float):
        self.limit = limit
        self.period = period
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one hit; False when it is over the limit (and then it is not counted)."""
        if not self.limit:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.period:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            self._hits[key] = hits
            while len(self._hits) > MAX_KEYS:
                self._hits.popitem(last=False)
            return allowed
