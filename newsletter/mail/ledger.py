"""The send ledger: one row per (issue, scope, recipient), pending -> sending -> sent|failed.

A row is `sending` only while its message is being handed to SMTP: the state is committed
before the handover (the final dot of DATA, when the server takes the message) and
replaced after the server's 250, in the same transaction that marks the connection's next
row `sending`. So after any crash each connection leaves at most one row in `sending`, the
only message that may go twice; every other row is exactly `sent` or still to do (with
synchronous=FULL, the default of `newsletter send`, this holds for power loss too). Rows
are claimed in batches by setting `claim` to the worker's id in one statement, so parallel
connections never take the same row.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

STATES = ("pending", "sending", "sent", "failed", "deferred", "skipped")
SCOPES = ("live", "test", "dry-run")


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def iso_ago(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat(
        timespec="milliseconds"
    )


@dataclass(frozen=True)
class Row:
    """A claimed delivery: who to send to and how many tries it already had."""

    id: int
    email: str
    name: str
    attempts: int


@dataclass(frozen=True)
class Entry:
    """A ledger row as `status` shows it."""

    email: str
    state: str
    attempts: int
    last_reply: str
    next_attempt_at: float
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
        self._cursor = 0
        """Highest id this ledger claimed: the next claim looks after it first."""
        self._done: tuple[int, str] | None = None
        """A row the server accepted whose `sent` is not yet committed (see `start_sending`)."""

    # -- writing -----------------------------------------------------------------------------

    def _write(self, statements: Iterable[tuple[str, tuple | dict]]) -> None:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self.conn.execute(sql, params)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

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
        return row[0] if row else ""

    def start(self, *, content_hash: str = "", include_new: bool = False) -> int:
        """Take the recipient list: every active subscriber, once, when the send first starts.

        Later runs add subscribers who joined since only with `include_new`. Returns the
        number of rows added.
        """
        now = now_iso()
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                first = self.conn.execute(
                    "INSERT INTO send_runs (issue_id, scope, started_at, content_hash) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (self.issue_id, self.scope, now, content_hash),
                ).rowcount
                added = 0
                if first or include_new:
                    added = self.conn.execute(
                        """
                        INSERT INTO deliveries (issue_id, scope, subscriber_id, email, email_key,
                                                name, created_at, updated_at)
                        SELECT ?, ?, id, email, email_key, name, ?, ? FROM subscribers
                        WHERE status = 'active' ORDER BY id
                        ON CONFLICT DO NOTHING
                        """,
                        (self.issue_id, self.scope, now, now),
                    ).rowcount
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        return added

    def reset(self, recipients: Iterable[tuple[str, str]], *, content_hash: str = "") -> int:
        """Replace this scope's rows with the given (email, name) list: test and dry runs."""
        now = now_iso()
        rows = [
            (self.issue_id, self.scope, email, email.strip().lower(), name, now, now)
            for email, name in recipients
        ]
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                self.conn.execute(
                    "DELETE FROM deliveries WHERE issue_id = ? AND scope = ?",
                    (self.issue_id, self.scope),
                )
                self.conn.execute(
                    "INSERT INTO send_runs (issue_id, scope, started_at, content_hash) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE SET started_at = excluded.started_at, "
                    "content_hash = excluded.content_hash",
                    (self.issue_id, self.scope, now, content_hash),
                )
                self.conn.executemany(
                    "INSERT INTO deliveries (issue_id, scope, email, email_key, name, created_at, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    rows,
                )
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        return len(rows)

    def fill_dry_run(self, *, content_hash: str = "") -> int:
        """A dry run starts afresh from the current active subscribers every time."""
        self.reset([], content_hash=content_hash)
        with self._lock:
            self.conn.execute(
                "DELETE FROM send_runs WHERE issue_id = ? AND scope = ?",
                (self.issue_id, self.scope),
            )
        return self.start(content_hash=content_hash)

    def recover(self) -> list[str]:
        """After a crash: rows left `sending` go back in the queue, claims are dropped.

        Call only while holding the send lock (no other run of this issue is alive). Returns
        the addresses that were in flight; each may have been delivered and will go again.
        """
        rows = self.conn.execute(
            "SELECT email FROM deliveries WHERE issue_id = ? AND scope = ? AND state = 'sending'",
            (self.issue_id, self.scope),
        ).fetchall()
        self._write(
            [
                (
                    "UPDATE deliveries SET state = 'deferred', next_attempt_at = 0, "
                    "last_reply = 'interrupted while sending; may have been delivered', "
                    "updated_at = ? WHERE issue_id = ? AND scope = ? AND state = 'sending'",
                    (now_iso(), self.issue_id, self.scope),
                ),
                (
                    "UPDATE deliveries SET claim = NULL "
                    "WHERE issue_id = ? AND scope = ? AND claim IS NOT NULL",
                    (self.issue_id, self.scope),
                ),
            ]
        )
        return [r[0] for r in rows]

    def claim(self, worker: str, limit: int, *, now: float | None = None) -> list[Row]:
        """Atomically take up to `limit` rows due now for this worker (deferred first).

        Rows whose subscriber left the list since the send began are marked `skipped`.
        """
        now = time.time() if now is None else now
        key = (self.issue_id, self.scope)
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                taken = self.conn.execute(
                    """
                    UPDATE deliveries SET claim = ? WHERE id IN (
                        SELECT id FROM deliveries WHERE issue_id = ? AND scope = ?
                        AND state = 'deferred' AND claim IS NULL AND next_attempt_at <= ?
                        ORDER BY next_attempt_at LIMIT ?)
                    RETURNING id, email, name, attempts, subscriber_id
                    """,
                    (worker, *key, now, limit),
                ).fetchall()
                for start in (self._cursor, 0):
                    if len(taken) >= limit:
                        break
                    taken += self.conn.execute(
                        """
                        UPDATE deliveries SET claim = ? WHERE id IN (
                            SELECT id FROM deliveries WHERE issue_id = ? AND scope = ?
                            AND id > ? AND state = 'pending' AND claim IS NULL
                            ORDER BY id LIMIT ?)
                        RETURNING id, email, name, attempts, subscriber_id
                        """,
                        (worker, *key, start, limit - len(taken)),
                    ).fetchall()
                    if taken or not start:
                        break
                gone = self._left_the_list(taken)
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")
        self.skipped = len(gone)
        rows = [Row(r[0], r[1], r[2], r[3]) for r in taken if r[0] not in gone]
        rows.sort(key=lambda r: r.id)
        if rows:
            self._cursor = max(self._cursor, rows[-1].id)
        return rows

    def _left_the_list(self, taken: list[tuple]) -> set[int]:
        """Mark `skipped` the claimed rows whose subscriber is no longer active."""
        if self.scope != "live" or not taken:
            return set()
        by_subscriber = {r[4]: r[0] for r in taken if r[4] is not None}
        marks = ",".join("?" * len(by_subscriber))
        gone = {
            by_subscriber[sid]: status
            for sid, status in self.conn.execute(
                f"SELECT id, status FROM subscribers WHERE id IN ({marks}) AND status != 'active'",
                tuple(by_subscriber),
            )
        }
        now = now_iso()
        self.conn.executemany(
            "UPDATE deliveries SET state = 'skipped', claim = NULL, updated_at = ?, "
            "last_reply = ? WHERE id = ?",
            [(now, f"left the list after the send began: {s}", rid) for rid, s in gone.items()],
        )
        return set(gone)

    def start_sending(self, row: Row) -> None:
        """Commit `sending` for the row about to be handed over, and the last one's `sent`."""
        now = now_iso()
        statements = []
        if self._done is not None:
            statements.append(self._sent_statement(*self._done, now))
            self._done = None
        statements.append(
            (
                "UPDATE deliveries SET state = 'sending', attempts = attempts + 1, "
                "updated_at = ? WHERE id = ?",
                (now, row.id),
            )
        )
        self._write(statements)

    def accepted(self, row: Row, reply: str) -> None:
        """The server said 250; `sent` is committed with the next `start_sending` or `flush`."""
        self._done = (row.id, reply)

    def flush(self) -> None:
        """Commit a pending `sent` now: before any pause, so no row idles in `sending`."""
        if self._done is not None:
            done, self._done = self._done, None
            self._write([self._sent_statement(*done, now_iso())])

    @staticmethod
    def _sent_statement(row_id: int, reply: str, now: str) -> tuple[str, tuple]:
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
                    (reply, retry_at, now_iso(), row.id),
                )
            ]
        )

    def failed(self, row: Row, reply: str, *, bounced: bool = False) -> None:
        """Record a permanent failure; a dead address (5.1.x) is also marked bounced."""
        self.flush()
        now = now_iso()
        statements: list[tuple[str, tuple | dict]] = [
            (
                "UPDATE deliveries SET state = 'failed', last_reply = ?, claim = NULL, "
                "updated_at = ? WHERE id = ?",
                (reply, now, row.id),
            )
        ]
        if bounced and self.scope == "live":
            statements.append(
                (
                    "UPDATE subscribers SET status = 'bounced', updated_at = ? WHERE status = "
                    "'active' AND id = (SELECT subscriber_id FROM deliveries WHERE id = ?)",
                    (now, row.id),
                )
            )
        self._write(statements)

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
        return self.conn.execute(
            "SELECT count(*) FROM deliveries WHERE issue_id = ? AND scope = ? "
            "AND state IN ('pending', 'deferred', 'sending')",
            (self.issue_id, self.scope),
        ).fetchone()[0]

    def next_due(self) -> float | None:
        """When the earliest unclaimed deferred row may be retried; None when none wait."""
        row = self.conn.execute(
            "SELECT min(next_attempt_at) FROM deliveries WHERE issue_id = ? AND scope = ? "
            "AND state = 'deferred' AND claim IS NULL",
            (self.issue_id, self.scope),
        ).fetchone()
        return row[0]

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
        return self.conn.execute(
            """
            SELECT count(*) FROM subscribers s WHERE s.status = 'active' AND NOT EXISTS (
                SELECT 1 FROM deliveries d WHERE d.issue_id = ? AND d.scope = 'live'
                AND d.email_key = s.email_key)
            """,
            (self.issue_id,),
        ).fetchone()[0]


def sent_since(conn: sqlite3.Connection, since_iso: str) -> int:
    """Messages any send (live or test) handed over since then: the daily cap counts these."""
    return conn.execute(
        "SELECT count(*) FROM deliveries WHERE sent_at > ? AND scope != 'dry-run'", (since_iso,)
    ).fetchone()[0]


def oldest_sent_since(conn: sqlite3.Connection, since_iso: str) -> str | None:
    return conn.execute(
        "SELECT min(sent_at) FROM deliveries WHERE sent_at > ? AND scope != 'dry-run'",
        (since_iso,),
    ).fetchone()[0]


def last_sent(conn: sqlite3.Connection) -> str | None:
    return conn.execute("SELECT max(sent_at) FROM deliveries WHERE scope != 'dry-run'").fetchone()[
        0
    ]
