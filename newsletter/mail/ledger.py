"""The send ledger: one row per (issue, scope, recipient), pending -> sending -> sent|failed.

A row is `sending` only while its message is being handed to SMTP: the state is committed
before the handover (the final dot of DATA, when the server takes the message) and
replaced after the server's 250, in the same transaction that marks the connection's next
row `sending`. So after any crash each connection leaves at most one row in `sending`, the
only message that may go twice; every other row is exactly `sent` or still to do (with
synchronous=FULL, the default of `newsletter send`, this holds for power loss too). Rows
are claimed in batches by setting `claim` to the worker's id in one statement, so parallel
connections never take the same row.

Other processes (imports, the web service, another send) write the same file: every write
here waits for them (`database.patiently`) rather than fail. Whether a subscriber is still
on the list is asked of `subscribers` when a row goes `sending`, in that same transaction,
so an unsubscribe committed before that moment stops the message.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from newsletter.mail import subscribers
from newsletter.mail.database import patiently, utc_epoch, utc_iso

STATES = ("pending", "sending", "sent", "failed", "deferred", "skipped")
SCOPES = ("live", "test", "dry-run")


def now_iso() -> str:
    return utc_iso()


def iso_ago(seconds: float) -> str:
    return utc_iso(time.time() - seconds)


def retry_iso(when: float) -> str:
    """A retry time, rounded up to the second: never earlier than asked."""
    return utc_iso(-(-when // 1))


@dataclass(frozen=True)
class Row:
    """A claimed delivery: who to send to, how many tries it had, and since when."""

    id: int
    email: str
    name: str
    attempts: int
    subscriber_id: int | None = None
    first_tried_at: str | None = None

    def tried_for(self, now: float | None = None) -> float:
        """Seconds since the first try (0 before any)."""
        if not self.first_tried_at:
            return 0.0
        return (time.time() if now is None else now) - utc_epoch(self.first_tried_at)


@dataclass(frozen=True)
class Entry:
    """A ledger row as `status` shows it."""

    email: str
    state: str
    attempts: int
    last_reply: str
    next_attempt_at: str
    updated_at: str


_WRITE_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _write_lock(conn: sqlite3.Connection) -> threading.Lock:
    """One lock per database file within the process.

    Threads queue on this lock instead of on SQLite's busy handler, which sleeps whole
    milliseconds between tries and would cap parallel sends far below the network's speed.
    """
    name = conn.execute("PRAGMA database_list").fetchone()[2] or ":memory:"
    with _LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(name, threading.Lock())


_CLAIMED = "id, email, name, attempts, subscriber_id, first_tried_at"

Statement = tuple[str, tuple[Any, ...]]


class Ledger:
    """The deliveries of one issue in one scope, through one SQLite connection (one thread)."""

    def __init__(self, conn: sqlite3.Connection, issue_id: str, scope: str = "live"):
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}")
        self.conn = conn
        self.issue_id = issue_id
        self.scope = scope
        self._lock = _write_lock(conn)
        self.skipped = 0
        """Rows the last `claim` marked skipped (their subscriber left the list)."""
        self.taken = 0
        """Rows the last `claim` took, skipped ones included: 0 means nothing was due."""
        self.limited = False
        """The last `claim` took fewer rows than asked because of the daily limit."""
        self._cursor = 0
        """Highest id this ledger claimed: the next claim looks after it first."""
        self._done: tuple[int, str] | None = None
        """A row the server accepted whose `sent` is not yet committed (see `start_sending`)."""

    # -- writing -----------------------------------------------------------------------------

    def _transaction(self, body: Callable[[], Any]) -> Any:
        """Run `body` in one write transaction, waiting out other processes' locks."""

        def attempt() -> Any:
            with self._lock:
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    result = body()
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                self.conn.execute("COMMIT")
                return result

        return patiently(attempt)

    def _write(self, statements: Iterable[Statement]) -> None:
        todo = list(statements)

        def body() -> None:
            for sql, params in todo:
                self.conn.execute(sql, params)

        self._transaction(body)

    def run_started_at(self) -> str | None:
        row = self.conn.execute(
            "SELECT started_at FROM send_runs WHERE issue_id = ? AND scope = ?",
            (self.issue_id, self.scope),
        ).fetchone()
        return row[0] if row else None

    def content_hash(self) -> str:
        row = self.conn.execute(
            "SELECT content_hash FROM send_runs WHERE issue_id = ? AND scope = ?",
            (self.issue_id, self.scope),
        ).fetchone()
        return str(row[0]) if row else ""

    def start(self, *, content_hash: str = "", include_new: bool = False) -> int:
        """Take the recipient list: every active subscriber, once, when the send first starts.

        Later runs add subscribers who joined since only with `include_new`. Returns the
        number of rows added.
        """
        now = now_iso()

        def body() -> int:
            first = self.conn.execute(
                "INSERT INTO send_runs (issue_id, scope, started_at, content_hash) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (self.issue_id, self.scope, now, content_hash),
            ).rowcount
            if not (first or include_new):
                return 0
            return int(
                self.conn.execute(
                    """
                    INSERT INTO deliveries (issue_id, scope, subscriber_id, email, email_key,
                                            name, created_at, updated_at)
                    SELECT ?, ?, id, email, email_key, name, ?, ? FROM subscribers
                    WHERE status = 'active' ORDER BY id
                    ON CONFLICT DO NOTHING
                    """,
                    (self.issue_id, self.scope, now, now),
                ).rowcount
            )

        return int(self._transaction(body))

    def reset(self, recipients: Iterable[tuple[str, str]], *, content_hash: str = "") -> int:
        """Replace this scope's rows with the given (email, name) list: test and dry runs."""
        now = now_iso()
        rows = [
            (self.issue_id, self.scope, email, email.strip().lower(), name, now, now)
            for email, name in recipients
        ]
        key = (self.issue_id, self.scope)
        self._write(
            [
                ("DELETE FROM deliveries WHERE issue_id = ? AND scope = ?", key),
                (
                    "INSERT INTO send_runs (issue_id, scope, started_at, content_hash) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                    "started_at = excluded.started_at, content_hash = excluded.content_hash",
                    (*key, now, content_hash),
                ),
                *(
                    (
                        "INSERT INTO deliveries (issue_id, scope, email, email_key, name, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        row,
                    )
                    for row in rows
                ),
            ]
        )
        return len(rows)

    def fill_dry_run(self, *, content_hash: str = "") -> int:
        """A dry run starts afresh from the current active subscribers every time."""
        self.reset([], content_hash=content_hash)
        self._write(
            [
                (
                    "DELETE FROM send_runs WHERE issue_id = ? AND scope = ?",
                    (self.issue_id, self.scope),
                )
            ]
        )
        return self.start(content_hash=content_hash)

    def recover(self) -> list[str]:
        """Start of a run: rows left `sending` go back in the queue, claims are dropped, and
        every deferred row is due now (running `send` again is asking for a retry).

        Call only while holding the send lock (no other run of this issue is alive). Returns
        the addresses that were in flight; each may have been delivered and will go again.
        """
        key = (self.issue_id, self.scope)
        rows = self.conn.execute(
            "SELECT email FROM deliveries WHERE issue_id = ? AND scope = ? AND state = 'sending'",
            key,
        ).fetchall()
        self._write(
            [
                (
                    "UPDATE deliveries SET state = 'deferred', next_attempt_at = '', "
                    "last_reply = 'interrupted while sending; may have been delivered', "
                    "updated_at = ? WHERE issue_id = ? AND scope = ? AND state = 'sending'",
                    (now_iso(), *key),
                ),
                (
                    "UPDATE deliveries SET claim = NULL "
                    "WHERE issue_id = ? AND scope = ? AND claim IS NOT NULL",
                    key,
                ),
                (
                    "UPDATE deliveries SET next_attempt_at = '' "
                    "WHERE issue_id = ? AND scope = ? AND state = 'deferred'",
                    key,
                ),
            ]
        )
        return [r[0] for r in rows]

    def claim(
        self, worker: str, limit: int, *, now: float | None = None, daily_limit: int = 0
    ) -> list[Row]:
        """Atomically take up to `limit` rows due now for this worker (deferred first).

        Rows whose subscriber left the list since the send began are marked `skipped`
        (`self.skipped`; `self.taken` counts them too). With a daily limit, every send's
        handovers in the last 24 hours and every row claimed by any running send count
        against it, so sends of several issues at once share the one limit.
        """
        due = utc_iso(time.time() if now is None else now)

        def body() -> tuple[list[Any], set[int]]:
            room = limit
            if daily_limit:
                room = min(limit, max(0, daily_limit - self._used_today()))
            self.limited = room < limit
            taken = self._take(worker, room, due) if room else []
            return taken, self._left_the_list(taken)

        taken, gone = self._transaction(body)
        self.taken, self.skipped = len(taken), len(gone)
        rows = [Row(*r) for r in taken if r[0] not in gone]
        rows.sort(key=lambda r: r.id)
        if rows:
            self._cursor = max(self._cursor, rows[-1].id)
        return rows

    def _take(self, worker: str, limit: int, due: str) -> list[Any]:
        key = (self.issue_id, self.scope)
        taken = self.conn.execute(
            f"""
            UPDATE deliveries SET claim = ? WHERE id IN (
                SELECT id FROM deliveries WHERE issue_id = ? AND scope = ?
                AND state = 'deferred' AND claim IS NULL AND next_attempt_at <= ?
                ORDER BY next_attempt_at LIMIT ?)
            RETURNING {_CLAIMED}
            """,
            (worker, *key, due, limit),
        ).fetchall()
        for start in (self._cursor, 0):
            if len(taken) >= limit:
                break
            taken += self.conn.execute(
                f"""
                UPDATE deliveries SET claim = ? WHERE id IN (
                    SELECT id FROM deliveries WHERE issue_id = ? AND scope = ?
                    AND id > ? AND state = 'pending' AND claim IS NULL
                    ORDER BY id LIMIT ?)
                RETURNING {_CLAIMED}
                """,
                (worker, *key, start, limit - len(taken)),
            ).fetchall()
            if taken or not start:
                break
        return list(taken)

    def _used_today(self) -> int:
        """Handovers by any send in the last 24 hours, plus rows any send holds claimed."""
        return int(
            self.conn.execute(
                "SELECT count(*) FROM deliveries WHERE scope != 'dry-run' AND "
                "(sent_at > ? OR (claim IS NOT NULL AND state IN ('pending', 'deferred', "
                "'sending')))",
                (iso_ago(86400),),
            ).fetchone()[0]
        )

    def _left_the_list(self, taken: list[Any]) -> set[int]:
        """Mark `skipped` the claimed rows whose subscriber is no longer active."""
        if self.scope != "live" or not taken:
            return set()
        by_subscriber = {r[4]: r[0] for r in taken if r[4] is not None}
        gone = {
            by_subscriber[sid]: status
            for sid, status in subscribers.inactive_among(self.conn, by_subscriber).items()
        }
        if not gone:
            return set()
        now = now_iso()
        self.conn.executemany(
            "UPDATE deliveries SET state = 'skipped', claim = NULL, updated_at = ?, "
            "last_reply = ? WHERE id = ?",
            [(now, f"left the list after the send began: {s}", rid) for rid, s in gone.items()],
        )
        return set(gone)

    def start_sending(self, row: Row) -> bool:
        """Commit `sending` for the row about to be handed over, and the last one's `sent`.

        Returns False, with the row marked `skipped`, when its subscriber left the list
        since it was claimed: checked in this transaction, so an unsubscribe committed
        before this moment stops the message.
        """
        done, self._done = self._done, None
        now = now_iso()

        def body() -> bool:
            if done is not None:
                self.conn.execute(*self._sent_statement(*done, now))
            if row.subscriber_id is not None and self._left_the_list(
                [(row.id, "", "", 0, row.subscriber_id)]
            ):
                return False
            self.conn.execute(
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, "
                "first_tried_at = COALESCE(first_tried_at, ?), updated_at = ? WHERE id = ?",
                (now, now, row.id),
            )
            return True

        try:
            return bool(self._transaction(body))
        except BaseException:
            self._done = done
            raise

    def accepted(self, row: Row, reply: str) -> None:
        """The server said 250; `sent` is committed with the next `start_sending` or `flush`."""
        self._done = (row.id, reply)

    def flush(self) -> None:
        """Commit a pending `sent` now: before any pause, so no row idles in `sending`."""
        if self._done is not None:
            done = self._done
            self._write([self._sent_statement(*done, now_iso())])
            self._done = None

    @staticmethod
    def _sent_statement(row_id: int, reply: str, now: str) -> Statement:
        return (
            "UPDATE deliveries SET state = 'sent', last_reply = ?, claim = NULL, "
            "updated_at = ?, sent_at = ? WHERE id = ?",
            (reply, now, now, row_id),
        )

    def deferred(self, row: Row, reply: str, *, retry_at: float) -> None:
        self.flush()
        self._write(
            [
                (
                    "UPDATE deliveries SET state = 'deferred', last_reply = ?, claim = NULL, "
                    "next_attempt_at = ?, updated_at = ? WHERE id = ?",
                    (reply, retry_iso(retry_at), now_iso(), row.id),
                )
            ]
        )

    def failed(self, row: Row, reply: str, *, bounced: bool = False) -> None:
        """Record a permanent failure; a dead address (5.1.x) is also marked bounced."""
        self.flush()
        now = now_iso()

        def body() -> None:
            self.conn.execute(
                "UPDATE deliveries SET state = 'failed', last_reply = ?, claim = NULL, "
                "updated_at = ? WHERE id = ?",
                (reply, now, row.id),
            )
            if bounced and self.scope == "live" and row.subscriber_id is not None:
                subscribers.mark_bounced_by_id(self.conn, row.subscriber_id, now=now)

        self._transaction(body)

    def unsent(self, row: Row) -> None:
        """Put back a row that never reached the server (the send stopped before it)."""
        self.flush()
        self._write(
            [
                (
                    "UPDATE deliveries SET state = CASE WHEN attempts > 1 THEN 'deferred' "
                    "ELSE 'pending' END, attempts = attempts - 1, claim = NULL, updated_at = ? "
                    "WHERE id = ? AND state = 'sending'",
                    (now_iso(), row.id),
                )
            ]
        )

    def release(self, worker: str) -> None:
        """Give back rows claimed but not sent, when a worker stops early."""
        self.flush()
        self._write(
            [
                (
                    "UPDATE deliveries SET claim = NULL WHERE claim = ? AND state != 'sending'",
                    (worker,),
                )
            ]
        )

    # -- reading -----------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATES, 0)
        for state, n in self.conn.execute(
            "SELECT state, count(*) FROM deliveries WHERE issue_id = ? AND scope = ? GROUP BY state",
            (self.issue_id, self.scope),
        ):
            counts[state] = n
        return counts

    def left(self) -> int:
        """Rows still to send (pending, deferred, or in flight)."""
        return int(
            self.conn.execute(
                "SELECT count(*) FROM deliveries WHERE issue_id = ? AND scope = ? "
                "AND state IN ('pending', 'deferred', 'sending')",
                (self.issue_id, self.scope),
            ).fetchone()[0]
        )

    def next_due(self) -> float | None:
        """When the earliest unclaimed deferred row may be retried; None when none wait."""
        row = self.conn.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE issue_id = ? AND scope = ? "
            "AND state = 'deferred' AND claim IS NULL",
            (self.issue_id, self.scope),
        ).fetchone()
        if row[0] is None:
            return None
        return utc_epoch(row[0]) if row[0] else 0.0

    def entries(self, state: str, limit: int = 50) -> list[Entry]:
        return [
            Entry(*r)
            for r in self.conn.execute(
                "SELECT email, state, attempts, last_reply, next_attempt_at, updated_at "
                "FROM deliveries WHERE issue_id = ? AND scope = ? AND state = ? ORDER BY id LIMIT ?",
                (self.issue_id, self.scope, state, limit),
            )
        ]

    def new_subscribers(self) -> int:
        """Active subscribers with no row in this send (joined after it began)."""
        if self.scope != "live":
            return 0
        return int(
            self.conn.execute(
                """
                SELECT count(*) FROM subscribers s WHERE s.status = 'active' AND NOT EXISTS (
                    SELECT 1 FROM deliveries d WHERE d.issue_id = ? AND d.scope = 'live'
                    AND d.email_key = s.email_key)
                """,
                (self.issue_id,),
            ).fetchone()[0]
        )


def sent_since(conn: sqlite3.Connection, since_iso: str) -> int:
    """Messages any send (live or test) handed over since then: the daily cap counts these."""
    return int(
        conn.execute(
            "SELECT count(*) FROM deliveries WHERE sent_at > ? AND scope != 'dry-run'",
            (since_iso,),
        ).fetchone()[0]
    )


def oldest_sent_since(conn: sqlite3.Connection, since_iso: str) -> str | None:
    value = conn.execute(
        "SELECT min(sent_at) FROM deliveries WHERE sent_at > ? AND scope != 'dry-run'",
        (since_iso,),
    ).fetchone()[0]
    return str(value) if value else None


def last_sent(conn: sqlite3.Connection) -> str | None:
    value = conn.execute("SELECT max(sent_at) FROM deliveries WHERE scope != 'dry-run'").fetchone()[
        0
    ]
    return str(value) if value else None
