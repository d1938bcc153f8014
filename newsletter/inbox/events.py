"""The inbox_events table (its only writer) and the status changes each event justifies."""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from newsletter.inbox.decide import Event
from newsletter.mail import subscribers
from newsletter.mail.database import transaction

SOFT_LIMIT = 3
"""Soft bounces on this many different sends make an address `bounced`."""

_STATUS_FOR = {"hard": "bounced", "complaint": "complained", "unsubscribe": "unsubscribed"}


class Change(NamedTuple):
    email: str
    status: str
    """The status the subscriber has now."""
    changed: bool


def record(
    conn: sqlite3.Connection, notice_id: str, events: tuple[Event, ...], *, occurred_at: str
) -> list[Change]:
    """Record a mail's events and apply their status changes in one transaction.

    Recording the same mail again inserts nothing and changes nobody (UNIQUE per notice,
    address and kind), so a re-run after a crash between here and the IMAP move is harmless.
    """
    changes: list[Change] = []
    now = subscribers.now_utc()
    with transaction(conn):
        for event in events:
            conn.execute(
                "INSERT OR IGNORE INTO inbox_events (notice_id, email, email_key, kind,"
                " status_code, diagnostic, send_key, occurred_at, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    notice_id,
                    event.email,
                    subscribers.email_key(event.email),
                    event.kind,
                    event.status_code,
                    event.diagnostic,
                    event.send_key,
                    occurred_at,
                    now,
                ),
            )
            status = _STATUS_FOR.get(event.kind)
            if event.kind == "soft" and soft_sends(conn, event.email) >= SOFT_LIMIT:
                status = "bounced"
            if status is None:
                continue
            result = subscribers.escalate_status(conn, event.email, status, now=occurred_at)
            if result is not None:
                changes.append(Change(result[0].email, result[0].status, result[1]))
    return changes


def soft_sends(conn: sqlite3.Connection, email: str) -> int:
    """Different sends this address soft-bounced on."""
    row = conn.execute(
        "SELECT COUNT(DISTINCT send_key) FROM inbox_events WHERE email_key = ? AND kind = 'soft'",
        (subscribers.email_key(email),),
    ).fetchone()
    return int(row[0])


class Reason(NamedTuple):
    kind: str
    status_code: str
    diagnostic: str
    occurred_at: str

    def __str__(self) -> str:
        what = " ".join(p for p in (self.status_code, self.diagnostic) if p) or self.kind
        return f"{self.occurred_at[:10]} {what}"


def reasons(conn: sqlite3.Connection) -> dict[str, Reason]:
    """The latest status-changing event of each address (email key -> reason)."""
    rows = conn.execute(
        "SELECT email_key, kind, status_code, diagnostic, occurred_at FROM inbox_events"
        " WHERE kind IN ('hard', 'soft', 'complaint', 'unsubscribe') ORDER BY occurred_at, id"
    )
    return {row[0]: Reason(*row[1:]) for row in rows}


class SendEvent(NamedTuple):
    email: str
    kind: str
    status_code: str
    diagnostic: str
    occurred_at: str


def for_send(conn: sqlite3.Connection, issue_id: str) -> list[SendEvent]:
    """Bounces, policy blocks and complaints read back about one send, oldest first."""
    rows = conn.execute(
        "SELECT email, kind, status_code, diagnostic, occurred_at FROM inbox_events"
        " WHERE send_key = ? AND kind IN ('hard', 'soft', 'policy', 'complaint')"
        " ORDER BY occurred_at, id",
        (issue_id,),
    )
    return [SendEvent(*row) for row in rows]
