"""Every table of the subscriber database, as named forward migrations.

Each migration runs in one transaction with its `PRAGMA user_version` bump (see
`database.migrate`). Never edit or reorder one that has shipped; append a new one to
MIGRATIONS. A migration runs inside a transaction: use conn.execute (executescript commits).
Timestamps are stored in one format everywhere: UTC ISO 8601 with seconds, `2026-12-01T09:30:00Z`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable


def subscribers_v1(conn: sqlite3.Connection) -> None:
    """The subscriber list; a row is kept after unsubscribing as proof of the request.

    `email_key` (the normalised address, lower-cased) makes addresses unique regardless of
    case, including non-ASCII local parts that COLLATE NOCASE would not fold.
    """
    conn.execute(
        """
        CREATE TABLE subscribers (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active'
                CHECK (status IN ('active', 'unsubscribed', 'bounced', 'complained')),
            source TEXT NOT NULL DEFAULT '',
            consent TEXT NOT NULL,
            consent_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            unsubscribed_at TEXT
        ) STRICT
        """
    )
    conn.execute("CREATE INDEX subscribers_status_id ON subscribers (status, id)")


def ledger_v1(conn: sqlite3.Connection) -> None:
    """Send runs and their per-recipient deliveries (the subscriber table must exist)."""
    conn.execute(
        """
        CREATE TABLE send_runs (
            issue_id TEXT NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('live', 'test', 'dry-run')),
            started_at TEXT NOT NULL,
            content_hash TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (issue_id, scope)
        ) STRICT
        """
    )
    conn.execute(
        """
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            issue_id TEXT NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('live', 'test', 'dry-run')),
            subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                ('pending', 'sending', 'sent', 'failed', 'deferred', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_reply TEXT NOT NULL DEFAULT '',
            next_attempt_at REAL NOT NULL DEFAULT 0,
            claim TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (issue_id, scope, email_key)
        ) STRICT
        """
    )
    # No index covers `state`, `attempts`, `updated_at` or `sent_at`: marking a row rewrites
    # only its table page (usually one page per message for `sent` + the next `sending`),
    # which is most of the cost of each message. Claims walk (issue_id, scope) in id order.
    conn.execute("CREATE INDEX deliveries_issue ON deliveries (issue_id, scope)")
    conn.execute(
        "CREATE INDEX deliveries_deferred ON deliveries (issue_id, scope, next_attempt_at) "
        "WHERE state = 'deferred'"
    )
    conn.execute("CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id)")


def inbox_events_v1(conn: sqlite3.Connection) -> None:
    """What `newsletter inbox` read from the mailbox: bounces, complaints, unsubscribe requests.

    One row per (notice, address, kind): the notice's own Message-ID (or a digest of its bytes)
    makes re-reading the same mail a no-op. `send_key` tells sends apart (issue id from the
    returned Message-ID, else the send run by date) so soft bounces are counted per send.
    """
    conn.execute(
        """
        CREATE TABLE inbox_events (
            id INTEGER PRIMARY KEY,
            notice_id TEXT NOT NULL,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN
                ('hard', 'soft', 'policy', 'complaint', 'unsubscribe')),
            status_code TEXT NOT NULL DEFAULT '',
            diagnostic TEXT NOT NULL DEFAULT '',
            send_key TEXT NOT NULL DEFAULT '',
            occurred_at TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            UNIQUE (notice_id, email_key, kind)
        ) STRICT
        """
    )
    conn.execute("CREATE INDEX inbox_events_email ON inbox_events (email_key, kind)")
    conn.execute("CREATE INDEX inbox_events_send ON inbox_events (send_key, kind)")


def subscriber_tokens_v1(conn: sqlite3.Connection) -> None:
    """A random opaque id per subscriber for tokens (backfilled), and how each one left.

    Links carry `token_id`, never the address. A trigger gives every new row its id, so the
    writers that insert subscribers need not know about it. SQLite's randomblob is drawn
    from its CSPRNG; the id is unguessable, and tokens are HMAC-signed on top of it.
    """
    conn.execute("ALTER TABLE subscribers ADD COLUMN token_id TEXT")
    conn.execute("ALTER TABLE subscribers ADD COLUMN unsubscribed_via TEXT NOT NULL DEFAULT ''")
    conn.execute("UPDATE subscribers SET token_id = lower(hex(randomblob(12)))")
    conn.execute("CREATE UNIQUE INDEX subscribers_token_id ON subscribers (token_id)")
    conn.execute(
        """
        CREATE TRIGGER subscribers_new_token_id AFTER INSERT ON subscribers
        WHEN NEW.token_id IS NULL
        BEGIN
            UPDATE subscribers SET token_id = lower(hex(randomblob(12))) WHERE id = NEW.id;
        END
        """
    )


def signups_v1(conn: sqlite3.Connection) -> None:
    """Sign-ups waiting for their confirmation click (double opt-in), kept as proof after.

    `token_id` is the opaque id in the confirmation link; `consent` the wording the form
    showed. A row is `pending` until confirmed, or `declined` when the address asked for no
    more confirmation mail; `expires_at` ends the link.
    """
    conn.execute(
        """
        CREATE TABLE signups (
            id INTEGER PRIMARY KEY,
            token_id TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            consent TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'confirmed', 'declined')),
            mailed INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            confirmed_at TEXT
        ) STRICT
        """
    )
    conn.execute("CREATE INDEX signups_email_created ON signups (email_key, created_at)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    subscribers_v1,
    ledger_v1,
    inbox_events_v1,
    subscriber_tokens_v1,
    signups_v1,
]


_ISO = "'%Y-%m-%dT%H:%M:%SZ'"


def ledger_v2_one_time_format(conn: sqlite3.Connection) -> None:
    """Ledger times in the subscriber table's format; a first-try time for the retry window.

    Rebuilds `deliveries` (a column changes type: `next_attempt_at` was a REAL epoch, now
    ISO text, '' for "due now") and rewrites every timestamp, `send_runs` included, as UTC
    ISO seconds with Z. Rows that failed only because a few quick retries of a temporary
    reply ran out ("gave up after N tries") go back to `deferred`: a temporary reply never
    fails a row before its retry window ends.
    """
    conn.execute(
        """
        CREATE TABLE deliveries_v2 (
            id INTEGER PRIMARY KEY,
            issue_id TEXT NOT NULL,
            scope TEXT NOT NULL CHECK (scope IN ('live', 'test', 'dry-run')),
            subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
            email TEXT NOT NULL,
            email_key TEXT NOT NULL,
            name TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN
                ('pending', 'sending', 'sent', 'failed', 'deferred', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_reply TEXT NOT NULL DEFAULT '',
            next_attempt_at TEXT NOT NULL DEFAULT '',
            first_tried_at TEXT,
            claim TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (issue_id, scope, email_key)
        ) STRICT
        """
    )
    conn.execute(
        f"""
        INSERT INTO deliveries_v2 (id, issue_id, scope, subscriber_id, email, email_key, name,
            state, attempts, last_reply, next_attempt_at, first_tried_at, claim, created_at,
            updated_at, sent_at)
        SELECT id, issue_id, scope, subscriber_id, email, email_key, name,
            CASE WHEN state = 'failed' AND last_reply LIKE 'gave up after %' THEN 'deferred'
                 ELSE state END,
            attempts, last_reply,
            CASE WHEN next_attempt_at > 0 THEN
                strftime({_ISO}, CAST(next_attempt_at + 0.999 AS INTEGER), 'unixepoch')
                ELSE '' END,
            CASE WHEN attempts > 0 THEN COALESCE(strftime({_ISO}, updated_at), updated_at) END,
            claim,
            COALESCE(strftime({_ISO}, created_at), created_at),
            COALESCE(strftime({_ISO}, updated_at), updated_at),
            COALESCE(strftime({_ISO}, sent_at), sent_at)
        FROM deliveries
        """
    )
    conn.execute("DROP TABLE deliveries")
    conn.execute("ALTER TABLE deliveries_v2 RENAME TO deliveries")
    conn.execute("CREATE INDEX deliveries_issue ON deliveries (issue_id, scope)")
    conn.execute(
        "CREATE INDEX deliveries_deferred ON deliveries (issue_id, scope, next_attempt_at) "
        "WHERE state = 'deferred'"
    )
    conn.execute("CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id)")
    conn.execute(
        f"UPDATE send_runs SET started_at = COALESCE(strftime({_ISO}, started_at), started_at)"
    )


MIGRATIONS.append(ledger_v2_one_time_format)


def _id_bytes(hex_id: str | None) -> bytes | None:
    """The 12 bytes of a 24-hex-digit id; None (a new id is drawn) for anything else, which
    no link could carry (tokens.read accepts only that form)."""
    try:
        raw = bytes.fromhex(hex_id or "")
    except ValueError:
        return None
    return raw if len(raw) == 12 else None


def subscriber_tokens_v2_bytes(conn: sqlite3.Connection) -> None:
    """The opaque id kept as its 12 bytes instead of 24 hex digits: the same ids, so every
    link already sent still works, in an index of half the size.

    An import adds thousands of rows a batch at random places in this index and rewrites
    most of its pages each time; at half the size, a 100,000-row import takes a tenth less
    time. Links still carry the hex form (`subscribers.token_id_for`). SQLite 3.40 has no
    unhex(), so the conversion is a function of this connection.
    """
    conn.create_function("id_bytes", 1, _id_bytes, deterministic=True)
    conn.execute("DROP TRIGGER subscribers_new_token_id")
    conn.execute("DROP INDEX subscribers_token_id")
    conn.execute("ALTER TABLE subscribers ADD COLUMN token_bytes BLOB")
    conn.execute(
        "UPDATE subscribers SET token_bytes = COALESCE(id_bytes(token_id), randomblob(12))"
    )
    conn.execute("ALTER TABLE subscribers DROP COLUMN token_id")
    conn.execute("ALTER TABLE subscribers RENAME COLUMN token_bytes TO token_id")
    conn.execute("CREATE UNIQUE INDEX subscribers_token_id ON subscribers (token_id)")
    conn.execute(
        """
        CREATE TRIGGER subscribers_new_token_id AFTER INSERT ON subscribers
        WHEN NEW.token_id IS NULL
        BEGIN
            UPDATE subscribers SET token_id = randomblob(12) WHERE id = NEW.id;
        END
        """
    )


MIGRATIONS.append(subscriber_tokens_v2_bytes)
