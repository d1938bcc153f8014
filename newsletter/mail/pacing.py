"""How fast a send may go: the per-second rate across connections, and the retry backoff.

The daily limit is counted by the ledger when rows are claimed (every issue's sends share
it, across processes); this module only says when the limit frees its next slot.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from newsletter.mail.database import utc_epoch


class Pacer:
    """Spaces handovers `1/rate` seconds apart across threads, continuing from the last run.

    The ledger keeps the last handover to the second; the first slot of a new run assumes
    it happened at the end of that second (or now, if sooner), so a rate holds across runs.
    """

    def __init__(self, rate: float, last_sent: str | None = None):
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = 0.0
        if self.interval and last_sent:
            latest = min(utc_epoch(last_sent) + 1.0, time.time())
            self.next = latest + self.interval
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next slot; returns how long to wait for it."""
        if not self.interval:
            return 0.0
        with self.lock:
            now = time.time()
            slot = max(now, self.next)
            self.next = slot + self.interval
            return slot - now


def backoff(attempts: int, *, first: float, cap: float) -> float:
    """Seconds before the next try of a message that failed `attempts` times: doubling."""
    return float(min(cap, first * 2.0 ** max(attempts - 1, 0)))


def next_day_slot(database: Path) -> str | None:
    """When the rolling 24-hour window frees its first slot, for the daily-limit message."""
    import datetime as dt

    from newsletter.mail import ledger
    from newsletter.mail.database import connect

    conn = connect(database)
    try:
        oldest = ledger.oldest_sent_since(conn, ledger.iso_ago(86400))
    finally:
        conn.close()
    if not oldest:
        return None
    when = dt.datetime.fromtimestamp(utc_epoch(oldest), dt.UTC) + dt.timedelta(days=1)
    return when.strftime("%Y-%m-%d %H:%M UTC")
